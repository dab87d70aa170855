"""Tests of datasets/ and scripts/prepare_emoji.py on tiny trees built by tests/dataset_trees.py."""
import importlib.util
import io
import json
import logging
import os
import random
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import datasets
from datasets.base import load_rgb
from datasets.emoji import assign_splits, prepare_command
import parameters
from tests.dataset_trees import (
    TREE_BUILDERS,
    corrupt_image,
    inaturalist_folder,
    make_cub200,
    make_emoji,
    make_inaturalist,
    make_inshop,
    make_online_products,
    make_opt,
    make_vehicle_id,
    vehicle_id,
)
from utilities.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def load(root, dataset, **kwargs):
    return datasets.select(make_opt(root, dataset, **kwargs))


def write_image(path, color=(200, 30, 30), size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


# --- every dataset --------------------------------------------------------------------------------------------

# The recall@k list each benchmark's papers report.
PAPER_RECALL_KS = {"cub200": (1, 2, 4, 8), "cars196": (1, 2, 4, 8), "online_products": (1, 10, 100, 1000),
                   "emoji": (1, 2, 4, 8), "inshop": (1, 10, 20, 30), "vehicle_id": (1, 5),
                   "inaturalist": (1, 4, 16, 32)}
QUERY_GALLERY = {"inshop", "vehicle_id"}


@pytest.mark.parametrize("name", sorted(TREE_BUILDERS))
def test_dataset_loads_its_tree(tmp_path, name):
    TREE_BUILDERS[name](tmp_path, n_classes=8, per_class=4)
    # vehicle_id's default test list (small) holds 2 of the tree's 4 test vehicles; large holds all.
    splits = load(tmp_path, name, dataset_vehicle_id_test_set="large")
    assert splits.name == name
    assert set(splits.evaluation) == {"test"} and splits.selection_key == "test"
    test = splits.evaluation["test"]
    assert test.recall_ks == PAPER_RECALL_KS[name]
    assert (test.gallery is not None) == (name in QUERY_GALLERY)
    test_parts = [test.query] if test.gallery is None else [test.query, test.gallery]
    for split in [splits.train] + test_parts:
        assert split.labels.dtype == np.int64
        assert all(Path(p).is_file() for p in split.paths)
    for split in (splits.train, test.query):
        assert split.num_classes == 4
        np.testing.assert_array_equal(np.unique(split.labels), np.arange(4))
    assert len(splits.train) == 16 and sum(len(part) for part in test_parts) == 16
    assert not set(splits.train.class_names) & set(test.query.class_names)
    assert not {p for part in test_parts for p in part.paths} & set(splits.train.paths)
    assert splits.default_crop_size == (64 if name == "emoji" else 224)


def test_registry_lists_every_dataset_and_rejects_unknown_names(tmp_path):
    names = ["cars196", "cub200", "emoji", "inaturalist", "inshop", "online_products", "vehicle_id"]
    assert datasets.REGISTRY.names() == names
    with pytest.raises(ConfigError, match=f"Valid dataset names: {', '.join(names)}"):
        load(tmp_path, "mnist")


@pytest.mark.parametrize("name", sorted(TREE_BUILDERS))
def test_missing_dataset_folder_names_the_expected_layout(tmp_path, name):
    with pytest.raises(ConfigError) as error:
        load(tmp_path, name)
    message = str(error.value)
    assert f"{tmp_path / name} does not exist" in message and "Expected layout" in message
    assert datasets.REGISTRY.get(name).LAYOUT.format(root=tmp_path / name) in message


@pytest.mark.parametrize("name", sorted(QUERY_GALLERY))
def test_tv_split_of_a_query_gallery_dataset_is_same_set(tmp_path, name):
    TREE_BUILDERS[name](tmp_path, n_classes=8, per_class=4)
    splits = load(tmp_path, name, use_tv_split=True, tv_split_perc=0.5)
    assert splits.selection_key == "val" and splits.evaluation["val"].gallery is None
    assert splits.evaluation["val"].recall_ks == PAPER_RECALL_KS[name]
    assert splits.evaluation["test"].gallery is not None
    assert splits.train.num_classes == 2 and splits.evaluation["val"].query.num_classes == 2


# --- cub200 / cars196 ------------------------------------------------------------------------------------------

def test_cub200_splits_by_numeric_class_id_in_halves(tmp_path):
    for class_id in (100, 7, 10, 2, 55):  # lexicographic order would be 10, 100, 2, 55, 7
        write_image(tmp_path / "cub200" / "images" / f"{class_id:d}.Bird{class_id}" / "a.jpg")
    splits = load(tmp_path, "cub200")
    assert splits.train.class_names == ["2.Bird2", "7.Bird7"]
    assert splits.evaluation["test"].query.class_names == ["10.Bird10", "55.Bird55", "100.Bird100"]


def test_cub200_tree_is_first_half_train(tmp_path):
    make_cub200(tmp_path, n_classes=6, per_class=2)
    splits = load(tmp_path, "cub200")
    assert splits.train.class_names == ["001.Bird_1", "002.Bird_2", "003.Bird_3"]
    assert splits.train.paths[0].endswith("001.Bird_1/Bird_1_0000.jpg") and splits.train.labels[0] == 0


def test_cars196_splits_sorted_class_names_in_halves(tmp_path):
    TREE_BUILDERS["cars196"](tmp_path, n_classes=6, per_class=2)
    splits = load(tmp_path, "cars196")
    names = sorted(p.name for p in (tmp_path / "cars196" / "images").iterdir())
    assert splits.train.class_names == names[:3]
    assert splits.evaluation["test"].query.class_names == names[3:]
    for path, label in zip(splits.train.paths, splits.train.labels):
        assert Path(path).parent.name == names[label]


@pytest.mark.parametrize("folder, problem", [
    ("Black_footed_Albatross", "is not named <numeric id>.<name>"),
    ("001.Duplicate_id", "share the id 1"),
])
def test_cub200_malformed_class_folders(tmp_path, folder, problem):
    make_cub200(tmp_path, n_classes=4, per_class=1)
    write_image(tmp_path / "cub200" / "images" / folder / "x.jpg")
    with pytest.raises(ConfigError, match=problem) as error:
        load(tmp_path, "cub200")
    assert "images/<NNN.Name>/*.jpg" in str(error.value)


def test_empty_class_folder_and_too_few_classes_are_layout_errors(tmp_path):
    TREE_BUILDERS["cars196"](tmp_path, n_classes=4, per_class=1)
    empty = tmp_path / "cars196" / "images" / "Zeppelin Empty 1900"
    empty.mkdir()
    with pytest.raises(ConfigError, match=re.escape(f"class folder {empty} holds no")):
        load(tmp_path, "cars196")
    write_image(tmp_path / "lonely" / "cars196" / "images" / "Only Class 2000" / "a.jpg")
    with pytest.raises(ConfigError, match="holds 1 class folders, at least 2 are needed"):
        load(tmp_path / "lonely", "cars196")


# --- online_products -------------------------------------------------------------------------------------------

def test_online_products_parses_info_files(tmp_path):
    make_online_products(tmp_path, n_classes=6, per_class=3)
    splits = load(tmp_path, "online_products")
    train, test = splits.train, splits.evaluation["test"].query
    assert train.class_names == ["1", "2", "3"] and test.class_names == ["4", "5", "6"]
    assert train.paths[0] == str(tmp_path / "online_products" / "images" / "bicycle_final" / "111085122871_0.JPG")
    np.testing.assert_array_equal(test.labels, np.repeat(np.arange(3), 3))
    assert splits.evaluation["test"].recall_ks == (1, 10, 100, 1000)


@pytest.mark.parametrize("edit, problem", [
    (lambda lines: lines[1:], "does not start with the header line 'image_id class_id super_class_id path'"),
    (lambda lines: lines + ["13 x 1 bicycle_final/1.JPG"], "line 8 is not '<image_id> <class_id>"),
    (lambda lines: lines[:1], "lists no images"),
    (lambda lines: lines[:1] + ["1 1 1 nowhere_final/1.JPG"], "nowhere_final/1.JPG, which does not exist"),
])
def test_online_products_malformed_info_file(tmp_path, edit, problem):
    dataset = make_online_products(tmp_path, n_classes=6, per_class=2)
    info = dataset / "Info_Files" / "Ebay_test.txt"
    info.write_text("\n".join(edit(info.read_text().splitlines())) + "\n")
    with pytest.raises(ConfigError, match=problem) as error:
        load(tmp_path, "online_products")
    assert "Info_Files/Ebay_train.txt and" in str(error.value)


def test_online_products_missing_info_file_and_shared_classes(tmp_path):
    dataset = make_online_products(tmp_path, n_classes=4, per_class=2)
    train_info = dataset / "Info_Files" / "Ebay_train.txt"
    (dataset / "Info_Files" / "Ebay_test.txt").write_text(train_info.read_text())
    with pytest.raises(ConfigError, match="share 2 class ids"):
        load(tmp_path, "online_products")
    train_info.unlink()
    with pytest.raises(ConfigError, match=re.escape(f"file {train_info} does not exist")):
        load(tmp_path, "online_products")


# --- inshop ----------------------------------------------------------------------------------------------------

def partition_statuses(dataset):
    """{image path: status} as listed in the tree's list_eval_partition.txt."""
    lines = (dataset / "list_eval_partition.txt").read_text().splitlines()[2:]
    return {str(dataset / line.split()[0]): line.split()[2] for line in lines}


def test_inshop_partition_defines_train_query_and_gallery(tmp_path):
    dataset = make_inshop(tmp_path, n_classes=6, per_class=4, size=16)
    splits = load(tmp_path, "inshop")
    test = splits.evaluation["test"]
    assert splits.train.class_names == ["id_00000001", "id_00000002", "id_00000003"]
    assert test.query.class_names == test.gallery.class_names == ["id_00000004", "id_00000005", "id_00000006"]
    statuses = partition_statuses(dataset)
    for split, status in ((splits.train, "train"), (test.query, "query"), (test.gallery, "gallery")):
        assert sorted(split.paths) == sorted(path for path, s in statuses.items() if s == status)
        for path, label in zip(split.paths, split.labels):
            assert Path(path).parent.name == split.class_names[label]
    assert (len(splits.train), len(test.query), len(test.gallery)) == (12, 6, 6)


def recount(lines):
    return [str(len(lines) - 2)] + lines[1:]


@pytest.mark.parametrize("edit, problem", [
    (lambda lines: lines[1:], "does not start with the number of images and the header line 'image_name item_id"),
    (lambda lines: ["99"] + lines[1:], "declares 99 images on line 1 but lists 16"),
    (lambda lines: recount(lines + ["img/x.jpg id_00000009 val"]), "line 19 is not '<image_name> <item_id> <train|"),
    (lambda lines: recount([line for line in lines if not line.endswith(" gallery")]), "lists no gallery images"),
    (lambda lines: [line.replace("id_00000004 query", "id_00000001 query") for line in lines],
     "1 item ids have both train and query/gallery images"),
    (lambda lines: recount(lines[:2] + ["img/MEN/Denim/id_00000009/01_1_front.jpg id_00000009 train"] + lines[2:]),
     "lists " + os.path.join("{root}", "img/MEN/Denim/id_00000009/01_1_front.jpg") + ", which does not exist"),
])
def test_inshop_malformed_partition_file(tmp_path, edit, problem):
    dataset = make_inshop(tmp_path, n_classes=4, per_class=4, size=16)
    partition = dataset / "list_eval_partition.txt"
    partition.write_text("\n".join(edit(partition.read_text().splitlines())) + "\n")
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "inshop")
    assert problem.format(root=dataset) in str(error.value)
    assert "'image_name item_id evaluation_status'" in str(error.value)  # the layout


