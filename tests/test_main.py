"""main.py end to end on tiny real-JPEG trees: training improves retrieval, resume, run folder, bad input."""
import csv
import json
import logging
import os
import subprocess
import sys

import pytest
import torch

import main
import parameters
from tests.dataset_trees import corrupt_image, make_cub200
from utilities import checkpoint
from utilities.training import Run

# Trains or starts processes: part of the full suite, left out of the fast one (-m 'not slow').
pytestmark = pytest.mark.slow

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_run_flags(source, save, *extra, epochs=3):
    return ["--dataset", "cub200", "--source_path", str(source), "--save_path", str(save),
            "--arch", "resnet18_normalize", "--not_pretrained", "--embed_dim", "32", "--crop_size", "32",
            "--bs", "16", "--samples_per_class", "4", "--lr", "1e-3", "--n_epochs", str(epochs),
            "--num_workers", "0", "--evaluation_metrics", "e_recall@1", "e_recall@2", "nmi", "mAP_R",
            "--storage_metrics", "e_recall@1", "mAP_R", "--group", "tiny", *extra]


def read_csv(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def finished_run(source, tmp_path_factory):
    save = tmp_path_factory.mktemp("runs")
    assert main.main(tiny_run_flags(source, save)) == 0
    return save / "cub200" / "tiny_s0"


def test_training_improves_recall_and_writes_the_run_folder(finished_run):
    rows = read_csv(finished_run / "test_embeds.csv")
    assert [row["epoch"] for row in rows] == [0, 1, 2, 3]
    # Class-disjoint test classes: untrained features already rank the colour-coded images fairly well, so
    # recall@1 gains a few points while MAP@R (the whole ranking) must jump.
    assert rows[-1]["e_recall@1"] > rows[0]["e_recall@1"]
    assert rows[-1]["mAP_R"] > rows[0]["mAP_R"] + 0.2
    losses = [row["loss"] for row in read_csv(finished_run / "train.csv")]
    assert losses[-1] < losses[0]
    for name in ["options.json", "options.txt", "train.csv", "train_embeds.csv", "summary.json",
                 "progression_test_embeds.png", "progression_train.png", checkpoint.LAST,
                 checkpoint.best_name("e_recall@1"), checkpoint.best_name("mAP_R")]:
        assert (finished_run / name).is_file(), name
    assert not [n for n in os.listdir(finished_run) if n.startswith(".tmp")]
    summary = json.loads((finished_run / "summary.json").read_text())
    best = max(rows, key=lambda row: row["e_recall@1"])
    assert summary["best"]["e_recall@1"]["value"] == pytest.approx(best["e_recall@1"])
    assert summary["selection_split"] == "test"
    options = json.loads((finished_run / "options.json").read_text())
    assert options["loss"] == "multisimilarity" and options["n_epochs"] == 3
    state = checkpoint.load(finished_run / checkpoint.LAST)
    assert state["epoch"] == 3
    assert set(state) >= {"model", "criterion", "optimizers", "schedulers", "sampler", "rng"}


def test_an_existing_run_folder_is_never_overwritten(source, finished_run, tmp_path):
    # Same group and seed again (0 epochs: evaluation only) lands in a new, suffixed folder.
    assert main.main(tiny_run_flags(source, finished_run.parent.parent, epochs=0)) == 0
    assert (finished_run.parent / "tiny_s0_1" / "test_embeds.csv").is_file()
    assert len(read_csv(finished_run / "test_embeds.csv")) == 4


def test_resume_after_interruption_matches_the_uninterrupted_run(source, finished_run, tmp_path, monkeypatch):
    original_train_epoch = Run.train_epoch

    def interrupted_in_epoch_3(self, epoch):
        if epoch == 3:
            raise KeyboardInterrupt
        return original_train_epoch(self, epoch)

    monkeypatch.setattr(Run, "train_epoch", interrupted_in_epoch_3)
    assert main.main(tiny_run_flags(source, tmp_path)) == 130
    run_dir = tmp_path / "cub200" / "tiny_s0"
    assert checkpoint.load(run_dir / checkpoint.LAST)["epoch"] == 2
    monkeypatch.setattr(Run, "train_epoch", original_train_epoch)

    assert main.main(["--resume", str(run_dir)]) == 0
    assert read_csv(run_dir / "test_embeds.csv") == read_csv(finished_run / "test_embeds.csv")
    assert [r["loss"] for r in read_csv(run_dir / "train.csv")] == [r["loss"] for r in
                                                                    read_csv(finished_run / "train.csv")]
    resumed = checkpoint.load(run_dir / checkpoint.LAST)["model"]
    uninterrupted = checkpoint.load(finished_run / checkpoint.LAST)["model"]
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def test_published_roth_command_parses_as_written():
    command = ("--seed 2 --log_online --group cub200-rn128_msim_baseline --no_train_metrics --project "
               "LanguageGuidance --gpu 0 --source_path /data --dataset cub200 --n_epochs 100 --tau 100 --gamma 1 "
               "--arch resnet50_frozen_normalize --embed_dim 128 --loss multisimilarity --bs 90")
    opt = parameters.build_parser().parse_args(command.split())
    assert (opt.seed, opt.n_epochs, opt.tau, opt.gamma, opt.bs, opt.embed_dim) == (2, 100, [100], 1.0, 90, 128)
    assert opt.log_online and opt.no_train_metrics and opt.arch == "resnet50_frozen_normalize"


def test_help_groups_the_options():
    text = parameters.build_parser().format_help()
    for title in ["Basic training", "Data and sampling", "Architecture", "Logging", "Evaluation",
                  "Loss: multisimilarity", "Batchminer: distance"]:
        assert title in text
    assert "--loss_multisimilarity_pos_weight" in text and "--miner_distance_lower_cutoff" in text


@pytest.mark.parametrize("flags, message", [
    (["--loss", "nope"], "Unknown loss 'nope'. Valid loss names: "),
    (["--arch", "vgg_normalize"], "Base names: bninception, efficientnet_lite0, googlenet, resnet18, resnet50"),
    (["--batch_mining", "nope", "--loss", "triplet"], "Unknown batchminer 'nope'. Valid batchminer names: distance"),
    (["--loss", "multisimilarity", "--batch_mining", "random"], "cannot use batchminer 'random'"),
    (["--bs", "18", "--samples_per_class", "4"], "must be a multiple of --samples_per_class"),
    (["--bs", "40", "--samples_per_class", "4"], "needs 10 classes"),
    (["--evaluation_metrics", "e_recall@1", "recall@3"], "Unknown metric 'recall@3'"),
    (["--storage_metrics", "nmi", "--evaluation_metrics", "e_recall@1"], "must also be in --evaluation_metrics"),
    (["--dataset", "cars196"], "cars196/images/<Class Name>/*.jpg"),
])
def test_bad_input_fails_before_writing_anything(source, tmp_path, caplog, flags, message):
    with caplog.at_level(logging.ERROR):
        assert main.main(tiny_run_flags(source, tmp_path) + flags) == 2
    assert message in caplog.text
    assert not (tmp_path / "cub200").exists() and not (tmp_path / "cars196").exists()


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert main.main(["--resume", str(tmp_path)]) == 2
    assert "no options.json" in caplog.text


def test_unreadable_image_names_its_path_or_is_skipped_and_counted(tmp_path, caplog):
    make_cub200(tmp_path / "data", n_classes=8, per_class=8, size=40)
    bad = sorted((tmp_path / "data" / "cub200" / "images" / "005.Bird_5").iterdir())[0]
    corrupt_image(bad)
    with caplog.at_level(logging.ERROR):
        assert main.main(tiny_run_flags(tmp_path / "data", tmp_path / "a", epochs=1)) == 2
    assert str(bad) in caplog.text and "--skip_unreadable_images" in caplog.text
    # It failed in the epoch-0 evaluation of the training split, before any checkpoint: nothing is left behind.
    assert not (tmp_path / "a" / "cub200" / "tiny_s0").exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        flags = tiny_run_flags(tmp_path / "data", tmp_path / "b", "--skip_unreadable_images", epochs=1)
        assert main.main(flags) == 0
    assert "1 items could not be loaded" in caplog.text


def run_subprocess(args, env_updates, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")}
    env.update(env_updates)
    return subprocess.run([sys.executable, os.path.join(REPO_ROOT, "main.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_wandb_is_never_imported_without_log_online(source, tmp_path):
    main_path = os.path.join(REPO_ROOT, "main.py")
    probe = (f"import runpy, sys\n"
             f"sys.argv = [{main_path!r}] + sys.argv[1:]\n"
             f"try:\n    runpy.run_path({main_path!r}, run_name='__main__')\n"
             f"except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
             f"print('wandb imported' if 'wandb' in sys.modules else 'wandb absent')\n")
    flags = tiny_run_flags(source, tmp_path, "--arch", "efficientnet_lite0_frozen_normalize", epochs=0)
    result = subprocess.run([sys.executable, "-c", probe, *flags],
                            capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert result.stdout.strip().endswith("wandb absent"), result.stderr[-2000:]


def test_log_online_without_credentials_runs_wandb_offline(source, tmp_path):
    result = run_subprocess(tiny_run_flags(source, tmp_path, "--log_online", epochs=1),
                            {"HOME": str(tmp_path), "NETRC": str(tmp_path / "none")}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "logging offline" in result.stderr
    offline_runs = list((tmp_path / "cub200" / "tiny_s0" / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
