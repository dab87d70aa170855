"""CUB-200-2011 birds (Wah et al., 2011).

Layout: <source_path>/cub200/images/<NNN.Name>/*.jpg, e.g. images/001.Black_footed_Albatross/xxx.jpg.
Split (Roth et al.'s zero-shot protocol): classes sorted by their numeric prefix; the first half trains and the
second half tests, i.e. classes 1-100 train and 101-200 test on the real data. The rule is stated in halves,
not class ids, so that tiny test trees work too; with an odd class count the extra class goes to test.
"""
import re

from datasets import REGISTRY
from datasets.base import DiskDataset, Split

CLASS_FOLDER = re.compile(r"^(\d+)\.(.+)$")


@REGISTRY.register("cub200")
class Cub200(DiskDataset):
    LAYOUT = (
        "  {root}/images/<NNN.Name>/*.jpg   one folder per class, named <numeric id>.<name>,\n"
        "  e.g. {root}/images/001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg\n"
        "  Classes sorted by id: first half train (1-100), second half test (101-200)."
    )

    def load(self):
        folders = self.class_folders(self.root / "images")
        by_id = {}
        for folder in folders:
            match = CLASS_FOLDER.match(folder.name)
            if match is None:
                raise self.layout_error(f"class folder {folder} is not named <numeric id>.<name>")
            class_id = int(match.group(1))
            if class_id in by_id:
                raise self.layout_error(f"class folders {by_id[class_id]} and {folder} share the id {class_id}")
            by_id[class_id] = folder
        groups = [(by_id[i].name, self.image_files(by_id[i])) for i in sorted(by_id)]
        n_train = len(groups) // 2
        return (Split.from_groups("train", groups[:n_train], readable_name),
                Split.from_groups("test", groups[n_train:], readable_name))


def readable_name(folder):
    """'001.Black_footed_Albatross' -> 'Black footed Albatross'."""
    return CLASS_FOLDER.match(folder).group(2).replace("_", " ")
