"""Stanford Cars196 (Krause et al., 2013).

Layout: <source_path>/cars196/images/<Class Name>/*.jpg, e.g. images/AM General Hummer SUV 2000/00163.jpg.
Split (Roth et al.'s zero-shot protocol): class folder names sorted; the first half trains (98 of 196 classes) and
the second half tests; with an odd class count the extra class goes to test. On the real data these are the
classes 1-98 and 99-196 of the annotation files.

Source layouts, whose images are linked one by one into class folders named after the class (a '/' becomes '-':
'Ram C-V Cargo Van Minivan 2012'), or read in place by main.py from <source_path>/cars196 or
<source_path>/stanford_cars when <source_path>/cars196/images is missing:
  - car_ims/ + cars_annos.mat (car_ims.tgz and cars_annos.mat from the dataset page; Proxy-Anchor's and
    Divide-and-Conquer's <data>/cars196): each annotation's relative_im_path and class (1-based, into class_names);
  - cars_train/ + cars_test/ + devkit (cars_train.tgz, cars_test.tgz, car_devkit.tgz with cars_meta.mat and
    cars_train_annos.mat, plus cars_test_annos_withlabels.mat; torchvision's stanford_cars/): each annotation's
    fname and class; the links are named train_<fname> and test_<fname>, since both folders number from 00001.jpg.
Release: 16,185 images of 196 classes, 8,054 in the first 98 classes and 8,131 in the others.
"""
from pathlib import PurePosixPath

import numpy as np
import scipy.io

from datasets import REGISTRY
from datasets.base import Split
from datasets.prepare import Part, PreparableDataset, SourceLayout
from utilities.errors import ConfigError


def class_folder_name(name):
    """A class name as a folder name: 'Ram C/V Cargo Van Minivan 2012' -> 'Ram C-V Cargo Van Minivan 2012'."""
    return name.strip().replace("/", "-")


def read_mat(path, key, fields=()):
    """The entries of the variable `key` of a .mat file (a struct array needing `fields`, or a cell array)."""
    try:
        variable = scipy.io.loadmat(str(path))[key]
    except KeyError:
        raise ConfigError(f"{path} has no variable '{key}'; is it the Cars196 annotation file of that name?") from None
    except (ValueError, TypeError, OSError) as error:
        raise ConfigError(f"Cannot read {path} as a MATLAB file: {error}") from error
    entries = np.asarray(variable).reshape(-1)
    absent = [field for field in fields if field not in (entries.dtype.names or ())]
    if absent:
        raise ConfigError(f"{path}: '{key}' lacks the fields {', '.join(absent)}; is it the Cars196 annotation file "
                          f"of that name?")
    return entries


def text(value):
    return str(np.squeeze(value))


def class_names(path):
    return [class_folder_name(text(name)) for name in read_mat(path, "class_names")]


def class_of(record, names, path):
    label = int(np.squeeze(record["class"]))
    if not 1 <= label <= len(names):
        raise ConfigError(f"{path}: class {label} of an annotation is not in 1..{len(names)}")
    return names[label - 1]


def car_ims_images(paths):
    """{class folder name: [(file name, image)]} from cars_annos.mat ('annotations' with relative_im_path, e.g.
    'car_ims/000001.jpg', and class; 'class_names')."""
    annotations = paths["annotations"]
    names = class_names(annotations)
    groups = {}
    for record in read_mat(annotations, "annotations", ("relative_im_path", "class")):
        file_name = PurePosixPath(text(record["relative_im_path"])).name
        groups.setdefault(class_of(record, names, annotations), []).append((file_name, paths["images"] / file_name))
    return groups


def devkit_images(paths):
    """{class folder name: [(link name, image)]} from the devkit's cars_meta.mat ('class_names') and the train and
    test annotations ('annotations' with fname and class)."""
    names = class_names(paths["meta"])
    groups = {}
    for split in ("train", "test"):
        annotations = paths[f"{split}_annotations"]
        for record in read_mat(annotations, "annotations", ("fname", "class")):
            file_name = text(record["fname"])
            groups.setdefault(class_of(record, names, annotations), []).append(
                (f"{split}_{file_name}", paths[f"{split}_images"] / file_name))
    return groups


SOURCE_LAYOUTS = (
    SourceLayout(
        "car_ims/ with cars_annos.mat (Proxy-Anchor's and Divide-and-Conquer's <data>/cars196)",
        {"images": Part("all images", ("car_ims",), is_dir=True),
         "annotations": Part("class of each image", ("cars_annos.mat",))},
        links={}, folder_names=("cars196",), images_by_class=car_ims_images),
    SourceLayout(
        "cars_train/ and cars_test/ with the devkit (cars_train.tgz, cars_test.tgz, car_devkit.tgz, "
        "cars_test_annos_withlabels.mat; torchvision's stanford_cars)",
        {"train_images": Part("train images", ("cars_train",), is_dir=True),
         "test_images": Part("test images", ("cars_test",), is_dir=True),
         "meta": Part("class names", ("devkit/cars_meta.mat", "cars_meta.mat")),
         "train_annotations": Part("class of each train image", ("devkit/cars_train_annos.mat",
                                                                  "cars_train_annos.mat")),
         "test_annotations": Part("class of each test image", ("cars_test_annos_withlabels.mat",
                                                                "devkit/cars_test_annos_withlabels.mat"))},
        links={}, folder_names=("cars196", "stanford_cars"), images_by_class=devkit_images),
)


@REGISTRY.register("cars196")
class Cars196(PreparableDataset):
    LAYOUT = (
        "  {root}/images/<Class Name>/*.jpg   one folder per class,\n"
        "  e.g. {root}/images/AM General Hummer SUV 2000/00163.jpg\n"
        "  Class folder names sorted: first half train (98 classes), second half test (98 classes)."
    )
    SOURCE_LAYOUTS = SOURCE_LAYOUTS
    OUR_PARTS = ("images",)
    RELEASE_SIZES = {"train": (8054, 98), "test": (8131, 98)}
    SPLIT_SOURCES = {"train": "first half of the sorted class names", "test": "second half"}

    def load(self):
        if self.found is None:
            groups = [(folder.name, self.image_files(folder)) for folder in self.class_folders(self.path("images"))]
        else:  # the class of each image comes from the source's annotations; ordered as the links would be
            by_class = self.found.layout.images_by_class(self.found.paths)
            groups = [(name, [str(path) for _, path in sorted(by_class[name])]) for name in sorted(by_class)]
            if len(groups) < 2:
                raise self.layout_error(f"the annotations name {len(groups)} classes, at least 2 are needed")
        n_train = len(groups) // 2
        # The folder names are the make, model and year in words.
        return (Split.from_groups("train", groups[:n_train], str),
                Split.from_groups("test", groups[n_train:], str))
