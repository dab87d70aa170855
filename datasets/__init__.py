"""Datasets: one module per dataset, registered by name; `select(opt)` builds the splits of a run.

Every dataset lives in `<source_path>/<name>/` (see each module for its exact layout) and is split into
class-disjoint train and test classes. Test images are evaluated either same-set (every image queries all the
others: cub200, cars196, online_products, emoji, inaturalist) or as queries against a separate gallery (inshop,
vehicle_id). With --use_tv_split, a class-disjoint "val" split is carved out of the training classes (see
`base.split_off_validation`), always evaluated same-set, and model selection uses it instead of "test".

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
    decode_into_memory,
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

    Reads opt.dataset, opt.source_path, opt.use_tv_split, opt.tv_split_perc, opt.seed and the dataset's own
    --dataset_<name>_* flags (their defaults when absent, so a minimal namespace works).
    Raises ConfigError when the dataset is unknown or its folder is missing or malformed.
    """
    dataset = REGISTRY.get(opt.dataset).from_options(opt)
    train, test = dataset.load()
    if isinstance(test, Split):
        test = EvalSplit("test", test, None, dataset.recall_ks)
    evaluation = {"test": test}
    if opt.use_tv_split:
        train, val = split_off_validation(train, opt.tv_split_perc, opt.seed)
        evaluation["val"] = EvalSplit("val", val, None, dataset.recall_ks)
    LOGGER.info("%s train: %d classes, %d images", opt.dataset, train.num_classes, len(train))
    for name, split in evaluation.items():
        if split.gallery is None:
            LOGGER.info("%s %s: %d classes, %d images", opt.dataset, name, split.query.num_classes, len(split.query))
        else:
            LOGGER.info("%s %s: %d classes, %d query and %d gallery images", opt.dataset, name,
                        split.query.num_classes, len(split.query), len(split.gallery))
    parts = [train] + [part for split in evaluation.values() for part in (split.query, split.gallery) if part]
    decode_into_memory(parts, getattr(opt, "image_cache_mb", 0))
    return DatasetSplits(opt.dataset, train, evaluation, dataset.default_crop_size, dataset.train_crop_scale)
