"""What every dataset shares: the split data classes, the on-disk dataset base class, image loading and the
base augmentation.

A dataset module subclasses `DiskDataset`: it validates its folder and returns a train `Split` and its test
evaluation, either a `Split` (same-set protocol) or an `EvalSplit` (queries against a separate gallery).
`datasets.select()` then optionally carves a validation split out of the training classes
(`split_off_validation`) and wraps everything into a `DatasetSplits`.
"""
import dataclasses
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from utilities.errors import ConfigError

LOGGER = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclasses.dataclass(eq=False)
class Split:
    """A set of images with labels 0..C-1, where `class_names[label]` names the class.

    `readable_names[label]` is the class in words ("Black footed Albatross", "bicycle") where the dataset has such
    names (language guidance embeds them), else None (classes that are item ids).

    Labels are contiguous within every split (training proxies need `num_classes` rows). A query split and its
    gallery share label ids (and therefore `class_names`), so a query split may lack some of its classes.
    """

    name: str
    paths: list
    labels: np.ndarray
    class_names: list
    readable_names: list = None
    # RGB uint8 arrays of the images once decode_into_memory has decoded them, an UnreadableImageError in place of
    # an image that could not be decoded (None: read from disk each time).
    decoded: list = dataclasses.field(default=None, repr=False)
    # TransformedImages of the decoded images per evaluation transform (see evaluation_loader).
    transformed: dict = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.paths = [str(path) for path in self.paths]
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.class_names = list(self.class_names)
        if self.readable_names is not None:
            self.readable_names = [str(name) for name in self.readable_names]
            if len(self.readable_names) != len(self.class_names):
                raise ValueError(f"Split '{self.name}': {len(self.readable_names)} readable names for "
                                 f"{len(self.class_names)} classes")
        if len(self.paths) != len(self.labels):
            raise ValueError(f"Split '{self.name}': {len(self.paths)} paths but {len(self.labels)} labels")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
            raise ValueError(f"Split '{self.name}': labels must lie in 0..{self.num_classes - 1}")

    @classmethod
    def from_groups(cls, name, groups, readable_name=None):
        """Build a split from `[(class_name, [path, ...]), ...]`; the i-th group gets label i. readable_name, when
        given, maps a class name to its readable name."""
        paths, labels = [], []
        for label, (_, class_paths) in enumerate(groups):
            paths.extend(class_paths)
            labels.extend([label] * len(class_paths))
        class_names = [class_name for class_name, _ in groups]
        readable = None if readable_name is None else [readable_name(class_name) for class_name in class_names]
        return cls(name, paths, np.array(labels, dtype=np.int64), class_names, readable)

    @classmethod
    def from_class_names(cls, name, paths, image_classes, class_names):
        """Build a split whose i-th image belongs to the class named `image_classes[i]`; labels index `class_names`."""
        label_of = {class_name: label for label, class_name in enumerate(class_names)}
        return cls(name, paths, np.array([label_of[c] for c in image_classes], dtype=np.int64), class_names)

    @property
    def num_classes(self):
        return len(self.class_names)

    def __len__(self):
        return len(self.paths)

    def select_classes(self, name, class_ids):
        """A new split holding only `class_ids`, relabelled 0..len(class_ids)-1 in the order given."""
        new_label = {int(old): new for new, old in enumerate(class_ids)}
        keep = np.flatnonzero(np.isin(self.labels, list(new_label)))
        return Split(
            name,
            [self.paths[i] for i in keep],
            np.array([new_label[int(self.labels[i])] for i in keep], dtype=np.int64),
            [self.class_names[int(old)] for old in class_ids],
            None if self.readable_names is None else [self.readable_names[int(old)] for old in class_ids],
            None if self.decoded is None else [self.decoded[i] for i in keep],
        )


@dataclasses.dataclass(eq=False)
class EvalSplit:
    """One retrieval evaluation.

    gallery None is the same-set protocol: every image of `query` queries all the other images of `query`.
    Otherwise queries search `gallery` only; both then share label ids (identical `class_names`).
    """

    name: str
    query: Split
    gallery: "Split | None"
    recall_ks: tuple

    def __post_init__(self):
        self.recall_ks = tuple(int(k) for k in self.recall_ks)
        if self.gallery is not None and self.gallery.class_names != self.query.class_names:
            raise ValueError(f"EvalSplit '{self.name}': query and gallery must share label ids (class_names)")


