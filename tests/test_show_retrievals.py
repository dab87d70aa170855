"""scripts/show_retrievals.py: the neighbours shown are the evaluation's ranking (hand-checked ties and self
exclusion; the hits framed in a real run's grid are those evaluation/knn.py ranks), queries repeat for a seed and
differ for another, the grid and map files have their sizes, W&B is skipped with a reason, bad input fails with its
message."""
import importlib.util
import logging
import os
import sys
import types

import numpy as np
import pytest
from PIL import Image

import main
from evaluation.knn import hit_ranks
from tests.dataset_trees import make_inshop
from tests.test_main import tiny_run_flags
from utilities.run_folder import embed_evaluation_split, evaluation_split, open_run

# Trains or starts processes: part of the full suite, left out of the fast one (-m 'not slow').
pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(name):
    """A scripts/ file as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


show = load_script("show_retrievals")


def tiny_run(tmp_path_factory):
    """A one-epoch run on an In-Shop tree (queries searched against a separate gallery: 8 and 8 test images of 4
    classes), trained once per test session and shared with tests/test_export.py; tests write nothing into it."""
    root = tmp_path_factory.getbasetemp() / "tiny_inshop_run"
    run_dir = root / "runs" / "inshop" / "tiny_s0"
    if not (run_dir / "checkpoint_last.pth").is_file():
        make_inshop(root / "data", n_classes=8, per_class=4, size=40)
        assert main.main(tiny_run_flags(root / "data", root / "runs", "--dataset", "inshop", "--no_train_metrics",
                                        epochs=1)) == 0
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory)


def picture_flags(out, name, seed):
    return ["--k", "3", "--queries", "4", "--seed", str(seed), "--out", str(out / f"grid_{name}.png"),
            "--map_out", str(out / f"map_{name}.png")]


@pytest.fixture(scope="module")
def pictures(run_dir, tmp_path_factory):
    """The folder of the grid (k 3, 4 queries, seed 0) and map of the run's test split: grid_0.png, map_0.png."""
    out = tmp_path_factory.mktemp("pictures")
    assert show.main([str(run_dir), *picture_flags(out, 0, 0)]) == 0
    return out


# --- the ranking ----------------------------------------------------------------------------------------------

def test_same_set_neighbours_hand_checked_with_a_tie_and_a_duplicate():
    # 1-d points. Item 0 at 0 has item 1 (class 1) and item 2 (class 0) both at distance 1: the tie goes to the
    # lower index, so its first neighbour is the miss. Item 3 is an exact duplicate of item 4: each is the other's
    # nearest neighbour (the query is excluded by index, not by dropping distance 0); then items 2 and 5 tie at
    # distance 4.
    x = np.array([[0.0], [-1.0], [1.0], [5.0], [5.0], [9.0]], dtype=np.float32)
    y = np.array([0, 1, 0, 1, 1, 0])
    queries = np.array([0, 3, 4])
    neighbours, hits = show.retrievals(x, y, None, None, queries, 3, "euclidean")
    assert neighbours.tolist() == [[1, 2, 3], [4, 2, 5], [3, 2, 5]]
    assert hits.tolist() == [[False, True, False], [True, False, False], [True, False, False]]
    # The evaluation's own search ranks the same hits at the same places.
    query, rank = hit_ranks(x[queries], y[queries], x, y, depth=3, self_index=queries)
    assert sorted(zip(query.tolist(), rank.tolist())) == [(0, 2), (1, 1), (2, 1)]


def test_query_gallery_neighbours_hand_checked_in_both_spaces():
    # Gallery: 2-d points. The query (1, 0) is at distance 1 from items 0 and 2: tie, lower index first. In the
    # cosine space item 1, (3, 0), points the query's way (similarity 1) and item 3, (0, 1), is orthogonal.
    gallery = np.array([[0, 0], [3, 0], [2, 0], [0, 1]], dtype=np.float32)
    gallery_labels = np.array([5, 7, 7, 5])
    query, query_labels = np.array([[1, 0]], dtype=np.float32), np.array([7])
    neighbours, hits = show.retrievals(query, query_labels, gallery, gallery_labels, np.array([0]), 4, "euclidean")
    assert neighbours.tolist() == [[0, 2, 3, 1]] and hits.tolist() == [[False, True, False, True]]
    neighbours, _ = show.retrievals(query, query_labels, gallery, gallery_labels, np.array([0]), 2, "cosine")
    assert neighbours.tolist() == [[1, 2]]


def test_queries_repeat_for_a_seed_and_come_from_the_labels_alone():
    # Items 60 and 61 are classes of one image: there is nothing to retrieve for them.
    labels = np.concatenate([np.repeat(np.arange(20), 3), [100, 101]])
    first = show.draw_queries(labels, labels, True, 8, seed=0)
    assert first.tolist() == show.draw_queries(labels, labels, True, 8, seed=0).tolist()
    assert first.tolist() != show.draw_queries(labels, labels, True, 8, seed=1).tolist()
    assert len(first) == 8 and first.max() < 60
    assert show.draw_queries(labels, labels, True, 100, seed=0).tolist() == list(range(60))
    # Query/gallery: a query whose class the gallery lacks is never drawn.
    assert show.draw_queries(np.array([3, 4, 3]), np.array([3, 3]), False, 5, seed=0).tolist() == [0, 2]


