"""Metric definitions checked on tiny embedding sets worked out by hand."""
import logging

import numpy as np
import pytest

from evaluation import DEFAULT_STORAGE_METRICS, check_metric_names, default_metrics, evaluate, parse_metric_name
from evaluation.knn import hit_ranks
from metrics import build_metric
from metrics.base import RankedHits
from utilities.errors import ConfigError


def points(*xs):
    return np.array(xs, dtype=np.float32).reshape(len(xs), -1)


def ranked(hit_ranks_per_query, n_relevant, n_class=None, depth=2000):
    """RankedHits from a list of each query's hit ranks (ascending)."""
    query = np.array([q for q, ranks in enumerate(hit_ranks_per_query) for _ in ranks], dtype=np.int64)
    rank = np.array([r for ranks in hit_ranks_per_query for r in ranks], dtype=np.int64)
    ordinal = np.array([i + 1 for ranks in hit_ranks_per_query for i in range(len(ranks))], dtype=np.int64)
    n_relevant = np.array(n_relevant)
    return RankedHits(n_relevant, n_relevant + 1 if n_class is None else np.array(n_class), query, rank, ordinal,
                      depth)


RETRIEVAL = ["e_recall@1", "e_recall@2", "mAP_R", "r_precision", "mAP_c", "mAP_1000", "mAP_lim"]


def test_same_set_retrieval_metrics_by_hand(caplog):
    # index: 0  1  2  3  4   5
    # x:     0  1  3  7  15  40     (all pairwise distances differ)
    # class: 1  0  0  1  0   2      (class 2 has one item: query 5 is left out, but stays in the gallery)
    # Neighbours (query excluded), nearest first, their classes, and the ranks of the hits;
    # R = other items of the query's class, n_c = R + 1 (the class size):
    #   q0 (c1, R=1): 1,2,3,4,5 -> 0,0,1,0,2   hits at 3
    #   q1 (c0, R=2): 0,2,3,4,5 -> 1,0,1,0,2   hits at 2, 4
    #   q2 (c0, R=2): 1,0,3,4,5 -> 0,1,1,0,2   hits at 1, 4
    #   q3 (c1, R=1): 2,1,0,4,5 -> 0,0,1,0,2   hits at 3
    #   q4 (c0, R=2): 3,2,1,0,5 -> 1,0,0,1,2   hits at 2, 3
    # recall@1 = 1/5; recall@2 = 3/5 (q1, q2, q4).
    # MAP@R  (top R, / R):   0, (1/2)/2, 1/2, 0, (1/2)/2                   -> 1/5
    #   (dividing by the number of hits instead of R would give (0 + .5 + 1 + 0 + .5)/5 = 0.4)
    # R-precision:           0, 1/2, 1/2, 0, 1/2                           -> 0.3
    # mAP_c  (top n_c, / n_c): 0, (1/2)/3, 1/3, 0, (1/2 + 2/3)/3            -> (16/18)/5 = 8/45
    # mAP_1000 = mAP_lim (all ranks, / n_c): (1/3)/2, (1/2 + 2/4)/3, (1 + 2/4)/3, (1/3)/2, (1/2 + 2/3)/3
    #                                                                       -> (28/18)/5 = 14/45
    x = points(0, 1, 3, 7, 15, 40)
    y = np.array([1, 0, 0, 1, 0, 2])
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        results = evaluate(RETRIEVAL, x, y)
    expected = {"e_recall@1": 0.2, "e_recall@2": 0.6, "mAP_R": 0.2, "r_precision": 0.3, "mAP_c": 8 / 45,
                "mAP_1000": 14 / 45, "mAP_lim": 14 / 45}
    assert results == pytest.approx(expected, abs=1e-12)
    assert list(results) == RETRIEVAL
    assert "1 of 6 queries" in caplog.text


