"""Metric definitions checked on tiny embedding sets worked out by hand."""
import logging

import numpy as np
import pytest

from evaluation import check_metric_names, evaluate, parse_metric_name
from evaluation.knn import nearest_neighbours
from metrics import build_metric
from utilities.errors import ConfigError


def points(*xs):
    return np.array(xs, dtype=np.float32).reshape(len(xs), -1)


def test_same_set_recall_and_map_r_by_hand(caplog):
    # index: 0  1  2  3  4   5
    # x:     0  1  3  7  15  40     (all pairwise distances differ)
    # class: 1  0  0  1  0   2      (class 2 has one item: query 5 is left out, but stays in the gallery)
    # Neighbours (query excluded), nearest first, with their classes; R = other items of the query's class:
    #   q0 (c1, R=1): 1,2,3,4,5 -> 0,0,1,0,2   r@1 0  r@2 0  AP@R: top 1 = [0]          -> 0
    #   q1 (c0, R=2): 0,2,3,4,5 -> 1,0,1,0,2   r@1 0  r@2 1  AP@R: top 2 = [0,1] -> (1/2)/2 = 0.25
    #   q2 (c0, R=2): 1,0,3,4,5 -> 0,1,1,0,2   r@1 1  r@2 1  AP@R: top 2 = [1,0] -> (1/1)/2 = 0.5
    #   q3 (c1, R=1): 2,1,0,4,5 -> 0,0,1,0,2   r@1 0  r@2 0  AP@R: top 1 = [0]          -> 0
    #   q4 (c0, R=2): 3,2,1,0,5 -> 1,0,0,1,2   r@1 0  r@2 1  AP@R: top 2 = [0,1] -> (1/2)/2 = 0.25
    # recall@1 = 1/5 = 0.2, recall@2 = 3/5 = 0.6, MAP@R = (0 + .25 + .5 + 0 + .25)/5 = 0.2.
    # Dividing by the number of hits instead of R would give (0 + .5 + 1 + 0 + .5)/5 = 0.4.
    x = points(0, 1, 3, 7, 15, 40)
    y = np.array([1, 0, 0, 1, 0, 2])
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        results = evaluate(["e_recall@1", "e_recall@2", "mAP_R"], x, y)
    assert results == pytest.approx({"e_recall@1": 0.2, "e_recall@2": 0.6, "mAP_R": 0.2}, abs=1e-12)
    assert list(results) == ["e_recall@1", "e_recall@2", "mAP_R"]
    assert "1 of 6 queries" in caplog.text


def test_map_r_divides_by_r_and_reads_only_the_top_r():
    metric = build_metric("mAP_R")
    hits = np.array([[False, True, True], [True, False, True]])
    n_relevant = np.array([2, 2])
    # Row 0: ranks 1..2 = [miss, hit]: P(2) = 1/2, AP@R = (1/2)/R = 0.25 (hits-only AP would be 0.5).
    # Row 1: ranks 1..2 = [hit, miss]: P(1) = 1, AP@R = 1/2 = 0.5; the hit at rank 3 > R does not count.
    np.testing.assert_allclose(metric.per_query(hits, n_relevant), [0.25, 0.5])