def test_inshop_missing_partition_file(tmp_path):
    dataset = make_inshop(tmp_path, n_classes=4, per_class=2, size=16)
    (dataset / "list_eval_partition.txt").unlink()
    with pytest.raises(ConfigError, match=re.escape(f"file {dataset / 'list_eval_partition.txt'} does not exist")):
        load(tmp_path, "inshop")


# --- vehicle_id ------------------------------------------------------------------------------------------------

def expected_gallery(list_file, seed):
    """The gallery image names of a test list, by the documented draw: vehicles in increasing id order, one
    `default_rng(seed).integers(n)` per vehicle over its n images in list order."""
    by_vehicle = {}
    for line in list_file.read_text().split("\n"):
        if line:
            name, vehicle = line.split()
            by_vehicle.setdefault(int(vehicle), []).append(name)
    rng = np.random.default_rng(seed)
    return {by_vehicle[v][rng.integers(len(by_vehicle[v]))] for v in sorted(by_vehicle)}


@pytest.mark.parametrize("test_set, n_test_classes", [("small", 3), ("medium", 4), ("large", 5)])
def test_vehicle_id_test_sets_have_one_gallery_image_per_vehicle(tmp_path, test_set, n_test_classes):
    dataset = make_vehicle_id(tmp_path, n_classes=10, per_class=3, size=16)
    splits = load(tmp_path, "vehicle_id", dataset_vehicle_id_test_set=test_set)
    test = splits.evaluation["test"]
    assert splits.train.class_names == [str(vehicle_id(c)) for c in range(5)]
    test_vehicles = [str(vehicle_id(c)) for c in range(5, 5 + n_test_classes)]
    assert test.query.class_names == test.gallery.class_names == test_vehicles
    np.testing.assert_array_equal(np.sort(test.gallery.labels), np.arange(n_test_classes))  # one image each
    np.testing.assert_array_equal(np.bincount(test.query.labels), [2] * n_test_classes)
    list_file = dataset / "train_test_split" / {"small": "test_list_800.txt", "medium": "test_list_1600.txt",
                                                "large": "test_list_2400.txt"}[test_set]
    listed = {line.split()[0]: line.split()[1] for line in list_file.read_text().splitlines()}
    for split in (test.query, test.gallery):
        for path, label in zip(split.paths, split.labels):
            assert listed[Path(path).stem] == split.class_names[label]
            assert Path(path).parent == dataset / "image"
    assert sorted(Path(p).stem for p in test.query.paths + test.gallery.paths) == sorted(listed)
    assert {Path(p).stem for p in test.gallery.paths} == expected_gallery(list_file, seed=0)


