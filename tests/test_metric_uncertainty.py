"""norm_auroc / c_norm_auroc (metrics/norm_auroc.py) and the RankedEmbeddingMetric kind: hand-worked cases, agreement
with sklearn's roc_auc_score on random data in both protocols, the NaN cases, and the shared kNN search."""
import logging

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import evaluation.evaluator
from evaluation import evaluate
from metrics import build_metric
from metrics.base import RankedEmbeddingMetric, l2_normalise
from metrics.norm_auroc import CosineNormAUROC, mann_whitney_auroc


def points(*xs):
    return np.array(xs, dtype=np.float32).reshape(len(xs), -1)


def test_same_set_by_hand(caplog):
    # index:  0  1   2  3   4   5
    # x:      1  2  -2  4  10  -3        norm = |x|; squared norms 1 4 4 16 100 9
    # class:  A  B   A  B   C   A        (class C has one item: query 4 is left out but stays in the gallery)
    # Euclidean nearest other item (ties to the lower index), its class, correct?
    #   q0 (1, A):  1 (d 1)  B  wrong     q1 (2, B):  0 (d 1)  A  wrong
    #   q2 (-2, A): 5 (d 1)  A  correct   q3 (4, B):  1 (d 2)  B  correct
    #   q5 (-3, A): 2 (d 1)  A  correct
    # correct norms {2, 4, 3}, wrong norms {1, 2}: pairs (correct, wrong):
    #   (2,1) 1, (2,2) 1/2 (tie), (4,1) 1, (4,2) 1, (3,1) 1, (3,2) 1 -> U = 5.5 of 6 pairs: 11/12.
    # (Counting the lone q4 as wrong, norm 10, would add three lost pairs: 5.5/9.)
    # Cosine, in 1-d: all positive items point the same way (similarity 1), all negative ones too:
    #   q0 -> 1 (B) wrong, q1 -> 0 (A) wrong, q3 -> 0 (A) wrong, q2 -> 5 (A) correct, q5 -> 2 (A) correct.
    #   correct norms {2, 3}, wrong {1, 2, 4}: (2,1) 1, (2,2) 1/2, (2,4) 0, (3,1) 1, (3,2) 1, (3,4) 0 -> 3.5/6.
    x = points(1, 2, -2, 4, 10, -3)
    y = np.array([0, 1, 0, 1, 2, 0])
    names = ["norm_auroc", "e_recall@1", "c_norm_auroc", "c_recall@1"]
    with caplog.at_level(logging.WARNING):
        results = evaluate(names, x, y)
    assert results == pytest.approx({"norm_auroc": 11 / 12, "e_recall@1": 3 / 5, "c_norm_auroc": 7 / 12,
                                     "c_recall@1": 2 / 5}, abs=1e-15)
    assert "1 of 6 queries" in caplog.text and "norm_auroc" in caplog.text
    # The same numbers from sklearn on the five queries that count.
    assert roc_auc_score([0, 0, 1, 1, 1], [1, 2, 2, 4, 3]) == pytest.approx(11 / 12, abs=1e-15)


def test_query_gallery_by_hand():
    # gallery x: 0 (A), 5 (B).   queries x (class): 1 (A), 4 (B), 1 (B), -1 (A), 7 (C).
    #   q0 -> g0 (d 1) A correct, norm 1;  q1 -> g1 (d 1) B correct, norm 4;  q2 -> g0 (d 1) A wrong, norm 1;
    #   q3 -> g0 (d 1) A correct, norm 1;  q4: class C is not in the gallery: left out.
    # correct {1, 4, 1} vs wrong {1}: 1/2 + 1 + 1/2 = 2 of 3 pairs.
    gallery, gallery_labels = points(0, 5), np.array([0, 1])
    queries, query_labels = points(1, 4, 1, -1, 7), np.array([0, 1, 1, 0, 2])
    results = evaluate(["norm_auroc", "e_recall@1"], queries, query_labels, gallery, gallery_labels)
    assert results == pytest.approx({"norm_auroc": 2 / 3, "e_recall@1": 3 / 4}, abs=1e-15)


