"""Metrics named after the seed papers: mARP / c_mARP (metrics/marp.py), the divide-and-conquer seed's MAP@R.
Hand-worked cases with ties and lone-query classes in both protocols, and brute-force loops of the documented
definition and of the seed code's formula."""
import logging

import numpy as np
import pytest

from evaluation import check_metric_names, evaluate
from evaluation.knn import hit_ranks
from metrics import build_metric
from metrics.base import RankedHits, RetrievalMetric, l2_normalise
from utilities.errors import ConfigError


def points(*xs):
    return np.array(xs, dtype=np.float32).reshape(len(xs), -1)


def test_same_set_by_hand_with_ties_and_a_lone_query(caplog):
    # index:  0  1  2  3  4   5
    # x:      0  2  4  4  7  30      (2 and 3 are exact duplicates)
    # class:  A  B  A  B  A   C      (C has one item: query 5 is left out but stays in the gallery)
    # Each query's ranking (itself removed, equal distances to the lower index), the classes, the hit ranks, R:
    #   q0 (A, R=2): 1 (d2), 2 (d4), 3 (d4), 4, 5  -> B A B A C   hits 2, 4
    #   q1 (B, R=1): 0, 2, 3 (all d2), 4, 5        -> A A B A C   hit 3
    #   q2 (A, R=2): 3 (d0), 1 (d2), 4 (d3), 0, 5  -> B B A A C   hits 3, 4
    #   q3 (B, R=1): 2 (d0), 1 (d2), 4, 0, 5       -> A B A A C   hit 2
    #   q4 (A, R=2): 2, 3 (both d3), 1, 0, 5       -> A B B A C   hits 1, 4
    # AP@R (top R, / R): q0 (1/2)/2 = 1/4, q1 0, q2 0, q3 0, q4 1/2  -> mARP = (3/4)/5 = 0.15.
    # The ties decide q0 and q4: with the higher index first they would score 0 and 1/4.
    # R-precision: 1/2, 0, 0, 0, 1/2 -> 0.2. The seed's code divides by the hits in the top R instead of R
    # (q0: 1/2, q4: 1) and counts the lone q5 as 0: (1/2 + 1)/6 = 0.25.
    x = points(0, 2, 4, 4, 7, 30)
    y = np.array([0, 1, 0, 1, 0, 2])
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        results = evaluate(["mARP", "mAP_R", "r_precision"], x, y)
    assert results == pytest.approx({"mARP": 0.15, "mAP_R": 0.15, "r_precision": 0.2}, abs=1e-12)
    assert "1 of 6 queries" in caplog.text and "mARP" in caplog.text
    assert seed_code_marp(x, y, x, y, same_set=True) == pytest.approx(0.25, abs=1e-12)


def test_query_gallery_by_hand_with_a_tie_and_an_absent_class():
    # gallery x: 0 (A), 2 (B), 4 (A), 6 (C).   queries x (class): 0 (A), 2.2 (A), 5.8 (B), 1 (A), 1 (D).
    # Nothing is excluded; R = the class's gallery items.
    #   q0 (A, R=2): g0 d0, g1 d2           -> A B    hit 1       AP@R = 1/2
    #   q1 (A, R=2): g1 d.2, g2 d1.8        -> B A    hit 2       AP@R = (1/2)/2 = 1/4
    #   q2 (B, R=1): g3 d.2                 -> C      no hit      AP@R = 0
    #   q3 (A, R=2): g0, g1 (both d1)       -> A B    hit 1 (the tie goes to g0)   AP@R = 1/2
    #   q4 (D): no gallery item of its class: left out (the seed's code fails on it).
    # mARP = (1/2 + 1/4 + 0 + 1/2)/4 = 0.3125.
    gallery, gallery_labels = points(0, 2, 4, 6), np.array([0, 1, 0, 2])
    queries, query_labels = points(0, 2.2, 5.8, 1, 1), np.array([0, 0, 1, 0, 3])
    results = evaluate(["mARP", "mAP_R"], queries, query_labels, gallery, gallery_labels)
    assert results == pytest.approx({"mARP": 0.3125, "mAP_R": 0.3125}, abs=1e-12)


def test_cosine_variant_ranks_by_angle():
    # index: 0 (1,0)  1 (10,0)  2 (1,1)  3 (5,5);  classes 0, 0, 1, 1; R = 1 for every query.
    # Euclidean nearest: q0 -> 2, q1 -> 3, q2 -> 0, q3 -> 2: only q3 hits at rank 1: mARP = 1/4.
    # Cosine: 0 and 1 point the same way, as do 2 and 3: every query hits at rank 1: c_mARP = 1.
    x = points((1, 0), (10, 0), (1, 1), (5, 5))
    y = np.array([0, 0, 1, 1])
    assert evaluate(["mARP", "c_mARP"], x, y) == pytest.approx({"mARP": 0.25, "c_mARP": 1.0}, abs=1e-12)


def test_names_kind_and_window():
    check_metric_names(["mARP", "c_mARP"])
    with pytest.raises(ConfigError, match="takes no parameter"):
        build_metric("mARP@5")
    metric = build_metric("c_mARP")
    assert isinstance(metric, RetrievalMetric) and metric.space == "cosine"
    assert build_metric("mARP").space == "euclidean"
    assert build_metric("mARP").window(max_relevant=7, max_class=8) == 7  # the top R, as mAP_R


