"""Images decoded once into memory (datasets.base.decode_into_memory, --image_cache_mb): the same tensors as reading
from disk, for training and evaluation, and the same training run."""
import logging
from types import SimpleNamespace

import pytest
import torch

import datasets
import main
from datasets.base import ImageDataset, Split, UnreadableImageError, build_transform, evaluation_loader
from tests.dataset_trees import make_cub200
from tests.test_main import read_csv, tiny_run_flags


def load(root, cache_mb, skip=False):
    opt = SimpleNamespace(dataset="cub200", source_path=str(root), use_tv_split=False, tv_split_perc=0.2, seed=0,
                          image_cache_mb=cache_mb, skip_unreadable_images=skip)
    return datasets.select(opt)


def loader_options(skip=False):
    return SimpleNamespace(bs=4, num_workers=0, skip_unreadable_images=skip)


@pytest.fixture
def tree(tmp_path):
    make_cub200(tmp_path, n_classes=8, per_class=5, size=40)
    return tmp_path


def test_decoded_splits_give_the_images_read_from_disk(tree, caplog):
    with caplog.at_level(logging.INFO):
        cached = load(tree, cache_mb=64)
    assert "Decoded 40 images into memory" in caplog.text
    disk = load(tree, cache_mb=0)
    assert disk.train.decoded is None and len(cached.train.decoded) == len(cached.train) == 20
    transform = build_transform(True, 32)
    for index in range(len(cached.train)):
        torch.manual_seed(index)
        from_memory = ImageDataset(cached.train, transform)[index]
        torch.manual_seed(index)
        from_disk = ImageDataset(disk.train, transform)[index]
        assert torch.equal(from_memory[0], from_disk[0]) and from_memory[1:] == from_disk[1:]
    # a class subset (the training-split metrics use one) keeps its images' arrays
    subset = cached.train.select_classes("sub", [2, 0])
    assert [a.tobytes() for a in subset.decoded] == [cached.train.decoded[i].tobytes()
                                                     for i in range(20) if cached.train.labels[i] in (2, 0)]


def test_evaluation_batches_from_memory_equal_the_disk_loader(tree):
    cached, disk = load(tree, cache_mb=64), load(tree, cache_mb=0)
    transform = build_transform(False, 32)
    split = cached.evaluation["test"].query
    memory_batches = list(evaluation_loader(split, transform, loader_options(), torch.device("cpu")))
    disk_batches = list(evaluation_loader(disk.evaluation["test"].query, transform, loader_options(),
                                          torch.device("cpu")))
    assert len(memory_batches) == len(disk_batches) == 1  # batches of max(bs, 64)
    for (images, labels, indices, skipped), (d_images, d_labels, d_indices, d_skipped) in zip(memory_batches,
                                                                                          disk_batches):
        assert torch.equal(images, d_images) and images.dtype == torch.float32
        assert torch.equal(labels, d_labels) and torch.equal(indices, d_indices) and skipped == d_skipped == 0
    # built once per transform, then served from memory
    assert list(split.transformed) == [repr(transform)]
    again = list(evaluation_loader(split, transform, loader_options(), torch.device("cpu")))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(again, memory_batches))


def test_a_transform_whose_output_is_not_pixels_over_255_is_not_cached(tree):
    split = load(tree, cache_mb=64).train
    scaled = build_transform(False, 32)
    scaled.transforms.append(lambda tensor: tensor * 0.3)
    batches = list(evaluation_loader(split, scaled, loader_options(), torch.device("cpu")))
    assert split.transformed[repr(scaled)] is None  # fell back to the loader
    assert isinstance(evaluation_loader(split, scaled, loader_options(), torch.device("cpu")),
                      torch.utils.data.DataLoader)
    assert torch.allclose(batches[0][0][:1], build_transform(False, 32)(ImageDataset(split, lambda x: x).split_image(0))
                          .unsqueeze(0) * 0.3)


def test_over_the_budget_the_images_stay_on_disk(tree, caplog):
    with caplog.at_level(logging.INFO):
        data = load(tree, cache_mb=0.01)
    assert data.train.decoded is None
    assert "Images are read from disk: decoded they would take about" in caplog.text


def test_an_unreadable_image_fails_or_is_skipped_as_from_disk(tree):
    broken = sorted((tree / "cub200" / "images").rglob("*.jpg"))[-1]  # the last class: a test image
    broken.write_bytes(b"not a jpeg")
    strict = load(tree, cache_mb=64).evaluation["test"].query  # decoding does not fail: using the image does
    with pytest.raises(UnreadableImageError, match=str(broken)):
        ImageDataset(strict, lambda x: x)[strict.paths.index(str(broken))]
    with pytest.raises(UnreadableImageError, match=str(broken)):
        evaluation_loader(strict, build_transform(False, 32), loader_options(), torch.device("cpu"))
    cached = load(tree, cache_mb=64, skip=True)
    split = cached.evaluation["test"].query
    batches = list(evaluation_loader(split, build_transform(False, 32), loader_options(True), torch.device("cpu")))
    disk = load(tree, cache_mb=0, skip=True).evaluation["test"].query
    disk_batches = list(evaluation_loader(disk, build_transform(False, 32), loader_options(True), torch.device("cpu")))
    assert sum(b[3] for b in batches) == sum(b[3] for b in disk_batches) == 1
    assert torch.equal(torch.cat([b[2] for b in batches]), torch.cat([b[2] for b in disk_batches]))
    assert ImageDataset(split, lambda x: x, skip_unreadable=True)[split.paths.index(str(broken))] is None


@pytest.mark.slow
def test_a_run_is_the_same_with_and_without_the_cache(source, tmp_path):
    for cache_mb, name in ((0, "disk"), (64, "memory")):
        assert main.main(tiny_run_flags(source, tmp_path / name, "--image_cache_mb", str(cache_mb),
                                        "--num_workers", "2", epochs=2)) == 0
    for csv_name in ("train.csv", "test_embeds.csv", "train_embeds.csv"):
        disk = read_csv(tmp_path / "disk" / "cub200" / "tiny_s0" / csv_name)
        memory = read_csv(tmp_path / "memory" / "cub200" / "tiny_s0" / csv_name)
        for row_disk, row_memory in zip(disk, memory, strict=True):
            assert {k: v for k, v in row_disk.items() if "time" not in k and k != "seconds"} == \
                   {k: v for k, v in row_memory.items() if "time" not in k and k != "seconds"}
