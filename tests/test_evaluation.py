"""evaluate() against pytorch-metric-learning, brute force and direct formulas on random embeddings; embed()."""
import logging

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import FaissKMeans
from scipy.spatial.distance import cdist
from scipy.stats import entropy
from sklearn.metrics import normalized_mutual_info_score
from threadpoolctl import threadpool_info

import evaluation.knn
from evaluation import embed, evaluate
from evaluation.kmeans import N_ITER, kmeans_assign
from metrics.base import l2_normalise

PML_METRICS = {"e_recall@1": "precision_at_1", "r_precision": "r_precision",
               "mAP_R": "mean_average_precision_at_r", "nmi": "NMI"}
RETRIEVAL = ["e_recall@1", "e_recall@3", "e_recall@50", "mAP_R", "r_precision", "mAP_c", "mAP_1000", "mAP_lim"]


@pytest.fixture(scope="module")
def clustered():
    """600 points in 32-d around 40 class centres (uneven class sizes), plus one lone item of class 40."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 32))
    labels = rng.integers(0, 40, 600)
    embeddings = centres[labels] + 1.2 * rng.normal(size=(600, 32))
    labels[0] = 40
    return embeddings.astype(np.float32), labels


@pytest.fixture(scope="module")
def integer_grid():
    """2,000 points with small integer coordinates in 6-d (so every distance is exact in float32 and many tie),
    3 classes of about 660 items: R is far beyond 1023, so every window cuts the ranking."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 2000)
    embeddings = rng.integers(-2, 3, size=(2000, 6)) + labels[:, None]
    return embeddings.astype(np.float32), labels


def pml(query, query_labels, reference=None, reference_labels=None):
    """AccuracyCalculator with its k-means set up like ours (Faiss, 20 iterations, seed 1234, every point)."""
    kmeans = FaissKMeans(niter=N_ITER, seed=1234, max_points_per_centroid=10**9, min_points_per_centroid=1)
    calculator = AccuracyCalculator(include=tuple(PML_METRICS.values()), k="max_bin_count",
                                    device=torch.device("cpu"), kmeans_func=kmeans)
    return calculator.get_accuracy(query, query_labels, reference, reference_labels, ref_includes_query=False)


def brute_force(names, queries, query_labels, gallery, gallery_labels, same_set, cosine=False):
    """The retrieval metrics straight from their definitions, on a full float64 ranking (stable: ties by index)."""
    if cosine:
        queries, gallery = l2_normalise(queries), l2_normalise(gallery)
        distances = -(queries.astype(np.float64) @ gallery.T.astype(np.float64))
    else:
        distances = ((queries[:, None, :].astype(np.float64) - gallery[None]) ** 2).sum(-1)
    values = {name: [] for name in names}
    for q, row in enumerate(distances):
        order = np.argsort(row, kind="stable")
        if same_set:
            order = order[order != q]
        rel = (gallery_labels[order] == query_labels[q]).astype(np.float64)
        r = int(rel.sum())
        if r == 0:
            continue
        n_class = r + same_set
        precision = np.cumsum(rel) / np.arange(1, len(rel) + 1)
        for name in names:
            base, _, k = name.partition("@")
            base = base.removeprefix("c_")
            window = {"mAP_R": r, "r_precision": r, "mAP_c": n_class, "mAP_1000": 1000, "mAP_lim": 1023}.get(base)
            if base.endswith("recall"):
                values[name].append(rel[: int(k)].max())
            elif base == "r_precision":
                values[name].append(rel[:r].sum() / r)
            else:
                divisor = r if base == "mAP_R" else n_class
                values[name].append((precision * rel)[:window].sum() / divisor)
    return {name: float(np.mean(v)) for name, v in values.items()}


def test_same_set_matches_pytorch_metric_learning(clustered):
    x, y = clustered
    ours = evaluate(list(PML_METRICS), x, y, seed=1234)
    theirs = pml(x, y)
    for name, pml_name in PML_METRICS.items():
        assert ours[name] == pytest.approx(theirs[pml_name], abs=1e-12), name
    assert 0.3 < ours["mAP_R"] < 0.9  # neither trivial nor hopeless
    assert evaluate(["c_recall@1"], x, y)["c_recall@1"] == pytest.approx(
        pml(l2_normalise(x), y)["precision_at_1"], abs=1e-12)


