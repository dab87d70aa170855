"""evaluate() against pytorch-metric-learning and brute force on random clustered embeddings; embed()."""
import logging

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from sklearn.metrics import normalized_mutual_info_score

import evaluation.knn
from evaluation import embed, evaluate
from evaluation.kmeans import kmeans_assign
from metrics.base import l2_normalise

PML_METRICS = ("precision_at_1", "mean_average_precision_at_r", "NMI")


@pytest.fixture(scope="module")
def clustered():
    """600 points in 32-d around 40 class centres (uneven class sizes), plus one lone item of class 40."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 32))
    labels = rng.integers(0, 40, 600)
    embeddings = centres[labels] + 1.2 * rng.normal(size=(600, 32))
    labels[0] = 40
    return embeddings.astype(np.float32), labels


def pml(query, query_labels, reference=None, reference_labels=None):
    calculator = AccuracyCalculator(include=PML_METRICS, k="max_bin_count", device=torch.device("cpu"))
    return calculator.get_accuracy(query, query_labels, reference, reference_labels, ref_includes_query=False)


def brute_force_recall(queries, query_labels, gallery, gallery_labels, k, same_set):
    distances = ((queries[:, None, :].astype(np.float64) - gallery[None]) ** 2).sum(-1)
    if same_set:
        np.fill_diagonal(distances, np.inf)
    relevant = (gallery_labels[None] == query_labels[:, None]).sum(1) - same_set > 0
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
    hit = (gallery_labels[nearest] == query_labels[:, None]).any(1)
    return hit[relevant].mean()


def test_same_set_matches_pytorch_metric_learning(clustered):
    x, y = clustered
    ours = evaluate(["e_recall@1", "mAP_R", "c_recall@1"], x, y)
    theirs = pml(x, y)
    assert ours["e_recall@1"] == pytest.approx(theirs["precision_at_1"], abs=1e-12)
    assert ours["mAP_R"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-6)
    assert 0.3 < ours["mAP_R"] < 0.9  # neither trivial nor hopeless
    assert ours["c_recall@1"] == pytest.approx(pml(l2_normalise(x), y)["precision_at_1"], abs=1e-12)


def test_query_gallery_matches_pytorch_metric_learning(clustered):
    x, y = clustered
    queries, gallery = slice(0, 200), slice(200, None)
    ours = evaluate(["e_recall@1", "mAP_R"], x[queries], y[queries], x[gallery], y[gallery])
    theirs = pml(x[queries], y[queries], x[gallery], y[gallery])
    assert ours["e_recall@1"] == pytest.approx(theirs["precision_at_1"], abs=1e-12)
    assert ours["mAP_R"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-6)


@pytest.mark.parametrize("prefix", ["e", "c"])
def test_recall_at_k_matches_brute_force(clustered, prefix):
    x, y = clustered
    space_x = l2_normalise(x) if prefix == "c" else x
    ks = (1, 2, 4, 8, 16)
    ours = evaluate([f"{prefix}_recall@{k}" for k in ks], x, y)
    queries = slice(0, 150)
    ours_qg = evaluate([f"{prefix}_recall@{k}" for k in ks], x[queries], y[queries], x[150:], y[150:])
    for k in ks:
        assert ours[f"{prefix}_recall@{k}"] == pytest.approx(brute_force_recall(space_x, y, space_x, y, k, True))
        expected = brute_force_recall(space_x[queries], y[queries], space_x[150:], y[150:], k, False)
        assert ours_qg[f"{prefix}_recall@{k}"] == pytest.approx(expected)


def test_nmi_is_sklearn_nmi_of_our_seeded_kmeans(clustered):
    x, y = clustered
    n_classes = len(np.unique(y))
    expected = normalized_mutual_info_score(y, kmeans_assign(x, n_classes, seed=5))
    assert evaluate(["nmi"], x, y, seed=5)["nmi"] == pytest.approx(expected, abs=1e-12)
    # Faiss k-means seeded like pytorch-metric-learning's (Faiss's default seed 1234) gives its NMI exactly.
    assert evaluate(["nmi"], x, y, seed=1234)["nmi"] == pytest.approx(pml(x, y)["NMI"], abs=1e-12)


def test_query_gallery_nmi_clusters_the_union(clustered):
    x, y = clustered
    union = evaluate(["nmi"], x, y, seed=3)["nmi"]
    assert evaluate(["nmi"], x[:100], y[:100], x[100:], y[100:], seed=3)["nmi"] == pytest.approx(union, abs=1e-12)


def test_results_do_not_depend_on_chunking(clustered, monkeypatch):
    x, y = clustered
    names = ["e_recall@1", "e_recall@4", "c_recall@2", "mAP_R"]
    whole = evaluate(names, x, y)
    monkeypatch.setattr(evaluation.knn, "QUERY_CHUNK", 64)
    assert evaluate(names, x, y) == pytest.approx(whole, abs=1e-12)


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
