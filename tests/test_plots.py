import math
import os
import subprocess
import sys

import pytest

from utilities.plots import build_figure, metric_family, panel_layout, plot_progression

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The header of a test_embeds.csv with the default metrics (metrics.default_metrics((1, 2, 4, 8))).
EVAL_HEADER = ["epoch", "e_recall@1", "e_recall@2", "e_recall@4", "e_recall@8", "nmi", "f1", "mAP_1000", "mAP_lim",
               "mAP_c", "mAP_R", "dists@intra", "dists@inter", "dists@intra_over_inter", "rho_spectrum@-1",
               "rho_spectrum@1", "rho_spectrum@2", "rho_spectrum@10"]
TRAIN_HEADER = ["epoch", "loss", "lr_backbone", "lr_head", "seconds"]


def table(columns, epochs, value=lambda column, epoch: 0.1 + 0.05 * epoch):
    return [{"epoch": float(e), **{c: value(c, e) for c in columns if c != "epoch"}} for e in range(epochs)]


def train_rows(epochs=4, lr_backbone=lambda e: 1e-5 * 0.5 ** e):
    return [{"epoch": float(e), "loss": 1.0 / (e + 1), "lr_backbone": lr_backbone(e), "lr_head": 1e-3 * 0.5 ** e,
             "seconds": 60.0 + e} for e in range(epochs)]


def axes_by_title(fig):
    return {ax.get_title(): ax for ax in fig.axes}


def assert_integer_xticks(ax):
    ticks = ax.get_xticks()
    assert len(ticks) > 0
    assert all(float(t).is_integer() for t in ticks), ticks


@pytest.mark.parametrize("column, family", [
    ("e_recall@1", "recall"), ("c_recall@16", "recall"),
    ("nmi", "clustering"), ("c_nmi", "clustering"), ("f1", "clustering"), ("c_f1", "clustering"),
    ("mAP_R", "MAP"), ("c_mAP_R", "MAP"), ("mAP_1000", "MAP"), ("c_mAP_lim", "MAP"), ("mAP_c", "MAP"),
    ("c_mAP_c", "MAP"), ("r_precision", "MAP"), ("c_r_precision", "MAP"),
    ("dists@intra", "distances"), ("dists@intra_over_inter", "distances"),
    ("rho_spectrum@-1", "spectrum"), ("rho_spectrum@10", "spectrum"),
    ("loss", "loss"), ("loss_proxy", "loss"), ("lr_backbone", "learning rate"), ("lr", "learning rate"),
    ("seconds", "time"),
    ("something_new", "other"), ("c_unknown@3", "other"), ("lossy", "other"),
])
def test_metric_family(column, family):
    assert metric_family(column) == family


def test_panel_layout_of_the_default_evaluation_header():
    assert panel_layout(EVAL_HEADER) == {
        "recall": ["e_recall@1", "e_recall@2", "e_recall@4", "e_recall@8"],
        "clustering": ["nmi", "f1"],
        "MAP": ["mAP_1000", "mAP_lim", "mAP_c", "mAP_R"],
        "distances": ["dists@intra", "dists@inter", "dists@intra_over_inter"],
        "spectrum": ["rho_spectrum@-1", "rho_spectrum@1", "rho_spectrum@2", "rho_spectrum@10"],
    }


def test_panel_layout_orders_panels_and_collects_unknown_columns_last():
    layout = panel_layout(["zzz", "rho_spectrum@1", "c_recall@1", "e_recall@1", "c_nmi", "zzz"])
    assert list(layout) == ["recall", "clustering", "spectrum", "other"]
    assert layout["recall"] == ["c_recall@1", "e_recall@1"]
    assert layout["other"] == ["zzz"]


def test_every_registered_metric_family_has_its_own_panel():
    import metrics

    assert [name for name in metrics.REGISTRY.names() if metric_family(name) == "other"] == []
    assert "other" not in panel_layout(metrics.default_metrics((1, 2, 4, 8)))


def test_panel_layout_of_the_train_header():
    assert panel_layout(TRAIN_HEADER + ["loss_proxy"]) == {
        "loss": ["loss", "loss_proxy"], "learning rate": ["lr_backbone", "lr_head"], "time": ["seconds"]}


