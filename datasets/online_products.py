"""Stanford Online Products (Oh Song et al., 2016), in its original release format.

Layout: <source_path>/online_products/images/<super>_final/<image>.JPG plus
<source_path>/online_products/Info_Files/Ebay_train.txt and Ebay_test.txt. Each info file starts with the header
`image_id class_id super_class_id path` and lists one image per line, its path relative to images/
(e.g. `1 1 1 bicycle_final/111085122871_0.JPG`). The files define the split: 11,318 train and 11,316 test
classes. Class ids are relabelled 0..C-1 per split in increasing id order.

Source layout: the official Stanford_Online_Products folder or its archive Stanford_Online_Products.zip, which
holds the <super>_final/ folders and Ebay_train.txt, Ebay_test.txt (paths relative to that folder) side by side;
the same as Proxy-Anchor's <data>/Stanford_Online_Products and Divide-and-Conquer's <data>/sop. Linked as
images -> that folder and Info_Files/Ebay_*.txt -> its lists; main.py reads it in place from
<source_path>/online_products, <source_path>/Stanford_Online_Products or <source_path>/sop when our layout is
missing. Release: 59,551 train images of 11,318 classes and 60,502 test images of 11,316 classes (120,053 images
of 22,634 products).
"""
import os

import numpy as np

from datasets import REGISTRY
from datasets.base import Split
from datasets.prepare import Part, PreparableDataset, SourceLayout

HEADER = ["image_id", "class_id", "super_class_id", "path"]


def has_super_class_folders(folder):
    """Whether `folder` holds a <super>_final image folder, as the SOP release does."""
    with os.scandir(folder) as entries:
        return any(entry.name.endswith("_final") and entry.is_dir() for entry in entries)


SOURCE_LAYOUTS = (
    SourceLayout(
        "Stanford_Online_Products, the official release (Stanford_Online_Products.zip; Proxy-Anchor's "
        "<data>/Stanford_Online_Products, Divide-and-Conquer's <data>/sop)",
        {"images": Part("holding the <super>_final/ image folders", (".",), is_dir=True,
                        check=has_super_class_folders),
         "train": Part("the train list", ("Ebay_train.txt",)), "test": Part("the test list", ("Ebay_test.txt",))},
        links={"images": "images", "Info_Files/Ebay_train.txt": "train", "Info_Files/Ebay_test.txt": "test"},
        folder_names=("Stanford_Online_Products", "sop")),
)


@REGISTRY.register("online_products")
class OnlineProducts(PreparableDataset):
    LAYOUT = (
        "  {root}/images/<super>_final/<image>.JPG   e.g. {root}/images/bicycle_final/111085122871_0.JPG\n"
        "  {root}/Info_Files/Ebay_train.txt and {root}/Info_Files/Ebay_test.txt, each starting with the header\n"
        "  'image_id class_id super_class_id path' followed by lines like '1 1 1 bicycle_final/111085122871_0.JPG'\n"
        "  (path relative to {root}/images)."
    )
    recall_ks = (1, 10, 100, 1000)
    SOURCE_LAYOUTS = SOURCE_LAYOUTS
    OUR_PARTS = ("images", "Info_Files")
    RELEASE_SIZES = {"train": (59551, 11318), "test": (60502, 11316)}
    SPLIT_SOURCES = {"train": "Ebay_train.txt", "test": "Ebay_test.txt"}

    def load(self):
        images_dir = self.path("images")
        if not images_dir.is_dir():
            raise self.layout_error(f"folder {images_dir} does not exist")
        train = self._read_info("train", self.path("Info_Files/Ebay_train.txt"), images_dir)
        test = self._read_info("test", self.path("Info_Files/Ebay_test.txt"), images_dir)
        shared = set(train.class_names) & set(test.class_names)
        if shared:
            raise self.layout_error(f"Ebay_train.txt and Ebay_test.txt share {len(shared)} class ids")
        return train, test

    def _read_info(self, split_name, info_path, images_dir):
        lines = self.read_list_file(info_path)
        if not lines or lines[0][1].split() != HEADER:
            raise self.layout_error(f"{info_path} does not start with the header line '{' '.join(HEADER)}'")
        paths, class_ids, super_class = [], [], {}
        for number, line in lines[1:]:
            fields = line.split(maxsplit=3)
            if len(fields) != 4 or not all(field.isdigit() for field in fields[:3]):
                raise self.layout_error(
                    f"{info_path} line {number} is not '<image_id> <class_id> <super_class_id> <path>': {line!r}"
                )
            class_ids.append(int(fields[1]))
            paths.append(str(images_dir / fields[3]))
            super_class.setdefault(int(fields[1]), readable_super_class(fields[3]))
        if not paths:
            raise self.layout_error(f"{info_path} lists no images")
        self.check_listed_image(info_path, paths[0])
        unique_ids, labels = np.unique(np.array(class_ids, dtype=np.int64), return_inverse=True)
        return Split(split_name, paths, labels, [str(class_id) for class_id in unique_ids],
                     [super_class[int(class_id)] for class_id in unique_ids])


def readable_super_class(path):
    """A product in words is its super-class (item ids say nothing): 'coffee_maker_final/x.JPG' -> 'coffee maker'."""
    folder = path.replace("\\", "/").split("/")[0]
    return folder.removesuffix("_final").replace("_", " ")
