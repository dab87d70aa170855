"""Tiny dataset trees for tests: real image files in each dataset's exact on-disk layout.

Import as `from tests.dataset_trees import make_cub200, make_opt` (the repository root must be on sys.path, as it
is under `python -m pytest`). Every `make_<dataset>(root, ...)` writes `<root>/<dataset>/` (so `root` is the
--source_path), returns that dataset folder, is deterministic for a given `seed` and takes well under a second.
The `make_<dataset>_release` builders (and make_cars196_devkit) write the releases' and other codebases' layouts
that scripts/prepare_dataset.py accepts instead (see the end of this file).

The images are learnable: class c (its index in the tree, in label order, train classes before test ones
except for emoji) is drawn as stripes whose orientation (4 values), colour pair (4 hues) and stripe count
(4 values) are class factors combined in mixed radix, so up to 64 classes look distinct and test classes
recombine factor values seen in training. Per-image nuisances common to all classes (a strong colour cast,
brightness, pixel noise, stripe phase, small jitter of angle and width) make an untrained network rank
poorly; a few training steps teach the class factors, which carry over to the disjoint test classes. Measured
with a 2-layer CNN, 20 Adam steps of a contrastive loss, default trees: test recall@1 rises from about 0.6 to
about 0.95.

Split sizes: every tree but emoji uses the first half of the classes for training, emoji alternates (see
datasets/emoji.py); with the default n_classes=8 there are 4 train and 4 test classes. In the inshop tree the even
images of a test class are queries and the odd ones gallery; the vehicle_id tree's test lists small/medium/large
hold the first T-2, T-1 and all T test classes.
--use_tv_split needs at least 2 classes on each side: with 4 train classes use tv_split_perc 0.5, or build
n_classes >= 20 for the default 0.8.
"""
import argparse
import colorsys
import json
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from datasets.emoji import assign_splits

CAR_MAKES = ["Volvo", "Audi", "Tesla", "BMW", "Fiat", "Chevrolet", "Kia", "Dodge"]
SOP_SUPER_CLASSES = ["bicycle", "chair", "mug", "lamp", "sofa", "kettle"]
EMOJI_CATEGORIES = ("Smileys & Emotion", "Animals & Nature", "Flags")
SKIN_TONES = ["1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"]
INSHOP_CATEGORIES = [("MEN", "Denim"), ("WOMEN", "Blouses_Shirts"), ("WOMEN", "Dresses")]
INSHOP_VIEWS = ["front", "side", "back", "full", "additional"]
INATURALIST_SUPERCATEGORIES = ["Aves", "Insecta", "Plantae"]