def test_exact_duplicates_never_count_the_query_and_tie_by_index():
    # index: 0  1  2  3
    # x:     0  0  0  5     (0, 1, 2 are exact duplicates)
    # class: 0  1  0  1
    # Ties go to the lower index, and each query drops its own index (not blindly the first column):
    #   q0: 1,2,3   q1: 0,2,3   q2: 0,1,3   q3: 0,1,2 (all at distance 5)
    x = points(0, 0, 0, 5)
    y = np.array([0, 1, 0, 1])
    [(_, _, neighbours)] = nearest_neighbours(x, x, 3, self_index=np.arange(4))
    np.testing.assert_array_equal(neighbours, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    # classes of the neighbours:      r@1 r@2  AP@R (R=1 for every query)
    #   q0 (c0): 1,0,1                 0   1    0
    #   q1 (c1): 0,0,1                 0   0    0
    #   q2 (c0): 0,1,1                 1   1    1   (dropping column 0 would have kept q2 itself)
    #   q3 (c1): 0,1,0                 0   1    0
    # recall@1 = 1/4, recall@2 = 3/4, MAP@R = 1/4.
    results = evaluate(["e_recall@1", "e_recall@2", "mAP_R"], x, y)
    assert results == pytest.approx({"e_recall@1": 0.25, "e_recall@2": 0.75, "mAP_R": 0.25}, abs=1e-12)


def test_more_duplicates_than_k_keeps_the_lowest_other_indices():
    # Six identical points, k = 2: the search for k+1 = 3 returns 0,1,2 for every query, so queries 3..5 do
    # not find themselves and lose the last column instead.
    x = points(*[1.5] * 6)
    [(_, _, neighbours)] = nearest_neighbours(x, x, 2, self_index=np.arange(6))
    np.testing.assert_array_equal(neighbours, [[1, 2], [0, 2], [0, 1], [0, 1], [0, 1], [0, 1]])


def test_duplicates_tie_by_index_in_batched_search():
    # Enough queries for Faiss's BLAS code path: 3 groups of 15 duplicates, interleaved.
    base = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    x = np.tile(base, (15, 1))
    [(_, _, neighbours)] = nearest_neighbours(x, x, 14, self_index=np.arange(45))
    for query in range(45):
        expected = [i for i in range(query % 3, 45, 3) if i != query]
        np.testing.assert_array_equal(neighbours[query], expected)


def test_query_gallery_recall_and_map_r_by_hand(caplog):
    # gallery x: 0  2  4  6          queries x (class): 0 (0), 2.2 (0), 5.8 (1), 1 (3)
    # gallery c: 0  1  0  2          nothing is excluded, so query 0 may match gallery item 0 at distance 0.
    #   q0 (c0, R=2): g0 0, g1 2, g2 4, g3 6        -> 0,1,0,2  r@1 1 r@2 1 r@4 1  AP@R [1,0] -> 1/2 = 0.5
    #   q1 (c0, R=2): g1 .2, g2 1.8, g0 2.2, g3 3.8 -> 1,0,0,2  r@1 0 r@2 1 r@4 1  AP@R [0,1] -> (1/2)/2 = .25
    #   q2 (c1, R=1): g3 .2, g2 1.8, g1 3.8, g0 5.8 -> 2,0,1,0  r@1 0 r@2 0 r@4 1  AP@R [0]   -> 0
    #   q3 (c3): class absent from the gallery -> left out, counted.
    # recall@1 = 1/3, recall@2 = 2/3, recall@4 = 1, MAP@R = 0.75/3 = 0.25.
    gallery, gallery_labels = points(0, 2, 4, 6), np.array([0, 1, 0, 2])
    queries, query_labels = points(0, 2.2, 5.8, 1), np.array([0, 0, 1, 3])
    names = ["e_recall@1", "e_recall@2", "e_recall@4", "mAP_R"]
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        results = evaluate(names, queries, query_labels, gallery, gallery_labels)
    assert results == pytest.approx(
        {"e_recall@1": 1 / 3, "e_recall@2": 2 / 3, "e_recall@4": 1.0, "mAP_R": 0.25}, abs=1e-12
    )
    assert "1 of 4 queries" in caplog.text


def test_cosine_recall_ranks_by_angle():
    # index: 0 (1,0)  1 (10,0)  2 (1,1)  3 (5,5);  classes 0, 0, 1, 1.
    # Euclidean nearest: q0 -> 2 (d 1), q1 -> 3 (d 7.07 < 9), q2 -> 0 (d 1), q3 -> 2 (d 5.66): only q3 hits.
    # Cosine nearest: q0 <-> q1 and q2 <-> q3 point the same way: all hit.
    x = points((1, 0), (10, 0), (1, 1), (5, 5))
    y = np.array([0, 0, 1, 1])
    assert evaluate(["e_recall@1", "c_recall@1"], x, y) == {"e_recall@1": 0.25, "c_recall@1": 1.0}


def test_recall_at_k_beyond_the_gallery_reads_every_candidate():
    # Three items: each query has 2 candidates; the only other class-0 item is always among them.
    x, y = points(0, 1, 9), np.array([0, 1, 0])
    # q0: 1,2 -> classes 1,0; q1 (class 1) is lone; q2: 1,0 -> classes 1,0. recall@8 = 1, recall@1 = 0.
    assert evaluate(["e_recall@8", "e_recall@1"], x, y) == {"e_recall@8": 1.0, "e_recall@1": 0.0}


def test_nmi_by_hand():
    # Two well separated groups, k-means with k = 2 classes finds them: clusters A = {0,1,2}, B = {3,4,5}.
    # class: 0 0 1 | 1 1 1.  p(y) = (1/3, 2/3), p(c) = (1/2, 1/2), joint: (0,A) 2/6, (1,A) 1/6, (1,B) 3/6.
    # H(Y) = -(1/3 ln 1/3 + 2/3 ln 2/3) = 0.3662041 + 0.2703101 = 0.6365142;  H(C) = ln 2 = 0.6931472
    # I = 1/3 ln(2) + 1/6 ln(1/2) + 1/2 ln(3/2) = 0.2310491 - 0.1155245 + 0.2027326 = 0.3182572
    # NMI = I / ((H(Y) + H(C)) / 2) = 0.3182572 / 0.6648307 = 0.478704
    x = points(0, 0.5, 1, 10, 10.5, 11)
    y = np.array([0, 0, 1, 1, 1, 1])
    assert evaluate(["nmi"], x, y)["nmi"] == pytest.approx(0.478704, abs=1e-6)


def test_no_query_with_a_relevant_item_gives_nan():
    results = evaluate(["e_recall@1", "mAP_R"], points(0, 1, 2), np.array([0, 1, 2]))
    assert all(np.isnan(value) for value in results.values())


def test_labels_must_be_integers():
    with pytest.raises(TypeError, match="integers"):
        evaluate(["e_recall@1"], points(0, 1), np.array([0.0, 1.0]))


def test_parse_metric_name():
    assert parse_metric_name("e_recall@4") == ("e_recall", 4)
    assert parse_metric_name("nmi") == ("nmi", None)
    assert parse_metric_name("mAP_R") == ("mAP_R", None)
    assert parse_metric_name("dists@intra") == ("dists", "intra")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("recall@1", "Valid metrics: c_recall@<k>, e_recall@<k>, mAP_R, nmi."),
        ("@1", "Valid metrics:"),
        ("", "Valid metrics:"),
        ("e_recall", "needs a positive integer parameter: e_recall@<k>"),
        ("e_recall@0", "needs a positive integer parameter: e_recall@<k>"),
        ("c_recall@x", "needs a positive integer parameter: c_recall@<k>"),
        ("nmi@2", "takes no parameter: nmi"),
    ],
)
def test_check_metric_names_rejects_bad_names(name, expected):
    with pytest.raises(ConfigError) as error:
        check_metric_names(["e_recall@1", name])
    assert expected in str(error.value)
    assert repr(name) in str(error.value)


def test_check_metric_names_accepts_valid_names():
    check_metric_names(["e_recall@1", "c_recall@16", "nmi", "mAP_R"])