def test_vehicle_id_gallery_draw_is_seeded_and_independent_of_the_training_seed(tmp_path):
    dataset = make_vehicle_id(tmp_path, n_classes=8, per_class=4, size=16)
    list_file = dataset / "train_test_split" / "test_list_2400.txt"

    def gallery(**flags):
        splits = load(tmp_path, "vehicle_id", dataset_vehicle_id_test_set="large", **flags)
        return {Path(p).stem for p in splits.evaluation["test"].gallery.paths}

    assert gallery() == gallery(seed=5) == expected_gallery(list_file, seed=0)
    draws = [gallery(dataset_vehicle_id_gallery_seed=s) for s in range(1, 4)]
    assert draws == [expected_gallery(list_file, seed=s) for s in range(1, 4)]
    assert len({frozenset(d) for d in draws + [gallery()]}) > 1


def test_vehicle_id_flags_are_declared_by_the_dataset(tmp_path):
    opt = parameters.build_parser().parse_args(["--dataset_vehicle_id_test_set", "medium",
                                                "--dataset_vehicle_id_gallery_seed", "3"])
    assert (opt.dataset_vehicle_id_test_set, opt.dataset_vehicle_id_gallery_seed) == ("medium", 3)
    assert parameters.build_parser().parse_args([]).dataset_vehicle_id_test_set == "small"
    with pytest.raises(SystemExit):
        parameters.build_parser().parse_args(["--dataset_vehicle_id_test_set", "huge"])
    make_vehicle_id(tmp_path, n_classes=6, per_class=2, size=16)
    with pytest.raises(ConfigError, match="--dataset_vehicle_id_test_set 'huge': choose one of small, medium, large"):
        load(tmp_path, "vehicle_id", dataset_vehicle_id_test_set="huge")


