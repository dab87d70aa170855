"""evaluate.py: precomputed embeddings (hand-checked values, JSON output), bad input, and checkpoints of real runs."""
import csv
import json
import logging

import numpy as np
import pytest

import evaluate
import evaluation
import main
from tests.dataset_trees import make_cub200, make_inshop, make_vehicle_id
from tests.test_main import tiny_run_flags
from utilities import checkpoint

# Trains or starts processes: part of the full suite, left out of the fast one (-m 'not slow').
pytestmark = pytest.mark.slow


def save(folder, **arrays):
    """Save each array as <folder>/<name>.npy; returns {name: path string}."""
    paths = {}
    for name, array in arrays.items():
        paths[name] = str(folder / f"{name}.npy")
        np.save(paths[name], array)
    return paths


def run_cli(*argv):
    """Exit code and {metric: value} read back from --json."""
    json_path = argv[argv.index("--json") + 1]
    code = evaluate.main(list(argv))
    return code, json.loads(open(json_path).read()) if code == 0 else None


# --- precomputed embeddings ------------------------------------------------------------------------------------

def test_same_set_embeddings_hand_checked(tmp_path, capsys):
    # 1-d points 0, 1 (class 0) and 3, 10 (class 1). Nearest other point: 0->1 hit, 1->0 hit, 3->1 miss,
    # 10->3 hit. The second nearest of 3 is 0, a miss too; its only class mate 10 comes third.
    files = save(tmp_path, x=np.array([[0.0], [1.0], [3.0], [10.0]]), y=np.array([0, 0, 1, 1]))
    code, results = run_cli("--embeddings", files["x"], "--labels", files["y"], "--json", str(tmp_path / "out.json"),
                            "--metrics", "e_recall@1", "e_recall@2", "e_recall@4", "mAP_R")
    assert code == 0
    assert results == {"e_recall@1": 0.75, "e_recall@2": 0.75, "e_recall@4": 1.0, "mAP_R": 0.75}
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["metric", "value"] and table[1].split() == ["e_recall@1", "0.7500"]


def test_default_metrics_follow_the_benchmark(tmp_path):
    # Two tight, far apart clusters: retrieval and clustering are perfect.
    x = np.array([[0, 0], [0, 1], [1, 0], [50, 50], [50, 51], [51, 50]], dtype=np.float32)
    files = save(tmp_path, x=x, y=np.array([3, 3, 3, 7, 7, 7], dtype=np.int32))
    out = str(tmp_path / "nested" / "out.json")
    code, results = run_cli("--embeddings", files["x"], "--labels", files["y"], "--json", out)
    assert code == 0 and list(results) == evaluation.default_metrics((1, 2, 4, 8))
    for name in ["e_recall@1", "e_recall@2", "e_recall@4", "e_recall@8", "nmi", "mAP_R"]:
        assert results[name] == 1.0, name
    code, results = run_cli("--embeddings", files["x"], "--labels", files["y"], "--json", out, "--dataset", "inshop")
    assert list(results) == evaluation.default_metrics((1, 10, 20, 30))


def test_query_gallery_embeddings_hand_checked(tmp_path, caplog):
    # Gallery 0 (class 0) and 10 (class 1). Queries: 1 -> 0 hit, 9 -> 10 hit, 6 -> 10 miss, 4 -> 0 miss; the query
    # of class 2 has no gallery item of its class and is left out. Queries never exclude themselves.
    files = save(tmp_path, g=np.array([[0.0], [10.0]]), gl=np.array([0, 1]),
                 q=np.array([[1.0], [9.0], [6.0], [4.0], [5.0]]), ql=np.array([0, 1, 0, 1, 2]))
    with caplog.at_level(logging.WARNING):
        code, results = run_cli("--embeddings", files["g"], "--labels", files["gl"], "--query_embeddings", files["q"],
                                "--query_labels", files["ql"], "--json", str(tmp_path / "out.json"),
                                "--metrics", "e_recall@1", "e_recall@2", "mAP_R")
    assert code == 0 and results == {"e_recall@1": 0.5, "e_recall@2": 1.0, "mAP_R": 0.5}
    assert "1 of 5 queries have no other item of their class" in caplog.text
    # No query's class in the gallery: recall is undefined (NaN), which strict JSON writes as null.
    out = tmp_path / "none.json"
    files.update(save(tmp_path, other=np.full(5, 7)))
    code, results = run_cli("--embeddings", files["g"], "--labels", files["gl"], "--query_embeddings", files["q"],
                            "--query_labels", files["other"], "--json", str(out), "--metrics", "e_recall@1")
    assert code == 0 and results == {"e_recall@1": None} and "NaN" not in out.read_text()


GOOD = {"x": np.zeros((4, 2)), "y": np.array([0, 0, 1, 1])}


