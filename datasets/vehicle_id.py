"""PKU VehicleID (Liu et al., 2016, "Deep Relative Distance Learning"), in its original release format.

Layout: <source_path>/vehicle_id/image/<image_name>.jpg plus <source_path>/vehicle_id/train_test_split/
train_list.txt and test_list_800.txt, test_list_1600.txt, test_list_2400.txt: one image per line as
`<image_name> <vehicle_id>`, the image name without its extension (e.g. `0000001 1`). One class per vehicle id.
Training uses train_list.txt (113,346 images of 13,164 vehicles in the released file; the paper states 110,178
images of 13,134 vehicles); --dataset_vehicle_id_test_set picks the test list: small (800 vehicles), medium
(1,600) or large (2,400).

Test protocol (Liu et al.): for each test vehicle one randomly chosen image forms the gallery and all its other
images are queries, so the gallery holds one image per vehicle. The draw takes the vehicles in increasing id
order and picks one of each vehicle's images (in list order) with `numpy.random.default_rng(gallery_seed)`;
--dataset_vehicle_id_gallery_seed (default 0) is deliberately separate from --seed, so runs with different
training seeds are evaluated on the same gallery. Papers often average 10 such draws; here each run uses a single
draw, and `evaluate.py --dataset_vehicle_id_gallery_seed S` re-evaluates a checkpoint on other draws.
Query and gallery share labels (test vehicle ids in increasing order). Recall@1/5 as in the papers.

Source layout: the PKU release folder VehicleID_V1.0 (image/ and train_test_split/, as ours; also
Divide-and-Conquer's <data>/vehicle-id/VehicleID_V1.0), linked as image and train_test_split; main.py reads it in
place from <source_path>/VehicleID_V1.0 or <source_path>/vehicle-id/VehicleID_V1.0 when <source_path>/vehicle_id
is missing. Checked sizes: train_list.txt's as above (the file's, which re-identification codebases assert), and
800, 1,600 and 2,400 vehicles in the test lists (their image counts are left unchecked: the published figures
disagree with one another).
"""
import numpy as np

from datasets import REGISTRY
from datasets.base import EvalSplit, Split
from datasets.prepare import Part, PreparableDataset, SourceLayout
from utilities.argtypes import nonnegative_int
from utilities.errors import ConfigError

TEST_LISTS = {"small": "test_list_800.txt", "medium": "test_list_1600.txt", "large": "test_list_2400.txt"}
DEFAULT_TEST_SET = "small"
DEFAULT_GALLERY_SEED = 0

SOURCE_LAYOUTS = (
    SourceLayout(
        "VehicleID_V1.0, the official release (Divide-and-Conquer's <data>/vehicle-id/VehicleID_V1.0)",
        {"images": Part("all images", ("image",), is_dir=True),
         "lists": Part("the split lists", ("train_test_split",), is_dir=True),
         **{name: Part("a split list", (f"train_test_split/{name}",))
            for name in ["train_list.txt", *TEST_LISTS.values()]}},
        links={"image": "images", "train_test_split": "lists"},
        folder_names=("VehicleID_V1.0", "vehicle-id/VehicleID_V1.0")),
)