@pytest.mark.parametrize("list_name, edit, problem", [
    ("test_list_1600.txt", None, "file {lists}/test_list_1600.txt does not exist"),
    # medium: 3 of the tree's 4 test vehicles, 12 lines
    ("test_list_1600.txt", lambda lines: lines + ["0000099"], "test_list_1600.txt line 13 is not '<image_name> <vehic"),
    ("test_list_1600.txt", lambda lines: lines + ["0000099 car"], "line 13 is not '<image_name> <vehicle_id>'"),
    ("test_list_1600.txt", lambda lines: [], "test_list_1600.txt lists no images"),
    ("train_list.txt", lambda lines: ["9999999 3"] + lines,
     "train_list.txt lists {root}/image/9999999.jpg, which does not exist"),
    ("train_list.txt", lambda lines: lines + ["0000005 43"],
     "train_list.txt and test_list_1600.txt share 1 vehicle ids"),
])
def test_vehicle_id_malformed_lists(tmp_path, list_name, edit, problem):
    dataset = make_vehicle_id(tmp_path, n_classes=8, per_class=4, size=16)
    lists = dataset / "train_test_split"
    if edit is None:
        (lists / list_name).unlink()
    else:
        (lists / list_name).write_text("\n".join(edit((lists / list_name).read_text().splitlines())) + "\n")
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "vehicle_id", dataset_vehicle_id_test_set="medium")
    assert problem.format(root=dataset, lists=lists) in str(error.value)
    assert "train_list.txt and test_list_800.txt, test_list_1600.txt, test_list_2400.txt" in str(error.value)


