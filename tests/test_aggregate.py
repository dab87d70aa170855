"""scripts/aggregate.py: mean and sample standard deviation over seeds, per group, at the epoch each run selected,
from run folders written by the project's own logger, and the same tables from the values it logs to W&B."""
import csv
import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from utilities.logger import RunLogger, create_run_dir, write_options
from utilities.online_logging import WandbLogger
from utilities.run_evaluation import BestRecord  # how a run chooses its best epoch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "aggregate.py")
spec = importlib.util.spec_from_file_location("aggregate", SCRIPT)
aggregate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(aggregate)



NAN = float("nan")


class RecordedWandbRun:
    """What WandbLogger hands to wandb.init's run: log(row) and summary[key] = value, kept as the server keeps them."""

    def __init__(self):
        self.history, self.summary = [], {}

    def log(self, row):
        self.history.append({**row, "_step": len(self.history)})


class FakeApiRun:
    """A run as wandb.Api().runs(...) returns it: id, name, group, config, summary_metrics, scan_history()."""

    def __init__(self, run_id, name, group, config, recorded):
        self.id, self.name, self.group, self.config = run_id, name, group, config
        # The server stores JSON (NaN included, as wandb writes it).
        self.summary_metrics = json.loads(json.dumps(recorded.summary))
        self.history = json.loads(json.dumps(recorded.history))

    def scan_history(self):
        return iter(self.history)


class FakeApi:
    def __init__(self, projects):
        self.projects = projects

    def runs(self, path):
        return self.projects[path]


def write_run(root, group, seed, tables, storage_metrics, use_tv_split=False, evaltypes=("embeds",), api_runs=None):
    """A run folder as a run writes it: options.json, per-epoch CSVs through RunLogger (with a train.csv), the
    summary after every epoch with BestRecord's choice on the selection split. With `api_runs` the same values also
    go through WandbLogger's log/summary into a recorded W&B run, appended there as the fake Api's run.

    tables: {"<split>_<evaltype>": {epoch: {metric: value}}}."""
    options = {"group": group, "seed": seed, "storage_metrics": list(storage_metrics), "use_tv_split": use_tv_split,
               "evaltypes": list(evaltypes), "dataset": "emoji", "project": "DML", "lr": 1e-5}
    run_dir = create_run_dir(str(root), "emoji", group, seed)
    write_options(run_dir, options)
    online = None
    if api_runs is not None:
        online = WandbLogger.__new__(WandbLogger)  # its log/summary without wandb.init
        online.run = RecordedWandbRun()
    logger = RunLogger(run_dir, options, online)
    record = BestRecord(list(storage_metrics), "val" if use_tv_split else "test")
    for epoch in sorted({epoch for rows in tables.values() for epoch in rows}):
        if epoch > 0:
            logger.log("train", epoch, {"loss": 1.0 / epoch, "lr_backbone": 1e-5})
        results = {}
        for name, rows in tables.items():
            logger.log(name, epoch, rows[epoch])
            split, evaltype = name.split("_", 1)
            if evaltype == evaltypes[0]:
                results[split] = rows[epoch]
        record.update(epoch, results)
        last = {name: logger.table(name).rows()[-1] for name in logger.existing_tables()}
        logger.write_summary({"best": record.best, "selection_split": record.selection_split, "run_dir": run_dir,
                              "last": last, "seconds_this_session": 1.0})
    if api_runs is not None:
        api_runs.append(FakeApiRun(f"id{len(api_runs)}", f"{group}_s{seed}", group, options, online.run))
    return run_dir


def embeds(*pairs):
    """{epoch: {e_recall@1, mAP_R}} from (recall, map) pairs of epochs 0, 1, ..."""
    return {epoch: {"e_recall@1": r, "mAP_R": m} for epoch, (r, m) in enumerate(pairs)}


def minus_tenth(rows):
    return {epoch: {k: round(v - 0.1, 2) for k, v in row.items()} for epoch, row in rows.items()}


# Group a (test selection by its first storage metric, mAP_R; a features evaltype too), b (one seed), c (a NaN),
# tv_split (--use_tv_split: selection on val, where test would pick other epochs).
A_RUNS = {0: embeds((.50, .20), (.60, .40), (.70, .30)),   # mAP_R best: epoch 1; e_recall@1 best: 2
          1: embeds((.50, .20), (.55, .30), (.55, .35)),   # mAP_R best: 2; e_recall@1: 1 (the tie keeps the first)
          2: embeds((.50, .20), (.60, .25), (.80, .50))}   # both: 2