@REGISTRY.register("vehicle_id")
class VehicleID(PreparableDataset):
    LAYOUT = (
        "  {root}/image/<image_name>.jpg   e.g. {root}/image/0000001.jpg\n"
        "  {root}/train_test_split/train_list.txt and test_list_800.txt, test_list_1600.txt, test_list_2400.txt\n"
        "  (small/medium/large, --dataset_vehicle_id_test_set), one line '<image_name> <vehicle_id>' per image,\n"
        "  e.g. '0000001 1'."
    )
    recall_ks = (1, 5)
    SOURCE_LAYOUTS = SOURCE_LAYOUTS
    OUR_PARTS = ("image", "train_test_split")
    RELEASE_SIZES = {"train": (113346, 13164), "test_list_800.txt": (None, 800), "test_list_1600.txt": (None, 1600),
                     "test_list_2400.txt": (None, 2400)}
    SPLIT_SOURCES = {"train": "train_list.txt"}

    def __init__(self, source_path, test_set=DEFAULT_TEST_SET, gallery_seed=DEFAULT_GALLERY_SEED, found=None):
        super().__init__(source_path, found)
        if test_set not in TEST_LISTS:
            raise ConfigError(f"--dataset_vehicle_id_test_set {test_set!r}: choose one of {', '.join(TEST_LISTS)}.")
        self.test_set = test_set
        self.gallery_seed = gallery_seed

    @staticmethod
    def add_arguments(group):
        group.add_argument("--dataset_vehicle_id_test_set", default=DEFAULT_TEST_SET, choices=sorted(TEST_LISTS),
                           help="VehicleID test list: small (800 vehicles), medium (1,600) or large (2,400); "
                                "default %(default)s.")
        group.add_argument("--dataset_vehicle_id_gallery_seed", default=DEFAULT_GALLERY_SEED, type=nonnegative_int,
                           help="Seed of the draw of one gallery image per test vehicle (independent of --seed); "
                                "default %(default)s.")

    @classmethod
    def from_options(cls, opt):
        return cls(opt.source_path,
                   test_set=getattr(opt, "dataset_vehicle_id_test_set", DEFAULT_TEST_SET),
                   gallery_seed=getattr(opt, "dataset_vehicle_id_gallery_seed", DEFAULT_GALLERY_SEED))

    def load(self):
        train = self._list_split("train", "train_list.txt")
        test = self._test_split(train, TEST_LISTS[self.test_set])
        query, gallery = draw_gallery(test, self.gallery_seed)
        return train, EvalSplit("test", query, gallery, self.recall_ks)

    def release_splits(self):
        """The train list and every test list (before the gallery draw)."""
        train = self._list_split("train", "train_list.txt")
        return {"train": train, **{name: self._test_split(train, name) for name in TEST_LISTS.values()}}

    def _list_split(self, split_name, list_name):
        names, vehicle_ids = self._read_list(self.path(f"train_test_split/{list_name}"))
        return self._split(split_name, names, vehicle_ids, sorted(set(vehicle_ids)))

    def _test_split(self, train, list_name):
        test = self._list_split("test", list_name)
        shared = set(train.class_names) & set(test.class_names)
        if shared:
            raise self.layout_error(f"train_list.txt and {list_name} share {len(shared)} vehicle ids")
        return test

    def _read_list(self, list_path):
        """Image names and integer vehicle ids of a list file, in file order."""
        names, vehicle_ids = [], []
        for number, line in self.read_list_file(list_path):
            fields = line.split()
            if len(fields) != 2 or not fields[1].isdigit():
                raise self.layout_error(f"{list_path} line {number} is not '<image_name> <vehicle_id>': {line!r}")
            names.append(fields[0])
            vehicle_ids.append(int(fields[1]))
        if not names:
            raise self.layout_error(f"{list_path} lists no images")
        self.check_listed_image(list_path, self._image_path(names[0]))
        return names, vehicle_ids

    def _image_path(self, name):
        return self.path(f"image/{name}.jpg")

    def _split(self, split_name, names, vehicle_ids, class_ids):
        return Split.from_class_names(split_name, [self._image_path(name) for name in names],
                                      [str(i) for i in vehicle_ids], [str(i) for i in class_ids])


def draw_gallery(test, seed):
    """Split `test` into (query, gallery): one seeded random image per class to the gallery, the rest queries.

    Classes are visited in label order; both parts keep the test order of their images and the test labels.
    """
    rng = np.random.default_rng(seed)
    in_gallery = np.zeros(len(test), dtype=bool)
    for label in range(test.num_classes):
        members = np.flatnonzero(test.labels == label)
        in_gallery[members[rng.integers(len(members))]] = True
    query, gallery = np.flatnonzero(~in_gallery), np.flatnonzero(in_gallery)
    return (Split("query", [test.paths[i] for i in query], test.labels[query], test.class_names),
            Split("gallery", [test.paths[i] for i in gallery], test.labels[gallery], test.class_names))
