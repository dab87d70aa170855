"""logl@k and c_logl@k (metrics/logl.py): hand-worked cases, an independent brute-force computation (all pairwise
distances in float64, a stable sort, weights in mpmath's arbitrary precision), the distances of the embeddings as
given, and the CPU and torch search paths giving equal values."""
import logging
import math

import mpmath
import numpy as np
import pytest
import torch

import evaluation.evaluator
from evaluation import device_search, evaluate, knn
from metrics import build_metric
from metrics.base import RankedHits
from utilities.errors import ConfigError

T = 0.1
LOG_FLOOR = math.log(1e-4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def points(*xs):
    return np.array(xs, dtype=np.float32).reshape(len(xs), -1)


def logl_of(same, other):
    """log max(p, 1e-4) for neighbours at distances `same` (of the query's class) and `other`, weights in
    arbitrary precision so that nothing underflows."""
    weight = {key: mpmath.fsum(mpmath.exp(-mpmath.mpf(d) / mpmath.mpf(T)) for d in ds)
              for key, ds in (("same", same), ("other", other))}
    return max(float(mpmath.log(weight["same"] / (weight["same"] + weight["other"]))) if len(same) else -math.inf,
               LOG_FLOOR)


def brute_force(queries, query_labels, gallery, gallery_labels, k, cosine):
    """The definition, query by query: gallery None = same-set. Distances of the float32 embeddings in float64."""
    same_set = gallery is None
    if same_set:
        gallery, gallery_labels = queries, query_labels
    q, g = queries.astype(np.float64), gallery.astype(np.float64)
    if cosine:
        def unit(a):
            norms = np.sqrt((a * a).sum(1, keepdims=True))
            return np.where(norms > 0, a / np.where(norms > 0, norms, 1), 0)
        distances = 1 - unit(q) @ unit(g).T
    else:
        distances = np.sqrt(((q[:, None] - g[None]) ** 2).sum(-1))
    values = []
    for i in range(len(q)):
        candidates = np.delete(np.arange(len(g)), i) if same_set else np.arange(len(g))
        if not (gallery_labels[candidates] == query_labels[i]).any():
            continue
        near = candidates[np.lexsort((candidates, distances[i, candidates]))][:k]  # distance, then index
        same = gallery_labels[near] == query_labels[i]
        values.append(logl_of(distances[i, near[same]], distances[i, near[~same]]))
    return float(np.mean(values))


@pytest.fixture(scope="module")
def scattered():
    """240 points in 16-d around 8 class centres, close enough for the vote at T = 0.1 to be soft, plus one lone
    item of class 8."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 8, 240)
    x = 0.12 * rng.normal(size=(8, 16))[labels] + 0.1 * rng.normal(size=(240, 16))
    labels[5] = 8
    return x.astype(np.float32), labels


def grid_points(n, dim, n_classes, seed):
    """Points on a 1/16 grid: every squared distance is exact in float32 and float64, many tie exactly, and
    neighbouring distances are close enough at T = 0.1 for a tie's members to change the vote."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    x = (rng.integers(-1, 2, size=(n, dim)) + (labels[:, None] % 2)) / 16
    return x.astype(np.float32), labels


# ---- hand-worked cases ----

def test_same_set_by_hand(caplog):
    # index: 0  1  2  3  4   5
    # x:     0  1  3  7  15  40
    # class: 1  0  0  1  0   2     (query 5 has no class mate: left out, but stays in the gallery)
    # Two nearest (distance, class), and p = same-class weight / all weight with weights exp(-d / 0.1):
    #   q0 (c1): 1 (1, c0), 2 (3, c0)  -> p = 0                              -> log 1e-4
    #   q1 (c0): 0 (1, c1), 2 (2, c0)  -> p = e^-20 / (e^-10 + e^-20) < 1e-4  -> log 1e-4
    #   q2 (c0): 1 (2, c0), 0 (3, c1)  -> p = e^-20 / (e^-20 + e^-30) = 1 / (1 + e^-10)
    #   q3 (c1): 2 (4, c0), 1 (6, c0)  -> p = 0                              -> log 1e-4
    #   q4 (c0): 3 (8, c1), 2 (12, c0) -> p = 1 / (1 + e^40)                  -> log 1e-4
    # Nearest only: only q2 is right (log 1 = 0).
    # All five candidates (k = 100 is capped at 5): only q2 keeps p above 1e-4,
    #   q2 (c0): 1 (2, c0), 0 (3), 3 (4), 4 (12, c0), 5 (37) -> p = (e^-20 + e^-120) / (e^-20 + e^-30 + e^-40 +
    #   e^-120 + e^-370)
    x = points(0, 1, 3, 7, 15, 40)
    y = np.array([1, 0, 0, 1, 0, 2])
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        results = evaluate(["logl@2", "logl@1", "logl@100", "logl@5"], x, y)
    q2_two = -math.log1p(math.exp(-10))
    e = math.exp
    q2_all = math.log((e(-20) + e(-120)) / (e(-20) + e(-30) + e(-40) + e(-120) + e(-370)))
    assert results["logl@2"] == pytest.approx((4 * LOG_FLOOR + q2_two) / 5, rel=1e-12)
    assert results["logl@1"] == pytest.approx(4 * LOG_FLOOR / 5, rel=1e-12)
    assert results["logl@100"] == results["logl@5"] == pytest.approx((4 * LOG_FLOOR + q2_all) / 5, rel=1e-12)
    assert "1 of 6 queries" in caplog.text


def test_query_gallery_by_hand(caplog):
    # Gallery: index 0 at 0 (c0), 1 at 2 (c1), 2 at 3 (c0). Queries: 1 (c0), 2.5 (c1), 9 (c5: absent from the
    # gallery, left out). Three nearest, distances and classes:
    #   q0 (c0): 0 (1, c0), 1 (1, c1), 2 (2, c0) -> p = (e^-10 + e^-20) / (2 e^-10 + e^-20)
    #   q1 (c1): 1 (0.5), 2 (0.5), 0 (2.5)       -> p = e^-5 / (2 e^-5 + e^-25)
    # Tied neighbours are all inside N_3 here; logl@1 breaks the ties by index: q0 -> 0 (c0, p = 1),
    # q1 -> 1 (c1, p = 1).
    gallery, gallery_labels = points(0, 2, 3), np.array([0, 1, 0])
    queries, query_labels = points(1, 2.5, 9), np.array([0, 1, 5])
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        results = evaluate(["logl@3", "logl@1"], queries, query_labels, gallery, gallery_labels)
    e = math.exp
    q0 = math.log((e(-10) + e(-20)) / (2 * e(-10) + e(-20)))
    q1 = math.log(e(-5) / (2 * e(-5) + e(-25)))
    assert results["logl@3"] == pytest.approx((q0 + q1) / 2, rel=1e-12)
    assert results["logl@1"] == 0
    assert "1 of 3 queries" in caplog.text


def test_ties_at_the_kth_place_go_to_the_lower_index():
    # index: 0  1  2  3        (0, 1, 2 are exact duplicates)
    # x:     0  0  0  5
    # class: 0  1  0  1
    # One nearest (ties to the lower index, the query never its own neighbour):
    #   q0 -> 1 (c1) miss, q1 -> 0 (c0) miss, q2 -> 0 (c0) hit, q3 -> 0 (c0) miss   -> (3 log 1e-4 + 0) / 4
    # Two nearest, each pair at one distance, so p = the share of the query's class:
    #   q0: 1, 2 -> 1/2    q1: 0, 2 -> 0    q2: 0, 1 -> 1/2    q3: 0, 1 -> 1/2     -> (3 log 1/2 + log 1e-4) / 4
    x = points(0, 0, 0, 5)
    y = np.array([0, 1, 0, 1])
    results = evaluate(["logl@1", "logl@2"], x, y)
    assert results["logl@1"] == pytest.approx(3 * LOG_FLOOR / 4, rel=1e-12)
    assert results["logl@2"] == pytest.approx((3 * math.log(0.5) + LOG_FLOOR) / 4, rel=1e-12)
    # Query/gallery, the query at equal distance 1 from gallery items 0 and 1: k = 1 keeps index 0 only.
    assert evaluate(["logl@1"], points(0), [7], points(1, -1), [7, 8])["logl@1"] == 0
    assert evaluate(["logl@1"], points(0), [7], points(1, -1), [8, 7])["logl@1"] == pytest.approx(LOG_FLOOR)


def test_far_neighbours_do_not_underflow():
    # Distances 100 and 100.5: exp(-d / 0.1) is 0 in float64 (the seed's 0 / 0), p = 1 / (1 + e^-5).
    value = evaluate(["logl@2"], points(0), [0], points(100, 100.5), [0, 1])["logl@2"]
    assert value == pytest.approx(-math.log1p(math.exp(-5)), rel=1e-12)


def test_cosine_variant_by_hand():
    # index: 0 (1,0) c0, 1 (10,0) c0, 2 (1,1) c1, 3 (5,5) c1. Cosine distances: 0 within a direction, 1 - 1/sqrt 2
    # across. Every query: one class mate at 0, two others at 1 - 1/sqrt 2, so
    #   c_logl@1 = 0, c_logl@3 = log(1 / (1 + 2 exp(-(1 - 1/sqrt 2) / 0.1))).
    # Euclidean nearest: q0 -> 2 (1, c1), q1 -> 3 (7.07, c1), q2 -> 0 (1, c0), q3 -> 2 (5.66, c1): one hit.
    x = points([1, 0], [10, 0], [1, 1], [5, 5])
    y = np.array([0, 0, 1, 1])
    results = evaluate(["c_logl@1", "c_logl@3", "logl@1"], x, y)
    assert results["c_logl@1"] == pytest.approx(0, abs=1e-12)
    assert results["c_logl@3"] == pytest.approx(-math.log1p(2 * math.exp(-(1 - 2**-0.5) / T)), rel=1e-9)
    assert results["logl@1"] == pytest.approx(3 * LOG_FLOOR / 4, rel=1e-12)


def test_per_query_from_ranked_hits():
    # Query 0: neighbours at 0.1, 0.2, 5 with the hit at rank 2; query 1: its only hit at rank 3 (outside k = 2);
    # query 2: hits at ranks 1 and 2. k = 5 reads the three columns there are.
    distances = np.array([[0.1, 0.2, 5.0], [0.3, 0.3, 0.3], [0.5, 0.5, 0.6]])
    hits = RankedHits(np.array([1, 1, 2]), np.array([2, 2, 3]), np.array([0, 1, 2, 2]), np.array([2, 3, 1, 2]),
                      np.array([1, 1, 1, 2]), 3, distances)
    e = math.exp
    np.testing.assert_allclose(build_metric("logl@2").per_query(hits),
                               [math.log(e(-2) / (e(-1) + e(-2))), LOG_FLOOR, 0], rtol=1e-12)
    np.testing.assert_allclose(build_metric("logl@5").per_query(hits),
                               [math.log(e(-2) / (e(-1) + e(-2) + e(-50))), math.log(1 / 3),
                                math.log(2 / (2 + e(-1)))], rtol=1e-12)


@pytest.mark.parametrize("name", ["logl", "c_logl", "logl@0", "logl@-2", "c_logl@x"])
def test_needs_a_positive_k(name):
    with pytest.raises(ConfigError, match="needs a positive integer parameter"):
        build_metric(name)


# ---- brute force ----

@pytest.mark.parametrize("k", [1, 6, 40])
def test_same_set_equals_brute_force(scattered, k):
    x, y = scattered
    results = evaluate([f"logl@{k}", f"c_logl@{k}"], x, y)
    for name, cosine in ((f"logl@{k}", False), (f"c_logl@{k}", True)):
        expected = brute_force(x, y, None, None, k, cosine)
        assert LOG_FLOOR + 0.5 < expected < -0.05  # neither all right nor all wrong
        assert results[name] == pytest.approx(expected, rel=1e-10)


def test_query_gallery_equals_brute_force(scattered):
    x, y = scattered
    queries, gallery = slice(0, 70), slice(70, None)
    y = y.copy()
    y[:3] = 9  # a class absent from the gallery: three queries left out
    results = evaluate(["logl@5", "c_logl@5"], x[queries], y[queries], x[gallery], y[gallery])
    for name, cosine in (("logl@5", False), ("c_logl@5", True)):
        expected = brute_force(x[queries], y[queries], x[gallery], y[gallery], 5, cosine)
        assert results[name] == pytest.approx(expected, rel=1e-10)


def test_mass_ties_equal_brute_force():
    # Integer coordinates: exact distances, many tied at the k-th place, so the tie rule decides N_k.
    x, y = grid_points(150, 3, 6, seed=2)
    for k in (1, 4, 15):
        assert evaluate([f"logl@{k}"], x, y)[f"logl@{k}"] == pytest.approx(brute_force(x, y, None, None, k, False),
                                                                         rel=1e-12)


def test_zero_embedding_has_cosine_distance_one():
    x = points([0, 0], [1, 0], [0, 1], [2, 0], [0, 0])
    y = np.array([0, 0, 1, 1, 2])
    expected = brute_force(x, y, None, None, 3, True)
    assert evaluate(["c_logl@3"], x, y)["c_logl@3"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("scale", [2.0**-50, 2.0**-30, 2.0**42, 2.0**60])
def test_distances_are_those_of_the_embeddings_as_given(scattered, scale):
    # Beyond 2**+-40 evaluate() rescales its working copy by a power of two; the vote must still weigh the given
    # distances: tiny embeddings give a nearly uniform vote, huge ones all weight to the nearest neighbour.
    x, y = scattered
    given = (x * np.float32(scale)).astype(np.float32)
    results = evaluate(["logl@6", "c_logl@6"], given, y)
    assert results["logl@6"] == pytest.approx(brute_force(given, y, None, None, 6, False), rel=1e-10)
    assert results["c_logl@6"] == pytest.approx(brute_force(given, y, None, None, 6, True), rel=1e-10)
    assert results["logl@6"] != pytest.approx(evaluate(["logl@6"], x, y)["logl@6"], rel=1e-3)


# ---- the search, and the two paths ----

def test_listed_neighbours_equal_a_stable_sort_on_both_paths():
    x, y = grid_points(90, 2, 4, seed=5)
    valid = np.arange(90)
    exact = ((x.astype(np.float64)[:, None] - x[None]) ** 2).sum(-1)
    exact[valid, valid] = np.inf
    expected = np.argsort(exact, axis=1, kind="stable")[:, :7]
    plain = knn.hit_ranks(x, y, x, y, 10, self_index=valid)
    cpu = knn.hit_ranks(x, y, x, y, 10, self_index=valid, neighbours=7)
    torch_path = device_search.hit_ranks(torch.from_numpy(x), y, torch.from_numpy(x), y, 10, self_index=valid,
                                         neighbours=7, memory_bytes=12 * 90 * 8)
    for query, rank, first in (cpu, torch_path):
        np.testing.assert_array_equal(first, expected)
        np.testing.assert_array_equal(query, plain[0])
        np.testing.assert_array_equal(rank, plain[1])
    # Capped at the depth, which is capped at the candidates.
    assert knn.hit_ranks(x[:5], y[:5], x[:5], y[:5], 9, self_index=valid[:5], neighbours=9)[2].shape == (5, 4)


NAMES = ["logl@1", "logl@6", "c_logl@6", "e_recall@1", "mAP_R", "norm_auroc"]


@pytest.mark.parametrize("memory_mb", [12 * 239 * 16 / 2**20, 1024])  # 16 queries per block, or all
def test_torch_path_equals_the_cpu_path(scattered, memory_mb):
    x, y = scattered
    assert evaluate(NAMES, torch.from_numpy(x), y, device="cpu", memory_mb=memory_mb) == evaluate(NAMES, x, y)
    queries, gallery = slice(0, 70), slice(70, None)
    assert (evaluate(NAMES, torch.from_numpy(x[queries]), y[queries], torch.from_numpy(x[gallery]), y[gallery],
                     device="cpu", memory_mb=memory_mb)
            == evaluate(NAMES, x[queries], y[queries], x[gallery], y[gallery]))
    huge = x * np.float32(2.0**60)
    assert evaluate(NAMES, torch.from_numpy(huge), y, device="cpu", memory_mb=memory_mb) == evaluate(NAMES, huge, y)


def test_one_search_per_space_lists_neighbours_only_when_asked(scattered, monkeypatch):
    x, y = scattered
    searches = []
    search = evaluation.evaluator.hit_ranks

    def recorded(*args, **kwargs):
        searches.append((kwargs["inner_product"], args[4], kwargs.get("neighbours")))
        return search(*args, **kwargs)

    monkeypatch.setattr(evaluation.evaluator, "hit_ranks", recorded)
    depth = int(np.bincount(y).max()) - 1
    results = evaluate(["logl@3", "e_recall@1", "mAP_R", "c_recall@2"], x, y)
    assert sorted(searches) == [(False, depth, 3), (True, 2, None)]
    searches.clear()
    others = evaluate(["e_recall@1", "mAP_R", "c_recall@2"], x, y)
    assert searches == [(False, depth, None), (True, 2, None)]
    assert others == {name: results[name] for name in others}
    # logl@k's k is its own: deeper searches for other metrics do not change it.
    assert evaluate(["logl@3", "e_recall@50", "logl@9"], x, y)["logl@3"] == results["logl@3"]