def write_runs(root, api_runs=None):
    for seed, rows in A_RUNS.items():
        write_run(root, "a", seed, {"test_embeds": rows, "test_features": minus_tenth(rows)}, ["mAP_R", "e_recall@1"],
                  evaltypes=("embeds", "features"), api_runs=api_runs)
    write_run(root, "b", 5, {"test_embeds": embeds((.40, .10), (.42, .12))}, ["e_recall@1"], api_runs=api_runs)
    write_run(root, "c", 0, {"test_embeds": embeds((.20, NAN))}, ["e_recall@1"], api_runs=api_runs)
    write_run(root, "c", 1, {"test_embeds": embeds((.40, .10))}, ["e_recall@1"], api_runs=api_runs)
    write_run(root, "tv_split", 0, {"val_embeds": embeds((.30, .10), (.50, .15), (.40, .20)),  # val best: epoch 1
                                    "test_embeds": embeds((.35, .10), (.45, .20), (.60, .30))},
              ["e_recall@1"], use_tv_split=True, api_runs=api_runs)
    write_run(root, "tv_split", 1, {"val_embeds": embeds((.30, .10), (.35, .10), (.45, .20)),  # val best: epoch 2
                                    "test_embeds": embeds((.35, .10), (.40, .15), (.55, .30))},
              ["e_recall@1"], use_tv_split=True, api_runs=api_runs)


def table_rows(text):
    """{group: cells} of a Markdown table."""
    lines = text.splitlines()
    assert lines[0] == "| group | n | seeds | epochs | " + " | ".join(METRICS) + " |"
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in lines[2:]}


METRICS = ["e_recall@1", "mAP_R", "features/e_recall@1", "features/mAP_R"]
# Hand-computed: a at epochs 1, 2, 2: recall .60 .55 .80 -> mean .65, sample var (.0025 + .01 + .0225) / 2 = .0175,
# std .1323; MAP@R .40 .35 .50 -> .4167, var (.000278 + .004444 + .006944) / 2, std .0764; features 0.1 lower, same
# std. tv_split at its val-chosen epochs 1, 2: test recall .45 .55 -> .50 +- .0707, MAP@R .20 .30 -> .25 +- .0707.
# c: recall .2 .4 -> .3 +- .1414, MAP@R NaN for seed 0.
SELECTED = {
    "a": ["3", "0, 1, 2", "1, 2, 2", "0.6500 ± 0.1323", "0.4167 ± 0.0764", "0.5500 ± 0.1323", "0.3167 ± 0.0764"],
    "b": ["1", "5", "1", "0.4200 ± n/a", "0.1200 ± n/a", "not logged", "not logged"],
    "c": ["2", "0, 1", "0, 0", "0.3000 ± 0.1414", "NaN (1 of 2 seeds)", "not logged", "not logged"],
    "tv_split": ["2", "0, 1", "1, 2", "0.5000 ± 0.0707", "0.2500 ± 0.0707", "not logged", "not logged"],
}


@pytest.fixture
def runs_root(tmp_path):
    write_runs(tmp_path / "save")
    return tmp_path / "save"


def run_main(capsys, *args):
    code = aggregate.main([str(a) for a in args])
    return code, capsys.readouterr().out


def test_each_run_is_taken_at_the_epoch_it_selected(runs_root, capsys, caplog):
    code, out = run_main(capsys, runs_root)
    assert code == 0
    assert table_rows(out) == SELECTED
    assert "group c: mAP_R is NaN for seed(s) 0" in caplog.text


def test_select_and_last_override_the_runs_choice(runs_root, capsys):
    # --select e_recall@1: a at epochs 2, 1, 2: recall .70 .55 .80 -> .6833, var (.000278 + .017778 + .013611) / 2,
    # std .1258; MAP@R .30 .30 .50 -> .3667 +- .1155.
    _, out = run_main(capsys, runs_root, "--select", "e_recall@1", "--metrics", "e_recall@1", "embeds/mAP_R")
    assert out.splitlines()[2] == "| a | 3 | 0, 1, 2 | 2, 1, 2 | 0.6833 ± 0.1258 | 0.3667 ± 0.1155 |"
    # --epoch last: a at 2, 2, 2: MAP@R .30 .35 .50 -> .3833 +- .1041; tv_split's test at epoch 2: .60 .55.
    _, out = run_main(capsys, runs_root, "--epoch", "last", "--metrics", "e_recall@1", "mAP_R")
    assert out.splitlines()[2] == "| a | 3 | 0, 1, 2 | 2, 2, 2 | 0.6833 ± 0.1258 | 0.3833 ± 0.1041 |"
    assert out.splitlines()[5] == "| tv_split | 2 | 0, 1 | 2, 2 | 0.5750 ± 0.0354 | 0.3000 ± 0.0000 |"
    # The validation split itself, at the epochs chosen on it: recall .50 .45, MAP@R .15 .20.
    _, out = run_main(capsys, runs_root / "emoji" / "tv_split_s0", runs_root / "emoji" / "tv_split_s1",
                      "--split", "val")
    assert out.splitlines()[2] == "| tv_split | 2 | 0, 1 | 1, 2 | 0.4750 ± 0.0354 | 0.1750 ± 0.0354 |"