@dataclasses.dataclass(eq=False)
class DatasetSplits:
    """Everything a run needs from a dataset.

    `evaluation` always has "test"; it also has "val" when --use_tv_split is set, and then model selection
    (best checkpoint, early stopping) must use "val", never "test": see `selection_key`.
    """

    name: str
    train: Split
    evaluation: dict
    default_crop_size: int
    train_crop_scale: tuple

    def __post_init__(self):
        if "test" not in self.evaluation:
            raise ValueError(f"DatasetSplits '{self.name}' needs a 'test' evaluation")

    @property
    def selection_key(self):
        """The evaluation split model selection must use: "val" when it exists, else "test"."""
        return "val" if "val" in self.evaluation else "test"


def split_off_validation(train, fraction_kept, seed):
    """Carve a class-disjoint validation split out of the training classes (--use_tv_split).

    The training classes are shuffled with `numpy.random.default_rng(seed)`; the first round(fraction_kept * C)
    of them stay in training and the rest become "val". Both keep their classes in the original order and are
    relabelled 0..C'-1, so the result depends only on the training split, the fraction and the seed.
    """
    if not 0.0 < fraction_kept < 1.0:
        raise ConfigError(
            f"--tv_split_perc must lie strictly between 0 and 1 (the fraction of training classes kept for "
            f"training), got {fraction_kept}."
        )
    n_classes = train.num_classes
    n_kept = math.floor(fraction_kept * n_classes + 0.5)
    if n_kept < 2 or n_classes - n_kept < 2:
        raise ConfigError(
            f"--use_tv_split with --tv_split_perc {fraction_kept} splits the {n_classes} training classes into "
            f"{n_kept} train / {n_classes - n_kept} val classes; each side needs at least 2 classes. "
            f"Choose another --tv_split_perc or drop --use_tv_split."
        )
    order = np.random.default_rng(seed).permutation(n_classes)
    kept, held_out = np.sort(order[:n_kept]), np.sort(order[n_kept:])
    return train.select_classes("train", kept), train.select_classes("val", held_out)