def class_image(class_index, image_index, size=48, seed=0):
    """The deterministic RGB image number `image_index` of class `class_index` (see the module docstring)."""
    rng = np.random.default_rng([seed, class_index, image_index])
    # Three class factors in mixed radix, so that test classes recombine factor values seen in training.
    orientation, hue, cycles = class_index % 4, (class_index + class_index // 4) % 4, (class_index // 16) % 4
    foreground = np.array(colorsys.hsv_to_rgb(hue / 4 + 0.05, 0.85, 0.9))
    background = np.array(colorsys.hsv_to_rgb(hue / 4 + 0.55, 0.85, 0.4))
    angle = np.deg2rad(orientation * 45 + rng.uniform(-6, 6))
    period = size / ((2.5 + 1.5 * cycles) * rng.uniform(0.9, 1.1))
    y, x = np.mgrid[0:size, 0:size]
    wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + rng.uniform(0, 2 * np.pi))
    pixels = np.where((wave > 0)[..., None], foreground, background) * rng.uniform(0.55, 1.15) * 255
    pixels += rng.normal(0, 30, 3)  # a colour cast per image: the nuisance an untrained network ranks by
    pixels += rng.normal(0, 14, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_cub200(root, n_classes=8, per_class=4, size=48, seed=0):
    """<root>/cub200/images/<NNN.Bird_N>/Bird_N_<k>.jpg, classes 1..n_classes (first half train)."""
    images = Path(root) / "cub200" / "images"
    for c in range(n_classes):
        folder = images / f"{c + 1:03d}.Bird_{c + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            class_image(c, k, size, seed).save(folder / f"Bird_{c + 1}_{k:04d}.jpg", quality=90)
    return images.parent


def make_cars196(root, n_classes=8, per_class=4, size=48, seed=0):
    """<root>/cars196/images/<Make Model N Year>/<k>.jpg; creation order differs from sorted (label) order."""
    names = sorted(f"{CAR_MAKES[c % len(CAR_MAKES)]} Model {c} {2000 + c}" for c in range(n_classes))
    images = Path(root) / "cars196" / "images"
    for c in range(n_classes - 1, -1, -1):
        folder = images / names[c]
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            class_image(c, k, size, seed).save(folder / f"{k:05d}.jpg", quality=90)
    return images.parent


def make_online_products(root, n_classes=8, per_class=4, size=48, seed=0):
    """<root>/online_products/images/<super>_final/<product>_<k>.JPG plus Info_Files/Ebay_{train,test}.txt.

    Class ids are 1..n_classes in the info files; the first half are listed in Ebay_train.txt.
    """
    dataset = Path(root) / "online_products"
    lines = {"train": [], "test": []}
    for c in range(n_classes):
        super_id = c % len(SOP_SUPER_CLASSES)
        folder = f"{SOP_SUPER_CLASSES[super_id]}_final"
        (dataset / "images" / folder).mkdir(parents=True, exist_ok=True)
        split = "train" if c < n_classes // 2 else "test"
        for k in range(per_class):
            relative = f"{folder}/{111085122871 + c}_{k}.JPG"
            class_image(c, k, size, seed).save(dataset / "images" / relative, format="JPEG", quality=90)
            lines[split].append(f"{len(lines[split]) + 1} {c + 1} {super_id + 1} {relative}")
    (dataset / "Info_Files").mkdir(parents=True, exist_ok=True)
    for split, split_lines in lines.items():
        text = "\n".join(["image_id class_id super_class_id path"] + split_lines) + "\n"
        (dataset / "Info_Files" / f"Ebay_{split}.txt").write_text(text)
    return dataset


def make_emoji(root, n_classes=8, per_class=4, size=48, seed=0, categories=EMOJI_CATEGORIES):
    """The prepared emoji layout: <root>/emoji/images/<NNNN_emoji_N>/<vendor>_<code>.png plus classes.json.

    Classes get sort_order 1..n_classes and contiguous blocks of `categories`; splits follow
    datasets.emoji.assign_splits. Images alternate google/twitter, then skin-tone variants (per_class <= 12).
    """
    if per_class > 2 * (1 + len(SKIN_TONES)):
        raise ValueError(f"make_emoji: per_class is at most {2 * (1 + len(SKIN_TONES))} (2 vendors x 6 tones)")
    dataset = Path(root) / "emoji"
    entries = []
    for c in range(n_classes):
        code = f"1f{0x600 + c:03x}"
        entry = {
            "folder": f"{c + 1:04d}_emoji_{c + 1}",
            "short_name": f"emoji_{c + 1}",
            "unified": code.upper(),
            "category": categories[c * len(categories) // n_classes],
            "sort_order": c + 1,
            "images": [],
        }
        folder = dataset / "images" / entry["folder"]
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            variant = "" if k < 2 else f"-{SKIN_TONES[k // 2 - 1]}"
            name = f"{('google', 'twitter')[k % 2]}_{code}{variant}.png"
            class_image(c, k, size, seed).save(folder / name)
            entry["images"].append(name)
        entries.append(entry)
    for entry, split in zip(entries, assign_splits([(e["category"], e["sort_order"]) for e in entries])):
        entry["split"] = split
    packages = {"emoji-datasource-google": "16.0.0", "emoji-datasource-twitter": "16.0.0"}
    (dataset / "classes.json").write_text(json.dumps({"packages": packages, "classes": entries}, indent=1))
    return dataset


def make_inshop(root, n_classes=8, per_class=4, size=48, seed=0):
    """<root>/inshop/img/<gender>/<category>/id_<N>/<k>_<view>.jpg plus list_eval_partition.txt.

    Item ids id_00000001.. in class order; the first half are train items, the others test items whose even
    images (k = 0, 2, ...) are queries and odd ones gallery. Lines are sorted by image path, as in the release,
    so the statuses interleave.
    """
    dataset = Path(root) / "inshop"
    lines = []
    for c in range(n_classes):
        gender, category = INSHOP_CATEGORIES[c % len(INSHOP_CATEGORIES)]
        item = f"id_{c + 1:08d}"
        for k in range(per_class):
            relative = f"img/{gender}/{category}/{item}/{k // 5 + 1:02d}_{k % 5 + 1}_{INSHOP_VIEWS[k % 5]}.jpg"
            (dataset / relative).parent.mkdir(parents=True, exist_ok=True)
            class_image(c, k, size, seed).save(dataset / relative, quality=90)
            status = "train" if c < n_classes // 2 else ("query", "gallery")[k % 2]
            lines.append(f"{relative} {item} {status}")
    header = [str(len(lines)), "image_name item_id evaluation_status"]
    (dataset / "list_eval_partition.txt").write_text("\n".join(header + sorted(lines)) + "\n")
    return dataset


def vehicle_id(c):
    """The vehicle id of class c in the vehicle_id tree: increasing with c, not contiguous."""
    return 10 * c + 3


def make_vehicle_id(root, n_classes=8, per_class=4, size=48, seed=0):
    """<root>/vehicle_id/image/<NNNNNNN>.jpg plus train_test_split/train_list.txt and test_list_{800,1600,2400}.txt.

    Class c is vehicle `vehicle_id(c)`; the first half are train vehicles. Of the T test vehicles, test_list_800.txt
    (small) lists the first T-2, test_list_1600.txt (medium) the first T-1 and test_list_2400.txt (large) all T.
    Image names are numbered in creation order; list lines are sorted by image name.
    """
    dataset = Path(root) / "vehicle_id"
    (dataset / "image").mkdir(parents=True, exist_ok=True)
    n_train = n_classes // 2
    lines = {c: [] for c in range(n_classes)}
    for k in range(per_class):  # images of one vehicle are not contiguous in the numbering
        for c in range(n_classes):
            name = f"{k * n_classes + c + 1:07d}"
            class_image(c, k, size, seed).save(dataset / "image" / f"{name}.jpg", quality=90)
            lines[c].append(f"{name} {vehicle_id(c)}")
    lists = {"train_list.txt": range(n_train)}
    for n_left_out, list_name in enumerate(["test_list_2400.txt", "test_list_1600.txt", "test_list_800.txt"]):
        lists[list_name] = range(n_train, n_classes - n_left_out)
    (dataset / "train_test_split").mkdir(exist_ok=True)
    for list_name, classes in lists.items():
        text = "\n".join(sorted(line for c in classes for line in lines[c])) + "\n"
        (dataset / "train_test_split" / list_name).write_text(text)
    return dataset


def inaturalist_folder(c, n_classes):
    """The class folder of class c in the inaturalist tree; sorted folder order is class order."""
    supercategory = INATURALIST_SUPERCATEGORIES[c * len(INATURALIST_SUPERCATEGORIES) // n_classes]
    return f"train_val2018/{supercategory}/{7000 + c}"


def make_inaturalist(root, n_classes=8, per_class=4, size=48, seed=0, splits_subfolder=False):
    """<root>/inaturalist/train_val2018/<supercategory>/<species id>/<hash>.jpg plus Smooth-AP's split files.

    The first half of the classes are listed in Inaturalist_train_set1.txt, the rest in Inaturalist_test_set1.txt;
    the files lie in <root>/inaturalist/, or in its Inat_dataset_splits/ with splits_subfolder=True.
    """
    dataset = Path(root) / "inaturalist"
    lines = {"train": [], "test": []}
    for c in range(n_classes):
        folder = inaturalist_folder(c, n_classes)
        (dataset / folder).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            relative = f"{folder}/{c:04x}{k:028x}.jpg"
            class_image(c, k, size, seed).save(dataset / relative, quality=90)
            lines["train" if c < n_classes // 2 else "test"].append(relative)
    splits_dir = dataset / "Inat_dataset_splits" if splits_subfolder else dataset
    splits_dir.mkdir(exist_ok=True)
    for split, split_lines in lines.items():
        (splits_dir / f"Inaturalist_{split}_set1.txt").write_text("\n".join(split_lines) + "\n")
    return dataset


TREE_BUILDERS = {
    "cub200": make_cub200,
    "cars196": make_cars196,
    "online_products": make_online_products,
    "emoji": make_emoji,
    "inshop": make_inshop,
    "vehicle_id": make_vehicle_id,
    "inaturalist": make_inaturalist,
}


def make_opt(root, dataset, use_tv_split=False, tv_split_perc=0.8, seed=0, **dataset_flags):
    """The argparse namespace `datasets.select()` reads, for the tree under `root`.

    dataset_flags: the dataset's own options by their full name, e.g. dataset_vehicle_id_test_set="large".
    """
    return argparse.Namespace(
        dataset=dataset, source_path=str(root), use_tv_split=use_tv_split, tv_split_perc=tv_split_perc, seed=seed,
        **dataset_flags,
    )


def corrupt_image(path):
    """Truncate an image file to half its bytes, like an interrupted download; PIL then fails to decode it."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --- the datasets as their releases and other codebases lay them out (scripts/prepare_dataset.py) -------------
# Each `make_<dataset>_release(root, folder=..., ...)` writes <root>/<folder>/ and returns it; same classes, images
# and splits as the matching make_<dataset> tree (the .mat-based Cars196 forms excepted, see there).

def _move_contents(source, destination):
    """Move every entry of `source` into `destination` (created), then remove the emptied `source`."""
    destination.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        entry.rename(destination / entry.name)
    source.rmdir()


def make_cub200_release(root, folder="CUB_200_2011", **tree):
    """The official CUB_200_2011 folder: images/<NNN.Bird_N>/ plus images.txt, classes.txt, image_class_labels.txt
    and train_test_split.txt (every other image of a class marked 1, train)."""
    dataset = Path(root) / folder
    images = make_cub200(dataset, **tree) / "images"
    _move_contents(images, dataset / "images")
    (dataset / "cub200").rmdir()
    class_folders = sorted(p.name for p in (dataset / "images").iterdir())
    entries = [(c + 1, f"{name}/{image.name}", k) for c, name in enumerate(class_folders)
               for k, image in enumerate(sorted((dataset / "images" / name).iterdir()))]
    lines = {"images.txt": [f"{i} {path}" for i, (_, path, _) in enumerate(entries, 1)],
             "image_class_labels.txt": [f"{i} {c}" for i, (c, _, _) in enumerate(entries, 1)],
             "train_test_split.txt": [f"{i} {1 - k % 2}" for i, (_, _, k) in enumerate(entries, 1)],
             "classes.txt": [f"{c + 1} {name}" for c, name in enumerate(class_folders)]}
    for name, file_lines in lines.items():
        (dataset / name).write_text("\n".join(file_lines) + "\n")
    return dataset


def cars_class_names(n_classes):
    """Class names in annotation order (not sorted order); class 2 has the slash of 'Ram C/V Cargo Van Minivan
    2012', which becomes '-' in its folder name."""
    names = [f"{CAR_MAKES[c % len(CAR_MAKES)]} Model {c} {2000 + c}" for c in range(n_classes)]
    names[1] = "Ram C/V Cargo Van Minivan 2012"
    return names


def mat_struct(records):
    """A 1 x N MATLAB struct array of `records` (dicts with the same keys) as scipy.io.loadmat reads the Cars196
    annotation files: text as a string, numbers as 1 x 1 arrays."""
    fields = list(records[0])
    array = np.empty((1, len(records)), dtype=[(field, object) for field in fields])
    for i, record in enumerate(records):
        array[0, i] = tuple(value if isinstance(value, str) else np.array([[value]], dtype=np.uint16)
                            for value in record.values())
    return array


def mat_cell(texts):
    return np.array(texts, dtype=object).reshape(1, -1)


def make_cars196_release(root, n_classes=8, per_class=4, size=48, seed=0, folder="cars196"):
    """car_ims/<NNNNNN>.jpg plus cars_annos.mat ('annotations': relative_im_path, bbox_*, class (1-based), test;
    'class_names'), as Proxy-Anchor and Divide-and-Conquer expect in <data>/cars196. Images are numbered image by
    image across classes; class c of cars_class_names is drawn as class_image(c)."""
    dataset = Path(root) / folder
    (dataset / "car_ims").mkdir(parents=True, exist_ok=True)
    records = []
    for k in range(per_class):
        for c in range(n_classes):
            name = f"car_ims/{len(records) + 1:06d}.jpg"
            class_image(c, k, size, seed).save(dataset / name, quality=90)
            records.append({"relative_im_path": name, "bbox_x1": 1, "bbox_y1": 1, "bbox_x2": size, "bbox_y2": size,
                            "class": c + 1, "test": k % 2})
    scipy.io.savemat(dataset / "cars_annos.mat",
                     {"annotations": mat_struct(records), "class_names": mat_cell(cars_class_names(n_classes))})
    return dataset


def make_cars196_devkit(root, n_classes=8, per_class=4, size=48, seed=0, folder="stanford_cars"):
    """cars_train/ and cars_test/ (both numbered from 00001.jpg), devkit/cars_meta.mat ('class_names'),
    devkit/cars_train_annos.mat and cars_test_annos_withlabels.mat ('annotations': bbox_*, class, fname), as the
    release's archives extract and torchvision's stanford_cars holds them. Even images of a class are train ones."""
    dataset = Path(root) / folder
    records = {"train": [], "test": []}
    for k in range(per_class):
        for c in range(n_classes):
            split = ("train", "test")[k % 2]
            name = f"{len(records[split]) + 1:05d}.jpg"
            (dataset / f"cars_{split}").mkdir(parents=True, exist_ok=True)
            class_image(c, k, size, seed).save(dataset / f"cars_{split}" / name, quality=90)
            records[split].append({"bbox_x1": 1, "bbox_y1": 1, "bbox_x2": size, "bbox_y2": size, "class": c + 1,
                                   "fname": name})
    (dataset / "devkit").mkdir(exist_ok=True)
    scipy.io.savemat(dataset / "devkit" / "cars_meta.mat", {"class_names": mat_cell(cars_class_names(n_classes))})
    scipy.io.savemat(dataset / "devkit" / "cars_train_annos.mat", {"annotations": mat_struct(records["train"])})
    scipy.io.savemat(dataset / "cars_test_annos_withlabels.mat", {"annotations": mat_struct(records["test"])})
    return dataset


def make_online_products_release(root, folder="Stanford_Online_Products", **tree):
    """The official Stanford_Online_Products folder: <super>_final/ folders next to Ebay_train.txt, Ebay_test.txt."""
    dataset = Path(root) / folder
    built = make_online_products(dataset, **tree)
    _move_contents(built / "images", dataset)
    _move_contents(built / "Info_Files", dataset)
    built.rmdir()
    return dataset


def make_inshop_release(root, folder="In-shop Clothes Retrieval Benchmark", images="img",
                        partition="Eval/list_eval_partition.txt", **tree):
    """The DeepFashion In-shop release: `images` (img, or Proxy-Anchor's Img/img) holding the item folders and the
    partition list at `partition` (Eval/list_eval_partition.txt, or list_eval_partition.txt)."""
    dataset = Path(root) / folder
    built = make_inshop(dataset, **tree)
    (dataset / images).parent.mkdir(parents=True, exist_ok=True)
    (built / "img").rename(dataset / images)
    (dataset / partition).parent.mkdir(parents=True, exist_ok=True)
    (built / "list_eval_partition.txt").rename(dataset / partition)
    built.rmdir()
    return dataset


def make_vehicle_id_release(root, folder="VehicleID_V1.0", **tree):
    """The PKU release folder VehicleID_V1.0: image/ and train_test_split/, as the vehicle_id tree."""
    dataset = Path(root) / folder
    dataset.parent.mkdir(parents=True, exist_ok=True)
    make_vehicle_id(dataset.parent, **tree).rename(dataset)
    return dataset