@pytest.mark.parametrize("arrays, argv, message", [
    ({}, ["--labels", "{dir}/y.npy"], "Give either --checkpoint"),
    (GOOD, ["--embeddings", "{x}", "--labels", "{y}", "--checkpoint", "{x}"], "Give either --checkpoint"),
    (GOOD, ["--embeddings", "{x}"], "--embeddings needs --labels"),
    (GOOD, ["--embeddings", "{dir}/none.npy", "--labels", "{y}"], "none.npy: no such file; expected a NumPy array"),
    ({**GOOD, "y": np.array([0, 1, 1])}, ["--embeddings", "{x}", "--labels", "{y}"],
     "--embeddings has 4 rows but --labels has 3 labels"),
    ({**GOOD, "y": np.array([0.0, 0, 1, 1])}, ["--embeddings", "{x}", "--labels", "{y}"],
     "must be a 1-D integer array [N], got shape (4,) and dtype float64"),
    ({**GOOD, "y": np.array([[0], [0], [1], [1]])}, ["--embeddings", "{x}", "--labels", "{y}"],
     "must be a 1-D integer array [N], got shape (4, 1)"),
    ({**GOOD, "x": np.zeros(4)}, ["--embeddings", "{x}", "--labels", "{y}"], "must be a non-empty real [N, D] array"),
    ({**GOOD, "x": np.full((4, 2), np.nan)}, ["--embeddings", "{x}", "--labels", "{y}"], "contains NaN or infinite"),
    ({**GOOD, "q": np.zeros((2, 3)), "ql": np.array([0, 1])},
     ["--embeddings", "{x}", "--labels", "{y}", "--query_embeddings", "{q}", "--query_labels", "{ql}"],
     "--query_embeddings are 3-d but --embeddings are 2-d"),
    ({**GOOD, "q": np.zeros((2, 2))}, ["--embeddings", "{x}", "--labels", "{y}", "--query_embeddings", "{q}"],
     "--query_embeddings and --query_labels go together"),
    (GOOD, ["--embeddings", "{x}", "--labels", "{y}", "--metrics", "recall@3"], "Unknown metric 'recall@3'"),
    (GOOD, ["--embeddings", "{x}", "--labels", "{y}", "--dataset", "mnist"], "Unknown dataset 'mnist'"),
    (GOOD, ["--embeddings", "{dir}/notes.txt", "--labels", "{y}"], "notes.txt is not a NumPy .npy array"),
    (GOOD, ["--embeddings", "{dir}/both.npz", "--labels", "{y}"], "both.npz is an .npz archive"),
    ({}, ["--checkpoint", "{dir}/none.pth"], "none.pth: no such file; expected <save_path>/<dataset>/"),
    ({}, ["--checkpoint", "{dir}/notes.txt"], "notes.txt is not a checkpoint written by main.py"),
])
def test_bad_input_fails_with_its_message_and_writes_nothing(tmp_path, caplog, arrays, argv, message):
    files = save(tmp_path, **arrays)
    (tmp_path / "notes.txt").write_text("1 2 3\n")
    np.savez(tmp_path / "both.npz", a=np.zeros(2))
    out = tmp_path / "out.json"
    argv = [arg.format(dir=tmp_path, **files) for arg in argv] + ["--json", str(out)]
    with caplog.at_level(logging.ERROR):
        assert evaluate.main(argv) == 2
    assert message in caplog.text
    assert not out.exists()


# --- checkpoints -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inshop_run(tmp_path_factory):
    """The folder of a one-epoch run on an In-Shop tree (query/gallery protocol)."""
    source = tmp_path_factory.mktemp("data")
    make_inshop(source, n_classes=8, per_class=4, size=40)  # 16 train images: one batch per epoch
    save_path = tmp_path_factory.mktemp("runs")
    assert main.main(tiny_run_flags(source, save_path, "--dataset", "inshop", "--no_train_metrics", epochs=1)) == 0
    return save_path / "inshop" / "tiny_s0"


def test_checkpoint_reproduces_the_runs_last_evaluation(inshop_run, tmp_path):
    run_dir = inshop_run
    with open(run_dir / "test_embeds.csv") as f:
        last_row = list(csv.DictReader(f))[-1]
    assert last_row["epoch"] == "1"
    run_metrics = ["e_recall@1", "e_recall@2", "nmi", "mAP_R"]  # tiny_run_flags' --evaluation_metrics
    out = str(tmp_path / "out.json")
    code, results = run_cli("--checkpoint", str(run_dir / checkpoint.LAST), "--json", out, "--metrics", *run_metrics)
    assert code == 0
    assert results == {name: float(last_row[name]) for name in run_metrics}
    code, results = run_cli("--checkpoint", str(run_dir / checkpoint.LAST), "--json", out)
    assert code == 0 and list(results) == evaluation.default_metrics((1, 10, 20, 30))
    for name in ["e_recall@1", "nmi", "mAP_R"]:
        assert results[name] == float(last_row[name]), name


def test_checkpoint_on_other_datasets_and_splits(inshop_run, tmp_path, caplog):
    best = str(inshop_run / checkpoint.best_name("e_recall@1"))
    out = str(tmp_path / "out.json")
    make_cub200(tmp_path, n_classes=4, per_class=3, size=40)
    make_vehicle_id(tmp_path, n_classes=8, per_class=3, size=40)
    code, results = run_cli("--checkpoint", best, "--json", out, "--dataset", "cub200", "--source_path", str(tmp_path))
    assert code == 0 and list(results) == evaluation.default_metrics((1, 2, 4, 8))
    assert all(0.0 <= results[name] <= 1.0 for name in ["e_recall@1", "e_recall@8", "nmi", "mAP_R"])
    with caplog.at_level(logging.INFO, logger="datasets"):
        code, results = run_cli("--checkpoint", best, "--json", out, "--dataset", "vehicle_id", "--source_path",
                                str(tmp_path), "--dataset_vehicle_id_test_set", "large")
    assert code == 0 and list(results) == evaluation.default_metrics((1, 5))
    assert "vehicle_id test: 4 classes, 8 query and 4 gallery images" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert evaluate.main(["--checkpoint", best, "--split", "val", "--json", out]) == 2
    assert "--split val: inshop has the evaluation splits test (val exists only for runs trained with" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert evaluate.main(["--checkpoint", best, "--labels", out]) == 2
    assert "--labels and --query_* go with --embeddings, not --checkpoint" in caplog.text
