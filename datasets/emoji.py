"""Emoji: the small default dataset, built once by `python scripts/prepare_emoji.py`.

Source: the npm packages emoji-datasource-google@16.0.0 and emoji-datasource-twitter@16.0.0 (1,911 emoji,
64x64 RGBA PNGs). One class per emoji; its images are the Google and the Twitter renderings of the emoji and of
all its skin-tone variants (a skin tone is not a class of its own), composited onto white and stored as RGB.

Layout: <source_path>/emoji/images/<NNNN_short_name>/<vendor>_<image>.png, where NNNN is the emoji's sort_order
(so folder order is emoji order), plus <source_path>/emoji/classes.json listing, per class: folder, short_name,
unified, category, sort_order, split and its image file names. classes.json is written last, so its presence
means the preparation finished.

Split (class-disjoint, deterministic, balanced over categories): the categories are taken in the order of their
first emoji; within each category the emoji are sorted by sort_order and assigned alternately to train and test.
The alternation carries on from one category to the next, so every category, and the whole dataset, is split
in halves to within one class.
"""
import json
import shlex
from pathlib import Path

from datasets import DEFAULT_SOURCE_PATH, REGISTRY
from datasets.base import DiskDataset, Split
from utilities.errors import ConfigError

SPLITS = ("train", "test")


def assign_splits(emoji):
    """Given `[(category, sort_order), ...]`, return the split ("train"/"test") of each emoji, in input order."""
    category_start = {}
    for category, sort_order in emoji:
        category_start[category] = min(sort_order, category_start.get(category, sort_order))
    order = sorted(range(len(emoji)), key=lambda i: (category_start[emoji[i][0]], emoji[i][0], emoji[i][1]))
    splits = [None] * len(emoji)
    for position, i in enumerate(order):
        splits[i] = SPLITS[position % 2]
    return splits


def prepare_command(source_path):
    """The one command that prepares the emoji dataset under `source_path`."""
    command = "python scripts/prepare_emoji.py"
    if Path(source_path).resolve() != DEFAULT_SOURCE_PATH:
        command += f" --source_path {shlex.quote(str(source_path))}"
    return command


@REGISTRY.register("emoji")
class Emoji(DiskDataset):
    LAYOUT = (
        "  {root}/images/<NNNN_short_name>/<vendor>_<image>.png   e.g. {root}/images/0001_grinning/google_1f600.png\n"
        "  {root}/classes.json   the class list with each class's category, split and image names"
    )
    # Native 64x64 icons: a 64 px crop keeps the default run fast on CPU, and gentle crops keep the icon visible.
    default_crop_size = 64
    # Sized so that `python main.py` finishes within 10 minutes on 2 CPU cores (see the README's measurements).
    recommended_options = {"n_epochs": 8, "lr": 2e-4, "channels_last": True}
    train_crop_scale = (0.5, 1.0)

    def layout_error(self, problem):
        return ConfigError(f"{super().layout_error(problem)}\nPrepare it with: {prepare_command(self.source_path)}")

    def load(self):
        classes_file = self.root / "classes.json"
        if not classes_file.is_file():
            raise self.layout_error(f"{classes_file} does not exist, the dataset is not prepared")
        try:
            entries = json.loads(classes_file.read_text())["classes"]
            classes = sorted((e["folder"], e["split"], list(e["images"])) for e in entries)
            short_names = {e["folder"]: e["short_name"].replace("_", " ") for e in entries}
        except (ValueError, KeyError, TypeError) as error:
            raise self.layout_error(f"{classes_file} is malformed ({error!r})") from error
        groups = {split: [] for split in SPLITS}
        for folder, split, images in classes:
            if split not in groups:
                raise self.layout_error(f"{classes_file}: class {folder} has split {split!r}, not train or test")
            paths = [self.root / "images" / folder / name for name in images]
            missing = [path for path in paths if not path.is_file()]
            if missing or not paths:
                problem = f"{missing[0]} is missing" if missing else f"class {folder} lists no images"
                raise self.layout_error(f"{problem}; the preparation did not finish")
            groups[split].append((folder, [str(path) for path in paths]))
        for split, split_groups in groups.items():
            if len(split_groups) < 2:
                raise self.layout_error(f"{classes_file} has {len(split_groups)} {split} classes, at least 2 needed")
        return (Split.from_groups("train", groups["train"], short_names.get),
                Split.from_groups("test", groups["test"], short_names.get))
