"""norm_recall_spearman / c_norm_recall_spearman (metrics/norm_spearman.py): hand-worked cases in both protocols,
agreement with scipy.stats.spearmanr on random data, the Euclidean vs cosine variants, scale invariance and the NaN
cases."""
import logging

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from evaluation import evaluate
from metrics import build_metric
from metrics.base import RankedEmbeddingMetric, l2_normalise
from metrics.norm_spearman import average_ranks, class_means, spearman_rho
from utilities.errors import ConfigError


def points(*xs):
    return np.array(xs, dtype=np.float32).reshape(len(xs), -1)


def test_same_set_by_hand(caplog):
    # index:  0   1   2   3   4   5   6   7   8   9  10  11
    # x:     10  11  20  21  30  31  40  41  50  51  60  62        norm = x
    # class:  A   A   B   C   B   B   C   D   C   C   E   E        (D has one item: query 7 is left out, stays
    #                                                               in the gallery)
    # Euclidean nearest other item, correct?
    #   q0 -> 11 A ok   q1 -> 10 A ok   q2 -> 21 C no   q3 -> 20 B no   q4 -> 31 B ok   q5 -> 30 B ok
    #   q6 -> 41 D no   q8 -> 51 C ok   q9 -> 50 C ok   q10 -> 62 E ok  q11 -> 60 E ok (d 2 vs 51 at d 11)
    # class  mean norm              recall@1   rank of norm  rank of recall (average ranks: A, E tie for 3-4)
    #   A    (10+11)/2 = 10.5       2/2 = 1          1              3.5
    #   B    (20+30+31)/3 = 27      2/3              2              2
    #   C    (21+40+50+51)/4 = 40.5 2/4              3              1
    #   E    (60+62)/2 = 61         2/2 = 1          4              3.5
    # centred (minus 2.5): a = (-1.5, -0.5, 0.5, 1.5), b = (1, -0.5, -1.5, 1)
    #   sum ab = -1.5 + 0.25 - 0.75 + 1.5 = -0.5; sum a^2 = 5; sum b^2 = 4.5 -> rho = -0.5 / sqrt(22.5) = -1/sqrt(90)
    # (Ranking the tie A, E as 3, 4 instead would give 1/5; counting the lone D as a class of recall 0 and norm 41
    # would give -0.205: both checked below.)
    # Cosine, in 1-d: every item points the same way (similarity 1 to all), so ties go to the lowest index: q0 -> 1
    # (A ok), everyone else -> 0 (A): A 1, B 0, C 0, E 0. Recall ranks B, C, E 2 (tied for 1-3), A 4:
    #   b = (1.5, -0.5, -0.5, -0.5); sum ab = -2.25 + 0.25 - 0.25 - 0.75 = -3; sum b^2 = 3 -> rho = -3 / sqrt(15).
    x = points(10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 62)
    y = np.array([0, 0, 1, 2, 1, 1, 2, 3, 2, 2, 4, 4])
    names = ["norm_recall_spearman", "e_recall@1", "c_norm_recall_spearman", "c_recall@1"]
    with caplog.at_level(logging.WARNING):
        results = evaluate(names, x, y)
    assert results == pytest.approx({"norm_recall_spearman": -1 / np.sqrt(90), "e_recall@1": 8 / 11,
                                     "c_norm_recall_spearman": -3 / np.sqrt(15), "c_recall@1": 2 / 11}, abs=1e-15)
    assert "1 of 12 queries" in caplog.text and "norm_recall_spearman" in caplog.text
    # The same number from scipy on the four classes; and the two wrong readings differ from it.
    assert spearmanr([10.5, 27, 40.5, 61], [1, 2 / 3, 1 / 2, 1])[0] == pytest.approx(-1 / np.sqrt(90), abs=1e-15)
    assert np.corrcoef([1, 2, 3, 4], [3, 2, 1, 4])[0, 1] == pytest.approx(0.2)
    with_lone_class = spearmanr([10.5, 27, 40.5, 41, 61], [1, 2 / 3, 1 / 2, 0, 1])[0]
    assert with_lone_class == pytest.approx(-0.2052, abs=1e-4)


