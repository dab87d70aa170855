"""CUB-200-2011 birds (Wah et al., 2011).

Layout: <source_path>/cub200/images/<NNN.Name>/*.jpg, e.g. images/001.Black_footed_Albatross/xxx.jpg.
Split (Roth et al.'s zero-shot protocol): classes sorted by their numeric prefix; the first half trains and the
second half tests, i.e. classes 1-100 train and 101-200 test on the real data. The rule is stated in halves,
not class ids, so that tiny test trees work too; with an odd class count the extra class goes to test.

Source layouts (scripts/prepare_dataset.py links them into ours; main.py reads them in place from
<source_path>/CUB_200_2011 or <source_path>/cub-200-2011 when <source_path>/cub200 is missing): the official
CUB_200_2011 folder or its archive CUB_200_2011.tgz (also Proxy-Anchor's <data>/CUB_200_2011), whose images.txt
must name only existing images; and a bare images/<NNN.Name>/ folder (Divide-and-Conquer's <data>/cub-200-2011).
Release: 11,788 images of 200 classes, 5,864 in classes 1-100 and 5,924 in classes 101-200.
"""
import re

from datasets import REGISTRY
from datasets.base import Split
from datasets.prepare import Count, Part, PreparableDataset, SourceLayout, missing_images_error
from utilities.errors import ConfigError

CLASS_FOLDER = re.compile(r"^(\d+)\.(.+)$")
RELEASE_IMAGES = 11788  # lines of the official images.txt


def has_class_folders(images):
    """Whether `images` holds a <NNN.Name> class folder, which tells CUB's images/ from other datasets'."""
    return any(child.is_dir() and CLASS_FOLDER.match(child.name) for child in images.iterdir())


def check_image_list(paths):
    """Every image of the official images.txt ('<image id> <NNN.Name>/<file>.jpg' per line) must exist: a scan of
    the class folders alone cannot tell a partial extraction from the release."""
    list_path, images = paths["list"], paths["images"]
    names = []
    for number, line in enumerate(list_path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[0].isdigit():
            raise ConfigError(f"{list_path} line {number} is not '<image id> <NNN.Name>/<file>.jpg': {line!r}")
        names.append(fields[1])
    missing = [images / name for name in names if not (images / name).is_file()]
    if missing:
        raise missing_images_error(list_path, missing, len(names))
    return [Count(f"images listed in {list_path.name}", len(names), RELEASE_IMAGES)]


IMAGES = Part("class folders <NNN.Name>/ of .jpg images", ("images",), is_dir=True, check=has_class_folders)
SOURCE_LAYOUTS = (
    SourceLayout("CUB_200_2011, the official release (CUB_200_2011.tgz; Proxy-Anchor's <data>/CUB_200_2011)",
                 {"images": IMAGES, "list": Part("the list of every image", ("images.txt",))},
                 links={"images": "images"}, folder_names=("CUB_200_2011",), check=check_image_list),
    SourceLayout("a bare images/<NNN.Name>/ folder (Divide-and-Conquer's <data>/cub-200-2011)",
                 {"images": IMAGES}, links={"images": "images"}, folder_names=("cub-200-2011", "CUB_200_2011")),
)


@REGISTRY.register("cub200")
class Cub200(PreparableDataset):
    LAYOUT = (
        "  {root}/images/<NNN.Name>/*.jpg   one folder per class, named <numeric id>.<name>,\n"
        "  e.g. {root}/images/001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg\n"
        "  Classes sorted by id: first half train (1-100), second half test (101-200)."
    )
    SOURCE_LAYOUTS = SOURCE_LAYOUTS
    OUR_PARTS = ("images",)
    RELEASE_SIZES = {"train": (5864, 100), "test": (5924, 100)}
    SPLIT_SOURCES = {"train": "classes 1-100", "test": "classes 101-200"}

    def load(self):
        folders = self.class_folders(self.path("images"))
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
