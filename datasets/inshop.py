"""DeepFashion In-shop Clothes Retrieval (Liu et al., 2016), in its original release format.

Layout: <source_path>/inshop/img/<gender>/<category>/<item_id>/<image>.jpg plus
<source_path>/inshop/list_eval_partition.txt, whose first line is the number of images, second line the header
`image_name item_id evaluation_status`, then one image per line, e.g.
`img/WOMEN/Blouses_Shirts/id_00000001/02_1_front.jpg id_00000001 train` (path relative to the dataset folder,
status train, query or gallery). The file defines the split and the protocol: 25,882 train images of 3,997 items;
14,218 query images searched against a separate gallery of 12,612 images, 3,985 test items in all. One class per
item id; query and gallery share labels (test item ids in increasing order). Recall@1/10/20/30 as in the papers.

Source layout: the DeepFashion In-shop release, i.e. img/ (from Img/img.zip, extracted in place: Img/img/ is also
accepted, as in Proxy-Anchor's <data>/Inshop_Clothes) with Eval/list_eval_partition.txt (or the list next to
img/; Divide-and-Conquer's <data>/in-shop). Linked as img -> the folder of item folders and
list_eval_partition.txt -> the list; main.py reads it in place from <source_path>/inshop,
<source_path>/In-shop Clothes Retrieval Benchmark, <source_path>/Inshop_Clothes or <source_path>/in-shop when our
layout is missing. Release: 52,712 images of 7,982 items, split as above.
"""
from datasets import REGISTRY
from datasets.base import EvalSplit, Split
from datasets.prepare import Part, PreparableDataset, SourceLayout

HEADER = ["image_name", "item_id", "evaluation_status"]
STATUSES = ("train", "query", "gallery")
PARTITION_FILE = "list_eval_partition.txt"

SOURCE_LAYOUTS = (
    SourceLayout(
        "DeepFashion In-shop Clothes Retrieval Benchmark, the official release (Img/img.zip extracted, "
        "Eval/list_eval_partition.txt; Proxy-Anchor's <data>/Inshop_Clothes, Divide-and-Conquer's <data>/in-shop)",
        {"images": Part("the <gender>/<category>/<item_id>/ image folders", ("img", "Img/img"), is_dir=True),
         "list": Part("the evaluation partition", ("Eval/" + PARTITION_FILE, PARTITION_FILE))},
        links={"img": "images", PARTITION_FILE: "list"},
        folder_names=("In-shop Clothes Retrieval Benchmark", "Inshop_Clothes", "in-shop")),
)


@REGISTRY.register("inshop")
class InShop(PreparableDataset):
    LAYOUT = (
        "  {root}/img/<gender>/<category>/<item_id>/<image>.jpg   e.g. {root}/img/WOMEN/Blouses_Shirts/id_00000001/"
        "02_1_front.jpg\n"
        "  {root}/list_eval_partition.txt: line 1 the number of images, line 2 the header\n"
        "  'image_name item_id evaluation_status', then lines like\n"
        "  'img/WOMEN/Blouses_Shirts/id_00000001/02_1_front.jpg id_00000001 train' (status train, query or gallery)."
    )
    recall_ks = (1, 10, 20, 30)
    SOURCE_LAYOUTS = SOURCE_LAYOUTS
    OUR_PARTS = ("img", PARTITION_FILE)
    RELEASE_SIZES = {"train": (25882, 3997), "query": (14218, 3985), "gallery": (12612, 3985)}
    SPLIT_SOURCES = {status: f"{PARTITION_FILE} {status}" for status in STATUSES}

    def load(self):
        partition = self.path(PARTITION_FILE)
        images = self._read_partition(partition)
        for status in STATUSES:
            if not images[status]:
                raise self.layout_error(f"{partition} lists no {status} images")
            self.check_listed_image(partition, images[status][0][0])
        train_items = {item for _, item in images["train"]}
        test_items = {item for status in ("query", "gallery") for _, item in images[status]}
        shared = train_items & test_items
        if shared:
            raise self.layout_error(f"{partition}: {len(shared)} item ids have both train and query/gallery images")
        train = self._split("train", images["train"], sorted(train_items))
        test_classes = sorted(test_items)
        query = self._split("query", images["query"], test_classes)
        gallery = self._split("gallery", images["gallery"], test_classes)
        return train, EvalSplit("test", query, gallery, self.recall_ks)

    def _read_partition(self, partition):
        """{status: [(image path, item id), ...]} in file order."""
        lines = self.read_list_file(partition)
        if len(lines) < 2 or not lines[0][1].isdigit() or lines[1][1].split() != HEADER:
            raise self.layout_error(
                f"{partition} does not start with the number of images and the header line '{' '.join(HEADER)}'"
            )
        images = {status: [] for status in STATUSES}
        for number, line in lines[2:]:
            fields = line.split()
            if len(fields) != 3 or fields[2] not in STATUSES:
                raise self.layout_error(
                    f"{partition} line {number} is not '<image_name> <item_id> <train|query|gallery>': {line!r}"
                )
            images[fields[2]].append((str(self.path(fields[0])), fields[1]))
        # The count on line 1 catches a truncated download.
        declared, listed = int(lines[0][1]), len(lines) - 2
        if declared != listed:
            raise self.layout_error(f"{partition} declares {declared} images on line 1 but lists {listed}")
        return images

    @staticmethod
    def _split(name, images, class_names):
        return Split.from_class_names(name, [path for path, _ in images], [item for _, item in images], class_names)