# --- inaturalist -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("splits_subfolder", [False, True])
def test_inaturalist_classes_are_image_folders(tmp_path, splits_subfolder):
    dataset = make_inaturalist(tmp_path, n_classes=6, per_class=2, size=16, splits_subfolder=splits_subfolder)
    splits = load(tmp_path, "inaturalist")
    train, test = splits.train, splits.evaluation["test"].query
    assert train.class_names == [inaturalist_folder(c, 6) for c in range(3)]
    assert test.class_names == [inaturalist_folder(c, 6) for c in range(3, 6)]
    assert train.class_names[0] == "train_val2018/Aves/7000" and test.class_names[-1] == "train_val2018/Plantae/7005"
    for split in (train, test):
        for path, label in zip(split.paths, split.labels):
            assert str(Path(path).parent) == str(dataset / split.class_names[label])
    assert splits.evaluation["test"].gallery is None


@pytest.mark.parametrize("edit, problem", [
    (lambda lines: lines + ["picture.jpg"], "line 7 is not an image path relative to {root} inside its class folder"),
    (lambda lines: lines + ["/abs/Plantae/1/x.jpg"], "line 7 is not an image path relative to"),
    (lambda lines: lines + ["train_val2018/Aves/7000 3"], "line 7 is not an image path relative to"),
    (lambda lines: [], "Inaturalist_test_set1.txt lists no images"),
    (lambda lines: ["train_val2018/Aves/9/x.jpg"] + lines,
     "lists {root}/train_val2018/Aves/9/x.jpg, which does not exist"),
    (lambda lines: lines + ["train_val2018/Aves/7000/0000000000000000000000000000000.jpg"],
     "Inaturalist_train_set1.txt and Inaturalist_test_set1.txt share 1 classes"),
])
def test_inaturalist_malformed_split_file(tmp_path, edit, problem):
    dataset = make_inaturalist(tmp_path, n_classes=6, per_class=2, size=16)
    test_file = dataset / "Inaturalist_test_set1.txt"
    test_file.write_text("\n".join(edit(test_file.read_text().splitlines())) + "\n")
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "inaturalist")
    assert problem.format(root=dataset) in str(error.value)
    assert "'train_val2018/Plantae/7477/3b60c9486db1d2ee875f11a669fbde4a.jpg'" in str(error.value)  # the layout