def test_query_gallery_retrieval_metrics_by_hand(caplog):
    # gallery x: 0  2  4  6          queries x (class): 0 (0), 2.2 (0), 5.8 (1), 1 (3)
    # gallery c: 0  1  0  2          nothing is excluded, so query 0 may match gallery item 0 at distance 0.
    #   q0 (c0, R=2): g0 0, g1 2, g2 4, g3 6        -> 0,1,0,2  hits at 1, 3
    #   q1 (c0, R=2): g1 .2, g2 1.8, g0 2.2, g3 3.8 -> 1,0,0,2  hits at 2, 3
    #   q2 (c1, R=1): g3 .2, g2 1.8, g1 3.8, g0 5.8 -> 2,0,1,0  hit at 3
    #   q3 (c3): class absent from the gallery -> left out, counted.
    # recall@1 = 1/3, recall@2 = 2/3, recall@4 = 1.
    # MAP@R: 1/2, (1/2)/2, 0 -> 0.25.  R-precision: 1/2, 1/2, 0 -> 1/3.
    # n_c = R here (the query is not in the gallery), so mAP_c = MAP@R = 0.25;
    # mAP_1000: (1 + 2/3)/2, (1/2 + 2/3)/2, (1/3)/1 -> (10/12 + 7/12 + 4/12)/3 = 7/12.
    gallery, gallery_labels = points(0, 2, 4, 6), np.array([0, 1, 0, 2])
    queries, query_labels = points(0, 2.2, 5.8, 1), np.array([0, 0, 1, 3])
    names = ["e_recall@1", "e_recall@2", "e_recall@4", "mAP_R", "r_precision", "mAP_c", "mAP_1000"]
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        results = evaluate(names, queries, query_labels, gallery, gallery_labels)
    expected = {"e_recall@1": 1 / 3, "e_recall@2": 2 / 3, "e_recall@4": 1.0, "mAP_R": 0.25, "r_precision": 1 / 3,
                "mAP_c": 0.25, "mAP_1000": 7 / 12}
    assert results == pytest.approx(expected, abs=1e-12)
    assert "1 of 4 queries" in caplog.text


def test_map_r_and_r_precision_divide_by_r_and_read_only_the_top_r():
    # Query 0: R = 2, hits at ranks 2 and 3; query 1: R = 2, hits at ranks 1 and 3.
    hits = ranked([[2, 3], [1, 3]], n_relevant=[2, 2])
    # MAP@R: q0: P(2) = 1/2 -> (1/2)/2 = 0.25 (hits-only AP would be 0.5); q1: P(1) = 1 -> 1/2; rank 3 > R.
    np.testing.assert_allclose(build_metric("mAP_R").per_query(hits), [0.25, 0.5])
    np.testing.assert_allclose(build_metric("r_precision").per_query(hits), [0.5, 0.5])


def test_roth_map_windows_and_divisor():
    # Query 0: R = 3, n_c = 4, hits at ranks 1, 4, 1000, 1001; query 1: R = 1, n_c = 2, hits at 1023, 1024.
    hits = ranked([[1, 4, 1000, 1001], [1023, 1024]], n_relevant=[3, 1])
    # mAP_c (window n_c, / n_c): q0: 1 + 2/4 -> 1.5/4; q1: nothing within 2 -> 0.
    np.testing.assert_allclose(build_metric("mAP_c").per_query(hits), [1.5 / 4, 0])
    # mAP_1000: rank 1000 counts, 1001 does not: q0: (1 + 2/4 + 3/1000)/4; q1: 0.
    np.testing.assert_allclose(build_metric("mAP_1000").per_query(hits), [(1.5 + 0.003) / 4, 0])
    # mAP_lim (window 1023): q0 adds 4/1001; q1: (1/1023)/2.
    np.testing.assert_allclose(build_metric("mAP_lim").per_query(hits), [(1.5 + 0.003 + 4 / 1001) / 4, 1 / 1023 / 2])
    # Recall reads the best hit only.
    np.testing.assert_allclose(build_metric("e_recall@1000").per_query(hits), [1, 0])
    np.testing.assert_allclose(build_metric("e_recall@1023").per_query(hits), [1, 1])


def test_windows_declare_the_search_depth():
    assert build_metric("e_recall@100").window(max_relevant=7, max_class=8) == 100
    assert build_metric("mAP_R").window(7, 8) == build_metric("r_precision").window(7, 8) == 7
    assert build_metric("mAP_c").window(7, 8) == 8
    assert build_metric("mAP_1000").window(7, 8) == 1000
    assert build_metric("c_mAP_lim").window(7, 8) == 1023
    assert build_metric("norm_auroc").window(7, 8) == build_metric("c_norm_auroc").window(7, 8) == 1