def test_query_gallery_matches_pytorch_metric_learning(clustered):
    x, y = clustered
    queries, gallery = slice(0, 200), slice(200, None)
    ours = evaluate(["e_recall@1", "r_precision", "mAP_R"], x[queries], y[queries], x[gallery], y[gallery])
    theirs = pml(x[queries], y[queries], x[gallery], y[gallery])
    for name in ours:
        assert ours[name] == pytest.approx(theirs[PML_METRICS[name]], abs=1e-12), name


@pytest.mark.parametrize("prefix", ["", "c_"])
def test_retrieval_metrics_match_brute_force(clustered, prefix):
    x, y = clustered
    names = [("c_" + n[2:] if n.startswith("e_") else "c_" + n) if prefix else n for n in RETRIEVAL]
    ours = evaluate(names, x, y)
    expected = brute_force(names, x, y, x, y, same_set=True, cosine=bool(prefix))
    assert ours == pytest.approx(expected, abs=1e-12)
    ours = evaluate(names, x[:150], y[:150], x[150:], y[150:])
    expected = brute_force(names, x[:150], y[:150], x[150:], y[150:], same_set=False, cosine=bool(prefix))
    assert ours == pytest.approx(expected, abs=1e-12)


def test_deep_windows_and_mass_ties_match_brute_force(integer_grid):
    x, y = integer_grid
    names = RETRIEVAL + ["e_recall@1000"]
    ours = evaluate(names, x, y)
    assert ours == pytest.approx(brute_force(names, x, y, x, y, same_set=True), abs=1e-12)
    # Recall@k and mAP_1000 at depths where the k-th place falls inside a run of tied distances.
    query, rank = evaluation.knn.hit_ranks(x[:300], y[:300], x, y, 37, self_index=np.arange(300))
    distances = ((x[:300, None, :] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(distances[:, :300], np.inf)
    expected_query, expected_rank = [], []
    for q, row in enumerate(distances):
        hits = np.flatnonzero(y[np.argsort(row, kind="stable")][:37] == y[q])  # the query itself sorts last
        expected_query += [q] * len(hits)
        expected_rank += list(hits + 1)
    np.testing.assert_array_equal(query, expected_query)
    np.testing.assert_array_equal(rank, expected_rank)


@pytest.mark.slow
def test_results_do_not_depend_on_chunking(integer_grid, clustered, monkeypatch):
    # On the integer grid every Euclidean score is exact whatever the GEMM's summation order, so even its mass
    # ties must come out the same. (Cosine scores of normalised grid points are not exact: items whose cosines
    # tie in exact arithmetic may differ in the last bit, and which comes first may depend on the chunk shape.)
    euclidean = ["e_recall@1", "e_recall@4", "mAP_R", "mAP_lim", "mAP_c"]
    for (x, y), names in ((integer_grid, euclidean), (clustered, euclidean + ["c_recall@2", "c_mAP_c"])):
        whole = evaluate(names, x, y)
        monkeypatch.setattr(evaluation.knn, "CHUNK_BYTES", 4 * len(x) * 61)  # chunks of at most 61 queries
        assert evaluate(names, x, y) == whole
        monkeypatch.undo()


def test_search_restores_blas_threads(clustered):
    # The CPU search runs single-threaded BLAS calls in its own threads; the process's settings must come back.
    before = [pool["num_threads"] for pool in threadpool_info()]
    evaluate(["e_recall@1"], *clustered)
    assert [pool["num_threads"] for pool in threadpool_info()] == before


def test_labels_are_kept_as_integers(clustered):
    # Ids at and above 2**24 stay distinct (a float32 cast would merge 2**24 and 2**24 + 1).
    x, y = clustered
    names = ["e_recall@1", "mAP_R", "nmi", "f1"]
    assert evaluate(names, x, y + 2**24) == evaluate(names, x, y)
    merged = np.where(y == 1, 2**24, 2**24 + 1)  # two classes that float32 could not tell apart
    assert evaluate(["e_recall@1"], x, merged)["e_recall@1"] < 1


def test_nmi_is_sklearn_nmi_of_our_seeded_kmeans(clustered):
    x, y = clustered
    n_classes = len(np.unique(y))
    expected = normalized_mutual_info_score(y, kmeans_assign(x, n_classes, seed=5))
    assert evaluate(["nmi"], x, y, seed=5)["nmi"] == pytest.approx(expected, abs=1e-12)
    expected = normalized_mutual_info_score(y, kmeans_assign(l2_normalise(x), n_classes, seed=5))
    assert evaluate(["c_nmi"], x, y, seed=5)["c_nmi"] == pytest.approx(expected, abs=1e-12)


def test_f1_matches_pair_counting(clustered):
    x, y = clustered
    assignment = kmeans_assign(x, len(np.unique(y)), seed=2)
    same_class, same_cluster = y[:, None] == y[None], assignment[:, None] == assignment[None]
    pairs = np.triu(np.ones_like(same_class), 1)
    tp = (same_class & same_cluster & pairs).sum()
    precision, recall = tp / (same_class & pairs).sum(), tp / (same_cluster & pairs).sum()
    assert evaluate(["f1"], x, y, seed=2)["f1"] == pytest.approx(2 * precision * recall / (precision + recall))


def test_query_gallery_clustering_and_spaces_use_the_union(clustered):
    x, y = clustered
    names = ["nmi", "f1", "dists@intra", "dists@inter", "rho_spectrum@2"]
    union = evaluate(names, x, y, seed=3)
    assert evaluate(names, x[:100], y[:100], x[100:], y[100:], seed=3) == pytest.approx(union, abs=1e-12)


def test_dists_match_roths_formulas(clustered):
    x, y = clustered
    classes = np.unique(y)
    intra = [cdist(x[y == c], x[y == c], "cosine").sum() / ((y == c).sum() * ((y == c).sum() - 1))
             for c in classes if (y == c).sum() > 1]
    centres = np.array([x[y == c].mean(axis=0) for c in classes])
    inter = cdist(centres, centres, "cosine").sum() / (len(classes) * (len(classes) - 1))
    results = evaluate(["dists@intra", "dists@inter", "dists@intra_over_inter"], x, y)
    assert results == pytest.approx({"dists@intra": np.mean(intra), "dists@inter": inter,
                                     "dists@intra_over_inter": np.mean(intra) / inter}, abs=1e-9)


def test_rho_spectrum_matches_svd(clustered):
    x, y = clustered
    s = np.linalg.svd(x.astype(np.float64), compute_uv=False)
    expected = {}
    for k in (1, 2, 10, -1, -3):
        p = s[abs(k) - 1:] / s[abs(k) - 1:].sum()
        uniform = np.full(len(p), 1 / len(p))
        expected[f"rho_spectrum@{k}"] = entropy(uniform, p) if k > 0 else entropy(p, uniform)
    assert evaluate(list(expected), x, y) == pytest.approx(expected, abs=1e-9)


class DummyModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.seen_modes = []

    def forward(self, images):
        self.seen_modes.append((self.training, torch.is_grad_enabled()))
        return {"embeds": self.linear(images.flatten(1))}


def shuffled_loader(images, labels, skipped):
    """One batch per entry of skipped, items in a shuffled order, as a shuffling DataLoader would give."""
    order = np.random.default_rng(1).permutation(len(images))
    return [
        (images[batch], labels[batch], torch.as_tensor(batch), n_skipped)
        for batch, n_skipped in zip(np.array_split(order, len(skipped)), skipped)
    ]


@pytest.mark.parametrize("was_training", [True, False])
def test_embed_orders_by_index_restores_mode_and_logs_skipped(was_training, caplog):
    torch.manual_seed(0)
    model = DummyModel().train(was_training)
    images = torch.randn(10, 3, 1)
    labels = torch.arange(10) % 3
    loader = shuffled_loader(images, labels, skipped=[0, 2, torch.tensor(1)])
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        outputs, out_labels = embed(model, loader, "cpu")
        embeddings = outputs["embeds"]
    assert embeddings.dtype == np.float32 and embeddings.shape == (10, 2)
    assert out_labels.dtype == np.int64
    np.testing.assert_array_equal(out_labels, labels.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(embeddings, model.linear(images.flatten(1)).numpy(), rtol=1e-6)
    assert model.seen_modes == [(False, False)] * 3
    assert model.training == was_training
    assert "3 items could not be loaded" in caplog.text


def test_embed_with_amp_on_cpu():
    model = DummyModel()
    images = torch.randn(6, 3, 1)
    loader = shuffled_loader(images, torch.zeros(6, dtype=torch.long), skipped=[0, 0])
    embeddings = embed(model, loader, "cpu", amp=True)[0]["embeds"]
    assert embeddings.dtype == np.float32
    with torch.no_grad():
        np.testing.assert_allclose(embeddings, model.linear(images.flatten(1)).numpy(), atol=5e-2)
