"""iNaturalist 2018 (Van Horn et al., 2018) with the metric-learning split of Smooth-AP (Brown et al., 2020).

Layout: <source_path>/inaturalist/train_val2018/<supercategory>/<species id>/<image>.jpg (the competition's image
archive) plus Smooth-AP's split files Inaturalist_train_set1.txt and Inaturalist_test_set1.txt, either directly in
<source_path>/inaturalist/ or in its sub-folder Inat_dataset_splits/ (as Smooth-AP ships them). Each split file
lists one image per line, its path relative to the dataset folder, e.g.
`train_val2018/Plantae/7477/3b60c9486db1d2ee875f11a669fbde4a.jpg`. One class per species, i.e. per folder holding
the image (`train_val2018/Plantae/7477`); classes are in sorted folder order within each split. The files define
a class-disjoint split: 325,846 train images of 5,690 species and 136,093 test images of 2,452 species, evaluated
same-set (every test image queries all the others). Recall@1/4/16/32 as in Smooth-AP.

Source layout: the competition's train_val2018/ (train_val2018.tar.gz) and Smooth-AP's split files, in one folder
(the files also in its Inat_dataset_splits/) or given apart (`scripts/prepare_dataset.py inaturalist
train_val2018.tar.gz Inat_dataset_splits/`); linked as train_val2018 and the two split files. Not read in place
from other folder names: in one folder it is our layout already.
"""
import posixpath

from datasets import REGISTRY
from datasets.base import Split
from datasets.prepare import Part, PreparableDataset, SourceLayout

SPLIT_FILES = {"train": "Inaturalist_train_set1.txt", "test": "Inaturalist_test_set1.txt"}
SPLITS_SUBFOLDER = "Inat_dataset_splits"

SOURCE_LAYOUTS = (
    SourceLayout(
        "iNaturalist 2018 train_val2018/ (train_val2018.tar.gz) with Smooth-AP's split files (Inat_dataset_splits/)",
        {"images": Part("<supercategory>/<species id>/ image folders", ("train_val2018",), is_dir=True),
         **{split: Part(f"Smooth-AP's {split} split", (name, f"{SPLITS_SUBFOLDER}/{name}"))
            for split, name in SPLIT_FILES.items()}},
        links={"train_val2018": "images", **{name: split for split, name in SPLIT_FILES.items()}}),
)


@REGISTRY.register("inaturalist")
class INaturalist(PreparableDataset):
    LAYOUT = (
        "  {root}/train_val2018/<supercategory>/<species id>/<image>.jpg\n"
        "  {root}/Inaturalist_train_set1.txt and {root}/Inaturalist_test_set1.txt (Smooth-AP's split files; also\n"
        "  accepted in {root}/Inat_dataset_splits/), one image path per line relative to {root}, e.g.\n"
        "  'train_val2018/Plantae/7477/3b60c9486db1d2ee875f11a669fbde4a.jpg'; the image's folder is its class."
    )
    recall_ks = (1, 4, 16, 32)
    SOURCE_LAYOUTS = SOURCE_LAYOUTS
    OUR_PARTS = ("train_val2018",)
    RELEASE_SIZES = {"train": (325846, 5690), "test": (136093, 2452)}
    SPLIT_SOURCES = SPLIT_FILES

    def load(self):
        train = self._read_split("train", self._split_file(SPLIT_FILES["train"]))
        test = self._read_split("test", self._split_file(SPLIT_FILES["test"]))
        shared = set(train.class_names) & set(test.class_names)
        if shared:
            raise self.layout_error(f"{SPLIT_FILES['train']} and {SPLIT_FILES['test']} share {len(shared)} classes")
        return train, test

    def _split_file(self, name):
        for path in (self.path(name), self.path(f"{SPLITS_SUBFOLDER}/{name}")):
            if path.is_file():
                return path
        raise self.layout_error(f"{name} is neither in {self.root} nor in {self.root / SPLITS_SUBFOLDER}")

    def _read_split(self, split_name, list_path):
        paths, classes = [], []
        for number, line in self.read_list_file(list_path):
            folder = posixpath.dirname(line)
            if not folder or line.startswith("/") or " " in line:
                raise self.layout_error(
                    f"{list_path} line {number} is not an image path relative to {self.root} inside its class "
                    f"folder: {line!r}"
                )
            paths.append(self.path(line))
            classes.append(folder)
        if not paths:
            raise self.layout_error(f"{list_path} lists no images")
        self.check_listed_image(list_path, paths[0])
        return Split.from_class_names(split_name, paths, classes, sorted(set(classes)))