@pytest.mark.parametrize("classes, expected", [([0, 1, 0, 1], "none of the 4"), ([0, 0, 1, 1], "all 4")])
def test_nan_when_every_query_is_wrong_or_every_query_is_right(classes, expected, caplog):
    # x = 0, 1, 10, 11: each item's nearest neighbour is its partner (0-1, 10-11).
    x = points(0, 1, 10, 11)
    with caplog.at_level(logging.WARNING):
        results = evaluate(["norm_auroc", "c_norm_auroc", "e_recall@1"], x, np.array(classes))
    assert np.isnan(results["norm_auroc"])
    assert results["e_recall@1"] == (0.0 if expected.startswith("none") else 1.0)
    assert f"norm_auroc is NaN: {expected} queries' nearest neighbours are of their class" in caplog.text


def test_nan_when_no_query_counts():
    results = evaluate(["norm_auroc", "e_recall@1"], points(0, 1, 2), np.array([0, 1, 2]))
    assert np.isnan(results["norm_auroc"]) and np.isnan(results["e_recall@1"])


def test_mann_whitney_matches_sklearn_with_heavy_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        scores = rng.integers(0, 6, 200).astype(np.float64)  # six distinct values: almost every pair ties
        label = rng.random(200) < rng.uniform(0.1, 0.9)
        assert mann_whitney_auroc(scores, label) == pytest.approx(roc_auc_score(label, scores), abs=1e-12)
    assert np.isnan(mann_whitney_auroc(np.arange(3.0), np.ones(3, bool)))
    assert mann_whitney_auroc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5


def nearest_is_correct(queries, query_labels, gallery, gallery_labels, same_set, cosine):
    """Brute force, float64: (valid query indices, whether each one's nearest neighbour shares its class)."""
    if cosine:
        queries, gallery = l2_normalise(queries), l2_normalise(gallery)
        distances = -(queries.astype(np.float64) @ gallery.T.astype(np.float64))
    else:
        distances = ((queries[:, None, :].astype(np.float64) - gallery[None]) ** 2).sum(-1)
    valid, correct = [], []
    for q, row in enumerate(distances):
        order = np.argsort(row, kind="stable")
        if same_set:
            order = order[order != q]
        if not (gallery_labels[order] == query_labels[q]).any():
            continue
        valid.append(q)
        correct.append(gallery_labels[order[0]] == query_labels[q])
    return np.array(valid), np.array(correct)