def test_inaturalist_missing_split_file_names_both_places(tmp_path):
    dataset = make_inaturalist(tmp_path, n_classes=4, per_class=1, size=16, splits_subfolder=True)
    (dataset / "Inat_dataset_splits" / "Inaturalist_test_set1.txt").unlink()
    with pytest.raises(ConfigError, match=re.escape(
            f"Inaturalist_test_set1.txt is neither in {dataset} nor in {dataset / 'Inat_dataset_splits'}")):
        load(tmp_path, "inaturalist")


# --- emoji -----------------------------------------------------------------------------------------------------

def test_emoji_split_alternates_within_categories_and_is_balanced():
    rng = random.Random(0)
    emoji = [("B", order) for order in range(1, 8)] + [("A", order) for order in range(8, 13)]
    emoji += [("C", order) for order in range(13, 16)]
    shuffled = emoji[:]
    rng.shuffle(shuffled)
    splits = dict(zip(emoji, assign_splits(emoji)))
    assert dict(zip(shuffled, assign_splits(shuffled))) == splits  # depends on the emoji, not the input order
    assert [splits["B", order] for order in range(1, 5)] == ["train", "test", "train", "test"]
    for category in "ABC":
        chosen = [split for (cat, _), split in splits.items() if cat == category]
        assert abs(chosen.count("train") - chosen.count("test")) <= 1
    assert abs(list(splits.values()).count("train") - list(splits.values()).count("test")) <= 1


def test_emoji_tree_loads_with_its_split(tmp_path):
    dataset = make_emoji(tmp_path, n_classes=8, per_class=4)
    splits = load(tmp_path, "emoji")
    info = json.loads((dataset / "classes.json").read_text())["classes"]
    assert splits.train.class_names == [c["folder"] for c in info if c["split"] == "train"]
    assert splits.evaluation["test"].query.class_names == [c["folder"] for c in info if c["split"] == "test"]
    assert splits.train_crop_scale == (0.5, 1.0)


def test_emoji_not_prepared_says_the_command(tmp_path):
    make_emoji(tmp_path, n_classes=4, per_class=2)
    (tmp_path / "emoji" / "classes.json").unlink()
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "emoji")
    assert f"Prepare it with: python scripts/prepare_emoji.py --source_path {tmp_path}" in str(error.value)
    assert prepare_command(datasets.DEFAULT_SOURCE_PATH) == "python scripts/prepare_emoji.py"


def test_emoji_missing_image_means_unfinished_preparation(tmp_path):
    dataset = make_emoji(tmp_path, n_classes=4, per_class=2)
    missing = next((dataset / "images").glob("*/*.png"))
    missing.unlink()
    with pytest.raises(ConfigError, match=re.escape(f"{missing} is missing; the preparation did not finish")):
        load(tmp_path, "emoji")


def test_prepared_emoji_dataset_split_counts():
    # The test command prepares the real dataset first (scripts/run_tests.sh), so this never skips.
    classes = json.loads((datasets.DEFAULT_SOURCE_PATH / "emoji" / "classes.json").read_text())["classes"]
    assert len(classes) == 1911
    splits = [c["split"] for c in classes]
    assert (splits.count("train"), splits.count("test")) == (956, 955)


# --- scripts/prepare_emoji.py, offline: the npm cache is pre-filled with fake package tarballs -------------------

def import_prepare_emoji():
    spec = importlib.util.spec_from_file_location("prepare_emoji", REPO_ROOT / "scripts" / "prepare_emoji.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_package(path, vendor, emoji):
    """A tarball shaped like emoji-datasource-<vendor>: package/emoji.json and package/img/<vendor>/64/*.png."""
    with tarfile.open(path, "w:gz") as tar:
        def add(name, data):
            member = tarfile.TarInfo(f"package/{name}")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))

        add("emoji.json", json.dumps(emoji).encode())
        for entry in emoji:
            for variant in [entry] + list(entry.get("skin_variations", {}).values()):
                if variant[f"has_img_{vendor}"]:
                    png = io.BytesIO()
                    Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(png, format="PNG")  # fully transparent
                    add(f"img/{vendor}/64/{variant['image']}", png.getvalue())


