"""scripts/prepare_dataset.py and datasets/prepare.py: the benchmarks as users have them (official archives and
folders, Divide-and-Conquer's and Proxy-Anchor's layouts) prepared into ours by links, and read in place by the
loaders. Tiny trees from tests/dataset_trees.py; the release sizes are patched to the trees' where a check must pass.
"""
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import datasets
from datasets import cars196, cub200
from datasets.prepare import existing_links, prepare
from tests.dataset_trees import (
    inaturalist_folder,
    make_cars196_devkit,
    make_cars196_release,
    make_cub200,
    make_cub200_release,
    make_inaturalist,
    make_inshop_release,
    make_online_products_release,
    make_opt,
    make_vehicle_id_release,
)
from utilities.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
TREE = {"n_classes": 4, "per_class": 2, "size": 16}
VEHICLE_TREE = {"n_classes": 8, "per_class": 2, "size": 16}  # test lists of 2, 3 and 4 vehicles

# {split: (images, classes)} of the trees above, in place of the releases' sizes.
TREE_SIZES = {"train": (4, 2), "test": (4, 2)}
INSHOP_TREE_SIZES = {"train": (4, 2), "query": (2, 2), "gallery": (2, 2)}
VEHICLE_TREE_SIZES = {"train": (8, 4), "test_list_800.txt": (None, 2), "test_list_1600.txt": (None, 3),
                      "test_list_2400.txt": (None, 4)}


def dataset_class(name):
    return datasets.REGISTRY.get(name)


@pytest.fixture
def tree_sizes(monkeypatch):
    """Make the release-size checks expect the tiny trees' sizes."""
    monkeypatch.setattr(dataset_class("inshop"), "RELEASE_SIZES", INSHOP_TREE_SIZES)
    monkeypatch.setattr(dataset_class("vehicle_id"), "RELEASE_SIZES", VEHICLE_TREE_SIZES)
    for name in ("cub200", "cars196", "online_products", "inaturalist"):
        monkeypatch.setattr(dataset_class(name), "RELEASE_SIZES", TREE_SIZES)
    monkeypatch.setattr(cub200, "RELEASE_IMAGES", 8)


def load(source_path, name):
    return datasets.select(make_opt(source_path, name))


def assert_links_only(target, source):
    """Everything under target is a link (no copied file) into source."""
    links = existing_links(target)
    assert links, f"{target} holds files that are not links, or nothing"
    assert all(path.is_relative_to(source.resolve()) for path in links.values())


def release_cub_bare(root):
    """Divide-and-Conquer's <data>/cub-200-2011: images/<NNN.Name>/ alone."""
    return make_cub200(root / "dnc", **TREE).rename(root / "cub-200-2011")


def release_inaturalist(root):
    """A folder holding train_val2018/ and Smooth-AP's Inat_dataset_splits/."""
    return make_inaturalist(root / "inat", splits_subfolder=True, **TREE).rename(root / "iNaturalist")