def test_exact_duplicates_never_count_the_query_and_tie_by_index():
    # index: 0  1  2  3
    # x:     0  0  0  5     (0, 1, 2 are exact duplicates)
    # class: 0  1  0  1
    # Ties go to the lower index, and each query drops its own index (not blindly the first result):
    #   q0: 1,2,3   q1: 0,2,3   q2: 0,1,3   q3: 0,1,2 (all at distance 5)
    # classes of the neighbours and the hit ranks (R = 1 for every query):
    #   q0 (c0): 1,0,1  hit at 2      q1 (c1): 0,0,1  hit at 3
    #   q2 (c0): 0,1,1  hit at 1      q3 (c1): 0,1,0  hit at 2
    # (dropping the first result would have kept q2 itself and lost its hit)
    x = points(0, 0, 0, 5)
    y = np.array([0, 1, 0, 1])
    query, rank = hit_ranks(x, y, x, y, 3, self_index=np.arange(4))
    np.testing.assert_array_equal(query, [0, 1, 2, 3])
    np.testing.assert_array_equal(rank, [2, 3, 1, 2])
    # recall@1 = 1/4, recall@2 = 3/4, MAP@R = 1/4.
    results = evaluate(["e_recall@1", "e_recall@2", "mAP_R"], x, y)
    assert results == pytest.approx({"e_recall@1": 0.25, "e_recall@2": 0.75, "mAP_R": 0.25}, abs=1e-12)