@pytest.fixture(scope="module")
def scattered():
    """400 points in 16-d around 30 class centres with lengths spread over a factor 8 (so norms carry
    information and the Euclidean ranking depends on them), and one lone item of class 30."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(30, 16))
    labels = rng.integers(0, 30, 400)
    embeddings = (centres[labels] + 0.9 * rng.normal(size=(400, 16))) * rng.uniform(0.5, 4, size=(400, 1))
    labels[5] = 30
    return embeddings.astype(np.float32), labels


@pytest.mark.parametrize("prefix", ["", "c_"])
def test_agrees_with_sklearn_in_both_protocols(scattered, prefix):
    x, y = scattered
    name = prefix + "norm_auroc"
    for queries, query_labels, gallery, gallery_labels in ((x, y, None, None), (x[:120], y[:120], x[120:], y[120:])):
        same_set = gallery is None
        results = evaluate([name, prefix + "recall@1" if prefix else "e_recall@1"], queries, query_labels, gallery,
                           gallery_labels)
        valid, correct = nearest_is_correct(queries, query_labels, x if same_set else gallery,
                                            y if same_set else gallery_labels, same_set, cosine=bool(prefix))
        assert len(valid) < len(queries)  # someone was left out (lone item; classes missing from the gallery)
        assert 0.2 < correct.mean() < 0.9
        expected = roc_auc_score(correct, np.linalg.norm(queries[valid].astype(np.float64), axis=1))
        assert results[name] == pytest.approx(expected, abs=1e-12)
        assert results[name] != 0.5
        assert list(results.values())[1] == pytest.approx(correct.mean(), abs=1e-12)


def test_agrees_with_sklearn_on_a_grid_with_tied_norms():
    # Small integer coordinates: every distance and squared norm is exact, and many norms (and distances) tie.
    rng = np.random.default_rng(11)
    y = rng.integers(0, 8, 500)
    x = (rng.integers(-2, 3, size=(500, 5)) + (y[:, None] % 3)).astype(np.float32)
    valid, correct = nearest_is_correct(x, y, x, y, same_set=True, cosine=False)
    norms = np.linalg.norm(x[valid].astype(np.float64), axis=1)
    assert len(np.unique(norms)) < len(norms) / 5 and 0.1 < correct.mean() < 0.9
    expected = roc_auc_score(correct, norms)
    assert evaluate(["norm_auroc"], x, y)["norm_auroc"] == pytest.approx(expected, abs=1e-12)


def test_one_search_per_space_shared_with_retrieval_metrics(scattered, monkeypatch):
    x, y = scattered
    searches = []
    search = evaluation.evaluator.hit_ranks

    def counted(queries, query_labels, gallery, gallery_labels, depth, self_index=None, inner_product=False):
        searches.append((inner_product, depth))
        return search(queries, query_labels, gallery, gallery_labels, depth, self_index, inner_product)

    monkeypatch.setattr(evaluation.evaluator, "hit_ranks", counted)
    evaluate(["norm_auroc", "e_recall@1"], x, y)
    assert searches == [(False, 1)]
    searches.clear()
    results = evaluate(["norm_auroc", "e_recall@4", "mAP_R", "c_norm_auroc", "c_recall@1"], x, y)
    assert sorted(searches) == [(False, int(np.bincount(y).max()) - 1), (True, 1)]  # depth: the deepest window
    searches.clear()
    evaluate(["norm_auroc"], x[:100], y[:100], x[100:], y[100:])
    assert len(searches) == 1
    # Asking for norm_auroc too changes none of the other values.
    monkeypatch.undo()
    others = ["e_recall@4", "mAP_R", "c_recall@1"]
    assert evaluate(others, x, y) == {name: results[name] for name in others}


def test_the_metric_sees_the_valid_queries_as_given(scattered, monkeypatch):
    # Entries beyond 2**40 make evaluate() rescale its working copy; the metric must still get the embeddings as
    # passed (not rescaled, not normalised in the cosine space), of the valid queries, in order, read-only.
    x, y = scattered
    huge = x * np.float32(2.0**60)
    seen = []

    original = CosineNormAUROC.compute

    def spy(self, hits, query_embeddings, query_labels):
        seen.append((hits.n_queries, query_embeddings, query_labels))
        return original(self, hits, query_embeddings, query_labels)

    monkeypatch.setattr(CosineNormAUROC, "compute", spy)
    value = evaluate(["c_norm_auroc"], huge, y)["c_norm_auroc"]
    (n_queries, embeddings, labels), = seen
    valid = np.flatnonzero(y != 30)
    assert n_queries == len(valid) == len(embeddings)
    np.testing.assert_array_equal(embeddings, huge[valid])
    np.testing.assert_array_equal(labels, y[valid])
    assert not embeddings.flags.writeable
    monkeypatch.undo()
    assert value == evaluate(["c_norm_auroc"], x, y)["c_norm_auroc"]  # and the AUROC ignores a common scale


def test_kind_and_window():
    metric = build_metric("c_norm_auroc")
    assert isinstance(metric, RankedEmbeddingMetric) and metric.space == "cosine"
    assert build_metric("norm_auroc").space == "euclidean"
    assert metric.window(max_relevant=50, max_class=51) == 1