def test_recomputed_choice_is_best_records(runs_root, capsys, caplog):
    for rows in ([.1, .3, .3, .2], [NAN, .5, .6], [.4, NAN, .2, .5], [.2, .2]):
        record = BestRecord(["m"], "test")
        for epoch, value in enumerate(rows):
            record.update(epoch, {"test": {"m": value}})
        assert aggregate.first_best_epoch({e: {"m": v} for e, v in enumerate(rows)}, "m") == record.best["m"]["epoch"]
    # Without summary.json the CSVs give the same choice.
    for path in runs_root.rglob("summary.json"):
        path.unlink()
    _, out = run_main(capsys, runs_root)
    assert table_rows(out) == SELECTED
    # The summary names the run's best checkpoint: it wins over the CSV, with a warning.
    summary = runs_root / "emoji" / "b_s5" / "summary.json"
    write_run(runs_root / "again", "b", 5, {"test_embeds": embeds((.40, .10), (.42, .12))}, ["e_recall@1"])
    data = json.loads((runs_root / "again" / "emoji" / "b_s5" / "summary.json").read_text())
    data["best"]["e_recall@1"]["epoch"] = 0
    summary.write_text(json.dumps(data))
    _, out = run_main(capsys, runs_root / "emoji" / "b_s5", "--metrics", "mAP_R")
    assert out.splitlines()[2] == "| b | 1 | 5 | 0 | 0.1000 ± n/a |"
    assert "its summary records epoch 0 as best e_recall@1 on test, its test_embeds values give 1" in caplog.text


def test_markdown_latex_and_csv_files_parse_back(runs_root, tmp_path, capsys):
    md, tex, table = tmp_path / "t.md", tmp_path / "t.tex", tmp_path / "t.csv"
    code, out = run_main(capsys, runs_root, "--markdown", md, "--latex", tex, "--csv", table)
    assert code == 0 and md.read_text() == out
    lines = tex.read_text().splitlines()
    assert lines[:4] == [r"\begin{tabular}{lrllcccc}", r"\hline",
                         r"group & n & seeds & epochs & e\_recall@1 & mAP\_R & features/e\_recall@1 & features/mAP\_R "
                         r"\\", r"\hline"]
    assert lines[4] == (r"a & 3 & 0, 1, 2 & 1, 2, 2 & 0.6500 $\pm$ 0.1323 & 0.4167 $\pm$ 0.0764 & "
                        r"0.5500 $\pm$ 0.1323 & 0.3167 $\pm$ 0.0764 \\")
    assert lines[7].startswith(r"tv\_split & 2 & 0, 1 & 1, 2 & 0.5000 $\pm$ 0.0707 &")
    assert lines[-2:] == [r"\hline", r"\end{tabular}"] and len(lines) == 10
    assert aggregate.latex_escape("a_b@1 ± 5% & #x {y}") == r"a\_b@1 $\pm$ 5\% \& \#x \{y\}"
    with open(table, newline="") as f:
        rows = {row["group"]: row for row in csv.DictReader(f)}
    a = rows["a"]
    assert (a["n"], a["seeds"], a["epochs"]) == ("3", "0 1 2", "1 2 2")
    assert float(a["e_recall@1_mean"]) == pytest.approx(0.65)
    assert float(a["e_recall@1_std"]) == pytest.approx(math.sqrt(0.0175))
    assert float(a["features/mAP_R_mean"]) == pytest.approx(0.95 / 3)
    assert rows["b"]["mAP_R_mean"] == "0.12" and rows["b"]["mAP_R_std"] == "n/a"
    assert math.isnan(float(rows["c"]["mAP_R_mean"])) and math.isnan(float(rows["c"]["mAP_R_std"]))
    assert rows["tv_split"]["features/e_recall@1_mean"] == "" and rows["tv_split"]["epochs"] == "1 2"


def test_wandb_project_gives_the_run_folders_tables(tmp_path, caplog):
    api_runs = []
    write_runs(tmp_path / "save", api_runs)
    # A run resumed after a kill logged its epoch 2 twice to W&B (its CSV was truncated): the later row counts.
    api_runs[1].history.insert(5, {"test_embeds/e_recall@1": 0.99, "test_embeds/mAP_R": 0.99, "epoch": 2})
    api_runs.append(FakeApiRun("other", "sweep-3", None, {"lr": 1}, RecordedWandbRun()))  # not one of ours
    from_wandb = aggregate.aggregate(aggregate.load_wandb("me/DML", FakeApi({"me/DML": api_runs})))
    from_folders = aggregate.aggregate(aggregate.load_folders([tmp_path / "save"]))
    assert table_rows(aggregate.markdown(from_wandb)) == SELECTED
    for render in (aggregate.markdown, aggregate.latex, aggregate.csv_text):
        assert render(from_wandb) == render(from_folders)
    assert "(sweep-3): skipped, it has no group or seed" in caplog.text