def test_train_figure_has_a_log_lr_panel_and_integer_epoch_ticks():
    fig = build_figure(train_rows(epochs=9), "train")
    panels = axes_by_title(fig)
    assert sorted(panels) == ["learning rate", "loss", "time"]
    assert len(fig.axes) == 3
    assert panels["learning rate"].get_yscale() == "log"
    assert panels["loss"].get_yscale() == "linear"
    assert panels["time"].get_yscale() == "linear"
    for ax in fig.axes:
        assert_integer_xticks(ax)
    assert fig.get_suptitle() == "train"


def test_evaluation_figure_has_one_panel_per_family_with_distinct_colours():
    columns = EVAL_HEADER + [f"e_recall@{k}" for k in (16, 32, 64, 128)] + ["c_recall@1", "brand_new"]
    fig = build_figure(table(columns, 9), "test_embeds")
    panels = axes_by_title(fig)
    assert sorted(panels) == sorted(["recall", "clustering", "MAP", "distances", "spectrum", "other"])
    assert len(fig.axes) == 6
    recall_lines = panels["recall"].get_lines()
    assert len(recall_lines) == 9
    assert len({tuple(line.get_color()) for line in recall_lines}) == 9
    assert len(panels["recall"].get_legend().get_texts()) == 9
    for ax in fig.axes:
        assert_integer_xticks(ax)


def test_many_curves_in_one_panel_keep_distinct_colours():
    columns = [f"e_recall@{k}" for k in range(1, 26)]
    fig = build_figure(table(columns, 3), "many")
    (ax,) = fig.axes
    assert len({tuple(line.get_color()) for line in ax.get_lines()}) == 25


def test_png_is_written(tmp_path):
    path = tmp_path / "progression_test_embeds.png"
    assert plot_progression(table(EVAL_HEADER, 9), "test_embeds", str(path)) is True
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_non_positive_learning_rates_do_not_break_the_log_axis(tmp_path):
    rows = train_rows(lr_backbone=lambda e: 0.0 if e < 2 else -1.0 if e == 2 else 1e-5)
    path = tmp_path / "train.png"
    assert plot_progression(rows, "train", str(path))
    assert path.stat().st_size > 0
    ax = axes_by_title(build_figure(rows, "train"))["learning rate"]
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    assert 0 < low < high and math.isfinite(high)


def test_learning_rates_without_any_positive_value_fall_back_to_a_linear_axis(tmp_path):
    rows = [{"epoch": float(e), "lr_backbone": 0.0, "lr_head": math.nan} for e in range(3)]
    fig = build_figure(rows, "train")
    assert axes_by_title(fig)["learning rate"].get_yscale() == "linear"
    assert plot_progression(rows, "train", str(tmp_path / "train.png"))


def test_nan_values_missing_columns_and_a_single_row_do_not_crash(tmp_path):
    rows = table(EVAL_HEADER, 4)
    rows[1]["nmi"] = math.nan
    for row in rows:
        row["f1"] = math.nan
    del rows[2]["mAP_R"]
    assert plot_progression(rows, "with nan", str(tmp_path / "nan.png"))
    assert (tmp_path / "nan.png").stat().st_size > 0

    single = table(EVAL_HEADER, 1)
    fig = build_figure(single, "one epoch")
    for ax in fig.axes:
        assert_integer_xticks(ax)
    assert plot_progression(single, "one epoch", str(tmp_path / "one.png"))
    assert plot_progression(train_rows(epochs=1), "train", str(tmp_path / "train1.png"))
    assert (tmp_path / "one.png").stat().st_size > 0 and (tmp_path / "train1.png").stat().st_size > 0


def test_nothing_to_draw_writes_nothing(tmp_path):
    assert build_figure([], "empty") is None
    assert plot_progression([], "empty", str(tmp_path / "a.png")) is False
    assert plot_progression([{"epoch": 0.0}, {"epoch": 1.0}], "epochs only", str(tmp_path / "b.png")) is False
    assert os.listdir(tmp_path) == []


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, utilities.plots; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
