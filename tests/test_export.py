"""scripts/export.py on a real run: the .npy files are the split embedded again, the Faiss indexes search as our
ranking does, the TorchScript and ONNX models reproduce the model to 1e-5 on other images and batch sizes, the
README's search example runs, and bad input fails with its message."""
import contextlib
import importlib.util
import io
import json
import logging
import os
import re

import faiss
import numpy as np
import onnxruntime
import pytest
import torch

from datasets.base import ImageDataset
from tests.test_show_retrievals import load_script, tiny_run
from utilities.run_folder import embed_split, evaluation_split, open_run, ranked_neighbours

# Trains or starts processes: part of the full suite, left out of the fast one (-m 'not slow').
pytestmark = pytest.mark.slow

export = load_script("export")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def run(run_dir):
    return open_run(str(run_dir))


@pytest.fixture(scope="module")
def out(run_dir, tmp_path_factory):
    """The export of the In-Shop run's test split (query and gallery parts) and train split (same-set)."""
    folder = tmp_path_factory.mktemp("export")
    assert export.main([str(run_dir), "--splits", "test", "train", "--out", str(folder)]) == 0
    return folder


def parts(run):
    test = evaluation_split(run.data, "test")
    return {"test_query": test.query, "test_gallery": test.gallery, "train": run.data.train}


def test_files_and_manifest(out, run):
    manifest = json.loads((out / "manifest.json").read_text())
    expected = {f"{part}_{kind}" for part in parts(run) for kind in ("embeddings.npy", "labels.npy", "paths.txt")}
    expected |= {"test_gallery.faiss", "train.faiss", "model.torchscript.pt", "model.onnx", "manifest.json",
                 "README.md"}
    assert set(manifest["files"]) == expected == set(os.listdir(out))
    assert manifest["onnx_opset"] == export.ONNX_OPSET == 17
    assert manifest["input"]["shape"] == ["batch", 3, 32, 32] and manifest["space"] == "euclidean"
    assert manifest["epoch"] == 1 and manifest["embed_dim"] == 32
    assert all(0 <= value <= 1e-5 for value in manifest["max_abs_difference"].values())
    assert manifest["class_names"]["test_query"] == run.data.evaluation["test"].query.class_names


def test_npy_files_are_the_split_embedded_again(out, run):
    for part, split in parts(run).items():
        embeddings, labels = embed_split(run.model, split, run.transform, run.opt, run.device, run.output)
        assert np.array_equal(np.load(out / f"{part}_embeddings.npy"), embeddings), part
        assert np.array_equal(np.load(out / f"{part}_labels.npy"), labels), part
        assert (out / f"{part}_paths.txt").read_text().splitlines() == list(map(os.path.abspath, split.paths)), part


def test_faiss_indexes_search_as_our_ranking(out):
    # Query/gallery: the index holds the gallery; every query's whole ranking.
    queries, gallery = np.load(out / "test_query_embeddings.npy"), np.load(out / "test_gallery_embeddings.npy")
    index = faiss.read_index(str(out / "test_gallery.faiss"))
    assert index.ntotal == len(gallery) and index.metric_type == faiss.METRIC_L2
    _, ids = index.search(queries, len(gallery))
    assert ids.tolist() == ranked_neighbours(queries, gallery, len(gallery)).tolist()
    # Same-set: each item finds itself first in the index; our ranking excludes it by index.
    train = np.load(out / "train_embeddings.npy")
    _, ids = faiss.read_index(str(out / "train.faiss")).search(train, len(train))
    assert (ids[:, 0] == np.arange(len(train))).all()
    assert ids[:, 1:].tolist() == ranked_neighbours(train, train, len(train), np.arange(len(train))).tolist()


def test_cosine_index_ranks_by_cosine_similarity():
    x = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32) * np.arange(1, 21)[:, None]
    index = export.build_index(x, "cosine")
    assert index.metric_type == faiss.METRIC_INNER_PRODUCT
    queries = x[:5] / np.linalg.norm(x[:5], axis=1, keepdims=True)  # as the README says: normalise queries too
    _, ids = index.search(queries, 20)
    assert ids.tolist() == ranked_neighbours(x[:5], x, 20, space="cosine").tolist()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_and_onnx_reproduce_the_model_on_other_images(out, run):
    # Three training images: neither the images nor the batch size the export was traced and checked with.
    images = torch.stack([ImageDataset(run.data.train, run.transform)[i][0] for i in (0, 5, 9)])
    with torch.no_grad():
        reference = run.model.model.cpu()(images)["embeds"].numpy()
        scripted = torch.jit.load(str(out / "model.torchscript.pt"))(images).numpy()
    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_output = session.run(["embeddings"], {"images": images.numpy()})[0]
    assert scripted.shape == onnx_output.shape == (3, 32)
    assert np.abs(scripted - reference).max() <= 1e-5
    assert np.abs(onnx_output - reference).max() <= 1e-5


def test_a_mismatch_fails_loudly():
    reference = np.zeros((4, 8))
    assert export.max_difference("ONNX", reference + 4e-6, reference, 1e-5) == pytest.approx(4e-6)
    with pytest.raises(export.ExportMismatch, match=r"The ONNX export does not reproduce the model: max \|difference"
                                                    r"\| 0.001 on 4 images, above --atol 1e-05"):
        export.max_difference("ONNX", reference + 1e-3, reference, 1e-5)


def test_the_readme_search_example_runs_and_maps_ids_to_labels_and_paths(out):
    readme = (out / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, flags=re.S).group(1)
    printed = io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(out)
        with contextlib.redirect_stdout(printed):
            exec(code, {})
    finally:
        os.chdir(cwd)
    queries, gallery = np.load(out / "test_query_embeddings.npy"), np.load(out / "test_gallery_embeddings.npy")
    nearest = ranked_neighbours(queries[:1], gallery, 5)[0]
    labels = np.load(out / "test_gallery_labels.npy")
    paths = (out / "test_gallery_paths.txt").read_text().splitlines()
    names = [f"id_{5 + label:08d}" for label in range(4)]  # the tree's test items, in label order
    lines = printed.getvalue().splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [f"class {labels[i]} ({names[labels[i]]})  {paths[i]}"
                                                          for i in nearest]


@pytest.mark.parametrize("argv, message", [
    (["{empty}"], "is a folder without any checkpoint"),
    (["{empty}/none"], "none: no such file; expected <save_path>/<dataset>/"),
    (["{run}", "--splits", "test", "val"], "--splits val: inshop has the evaluation splits test (val exists only "),
    (["{run}", "--checkpoint", "{run}/options.json"], "options.json is not a checkpoint written by main.py"),
])
def test_bad_input_fails_with_its_message_and_writes_nothing(run_dir, tmp_path, caplog, argv, message):
    argv = [arg.format(empty=tmp_path, run=run_dir) for arg in argv]
    with caplog.at_level(logging.ERROR):
        assert export.main(argv + ["--out", str(tmp_path / "out")]) == 2
    assert message in caplog.text
    assert not (tmp_path / "out").exists()


def test_missing_onnx_packages_are_named_before_any_work(run_dir, tmp_path, caplog, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else find_spec(name))
    with caplog.at_level(logging.ERROR):
        assert export.main([str(run_dir), "--out", str(tmp_path / "out")]) == 2
    assert "missing: onnxruntime. Install them with: pip install onnxruntime" in caplog.text
    assert not (tmp_path / "out").exists()