# --- the pictures of a real run -------------------------------------------------------------------------------

def frame_colour(picture, row, column):
    """The RGB of the middle of a cell's left frame line (square images fill the cell's square image area)."""
    x = column * show.CELL_WIDTH + show.PAD
    y = (row + 1) * show.CELL_HEIGHT - show.CELL_WIDTH + show.PAD + (show.CELL_WIDTH - 2 * show.PAD) // 2
    return np.array(picture.getpixel((x, y))[:3])


def hex_rgb(colour):
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])


def test_grid_frames_the_evaluations_hits_and_has_its_size(run_dir, pictures):
    picture = Image.open(pictures / "grid_0.png").convert("RGB")  # saved with a palette
    assert picture.size == (4 * show.CELL_WIDTH, 4 * show.CELL_HEIGHT) == (512, 608)
    # The run's test split embedded again; its queries are drawn from the labels, so they can be drawn here too.
    run = open_run(str(run_dir))
    (query, query_labels), (gallery, gallery_labels) = embed_evaluation_split(
        run.model, evaluation_split(run.data, "test"), run.transform, run.opt, run.device, run.output)
    queries = show.draw_queries(query_labels, gallery_labels, False, 4, seed=0)
    hit_query, hit_rank = hit_ranks(query[queries], query_labels[queries], gallery, gallery_labels, depth=3)
    for row in range(4):
        assert np.abs(frame_colour(picture, row, 0) - hex_rgb(show.FRAME["query"])).max() <= 8
        ranked_hits = set(hit_rank[hit_query == row].tolist())
        for rank in (1, 2, 3):
            kind = "hit" if rank in ranked_hits else "miss"
            assert np.abs(frame_colour(picture, row, rank) - hex_rgb(show.FRAME[kind])).max() <= 8, (row, rank)


def test_the_same_seed_draws_the_same_grid_and_the_map_uses_umap_when_installed(pictures, run_dir, monkeypatch,
                                                                               caplog):
    class FakeUMAP:  # stands in for umap-learn
        def __init__(self, **kwargs):
            self.kwargs = kwargs

        def fit_transform(self, x):
            return x[:, :2]
    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    with caplog.at_level(logging.INFO):
        assert show.main([str(run_dir), *picture_flags(pictures, "again", 0)]) == 0
    assert (pictures / "grid_again.png").read_bytes() == (pictures / "grid_0.png").read_bytes()
    assert "UMAP map of 16 test embeddings" in caplog.text
    assert Image.open(pictures / "map_again.png").size == (show.MAP_SIZE, show.MAP_SIZE)
    assert "the run was trained without --log_online; the pictures are only written to disk" in caplog.text


def test_without_umap_the_map_is_a_tsne(pictures, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # `import umap` fails, installed or not
    assert Image.open(pictures / "map_0.png").size == (show.MAP_SIZE, show.MAP_SIZE)
    embeddings = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
    assert show.draw_map(str(tmp_path / "map.png"), embeddings, np.repeat(np.arange(4), 3), "test", 0,
                         "euclidean") == "t-SNE"
    assert (tmp_path / "map.png").is_file()


# --- W&B and bad input ----------------------------------------------------------------------------------------

def test_wandb_without_credentials_is_skipped_with_a_reason(tmp_path, monkeypatch, caplog):
    import wandb
    for name in list(os.environ):
        if name.startswith("WANDB"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens: never a real server
    monkeypatch.chdir(tmp_path)
    wandb.teardown()  # wandb reads the environment once per session
    (tmp_path / "wandb_id.txt").write_text("abc123\n")
    opt = types.SimpleNamespace(log_online=True, project="dml-tests", group="tiny", seed=0)
    with caplog.at_level(logging.INFO):
        assert show.log_online(opt, str(tmp_path), {"retrievals/test": "g.png"}, 1) is False
    wandb.teardown()
    assert "no credentials" in caplog.text and "the pictures are only written to disk" in caplog.text
    assert not (tmp_path / "wandb").exists()  # no offline run was started


@pytest.mark.parametrize("argv, message", [
    (["{empty}"], "is a folder without any checkpoint"),
    (["{empty}/none"], "none: no such file; expected <save_path>/<dataset>/"),
    (["{run}", "--split", "val"], "--split val: inshop has the evaluation splits test (val exists only for runs "),
    (["{run}", "--checkpoint", "{empty}/x.pth"], "x.pth: no such file"),
])
def test_bad_input_fails_with_its_message(run_dir, tmp_path, caplog, argv, message):
    argv = [arg.format(empty=tmp_path, run=run_dir) for arg in argv]
    with caplog.at_level(logging.ERROR):
        assert show.main(argv + ["--out", str(tmp_path / "g.png"), "--map_out", str(tmp_path / "m.png")]) == 2
    assert message in caplog.text
    assert not (tmp_path / "g.png").exists()


def test_bad_flags_are_refused_while_parsing(capsys):
    with pytest.raises(SystemExit) as exit_info:
        show.main(["somewhere", "--k", "0"])
    assert exit_info.value.code == 2 and "--k: expected an integer > 0, got '0'" in capsys.readouterr().err