def test_query_gallery_by_hand():
    # gallery x (class): 0 (A), 10 (B), 20 (C), 31 (B)
    # queries: 1 A -> g0 (d 1) A ok;  6 A -> g1 (d 4) B no;  5 A -> g0, g1 both at d 5: the lower index, A ok;
    #          9 B -> g1 (d 1) ok;    19 B -> g2 (d 1) C no;  16 C -> g2 (d 4) ok;  24 C -> g2 (d 4) ok;
    #          50 E: no E in the gallery: left out.
    # A: norm (1+6+5)/3 = 4, recall 2/3;  B: norm (9+19)/2 = 14, recall 1/2;  C: norm 20, recall 1
    # norm ranks 1 2 3, recall ranks 2 1 3: a = (-1, 0, 1), b = (0, -1, 1) -> rho = 1 / sqrt(2 * 2) = 1/2.
    # (Breaking the tie of query 5 the other way would make A 1/3 and rho 1.)
    gallery, gallery_labels = points(0, 10, 20, 31), np.array([0, 1, 2, 1])
    queries, query_labels = points(1, 6, 5, 9, 19, 16, 24, 50), np.array([0, 0, 0, 1, 1, 2, 2, 4])
    results = evaluate(["norm_recall_spearman", "e_recall@1"], queries, query_labels, gallery, gallery_labels)
    assert results == pytest.approx({"norm_recall_spearman": 0.5, "e_recall@1": 5 / 7}, abs=1e-15)


def test_euclidean_and_cosine_neighbours_differ():
    # Three classes: S short, M medium, L long; M1 and L1 point the same way, as do M2 and L2; S points up.
    #   S1 (0, 1)  S2 (0, 4)  M1 (2, 1)  M2 (5, 3)  L1 (20, 10) = 10 M1  L2 (20, 12) = 4 M2
    # Euclidean: S1 -> M1 (d 2 < 3) no; S2 -> S1 (d 3 < sqrt 13) ok; M1 -> S1 (d 2) no; M2 -> M1 (sqrt 13 <
    #   sqrt 26) ok; L1 <-> L2 (d 2) ok.   recalls S 1/2, M 1/2, L 1
    # Cosine: S1 <-> S2 (similarity 1) ok; M1 <-> L1 and M2 <-> L2 (similarity 1, the rest below 0.998) no.
    #   recalls S 1, M 0, L 0
    # Mean norms S 2.5 < M (sqrt 5 + sqrt 34)/2 ~ 4.0 < L (sqrt 500 + sqrt 544)/2 ~ 22.8: ranks 1 2 3, a = (-1,0,1).
    #   Euclidean recall ranks 1.5 1.5 3: b = (-0.5, -0.5, 1), sum ab = 1.5, sum b^2 = 1.5 -> rho = sqrt(3)/2.
    #   Cosine recall ranks 3 1.5 1.5: b = (1, -0.5, -0.5), sum ab = -1.5 -> rho = -sqrt(3)/2.
    # The norm (the certainty) is the same raw norm in both: only the neighbours differ.
    x = np.array([[0, 1], [0, 4], [2, 1], [5, 3], [20, 10], [20, 12]], dtype=np.float32)
    y = np.array([0, 0, 1, 1, 2, 2])
    results = evaluate(["norm_recall_spearman", "c_norm_recall_spearman", "e_recall@1", "c_recall@1"], x, y)
    assert results == pytest.approx({"norm_recall_spearman": np.sqrt(3) / 2, "c_norm_recall_spearman": -np.sqrt(3) / 2,
                                     "e_recall@1": 4 / 6, "c_recall@1": 2 / 6}, abs=1e-15)


def class_stats(queries, query_labels, gallery, gallery_labels, same_set, cosine):
    """Brute force, float64: per class of the valid queries, (mean raw norm, recall@1)."""
    ranked_q, ranked_g = (l2_normalise(queries), l2_normalise(gallery)) if cosine else (queries, gallery)
    if cosine:
        distances = -(ranked_q.astype(np.float64) @ ranked_g.T.astype(np.float64))
    else:
        distances = ((ranked_q[:, None, :].astype(np.float64) - ranked_g[None]) ** 2).sum(-1)
    norms, correct, labels = [], [], []
    for q, row in enumerate(distances):
        order = np.argsort(row, kind="stable")
        if same_set:
            order = order[order != q]
        if not (gallery_labels[order] == query_labels[q]).any():
            continue
        norms.append(np.linalg.norm(queries[q].astype(np.float64)))
        correct.append(float(gallery_labels[order[0]] == query_labels[q]))
        labels.append(query_labels[q])
    norms, correct, labels = map(np.array, (norms, correct, labels))
    classes = np.unique(labels)
    return (np.array([norms[labels == c].mean() for c in classes]),
            np.array([correct[labels == c].mean() for c in classes]))


@pytest.fixture(scope="module")
def scattered():
    """300 points in 8-d around 25 class centres, each class with its own length (so class norms differ and carry
    information), and one lone item of class 25."""
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(25, 8))
    labels = rng.integers(0, 25, 300)
    scale = rng.uniform(0.5, 4, size=25)[labels, None] * rng.uniform(0.8, 1.25, size=(300, 1))
    embeddings = (centres[labels] + 0.9 * rng.normal(size=(300, 8))) * scale
    labels[7] = 25
    return embeddings.astype(np.float32), labels


