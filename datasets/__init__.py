"""Datasets: one module per dataset, registered by name; `select(opt)` builds the splits of a run.

Every dataset lives in `<source_path>/<name>/` (see each module for its exact layout) and is split into
class-disjoint train and test classes. With --use_tv_split, a class-disjoint "val" split is carved out of the
training classes (see `base.split_off_validation`) and model selection uses it instead of "test".

Dataset-specific flags, if a dataset needs any, are named --dataset_<name>_<param> and declared by the dataset
class's static `add_arguments(group)`.

This package is named `datasets`, so with the repository root on sys.path it shadows Hugging Face's `datasets`
library. Nothing in this repository may import Hugging Face `datasets`.
"""
import logging
from pathlib import Path

from datasets.base import (
    DatasetSplits,
    EvalSplit,
    ImageDataset,
    Split,
    UnreadableImageError,
    build_transform,
    collate_skipping,
    split_off_validation,
)
from utilities.registry import Registry

LOGGER = logging.getLogger(__name__)

REGISTRY = Registry("dataset", "datasets")

# The git-ignored data/ folder at the repository root; scripts/prepare_emoji.py writes there by default.
DEFAULT_SOURCE_PATH = Path(__file__).resolve().parent.parent / "data"

__all__ = [
    "DEFAULT_SOURCE_PATH",
    "REGISTRY",
    "DatasetSplits",
    "EvalSplit",
    "ImageDataset",
    "Split",
    "UnreadableImageError",
    "build_transform",
    "collate_skipping",
    "select",
    "split_off_validation",
]


def select(opt):
    """Load `opt.dataset` from `opt.source_path` and return its DatasetSplits.

    Reads only opt.dataset, opt.source_path, opt.use_tv_split, opt.tv_split_perc and opt.seed.
    Raises ConfigError when the dataset is unknown or its folder is missing or malformed.
    """
    dataset = REGISTRY.get(opt.dataset)(opt.source_path)
    train, test = dataset.load()
    evaluation = {"test": EvalSplit("test", test, None, dataset.recall_ks)}
    if opt.use_tv_split:
        train, val = split_off_validation(train, opt.tv_split_perc, opt.seed)
        evaluation["val"] = EvalSplit("val", val, None, dataset.recall_ks)
    for split in [train] + [e.query for e in evaluation.values()]:
        LOGGER.info("%s %s: %d classes, %d images", opt.dataset, split.name, split.num_classes, len(split))
    return DatasetSplits(opt.dataset, train, evaluation, dataset.default_crop_size, dataset.train_crop_scale)