# (dataset, builder of the source under a downloads folder, train class names of the prepared dataset)
LAYOUTS = {
    "cub200 official": ("cub200", lambda root: make_cub200_release(root, **TREE), ["001.Bird_1", "002.Bird_2"]),
    "cub200 divide-and-conquer": ("cub200", release_cub_bare, ["001.Bird_1", "002.Bird_2"]),
    "cars196 car_ims": ("cars196", lambda root: make_cars196_release(root, **TREE),
                        ["BMW Model 3 2003", "Ram C-V Cargo Van Minivan 2012"]),
    "cars196 devkit": ("cars196", lambda root: make_cars196_devkit(root, **TREE),
                       ["BMW Model 3 2003", "Ram C-V Cargo Van Minivan 2012"]),
    "online_products official": ("online_products", lambda root: make_online_products_release(root, **TREE),
                                 ["1", "2"]),
    "online_products divide-and-conquer": (
        "online_products", lambda root: make_online_products_release(root, folder="sop", **TREE), ["1", "2"]),
    "inshop official": ("inshop", lambda root: make_inshop_release(root, **TREE), ["id_00000001", "id_00000002"]),
    "inshop proxy-anchor": ("inshop", lambda root: make_inshop_release(root, folder="Inshop_Clothes",
                                                                       images="Img/img", **TREE),
                            ["id_00000001", "id_00000002"]),
    "inshop list at the root": ("inshop", lambda root: make_inshop_release(
        root, folder="in-shop", partition="list_eval_partition.txt", **TREE), ["id_00000001", "id_00000002"]),
    "vehicle_id divide-and-conquer": ("vehicle_id", lambda root: make_vehicle_id_release(
        root, folder="vehicle-id/VehicleID_V1.0", **VEHICLE_TREE), ["3", "13", "23", "33"]),
    "inaturalist smooth-ap": ("inaturalist", release_inaturalist,
                              [inaturalist_folder(0, 4), inaturalist_folder(1, 4)]),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_source_layout_is_linked_into_our_layout(tmp_path, tree_sizes, layout):
    name, build, train_classes = LAYOUTS[layout]
    source = build(tmp_path / "downloads")
    data = tmp_path / "data"
    prepared = prepare(dataset_class(name), [source], data)
    assert prepared.action == "linked" and prepared.target == data / name
    assert_links_only(data / name, source)
    splits = load(data, name)
    assert splits.train.class_names == train_classes
    assert len(splits.train) == (8 if name == "vehicle_id" else 4)
    test = splits.evaluation["test"]
    assert test.query.num_classes == 2 and len(test.query) + (len(test.gallery) if test.gallery else 0) == 4
    for split in [splits.train, test.query] + ([test.gallery] if test.gallery else []):
        assert all(Path(path).resolve().is_relative_to(source.resolve()) for path in split.paths)
    # A rerun on the same source changes nothing.
    assert prepare(dataset_class(name), [source], data).action == "unchanged"


def test_a_codebase_data_root_is_searched_for_each_dataset(tmp_path, tree_sizes):
    """Proxy-Anchor's data root, given whole: each dataset finds its own folder in it."""
    root = tmp_path / "proxy_anchor" / "data"
    sources = {"cub200": make_cub200_release(root, **TREE), "cars196": make_cars196_release(root, **TREE),
               "online_products": make_online_products_release(root, **TREE),
               "inshop": make_inshop_release(root, folder="Inshop_Clothes", images="Img/img", **TREE)}
    for name, source in sources.items():
        prepared = prepare(dataset_class(name), [root], tmp_path / "data")
        assert prepared.found.root == source
        assert_links_only(tmp_path / "data" / name, source)


@pytest.mark.parametrize("builder, link_names", [
    # car_ims numbers image k of class c as k * n_classes + c + 1.
    (make_cars196_release, ["000002.jpg", "000006.jpg"]),
    # the devkit's train images are the even ones of each class, numbered in class order, as are its test images.
    (make_cars196_devkit, ["test_00002.jpg", "train_00002.jpg"]),
])
def test_cars196_images_are_grouped_by_their_annotated_class(tmp_path, tree_sizes, builder, link_names):
    source = builder(tmp_path / "downloads", **TREE)
    prepare(cars196.Cars196, [source], tmp_path / "data")
    folder = tmp_path / "data" / "cars196" / "images" / "Ram C-V Cargo Van Minivan 2012"  # class 2, with a slash
    assert sorted(path.name for path in folder.iterdir()) == link_names
    assert all(path.is_symlink() for path in folder.iterdir())


def test_archives_are_extracted_once(tmp_path, tree_sizes, caplog):
    release = make_online_products_release(tmp_path / "downloads", **TREE)
    archive = tmp_path / "Stanford_Online_Products.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(release.rglob("*")):
            zipped.write(path, path.relative_to(release.parent))
    shutil.rmtree(release)
    data = tmp_path / "data"
    prepare(dataset_class("online_products"), [archive], data)
    extracted = data / ".extracted" / "online_products" / "Stanford_Online_Products"
    assert_links_only(data / "online_products", extracted)
    assert len(load(data, "online_products").train) == 4
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert prepare(dataset_class("online_products"), [archive], data).action == "unchanged"
    assert "extracted from" in caplog.text and "Extracting" not in caplog.text


def tar_folder(folder, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    shutil.rmtree(folder)
    return archive


@pytest.mark.parametrize("name, arguments", [
    # the downloads of the Cars196 page: the image archive and the annotation file
    ("cars196", lambda root: [tar_folder(make_cars196_release(root, **TREE) / "car_ims", root / "car_ims.tgz"),
                              root / "cars196" / "cars_annos.mat"]),
    # the competition's image archive and Smooth-AP's split folder
    ("inaturalist", lambda root: [tar_folder(make_inaturalist(root, splits_subfolder=True, **TREE) / "train_val2018",
                                             root / "train_val2018.tar.gz"),
                                  root / "inaturalist" / "Inat_dataset_splits"]),
])
def test_parts_of_a_layout_given_as_separate_arguments(tmp_path, tree_sizes, name, arguments):
    prepared = prepare(dataset_class(name), arguments(tmp_path / "downloads"), tmp_path / "data")
    assert prepared.action == "linked" and prepared.found.root is None
    splits = load(tmp_path / "data", name)
    assert (splits.train.num_classes, len(splits.train)) == (2, 4)


def remove(path):
    path.unlink()
    return path


@pytest.mark.parametrize("name, build, damage, problems", [
    ("online_products", lambda root: make_online_products_release(root, **TREE),
     lambda source: remove(source / "Ebay_test.txt"),
     ["No online_products layout found", "Closest: Stanford_Online_Products", "lacks Ebay_test.txt (the test list)"]),
    ("vehicle_id", lambda root: make_vehicle_id_release(root, **VEHICLE_TREE),
     lambda source: remove(source / "train_test_split" / "test_list_2400.txt"),
     ["lacks train_test_split/test_list_2400.txt (a split list)"]),
    ("cars196", lambda root: make_cars196_release(root, **TREE),
     lambda source: remove(source / "cars_annos.mat"), ["lacks cars_annos.mat (class of each image)"]),
    ("cars196", lambda root: make_cars196_devkit(root, **TREE),
     lambda source: remove(source / "cars_test_annos_withlabels.mat"),
     ["lacks cars_test_annos_withlabels.mat or devkit/cars_test_annos_withlabels.mat"]),
    ("inshop", lambda root: make_inshop_release(root, **TREE),
     # the second gallery image: the loader itself checks the first image of each list only
     lambda source: remove(source / "img" / "WOMEN" / "Dresses" / "id_00000003" / "01_2_side.jpg"),
     ["1 of the 2 images of the gallery (list_eval_partition.txt gallery) split do not exist",
      "id_00000003/01_2_side.jpg"]),
    ("cub200", lambda root: make_cub200_release(root, **TREE),
     lambda source: remove(source / "images" / "003.Bird_3" / "Bird_3_0001.jpg"),
     ["1 of the 8 images of the", "images.txt do not exist, e.g.", "003.Bird_3/Bird_3_0001.jpg"]),
])
def test_a_partial_source_names_what_is_missing(tmp_path, tree_sizes, name, build, damage, problems):
    source = build(tmp_path / "downloads")
    damage(source)
    with pytest.raises(ConfigError) as error:
        prepare(dataset_class(name), [source], tmp_path / "data")
    for problem in problems:
        assert problem in str(error.value)
    assert not (tmp_path / "data" / name).exists()


def test_unrecognised_folder_lists_the_accepted_layouts(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as error:
        prepare(dataset_class("cub200"), [tmp_path / "empty"], tmp_path / "data")
    message = str(error.value)
    assert "No cub200 layout found" in message and "Closest" not in message
    assert "images.txt (the list of every image)" in message and "Divide-and-Conquer's <data>/cub-200-2011" in message


def test_count_check_names_the_short_split_unless_skipped(tmp_path, caplog):
    source = make_online_products_release(tmp_path / "downloads", **TREE)
    with pytest.raises(ConfigError) as error:
        prepare(dataset_class("online_products"), [source], tmp_path / "data")
    message = str(error.value)
    assert "train (Ebay_train.txt) images: expected 59,551, found 4" in message
    assert "test (Ebay_test.txt) classes: expected 11,316, found 2" in message and "--skip_count_check" in message
    assert not (tmp_path / "data" / "online_products").exists()
    with caplog.at_level(logging.WARNING):
        prepared = prepare(dataset_class("online_products"), [source], tmp_path / "data", skip_count_check=True)
    assert prepared.action == "linked" and "expected 59,551, found 4" in caplog.text


def test_an_existing_different_target_is_never_overwritten(tmp_path, tree_sizes):
    source = make_cub200_release(tmp_path / "downloads", **TREE)
    own = tmp_path / "data" / "cub200" / "notes.txt"
    own.parent.mkdir(parents=True)
    own.write_text("mine")
    with pytest.raises(ConfigError, match="never overwritten"):
        prepare(dataset_class("cub200"), [source], tmp_path / "data")
    assert own.read_text() == "mine" and sorted(own.parent.iterdir()) == [own]
    own.unlink()  # an empty folder holds nothing to overwrite
    assert prepare(dataset_class("cub200"), [source], tmp_path / "data").action == "linked"


def test_a_target_that_is_the_source_itself_is_read_in_place(tmp_path, tree_sizes, caplog):
    """Proxy-Anchor's and Divide-and-Conquer's <data>/cars196 is our folder's name: main.py reads it as it is."""
    source = make_cars196_release(tmp_path / "data", **TREE)
    prepared = prepare(cars196.Cars196, [source], tmp_path / "data")
    assert prepared.action == "in place" and not (source / "images").exists()
    with caplog.at_level(logging.INFO):
        splits = load(tmp_path / "data", "cars196")
    assert "reading" in caplog.text and "in place" in caplog.text
    assert splits.train.class_names == ["BMW Model 3 2003", "Ram C-V Cargo Van Minivan 2012"]
    assert all(Path(path).parent == source / "car_ims" for path in splits.train.paths)


@pytest.mark.parametrize("name, build, train_classes", [
    ("cub200", lambda data: make_cub200_release(data, **TREE), ["001.Bird_1", "002.Bird_2"]),
    ("online_products", lambda data: make_online_products_release(data, **TREE), ["1", "2"]),
    # the official form under our own folder name
    ("online_products", lambda data: make_online_products_release(data, folder="online_products", **TREE),
     ["1", "2"]),
    ("inshop", lambda data: make_inshop_release(data, folder="Inshop_Clothes", images="Img/img", **TREE),
     ["id_00000001", "id_00000002"]),
    ("vehicle_id", lambda data: make_vehicle_id_release(data, **VEHICLE_TREE), ["3", "13", "23", "33"]),
])
def test_main_reads_a_recognised_source_layout_in_place(tmp_path, caplog, name, build, train_classes):
    source = build(tmp_path)
    with caplog.at_level(logging.INFO):
        splits = load(tmp_path, name)
    assert f"reading {source} in place" in caplog.text
    assert splits.train.class_names == train_classes
    assert all(Path(path).is_relative_to(source) for path in splits.train.paths)
    if name == "vehicle_id":
        assert not (tmp_path / name).exists()


def test_in_place_detection_refuses_an_ambiguous_choice(tmp_path):
    make_cub200_release(tmp_path, **TREE)
    release_cub_bare(tmp_path)
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "cub200")
    assert "several folders in other layouts" in str(error.value)
    assert str(tmp_path / "CUB_200_2011") in str(error.value) and str(tmp_path / "cub-200-2011") in str(error.value)


def test_missing_dataset_says_that_prepare_dataset_converts_other_layouts(tmp_path):
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "inshop")
    message = str(error.value)
    assert f"{tmp_path / 'inshop'} does not exist" in message
    assert "scripts/prepare_dataset.py inshop <archive or folder>" in message
    assert "Img/img" in message and "Eval/list_eval_partition.txt" in message


@pytest.mark.slow
def test_script_prepares_an_archive_and_exits_2_on_bad_input(tmp_path, caplog):
    release = make_cub200_release(tmp_path / "downloads", **TREE)
    archive = tar_folder(release, tmp_path / "CUB_200_2011.tgz")
    data = tmp_path / "data"
    command = [sys.executable, str(REPO_ROOT / "scripts" / "prepare_dataset.py"), "cub200", str(archive),
               "--source_path", str(data)]
    result = subprocess.run(command + ["--skip_count_check"], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "cub200 is ready in" in result.stdout and "train: 2 classes, 4 images" in result.stdout
    assert "images listed in images.txt: expected 11,788, found 8" in result.stderr
    extracted = data / ".extracted" / "cub200" / "CUB_200_2011" / "CUB_200_2011"
    assert os.readlink(data / "cub200" / "images") == str((extracted / "images").resolve())
    assert len(load(data, "cub200").train) == 4
    # The same run in this process without --skip_count_check: the release sizes are checked, exit status 2.
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        import prepare_dataset
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    shutil.rmtree(data / "cub200")
    assert prepare_dataset.main(command[2:]) == 2
    assert "train (classes 1-100) images: expected 5,864, found 4" in caplog.text
    assert not (data / "cub200").exists()