def test_ties_at_the_depth_boundary_keep_the_lowest_indices():
    # Six identical points, classes 0 1 0 1 0 1: every query ranks the others by index, so
    #   q0: 1 2 3 4 5 -> hits at 2, 4     q1: 0 2 3 4 5 -> 3, 5     q2: 0 1 3 4 5 -> 1, 4
    #   q3: 0 1 2 4 5 -> 2, 5             q4: 0 1 2 3 5 -> 1, 3     q5: 0 1 2 3 4 -> 2, 4
    # With depth 2 only the ranks up to 2 remain, although every item ties with the second place.
    x = points(*[1.5] * 6)
    y = np.array([0, 1, 0, 1, 0, 1])
    query, rank = hit_ranks(x, y, x, y, 5, self_index=np.arange(6))
    np.testing.assert_array_equal(query, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    np.testing.assert_array_equal(rank, [2, 4, 3, 5, 1, 4, 2, 5, 1, 3, 2, 4])
    query, rank = hit_ranks(x, y, x, y, 2, self_index=np.arange(6))
    np.testing.assert_array_equal(query, [0, 2, 3, 4, 5])
    np.testing.assert_array_equal(rank, [2, 1, 2, 1, 2])


def test_cosine_metrics_rank_by_angle():
    # index: 0 (1,0)  1 (10,0)  2 (1,1)  3 (5,5);  classes 0, 0, 1, 1.
    # Euclidean nearest: q0 -> 2 (d 1), q1 -> 3 (d 7.07 < 9), q2 -> 0 (d 1), q3 -> 2 (d 5.66): only q3 hits.
    # Cosine nearest: q0 <-> q1 and q2 <-> q3 point the same way: all hit.
    x = points((1, 0), (10, 0), (1, 1), (5, 5))
    y = np.array([0, 0, 1, 1])
    names = ["e_recall@1", "c_recall@1", "mAP_R", "c_mAP_R", "c_r_precision", "c_mAP_c", "c_mAP_1000"]
    # c_mAP_c = c_mAP_1000: each query's single hit at rank 1, divided by n_c = 2.
    expected = {"e_recall@1": 0.25, "c_recall@1": 1.0, "mAP_R": 0.25, "c_mAP_R": 1.0, "c_r_precision": 1.0,
                "c_mAP_c": 0.5, "c_mAP_1000": 0.5}
    assert evaluate(names, x, y) == pytest.approx(expected, abs=1e-12)


def test_recall_at_k_beyond_the_gallery_reads_every_candidate():
    # Three items: each query has 2 candidates; the only other class-0 item is always among them.
    x, y = points(0, 1, 9), np.array([0, 1, 0])
    # q0: 1,2 -> classes 1,0; q1 (class 1) is lone; q2: 1,0 -> classes 1,0. recall@8 = 1, recall@1 = 0.
    assert evaluate(["e_recall@8", "e_recall@1"], x, y) == {"e_recall@8": 1.0, "e_recall@1": 0.0}


def test_nmi_and_f1_by_hand():
    # Two well separated groups, k-means with k = 2 classes finds them: clusters A = {0,1,2}, B = {3,4,5}.
    # class: 0 0 1 | 1 1 1.  p(y) = (1/3, 2/3), p(c) = (1/2, 1/2), joint: (0,A) 2/6, (1,A) 1/6, (1,B) 3/6.
    # H(Y) = -(1/3 ln 1/3 + 2/3 ln 2/3) = 0.3662041 + 0.2703101 = 0.6365142;  H(C) = ln 2 = 0.6931472
    # I = 1/3 ln(2) + 1/6 ln(1/2) + 1/2 ln(3/2) = 0.2310491 - 0.1155245 + 0.2027326 = 0.3182572
    # NMI = I / ((H(Y) + H(C)) / 2) = 0.3182572 / 0.6648307 = 0.478704
    # F1: same-class pairs A = C(2,2) + C(4,2) = 7, same-cluster pairs B = 3 + 3 = 6,
    #     both TP = C(2,2) (class 0 in A) + C(3,2) (class 1 in B) = 4:  F1 = 2 TP / (A + B) = 8/13.
    x = points(0, 0.5, 1, 10, 10.5, 11)
    y = np.array([0, 0, 1, 1, 1, 1])
    assert evaluate(["nmi", "f1"], x, y) == pytest.approx({"nmi": 0.478704, "f1": 8 / 13}, abs=1e-6)


def test_cosine_clustering_groups_by_direction():
    # The same classes as above, but the groups differ in direction, not in distance: near the x axis at lengths
    # 1, 2, 9 and near the y axis at the same lengths. On the unit circle they form two tight groups, so c_nmi and
    # c_f1 see clusters {0,1,2} and {3,4,5}: the same values as above.
    x = points((1, 0.01), (2, 0), (9, -0.05), (0.01, 1), (0, 2), (-0.05, 9))
    y = np.array([0, 0, 1, 1, 1, 1])
    assert evaluate(["c_nmi", "c_f1"], x, y) == pytest.approx({"c_nmi": 0.478704, "c_f1": 8 / 13}, abs=1e-6)


def test_f1_pair_counts_edge_cases():
    f1 = build_metric("f1")
    labels = np.array([0, 0, 1, 1])
    assert f1.compute(labels, np.array([5, 5, 9, 9])) == 1.0
    # Clusters {0,2}, {1,3}: no pair shares class and cluster: TP = 0, so F1 = 0 (Roth's code gives NaN).
    assert f1.compute(labels, np.array([0, 1, 0, 1])) == 0.0
    # Every class and every cluster a singleton: no pairs at all.
    assert np.isnan(f1.compute(np.array([0, 1, 2]), np.array([0, 1, 2])))


def test_dists_by_hand():
    # class 0: (1,0), (0,1): cosine distance 1.
    # class 1: (1,1), (2,2), (-1,-1): distances 0, 2, 2 -> mean 4/3.   class 2: (3,0) alone, left out.
    # intra = (1 + 4/3) / 2 = 7/6.
    # class means point along (1,1), (1,1), (1,0): distances 0, 1 - 1/sqrt 2, 1 - 1/sqrt 2 -> inter = 0.195262.
    x = points((1, 0), (0, 1), (1, 1), (2, 2), (-1, -1), (3, 0))
    y = np.array([0, 0, 1, 1, 1, 2])
    inter = 2 * (1 - 1 / np.sqrt(2)) / 3
    results = evaluate(["dists@intra", "dists@inter", "dists@intra_over_inter"], x, y)
    assert results == pytest.approx(
        {"dists@intra": 7 / 6, "dists@inter": inter, "dists@intra_over_inter": 7 / 6 / inter}, abs=1e-6)
    # Only singleton classes: no intra distance; a single class: no inter distance.
    assert np.isnan(evaluate(["dists@intra"], x[:2], np.array([0, 1]))["dists@intra"])
    assert np.isnan(evaluate(["dists@inter"], x[:2], np.array([0, 0]))["dists@inter"])


def test_rho_spectrum_by_hand():
    # Rows diag(2, 1, 1), rotated by an orthogonal matrix: singular values (2, 1, 1), p = (1/2, 1/4, 1/4),
    # u = (1/3, 1/3, 1/3).
    # @1:  KL(u || p) = 1/3 (ln(2/3) + 2 ln(4/3)) = 0.0566330
    # @-1: KL(p || u) = 1/2 ln(3/2) + 1/2 ln(3/4) = 0.0588915
    # @2:  s = (1, 1): flat, 0.   @4: nothing left, NaN.
    rotation, _ = np.linalg.qr(np.arange(9.0).reshape(3, 3) ** 2 + np.eye(3))
    x = (np.diag([2.0, 1.0, 1.0]) @ rotation.T).astype(np.float32)
    names = ["rho_spectrum@1", "rho_spectrum@-1", "rho_spectrum@2", "rho_spectrum@4"]
    results = evaluate(names, x, np.array([0, 1, 2]))
    assert results["rho_spectrum@1"] == pytest.approx(0.0566330, abs=1e-6)
    assert results["rho_spectrum@-1"] == pytest.approx(0.0588915, abs=1e-6)
    assert results["rho_spectrum@2"] == pytest.approx(0, abs=1e-6)
    assert np.isnan(results["rho_spectrum@4"])


def test_no_query_with_a_relevant_item_gives_nan():
    results = evaluate(["e_recall@1", "mAP_R", "mAP_c"], points(0, 1, 2), np.array([0, 1, 2]))
    assert all(np.isnan(value) for value in results.values())


def test_labels_must_be_integers_and_embeddings_finite():
    with pytest.raises(TypeError, match="integers"):
        evaluate(["e_recall@1"], points(0, 1), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        evaluate(["e_recall@1"], points(0, np.nan), np.array([0, 0]))


def test_parse_metric_name():
    assert parse_metric_name("e_recall@4") == ("e_recall", 4)
    assert parse_metric_name("nmi") == ("nmi", None)
    assert parse_metric_name("mAP_R") == ("mAP_R", None)
    assert parse_metric_name("dists@intra") == ("dists", "intra")
    assert parse_metric_name("rho_spectrum@-1") == ("rho_spectrum", -1)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("recall@1", "Valid metrics: c_f1, c_logl@<k>, c_mAP_1000, c_mAP_R, c_mAP_c, c_mAP_lim, c_mARP, c_nmi, "
                     "c_norm_auroc, c_norm_recall_spearman, c_r_precision, c_recall@<k>, "
                     "dists@<intra|inter|intra_over_inter>, e_recall@<k>, f1, logl@<k>, mAP_1000, mAP_R, mAP_c, "
                     "mAP_lim, mARP, nmi, norm_auroc, norm_recall_spearman, r_precision, rho_spectrum@<nonzero int>."),
        ("@1", "Valid metrics:"),
        ("", "Valid metrics:"),
        ("e_recall", "needs a positive integer parameter: e_recall@<k>"),
        ("e_recall@0", "needs a positive integer parameter: e_recall@<k>"),
        ("e_recall@-1", "needs a positive integer parameter: e_recall@<k>"),
        ("c_recall@x", "needs a positive integer parameter: c_recall@<k>"),
        ("nmi@2", "takes no parameter: nmi"),
        ("mAP_1000@5", "takes no parameter: mAP_1000"),
        ("norm_auroc@1", "takes no parameter: norm_auroc"),
        ("dists@outer", "needs one of the parameters intra, inter, intra_over_inter"),
        ("rho_spectrum@0", "needs a nonzero integer parameter: rho_spectrum@<nonzero int>"),
        ("rho_spectrum", "needs a nonzero integer parameter"),
    ],
)
def test_check_metric_names_rejects_bad_names(name, expected):
    with pytest.raises(ConfigError) as error:
        check_metric_names(["e_recall@1", name])
    assert expected in str(error.value)
    assert repr(name) in str(error.value)


@pytest.mark.parametrize("recall_ks", [(1, 2, 4, 8), (1, 10, 100, 1000), (1, 10, 20, 30), (1, 5), (1, 4, 16, 32)])
def test_default_metrics_are_valid_and_contain_the_storage_metrics(recall_ks):
    names = default_metrics(recall_ks)
    check_metric_names(names)
    assert names[: len(recall_ks)] == [f"e_recall@{k}" for k in recall_ks]
    assert set(DEFAULT_STORAGE_METRICS) <= set(names)
    expected = {"nmi", "f1", "mAP_1000", "mAP_lim", "mAP_c", "mAP_R", "dists@intra_over_inter", "rho_spectrum@2"}
    assert expected <= set(names)