def fake_emoji(short_name, category, sort_order, twitter=True, tones=0):
    code = f"1f{0x600 + sort_order:03x}"
    images = {"has_img_google": True, "has_img_twitter": twitter}
    variants = {f"1F3F{t}": {"image": f"{code}-1f3f{t.lower()}.png", **images} for t in "BCDEF"[:tones]}
    return {"short_name": short_name, "unified": code.upper(), "category": category, "sort_order": sort_order,
            "image": f"{code}.png", "skin_variations": variants, **images}


def test_prepare_emoji_builds_the_layout_once(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="prepare_emoji")
    prepare_emoji = import_prepare_emoji()
    emoji = [fake_emoji("wave", "People & Body", 3, tones=2), fake_emoji("grin", "Smileys & Emotion", 1),
             fake_emoji("smile", "Smileys & Emotion", 2), fake_emoji("solo", "Objects", 4, twitter=False),
             fake_emoji("+1", "People & Body", 5)]
    cache = tmp_path / ".cache" / "npm"
    cache.mkdir(parents=True)
    for vendor in prepare_emoji.VENDORS:
        fake_package(cache / f"emoji-datasource-{vendor}-{prepare_emoji.VERSION}.tgz", vendor, emoji)
    dataset = prepare_emoji.prepare(tmp_path)
    classes = json.loads((dataset / "classes.json").read_text())["classes"]
    assert [c["folder"] for c in classes] == ["0001_grin", "0002_smile", "0003_wave", "0005_+1"]  # solo: 1 image
    assert [c["split"] for c in classes] == ["train", "test", "train", "test"]
    assert classes[2]["images"] == ["google_1f603.png", "google_1f603-1f3fb.png", "google_1f603-1f3fc.png",
                                    "twitter_1f603.png", "twitter_1f603-1f3fb.png", "twitter_1f603-1f3fc.png"]
    with Image.open(dataset / "images" / "0003_wave" / "twitter_1f603-1f3fc.png") as image:
        assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)  # composited onto white
    splits = load(tmp_path, "emoji")
    assert splits.train.num_classes == 2 and len(splits.train) == 2 + 6
    written = {p: p.stat().st_mtime_ns for p in dataset.rglob("*")}
    caplog.clear()
    prepare_emoji.prepare(tmp_path)
    assert "already prepared" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in dataset.rglob("*")} == written


def test_prepare_emoji_without_npm_fails_clearly(tmp_path, monkeypatch, caplog):
    prepare_emoji = import_prepare_emoji()
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on PATH
    assert prepare_emoji.main(["--source_path", str(tmp_path)]) == 1
    assert "npm was not found on PATH" in caplog.text
    assert not (tmp_path / "emoji" / "classes.json").exists()


# --- --use_tv_split --------------------------------------------------------------------------------------------

def test_tv_split_is_class_disjoint_and_deterministic(tmp_path):
    make_cub200(tmp_path, n_classes=20, per_class=2)
    plain = load(tmp_path, "cub200")
    splits = load(tmp_path, "cub200", use_tv_split=True, tv_split_perc=0.8, seed=3)
    train, val = splits.train, splits.evaluation["val"].query
    assert splits.selection_key == "val" and splits.evaluation["val"].gallery is None
    assert (train.num_classes, val.num_classes) == (8, 2)
    assert not set(train.class_names) & set(val.class_names)
    assert sorted(train.class_names + val.class_names) == plain.train.class_names
    assert splits.evaluation["test"].query.class_names == plain.evaluation["test"].query.class_names
    for split in (train, val):
        np.testing.assert_array_equal(np.unique(split.labels), np.arange(split.num_classes))
        for path, label in zip(split.paths, split.labels):
            assert Path(path).parent.name == split.class_names[label]
    again = load(tmp_path, "cub200", use_tv_split=True, tv_split_perc=0.8, seed=3)
    assert again.evaluation["val"].query.class_names == val.class_names
    other_seeds = {tuple(load(tmp_path, "cub200", use_tv_split=True, seed=s).evaluation["val"].query.class_names)
                   for s in range(4)}
    assert len(other_seeds) > 1


