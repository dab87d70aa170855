"""Findings of the hostile-user review (issue 15), each reproduced on a tiny cub200 run and checked after its fix."""
import csv
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import main
from evaluation import evaluate
from tests.dataset_trees import corrupt_image, make_cub200
from tests.helpers import Killed, killed_at_commit
from tests.test_main import REPO_ROOT, tiny_run_flags
from utilities import checkpoint
from utilities.run_lock import RunLock
from utilities.training import Run

# Trains or starts processes: part of the full suite, left out of the fast one (-m 'not slow').
pytestmark = pytest.mark.slow

SECRET = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def reference(source, tmp_path_factory):
    """An uninterrupted 3-epoch run (with a W&B key given on the command line, which must never be stored)."""
    save = tmp_path_factory.mktemp("reference")
    assert main.main(tiny_run_flags(source, save, "--wandb_key", SECRET)) == 0
    return save / "cub200" / "tiny_s0"


def rows(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def best_epochs_agree(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    for metric, record in summary["best"].items():
        assert checkpoint.load(run_dir / checkpoint.best_name(metric))["epoch"] == record["epoch"], metric
    return summary


# ---- 1: secrets ----

def test_a_wandb_key_is_stored_nowhere(reference):
    for root, _, files in os.walk(reference):
        for name in files:
            assert SECRET.encode() not in open(os.path.join(root, name), "rb").read(), name
    assert "wandb_key" not in json.loads((reference / "options.json").read_text())


# ---- 4: best files agree with the record whatever the moment of the kill ----

@pytest.mark.parametrize("moment", ["after_pending_best_files", "after_last_before_rename"])
def test_best_files_match_the_summary_after_a_kill_during_the_commit(source, reference, tmp_path, moment):
    # Kill in the epoch where the reference last improved MAP@R, so a best file is being replaced.
    kill_epoch = json.loads((reference / "summary.json").read_text())["best"]["mAP_R"]["epoch"]
    assert kill_epoch > 0
    def stray_temporary_file(path, data):  # a write cut short
        (tmp_path / "cub200" / "tiny_s0" / ".tmp_stray.pth").write_bytes(data[:100])

    with killed_at_commit(kill_epoch, write_last_first=moment == "after_last_before_rename",
                          on_kill=stray_temporary_file), pytest.raises(Killed):
        main.main(tiny_run_flags(source, tmp_path))
    run_dir = tmp_path / "cub200" / "tiny_s0"
    assert [n for n in os.listdir(run_dir) if n.startswith(".pending_")]
    assert main.main(["--resume", str(run_dir)]) == 0
    summary = best_epochs_agree(run_dir)
    assert summary["best"] == json.loads((reference / "summary.json").read_text())["best"]
    assert rows(run_dir / "test_embeds.csv") == rows(reference / "test_embeds.csv")
    assert not [n for n in os.listdir(run_dir) if n.startswith((".tmp_", ".pending_"))]


def test_recover_keeps_pending_files_of_the_committed_epoch_only(tmp_path):
    for epoch in (2, 3):
        (tmp_path / checkpoint.pending_name(epoch, checkpoint.best_name(f"m{epoch}"))).write_bytes(b"x")
    (tmp_path / ".tmp_abc.pth").write_bytes(b"half")
    checkpoint.recover(tmp_path, committed_epoch=2)
    assert sorted(os.listdir(tmp_path)) == [checkpoint.best_name("m2")]


# ---- 5: one process per run folder ----

def test_a_run_folder_in_use_is_refused_and_a_stale_lock_is_not(reference, caplog):
    lock = RunLock(reference)
    try:
        with caplog.at_level(logging.ERROR):
            assert main.main(["--resume", str(reference)]) == 2
        assert "in use by another process" in caplog.text
    finally:
        lock.release()
    # The lock file stays behind (as after a SIGKILL) but no process holds it: the resume goes ahead.
    assert (reference / ".lock").exists()
    assert main.main(["--resume", str(reference)]) == 0
    assert len(rows(reference / "test_embeds.csv")) == 4


# ---- 6: what may change on resume ----

def test_resume_extends_a_finished_run_and_refuses_other_flags_by_name(source, reference, tmp_path, caplog):
    import shutil
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    with caplog.at_level(logging.ERROR):
        assert main.main(["--resume", str(run_dir), "--lr", "0.1", "--loss", "triplet"]) == 2
    assert "--loss, --lr cannot change on resume" in caplog.text
    assert main.main(["--resume", str(run_dir), "--n_epochs", "4", "--num_workers", "0"]) == 0
    assert [r["epoch"] for r in rows(run_dir / "test_embeds.csv")] == [0, 1, 2, 3, 4]
    assert checkpoint.load(run_dir / checkpoint.LAST)["epoch"] == 4
    # The extended run continues the saved state: its first three epochs are the reference's.
    assert rows(run_dir / "test_embeds.csv")[:4] == rows(reference / "test_embeds.csv")
    best_epochs_agree(run_dir)


def test_n_epochs_cannot_stretch_a_cosine_schedule(source, tmp_path, caplog):
    assert main.main(tiny_run_flags(source, tmp_path, "--scheduler", "cosine", epochs=0)) == 0
    with caplog.at_level(logging.ERROR):
        assert main.main(["--resume", str(tmp_path / "cub200" / "tiny_s0"), "--n_epochs", "5"]) == 2
    assert "cosine schedule" in caplog.text


# ---- 7: interruption before the first checkpoint; empty --resume ----

def test_ctrl_c_before_the_first_checkpoint_gives_the_right_advice(source, tmp_path, monkeypatch, caplog):
    def interrupted(self, epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "evaluate", interrupted)
    with caplog.at_level(logging.ERROR):
        assert main.main(tiny_run_flags(source, tmp_path)) == 130
    assert "--resume" not in caplog.text and "Start again with the same command" in caplog.text
    assert not (tmp_path / "cub200" / "tiny_s0").exists()


def test_an_empty_resume_folder_is_refused(caplog):
    with caplog.at_level(logging.ERROR):
        assert main.main(["--resume", ""]) == 2
    assert "empty folder name" in caplog.text


# ---- 8: a corrupt training image mid-epoch ----

def test_a_corrupt_training_image_names_it_and_the_resume_honours_skipping(tmp_path, caplog):
    make_cub200(tmp_path / "data", n_classes=8, per_class=8, size=40)
    bad = sorted((tmp_path / "data" / "cub200" / "images" / "002.Bird_2").iterdir())[0]
    corrupt_image(bad)
    # Without training-split metrics the image is first read in epoch 1, after the epoch-0 checkpoint.
    with caplog.at_level(logging.ERROR):
        assert main.main(tiny_run_flags(tmp_path / "data", tmp_path, "--no_train_metrics", epochs=2)) == 2
    run_dir = tmp_path / "cub200" / "tiny_s0"
    assert str(bad) in caplog.text
    assert f"Continue with: python main.py --resume {run_dir} --skip_unreadable_images" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main.main(["--resume", str(run_dir), "--skip_unreadable_images"]) == 0
    assert "skipped 1 unreadable training images" in caplog.text
    assert [r["epoch"] for r in rows(run_dir / "test_embeds.csv")] == [0, 1, 2]


# ---- 9: bad input refused before any work ----

@pytest.mark.parametrize("flags, message", [
    (["--tau", "0"], "argument --tau: expected an integer > 0"),
    (["--crop_size", "-3"], "argument --crop_size: expected an integer >= 0"),
    (["--lr", "nan"], "argument --lr: expected a finite number"),
    (["--lr", "-0.001"], "argument --lr: expected a number > 0"),
    (["--gamma", "inf"], "argument --gamma: expected a finite number"),
    (["--tv_split_perc", "1"], "argument --tv_split_perc: expected a number strictly between 0 and 1"),
])
def test_numeric_ranges_are_checked_while_parsing(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        main.main(tiny_run_flags(tmp_path / "absent", tmp_path) + flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_the_loss_and_miner_pairing_is_checked_before_the_dataset_is_read(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert main.main(tiny_run_flags(tmp_path / "absent", tmp_path, "--batch_mining", "random")) == 2
    assert "cannot use batchminer 'random'" in caplog.text and "images/<NNN.Name>" not in caplog.text
    assert not os.listdir(tmp_path)


def test_a_truncated_last_checkpoint_is_refused_with_a_message(reference, tmp_path, caplog):
    import shutil
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    data = (run_dir / checkpoint.LAST).read_bytes()
    (run_dir / checkpoint.LAST).write_bytes(data[: len(data) // 3])
    with caplog.at_level(logging.ERROR):
        assert main.main(["--resume", str(run_dir)]) == 2
    assert "damaged or truncated" in caplog.text


# ---- 10: divergence, huge and tiny norms ----

def test_diverging_training_stops_with_the_last_good_checkpoint(source, tmp_path, monkeypatch, caplog):
    original_embed = Run.evaluate

    def nan_after_epoch_1(self, epoch):
        if epoch == 2:
            for parameter in self.model.parameters():
                parameter.data.fill_(float("nan"))
        return original_embed(self, epoch)

    monkeypatch.setattr(Run, "evaluate", nan_after_epoch_1)
    with caplog.at_level(logging.ERROR):
        assert main.main(tiny_run_flags(source, tmp_path)) == 2
    last = tmp_path / "cub200" / "tiny_s0" / checkpoint.LAST
    assert f"The last good checkpoint is {last} (epoch 1)" in caplog.text and "lower --lr" in caplog.text
    assert "Continue with" not in caplog.text


@pytest.mark.parametrize("scale", [1e25, 2.0**100, 1e-30])
def test_metrics_do_not_depend_on_the_scale_of_the_embeddings(scale):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(20), 5)
    x = (rng.normal(size=(20, 16))[labels] * 0.5 + rng.normal(size=(100, 16))).astype(np.float32)
    names = ["e_recall@1", "e_recall@4", "mAP_R", "c_recall@1", "nmi", "f1", "dists@intra", "rho_spectrum@1"]
    plain = evaluate(names, x, labels)
    scaled = evaluate(names, x * np.float32(scale), labels)
    assert scaled == pytest.approx(plain, rel=1e-6)
    assert 0 < plain["e_recall@1"] < 1


def test_non_finite_embeddings_are_refused():
    x = np.ones((4, 2), np.float32)
    x[1, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        evaluate(["e_recall@1"], x, np.array([0, 0, 1, 1]))


# ---- 11: recall@k with k not smaller than the gallery ----

def test_recall_at_k_beyond_the_gallery_warns_once(caplog):
    rng = np.random.default_rng(1)
    x, labels = rng.normal(size=(30, 4)).astype(np.float32), np.repeat(np.arange(10), 3)
    with caplog.at_level(logging.WARNING):
        assert evaluate(["e_recall@29", "e_recall@28"], x, labels)["e_recall@29"] == 1.0
        evaluate(["e_recall@29"], x, labels)
    assert caplog.text.count("e_recall@29 is 1 whatever the embedding") == 1
    assert "e_recall@28 is 1" not in caplog.text


# ---- 12: answers before the heavy imports ----

@pytest.mark.parametrize("script, argv", [("main.py", ["--help"]), ("main.py", ["--lr", "nan"]),
                                          ("evaluate.py", ["--help"]), ("evaluate.py", ["--embeddings", "x.npy"])])
def test_help_and_argument_errors_do_not_import_torch(script, argv):
    probe = (f"import runpy, sys\nsys.argv = [{script!r}] + {argv!r}\n"
             f"try:\n    runpy.run_path({script!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
             f"print('TORCH' if 'torch' in sys.modules else 'NO TORCH')\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("NO TORCH"), result.stderr[-2000:]


def test_flags_read_from_source_equal_the_flags_the_modules_declare():
    import argparse

    import batchminer
    import criteria
    import datasampler
    import datasets
    from utilities.registry import add_static_arguments
    for registry in (criteria.REGISTRY, batchminer.REGISTRY, datasampler.REGISTRY, datasets.REGISTRY):
        static, imported = argparse.ArgumentParser(), argparse.ArgumentParser()
        add_static_arguments(static, registry.package_name, "x")
        for name, component in registry.items():
            if hasattr(component, "add_arguments"):
                component.add_arguments(imported.add_argument_group(f"x: {name}"))

        def describe(parser):
            return [(a.option_strings, a.default, getattr(a.type, "__name__", a.type), a.choices, a.help)
                    for a in parser._actions]
        assert describe(static) == describe(imported)


# ---- 14: what each checkpoint holds ----

def test_best_files_hold_only_what_evaluation_and_transfer_need(reference):
    best = checkpoint.load(reference / checkpoint.best_name("mAP_R"))
    assert set(best) == {"epoch", "model", "options", "metrics"}
    assert set(best["metrics"]["test"]) >= {"e_recall@1", "mAP_R"}
    last = checkpoint.load(reference / checkpoint.LAST)
    assert {"optimizers", "schedulers", "sampler", "rng", "best"} <= set(last)
    assert os.path.getsize(reference / checkpoint.best_name("mAP_R")) < os.path.getsize(reference / checkpoint.LAST)
    model = {k: v for k, v in best["model"].items()}
    assert all(isinstance(v, torch.Tensor) for v in model.values())