def ranked_labels(queries, gallery, gallery_labels, same_set, cosine):
    """Brute force, float64: each query's gallery labels in ranked order (query removed by index, stable ties)."""
    if cosine:
        queries, gallery = l2_normalise(queries), l2_normalise(gallery)
        distances = -(queries.astype(np.float64) @ gallery.T.astype(np.float64))
    else:
        distances = ((queries[:, None, :].astype(np.float64) - gallery[None]) ** 2).sum(-1)
    rankings = []
    for q, row in enumerate(distances):
        order = np.argsort(row, kind="stable")
        rankings.append(gallery_labels[order[order != q] if same_set else order])
    return rankings


def documented_marp(queries, query_labels, gallery, gallery_labels, same_set, cosine=False):
    """MAP@R as the seed documents it: precision at the hits in the top R, divided by R; R = 0 left out."""
    values = []
    for label, ranking in zip(query_labels, ranked_labels(queries, gallery, gallery_labels, same_set, cosine)):
        n_relevant = int((ranking == label).sum())
        if n_relevant == 0:
            continue
        hit = ranking[:n_relevant] == label
        values.append((np.cumsum(hit) / np.arange(1, n_relevant + 1))[hit].sum() / n_relevant)
    return np.mean(values)


def seed_code_ap(label, ranking):
    """What the seed's average_precision computes for one query: the same precision sum over the top R, divided
    by the hits there instead of R (0 without a hit)."""
    hit = ranking[:int((ranking == label).sum())] == label
    return (np.cumsum(hit) / np.arange(1, len(hit) + 1))[hit].sum() / hit.sum() if hit.any() else 0.0


def seed_code_marp(queries, query_labels, gallery, gallery_labels, same_set):
    """The seed code's mARP: seed_code_ap averaged over every query, lone ones (0) included."""
    rankings = ranked_labels(queries, gallery, gallery_labels, same_set, cosine=False)
    return np.mean([seed_code_ap(label, ranking) for label, ranking in zip(query_labels, rankings)])


@pytest.fixture(scope="module")
def grid():
    """600 points on a small integer grid (exact float32 distances, many ties) around 25 class centres, classes of
    uneven size, and two lone items (classes 25 and 26)."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 25, 600)
    y[[7, 300]] = [25, 26]
    x = rng.integers(-3, 4, size=(27, 6))[y] + rng.integers(-2, 3, size=(600, 6))
    return x.astype(np.float32), y


def test_equals_the_documented_definition_and_map_r_in_both_protocols(grid):
    x, y = grid
    for queries, query_labels, gallery, gallery_labels in ((x, y, None, None), (x[:150], y[:150], x[150:], y[150:])):
        same_set = gallery is None
        names = ["mARP", "mAP_R", "c_mARP", "c_mAP_R"]
        results = evaluate(names, queries, query_labels, gallery, gallery_labels)
        full_gallery, full_labels = (x, y) if same_set else (gallery, gallery_labels)
        expected = documented_marp(queries, query_labels, full_gallery, full_labels, same_set)
        assert 0.1 < expected < 0.9
        assert results["mARP"] == pytest.approx(expected, abs=1e-12)
        assert results["mARP"] == results["mAP_R"] and results["c_mARP"] == results["c_mAP_R"]
        assert results["c_mARP"] != results["mARP"]
        # The seed code's hits-only divisor gives a larger number on the same ranking.
        assert seed_code_marp(queries, query_labels, full_gallery, full_labels, same_set) > expected + 0.05


def test_cosine_variant_equals_the_documented_definition_on_continuous_data():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 12, 200)
    x = (rng.normal(size=(12, 8))[y] + 0.8 * rng.normal(size=(200, 8))) * rng.uniform(0.5, 4, size=(200, 1))
    x = x.astype(np.float32)
    expected = documented_marp(x, y, x, y, same_set=True, cosine=True)
    assert 0.1 < expected < 0.9
    assert evaluate(["c_mARP"], x, y)["c_mARP"] == pytest.approx(expected, abs=1e-12)


def test_seed_code_value_is_marp_over_r_precision_per_query(grid):
    # The docstring's account of the departure: per query, the seed code's value is AP@R / R-precision (0 without
    # a hit), with AP@R and R-precision our per-query values on the evaluator's own search.
    x, y = grid
    valid = np.flatnonzero(np.bincount(y)[y] > 1)
    query, rank = hit_ranks(x[valid], y[valid], x, y, int(np.bincount(y).max()) - 1, self_index=valid)
    n_relevant = np.bincount(y)[y[valid]] - 1
    ordinal = np.arange(1, len(query) + 1) - np.searchsorted(query, query)  # as evaluate() builds it
    hits = RankedHits(n_relevant, n_relevant + 1, query, rank, ordinal, int(n_relevant.max()))
    ap, r_precision = build_metric("mARP").per_query(hits), build_metric("r_precision").per_query(hits)
    rankings = ranked_labels(x, x, y, same_set=True, cosine=False)
    seed = np.array([seed_code_ap(y[q], rankings[q]) for q in valid])
    has_hit = r_precision > 0
    assert has_hit.any() and not has_hit.all()
    np.testing.assert_allclose(seed[has_hit], ap[has_hit] / r_precision[has_hit], rtol=1e-12)
    assert (seed[~has_hit] == 0).all()