@pytest.fixture
def bare_wandb(tmp_path, monkeypatch):
    """wandb seeing only this test's environment: no credentials, nothing listening at its server address."""
    import wandb

    for name in list(os.environ):
        if name.startswith("WANDB"):
            monkeypatch.delenv(name)
    for name, value in (("HOME", "home"), ("NETRC", "home/.netrc"), ("WANDB_CONFIG_DIR", "home/.config/wandb")):
        monkeypatch.setenv(name, str(tmp_path / value))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # the discard port: refused at once
    monkeypatch.chdir(tmp_path)
    wandb.teardown()  # wandb reads the environment once per session
    yield monkeypatch
    wandb.teardown()


def test_wandb_without_credentials_or_server_is_a_clear_error(bare_wandb):
    with pytest.raises(aggregate.ConfigError, match="expected <entity>/<project>"):
        aggregate.load_wandb("DML")
    with pytest.raises(aggregate.ConfigError, match="no W&B credentials; set WANDB_API_KEY or run `wandb login`"):
        aggregate.load_wandb("me/DML")
    bare_wandb.setenv("WANDB_API_KEY", "k3yUsedOnlyInTests" + "0123456789" * 2 + "ab")
    import wandb
    wandb.teardown()
    with pytest.raises(aggregate.ConfigError, match="the W&B server cannot be used"):
        aggregate.load_wandb("me/DML")


def test_bad_input_is_refused_with_what_is_expected(runs_root, tmp_path, capsys, caplog):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run([sys.executable, SCRIPT, str(empty)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert f"{empty}: no run folder (a folder with options.json) in it" in done.stderr
    assert run_main(capsys, tmp_path / "missing")[0] == 2
    assert "missing is not a folder" in caplog.text
    assert run_main(capsys, runs_root, "--metrics", "e_recall@1", "recall@9")[0] == 2
    assert "--metrics recall@9: not logged on the test split by any run; logged: e_recall@1, mAP_R" in caplog.text
    assert run_main(capsys, runs_root, "--select", "nmi")[0] == 2
    assert "test_embeds has no nmi" in caplog.text
    assert run_main(capsys, runs_root, "--select", "mAP_R", "--epoch", "last")[0] == 2
    assert run_main(capsys, runs_root, "--split", "val", "--metrics", "mAP_R")[0] == 0  # only tv_split has val
    assert run_main(capsys, empty, "--wandb", "me/DML")[0] == 2
    assert "give either run folders / save paths or --wandb" in caplog.text
    # A folder given twice (itself and inside a save path) is one run; another run of the same seed is refused.
    assert run_main(capsys, runs_root, runs_root / "emoji" / "b_s5")[0] == 0
    write_run(tmp_path / "more", "b", 5, {"test_embeds": embeds((.1, .1))}, ["e_recall@1"])
    assert run_main(capsys, runs_root, tmp_path / "more")[0] == 2
    assert "group b has two runs with seed 5" in caplog.text
    write_run(tmp_path / "more", "c", 2, {"test_embeds": {0: {"e_recall@1": .1}}}, ["e_recall@1"])
    assert run_main(capsys, runs_root, tmp_path / "more" / "emoji" / "c_s2")[0] == 2
    assert "group c: mAP_R was logged by some runs but not by" in caplog.text


def test_readme_tables_invocation_still_works(tmp_path, capsys):
    """The README's tables: the last epoch, named metrics, from run folders of the old tests' minimal form."""
    for group, seed, rows in (("a", 0, [(0, .1, 0.), (1, .5, .2), (2, .4, .3)]),
                              ("a", 1, [(0, .1, 0.), (1, .7, .4), (2, .6, .5)])):
        folder = tmp_path / f"{group}_s{seed}"
        folder.mkdir()
        (folder / "options.json").write_text(json.dumps({"group": group, "seed": seed}))
        lines = ["epoch,e_recall@1,mAP_R"] + [",".join(map(str, row)) for row in rows]
        (folder / "test_embeds.csv").write_text("\n".join(lines) + "\n")
    _, out = run_main(capsys, tmp_path, "--epoch", "last", "--metrics", "e_recall@1", "mAP_R")
    # recall 0.4, 0.6 -> 0.5 +- 0.1414; MAP@R 0.3, 0.5 -> 0.4 +- 0.1414.
    assert out.splitlines()[2] == "| a | 2 | 0, 1 | 2, 2 | 0.5000 ± 0.1414 | 0.4000 ± 0.1414 |"
    # Without storage_metrics in its options a run cannot say which epoch it selected.
    assert run_main(capsys, tmp_path)[0] == 2