@pytest.mark.parametrize("perc, problem", [(1.0, "strictly between 0 and 1"), (0.8, "each side needs at least 2")])
def test_tv_split_rejects_impossible_fractions(tmp_path, perc, problem):
    make_cub200(tmp_path, n_classes=8, per_class=1)  # 4 train classes: 0.8 leaves 1 val class
    with pytest.raises(ConfigError, match=problem):
        load(tmp_path, "cub200", use_tv_split=True, tv_split_perc=perc)


# --- image loading ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_unreadable_image_names_its_path_or_is_skipped(tmp_path, damage):
    make_cub200(tmp_path, n_classes=4, per_class=3)
    train = load(tmp_path, "cub200").train
    bad = Path(train.paths[1])
    if damage == "truncate":
        corrupt_image(bad)
    else:
        bad.write_bytes(b"not an image at all")
    transform = datasets.build_transform(False, 32)
    with pytest.raises(datasets.UnreadableImageError, match=re.escape(f"Cannot read image {bad}")):
        datasets.ImageDataset(train, transform)[1]
    skipping = datasets.ImageDataset(train, transform, skip_unreadable=True)
    assert skipping[1] is None
    loader = torch.utils.data.DataLoader(skipping, batch_size=4, collate_fn=datasets.collate_skipping)
    batches = list(loader)
    assert [n_skipped for *_, n_skipped in batches] == [1, 0]
    images, labels, indices, _ = batches[0]
    assert images.shape == (3, 3, 32, 32) and labels.dtype == torch.long
    assert indices.tolist() == [0, 2, 3] and labels.tolist() == train.labels[[0, 2, 3]].tolist()


def test_collate_skipping_always_returns_four_items():
    item = (torch.zeros(3, 8, 8), 2, 5)
    images, labels, indices, n_skipped = datasets.collate_skipping([item, item])
    assert images.shape == (2, 3, 8, 8) and labels.tolist() == [2, 2] and indices.tolist() == [5, 5]
    assert n_skipped == 0
    images, labels, indices, n_skipped = datasets.collate_skipping([None, None])
    assert images.numel() == 0 and labels.numel() == 0 and indices.numel() == 0 and n_skipped == 2


def test_transparent_images_are_composited_onto_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    rgba.save(tmp_path / "icon.png")
    image = load_rgb(tmp_path / "icon.png")
    assert image.mode == "RGB" and image.getpixel((1, 1)) == (255, 255, 255) and image.getpixel((0, 0)) == (0, 0, 255)


def test_transforms_output_shapes(tmp_path):
    image = Image.new("RGB", (90, 50), (120, 60, 30))
    for train in (True, False):
        transform = datasets.build_transform(train, 64, crop_scale=(0.5, 1.0))
        tensor = transform(image)
        assert tensor.shape == (3, 64, 64) and tensor.dtype == torch.float32
    # No normalisation: RGB in [0, 1], whatever the model (each model normalises its input itself).
    tensor = datasets.build_transform(False, 64)(image)
    assert torch.allclose(tensor, torch.tensor([120, 60, 30]).div(255).view(3, 1, 1).expand(3, 64, 64), atol=1e-6)


# --- the local package shadows Hugging Face's `datasets` -------------------------------------------------------

def test_our_datasets_package_shadows_hugging_face():
    code = """
import json, sys
import faiss, pytorch_metric_learning, timm, torchvision
from pytorch_metric_learning import losses, miners, samplers
assert "datasets" not in sys.modules, sys.modules["datasets"]
import datasets
print(datasets.__file__)
print(json.dumps(sorted(m.__file__ for name, m in sys.modules.items() if name.split(".")[0] == "datasets")))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr
    first, files = result.stdout.splitlines()
    assert Path(first) == REPO_ROOT / "datasets" / "__init__.py"
    assert all(Path(f).parent == REPO_ROOT / "datasets" for f in json.loads(files))
