import os

import pytest
import torch

from tests.helpers import options
from utilities import checkpoint
from utilities.logger import CsvTable, create_run_dir


def test_atomic_write_replaces_whole_files_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint_last.pth"
    checkpoint.write_atomic(target, checkpoint.serialise({"epoch": 1}))
    assert checkpoint.load(target)["epoch"] == 1

    def disk_full(fd):
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        checkpoint.write_atomic(target, checkpoint.serialise({"epoch": 2}))
    assert checkpoint.load(target)["epoch"] == 1
    assert os.listdir(tmp_path) == ["checkpoint_last.pth"]


def test_rng_states_round_trip():
    states = checkpoint.rng_states()
    first = torch.rand(3)
    torch.rand(5)
    checkpoint.restore_rng_states(states)
    assert torch.equal(torch.rand(3), first)


def test_csv_truncation_drops_rows_after_the_checkpointed_epoch(tmp_path):
    table = CsvTable(tmp_path / "test_embeds.csv")
    for epoch in range(4):
        table.append({"epoch": epoch, "e_recall@1": epoch / 10})
    table.truncate_after(1)
    assert table.rows() == [{"epoch": 0.0, "e_recall@1": 0.0}, {"epoch": 1.0, "e_recall@1": 0.1}]


def test_run_dirs_are_never_reused(tmp_path):
    first = create_run_dir(tmp_path, "cub200", "g", 3)
    second = create_run_dir(tmp_path, "cub200", "g", 3)
    assert first.endswith("cub200/g_s3") and second.endswith("cub200/g_s3_1")


def test_dataset_dependent_defaults_apply_only_to_unset_flags():
    assert (options().n_epochs, options().lr) == (8, 2e-4)  # emoji: CPU-sized
    assert (options("--dataset", "cub200").n_epochs, options("--dataset", "cub200").lr) == (150, 1e-5)  # Roth
    assert options("--dataset", "cub200", "--lr", "3e-5").lr == 3e-5


def test_training_metrics_use_whole_seeded_classes_within_the_budget():
    import numpy as np

    from datasets.base import Split
    from utilities.run_evaluation import train_subset
    labels = np.repeat(np.arange(10), 5)
    split = Split("train", [f"{i}.jpg" for i in range(50)], labels, [f"c{i}" for i in range(10)])
    subset = train_subset(split, 23, seed=0)
    assert len(subset.paths) == 20 and subset.num_classes == 4
    kept_names = set(subset.class_names)
    assert all(p in {f"{i}.jpg" for i in range(50) if f"c{labels[i]}" in kept_names} for p in subset.paths)
    assert train_subset(split, 23, seed=0).class_names == subset.class_names
    assert train_subset(split, 100, seed=0) is split


@pytest.mark.parametrize("dataset, recall_ks", [("cub200", [1, 2, 4, 8]), ("online_products", [1, 10, 100, 1000]),
                                                ("inshop", [1, 10, 20, 30]), ("vehicle_id", [1, 5]),
                                                ("inaturalist", [1, 4, 16, 32])])
def test_default_metrics_follow_each_benchmark(dataset, recall_ks):
    metrics = options("--dataset", dataset).evaluation_metrics
    assert [m for m in metrics if m.startswith("e_recall@")] == [f"e_recall@{k}" for k in recall_ks]
    assert "mAP_R" in metrics and "nmi" in metrics
    assert options("--dataset", dataset, "--evaluation_metrics", "nmi").evaluation_metrics == ["nmi"]