@pytest.mark.parametrize("prefix", ["", "c_"])
def test_agrees_with_scipy_in_both_protocols(scattered, prefix):
    x, y = scattered
    name = prefix + "norm_recall_spearman"
    for queries, query_labels, gallery, gallery_labels in ((x, y, None, None), (x[:100], y[:100], x[100:], y[100:])):
        same_set = gallery is None
        value = evaluate([name], queries, query_labels, gallery, gallery_labels)[name]
        norms, recalls = class_stats(queries, query_labels, x if same_set else gallery,
                                     y if same_set else gallery_labels, same_set, cosine=bool(prefix))
        assert len(np.unique(recalls)) < len(recalls)  # tied recalls: the average ranks matter
        expected = spearmanr(norms, recalls)[0]
        assert value == pytest.approx(expected, abs=1e-12)
        assert abs(value) > 0.05


def test_invariant_to_a_common_scale(scattered):
    x, y = scattered
    names = ["norm_recall_spearman", "c_norm_recall_spearman"]
    base = evaluate(names, x, y)
    assert evaluate(names, x * np.float32(8.0), y) == base  # a power of two: bit for bit
    assert evaluate(names, x * np.float32(0.37), y) == pytest.approx(base, abs=1e-12)
    assert evaluate(names, x * np.float32(2.0**50), y) == base  # beyond the evaluator's rescaling threshold


def test_nan_when_recall_is_constant(caplog):
    # x = 0, 1, 10, 11, 20, 21, 30, 31: each item's nearest neighbour is its partner, of its class: recall 1 for all.
    x = points(0, 1, 10, 11, 20, 21, 30, 31)
    with caplog.at_level(logging.WARNING):
        results = evaluate(["norm_recall_spearman", "e_recall@1"], x, np.array([0, 0, 1, 1, 2, 2, 3, 3]))
    assert np.isnan(results["norm_recall_spearman"]) and results["e_recall@1"] == 1.0
    assert "norm_recall_spearman is NaN: all 4 classes have the same recall@1" in caplog.text


def test_nan_when_norms_are_constant(caplog):
    # Exactly equal norms (axis-aligned unit vectors, as from a normalising model): NaN, whatever the recalls.
    # Euclidean neighbours (ties to the lower index): q0 -> 4 (class 1) no, q4 -> 0 (0) no, q1 -> 5 (2) no,
    # q5 -> 1 (1) no, q2 -> 1 (1) no, q3 -> 0 (0) ok: recalls 1/2, 0, 0, so only the norms are constant.
    x = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [1, 0], [0, 1]], dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    with caplog.at_level(logging.WARNING):
        results = evaluate(["norm_recall_spearman", "e_recall@1"], x, y)
    assert np.isnan(results["norm_recall_spearman"]) and results["e_recall@1"] == pytest.approx(1 / 6)
    assert "norm_recall_spearman is NaN: all 3 classes have the same mean embedding norm" in caplog.text


def test_nan_with_fewer_than_three_classes(caplog):
    # Two classes: any two points are perfectly ranked, so no value.
    with caplog.at_level(logging.WARNING):
        results = evaluate(["norm_recall_spearman"], points(0, 1, 2, 10, 11, 13), np.array([0, 1, 0, 1, 1, 0]))
    assert np.isnan(results["norm_recall_spearman"])
    assert "norm_recall_spearman is NaN: its 6 queries come from 2 class(es)" in caplog.text


def test_helpers_match_scipy_and_tie_exactly():
    rng = np.random.default_rng(2)
    for _ in range(20):
        a, b = rng.integers(0, 5, 40).astype(np.float64), rng.integers(0, 4, 40).astype(np.float64)
        np.testing.assert_array_equal(average_ranks(a), rankdata(a))
        assert spearman_rho(a, b) == pytest.approx(spearmanr(a, b)[0], abs=1e-12)
    assert np.isnan(spearman_rho(np.arange(3.0), np.ones(3)))
    # The same multiset of values in another order gives exactly the same class mean (summed in sorted order):
    # summed as given, (0.1 + 0.2) + 0.6 != (0.6 + 0.1) + 0.2.
    classes, means = class_means(np.array([0.1, 0.6, 0.2, 0.1, 0.2, 0.6]), np.array([3, 5, 3, 5, 5, 3]))
    np.testing.assert_array_equal(classes, [3, 5])
    assert means[0] == means[1]


def test_kind_window_and_names():
    for name, space in (("norm_recall_spearman", "euclidean"), ("c_norm_recall_spearman", "cosine")):
        metric = build_metric(name)
        assert isinstance(metric, RankedEmbeddingMetric) and metric.space == space
        assert metric.window(max_relevant=50, max_class=51) == 1
        with pytest.raises(ConfigError, match=f"takes no parameter: {name}"):
            build_metric(name + "@1")