class DiskDataset:
    """Base class of the datasets: one folder `<source_path>/<registry name>/`, validated on construction.

    Subclasses set `LAYOUT` (shown in every layout error) and implement `load() -> (train Split, test)`, where test
    is a `Split` for the same-set protocol or an `EvalSplit` named "test" for a query/gallery protocol. A dataset
    with flags of its own declares them in a static `add_arguments(group)` and reads them in `from_options`.
    """

    LAYOUT = ""
    default_crop_size = 224
    train_crop_scale = (0.08, 1.0)
    recall_ks = (1, 2, 4, 8)
    # Values for training flags the user left unset (see parameters.DATASET_DEPENDENT_DEFAULTS); empty means Roth's.
    recommended_options = {}

    def __init__(self, source_path):
        self.source_path = Path(source_path)
        self.root = self.source_path / self.registry_name
        if not self.has_data():
            raise self.layout_error(f"folder {self.root} does not exist")

    def has_data(self):
        """Whether there is something to load; a dataset that can also read other layouts in place widens this."""
        return self.root.is_dir()

    @classmethod
    def from_options(cls, opt):
        """The dataset as configured by a run's options namespace."""
        return cls(opt.source_path)

    def load(self):
        raise NotImplementedError

    def layout_error(self, problem):
        return ConfigError(
            f"Dataset '{self.registry_name}' under --source_path {self.source_path}: {problem}. "
            f"Expected layout:\n{self.LAYOUT.format(root=self.root)}"
        )

    def class_folders(self, images_dir):
        """The sorted class sub-folders of `images_dir` (hidden entries ignored)."""
        if not images_dir.is_dir():
            raise self.layout_error(f"folder {images_dir} does not exist")
        folders = sorted(p for p in images_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if len(folders) < 2:
            raise self.layout_error(f"{images_dir} holds {len(folders)} class folders, at least 2 are needed")
        return folders

    def read_list_file(self, path):
        """`(line number, stripped line)` of each non-blank line of a text file; a missing file is a layout error."""
        if not path.is_file():
            raise self.layout_error(f"file {path} does not exist")
        return [(number, line.strip()) for number, line in enumerate(path.read_text().splitlines(), start=1)
                if line.strip()]

    def check_listed_image(self, list_path, image_path):
        """Fail unless one image a list file names exists.

        Checking one file per list (not every image of a large dataset) catches a wrong root cheaply; a later
        missing file fails naming its path when it is loaded.
        """
        if not Path(image_path).is_file():
            raise self.layout_error(f"{list_path} lists {image_path}, which does not exist")

    def image_files(self, folder):
        """The sorted image files of a class folder; an empty class folder is a layout error."""
        files = sorted(
            str(p) for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
        if not files:
            raise self.layout_error(f"class folder {folder} holds no {'/'.join(IMAGE_SUFFIXES)} images")
        return files


class UnreadableImageError(ConfigError):
    """An image file that PIL cannot decode; the message names the file."""


def to_rgb(image):
    """RGB copy of a PIL image; transparent images are composited onto white (emoji are RGBA icons)."""
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def load_rgb(path):
    """Open an image as RGB, raising UnreadableImageError naming `path` when it cannot be decoded."""
    try:
        with Image.open(path) as image:
            image.load()  # decode now: a truncated file must fail here, not later inside a transform
            return to_rgb(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UnreadableImageError(f"Cannot read image {path}: {error}") from error


class ImageDataset(torch.utils.data.Dataset):
    """The images of a Split through `transform`; items are `(image_tensor, label, index)`.

    With skip_unreadable=True an unreadable image yields None instead of raising; use `collate_skipping` as the
    DataLoader's collate_fn so that such items are dropped and counted.
    """

    def __init__(self, split, transform, skip_unreadable=False):
        self.split = split
        self.transform = transform
        self.skip_unreadable = skip_unreadable

    def __len__(self):
        return len(self.split)

    def __getitem__(self, index):
        try:
            image = self.split_image(index)
        except UnreadableImageError as error:
            if not self.skip_unreadable:
                raise
            LOGGER.warning("Skipping: %s", error)
            return None
        return self.transform(image), int(self.split.labels[index]), int(index)

    def split_image(self, index):
        if self.split.decoded is None:
            return load_rgb(self.split.paths[index])
        array = self.split.decoded[index]
        if isinstance(array, UnreadableImageError):
            raise array
        return Image.fromarray(array)


def decode_into_memory(splits, budget_mb):
    """Decode the images of `splits` once into RGB uint8 arrays kept in memory, when they fit in budget_mb together.

    Small datasets (the emoji default) otherwise decode every PNG again for every epoch and every evaluation, in
    loader workers that compete with the training threads for the same cores. The arrays are those load_rgb gives,
    so training and evaluation see identical images either way; the decoding happens in this process before any
    loader forks its workers, which then share the arrays. The size is estimated from the headers of up to 64
    images per split (opening a file reads its size without decoding it). Returns True when decoded.
    """
    splits = [split for split in splits if split.decoded is None]
    if budget_mb <= 0 or not splits:
        return False
    estimate = 0
    for split in splits:
        sample = split.paths[:: max(1, len(split) // 64)][:64]
        sizes = []
        for path in sample:
            try:
                with Image.open(path) as image:
                    sizes.append(image.width * image.height * 3)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                continue  # an unreadable image is reported when it is decoded (or loaded) below
        estimate += len(split) * (np.mean(sizes) if sizes else 0)
    if estimate > budget_mb * 2**20:
        LOGGER.info("Images are read from disk: decoded they would take about %.0f MiB, over --image_cache_mb %d.",
                    estimate / 2**20, budget_mb)
        return False

    def decode(path):
        try:
            return np.asarray(load_rgb(path))
        except UnreadableImageError as error:  # raised (or skipped) where the image is used, as from disk
            return error

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PIL releases the GIL while decoding
        for split in splits:
            split.decoded = list(pool.map(decode, split.paths, chunksize=64))
    total = sum(array.nbytes for split in splits for array in split.decoded if isinstance(array, np.ndarray))
    LOGGER.info("Decoded %d images into memory (%.0f MiB) in %.1f s; --image_cache_mb 0 reads them from disk "
                "instead.", sum(len(split) for split in splits), total / 2**20, time.perf_counter() - started)
    return True


def collate_skipping(batch):
    """Collate `ImageDataset` items, dropping None (skipped unreadable images).

    Always returns `(images, labels LongTensor, indices LongTensor, n_skipped)`, whether or not anything was
    skipped, so the training loop has one code path. If every item was skipped, the tensors are empty.
    """
    kept = [item for item in batch if item is not None]
    n_skipped = len(batch) - len(kept)
    if not kept:
        empty = torch.empty(0, dtype=torch.long)
        return torch.empty(0), empty, empty.clone(), n_skipped
    images = torch.stack([item[0] for item in kept])
    labels = torch.tensor([item[1] for item in kept], dtype=torch.long)
    indices = torch.tensor([item[2] for item in kept], dtype=torch.long)
    return images, labels, indices, n_skipped


def build_transform(train, crop_size, crop_scale=(0.08, 1.0)):
    """Roth et al.'s base augmentation.

    train: RandomResizedCrop(crop_size, scale=crop_scale) + horizontal flip; test: resize the short side to
    crop_size * 256/224 then center-crop crop_size (the usual 256 -> 224 ratio). Both end with ToTensor, giving RGB
    in [0, 1]: every model normalises its input itself (architectures.base.EmbeddingModel), so the transform is the
    same whatever the architecture.
    """
    if train:
        geometry = [transforms.RandomResizedCrop(crop_size, scale=tuple(crop_scale)), transforms.RandomHorizontalFlip()]
    else:
        geometry = [transforms.Resize(round(crop_size * 256 / 224)), transforms.CenterCrop(crop_size)]
    return transforms.Compose(geometry + [transforms.ToTensor()])


def evaluation_loader(split, transform, opt, device):
    """The loader every evaluation embeds a Split with (training loop and evaluate.py alike), in dataset order.

    A split decoded into memory (decode_into_memory) is transformed once per evaluation transform and served from
    memory afterwards: the evaluation transform is deterministic, so every later evaluation would compute the same
    tensors again."""
    batch_size = max(opt.bs, 64)
    if split.decoded is not None:
        cached = TransformedImages.of(split, transform)
        if cached is not None:
            if cached.unreadable and not opt.skip_unreadable_images:
                raise cached.unreadable[0]
            for error in cached.unreadable:
                LOGGER.warning("Skipping: %s", error)
            return cached.batches(batch_size)
    return torch.utils.data.DataLoader(
        ImageDataset(split, transform, skip_unreadable=opt.skip_unreadable_images), batch_size=batch_size,
        shuffle=False, num_workers=opt.num_workers, collate_fn=collate_skipping, pin_memory=device.type == "cuda")


class TransformedImages:
    """A decoded split's images through one deterministic transform ending in ToTensor, kept as uint8.

    ToTensor divides uint8 pixels by 255, so the uint8 values give back its float tensors bit for bit (checked for
    every image when the cache is built; a transform whose output is not of that form is not cached)."""

    def __init__(self, split, images, kept, unreadable):
        self.split, self.images, self.kept, self.unreadable = split, images, kept, unreadable

    @classmethod
    def of(cls, split, transform):
        """The cache of (split, transform), built on first use; None when the transform's output cannot be cached."""
        key = repr(transform)
        if key not in split.transformed:
            split.transformed[key] = cls.build(split, transform)
        return split.transformed[key]

    @classmethod
    def build(cls, split, transform):
        images, kept, unreadable = [], [], []
        for index, array in enumerate(split.decoded):
            if isinstance(array, UnreadableImageError):
                unreadable.append(array)
                continue
            tensor = transform(Image.fromarray(array))
            pixels = (tensor * 255).round().clamp(0, 255).to(torch.uint8)
            if not torch.equal(pixels.float().div(255), tensor):
                return None
            images.append(pixels)
            kept.append(index)
        if not images:
            return None
        return cls(split, torch.stack(images), torch.tensor(kept, dtype=torch.long), unreadable)

    def batches(self, batch_size):
        return _CachedBatches(self, batch_size)


class _CachedBatches:
    """(images, labels, indices, n_skipped) batches of a TransformedImages, like a DataLoader with collate_skipping."""

    def __init__(self, cache, batch_size):
        self.cache, self.batch_size = cache, batch_size

    def __len__(self):
        return math.ceil(len(self.cache.kept) / self.batch_size)

    def __iter__(self):
        # A DataLoader iterator draws its workers' base seed from the global generator; drawing it here too keeps
        # the run's random stream, and so its training augmentations, the same with and without the cache.
        torch.empty((), dtype=torch.int64).random_()
        labels = torch.from_numpy(self.cache.split.labels)
        skipped = len(self.cache.split) - len(self.cache.kept)
        for start in range(0, len(self.cache.kept), self.batch_size):
            indices = self.cache.kept[start:start + self.batch_size]
            yield (self.cache.images[start:start + self.batch_size].float().div(255), labels[indices], indices,
                   skipped if start == 0 else 0)
