"""Stanford Cars196 (Krause et al., 2013).

Layout: <source_path>/cars196/images/<Class Name>/*.jpg, e.g. images/AM General Hummer SUV 2000/00163.jpg.
Split (Roth et al.'s zero-shot protocol): class folder names sorted; the first half trains (98 of 196 classes) and
the second half tests; with an odd class count the extra class goes to test.
"""
from datasets import REGISTRY
from datasets.base import DiskDataset, Split


@REGISTRY.register("cars196")
class Cars196(DiskDataset):
    LAYOUT = (
        "  {root}/images/<Class Name>/*.jpg   one folder per class,\n"
        "  e.g. {root}/images/AM General Hummer SUV 2000/00163.jpg\n"
        "  Class folder names sorted: first half train (98 classes), second half test (98 classes)."
    )

    def load(self):
        groups = [(folder.name, self.image_files(folder)) for folder in self.class_folders(self.root / "images")]
        n_train = len(groups) // 2
        # The folder names are the make, model and year in words.
        return (Split.from_groups("train", groups[:n_train], str),
                Split.from_groups("test", groups[n_train:], str))
