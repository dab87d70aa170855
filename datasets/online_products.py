"""Stanford Online Products (Oh Song et al., 2016), in its original release format.

Layout: <source_path>/online_products/images/<super>_final/<image>.JPG plus
<source_path>/online_products/Info_Files/Ebay_train.txt and Ebay_test.txt. Each info file starts with the header
`image_id class_id super_class_id path` and lists one image per line, its path relative to images/
(e.g. `1 1 1 bicycle_final/111085122871_0.JPG`). The files define the split: 11,318 train and 11,316 test
classes. Class ids are relabelled 0..C-1 per split in increasing id order.
"""
import numpy as np

from datasets import REGISTRY
from datasets.base import DiskDataset, Split

HEADER = ["image_id", "class_id", "super_class_id", "path"]


@REGISTRY.register("online_products")
class OnlineProducts(DiskDataset):
    LAYOUT = (
        "  {root}/images/<super>_final/<image>.JPG   e.g. {root}/images/bicycle_final/111085122871_0.JPG\n"
        "  {root}/Info_Files/Ebay_train.txt and {root}/Info_Files/Ebay_test.txt, each starting with the header\n"
        "  'image_id class_id super_class_id path' followed by lines like '1 1 1 bicycle_final/111085122871_0.JPG'\n"
        "  (path relative to {root}/images)."
    )
    recall_ks = (1, 10, 100, 1000)

    def load(self):
        images_dir = self.root / "images"
        if not images_dir.is_dir():
            raise self.layout_error(f"folder {images_dir} does not exist")
        train = self._read_info("train", self.root / "Info_Files" / "Ebay_train.txt", images_dir)
        test = self._read_info("test", self.root / "Info_Files" / "Ebay_test.txt", images_dir)
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
