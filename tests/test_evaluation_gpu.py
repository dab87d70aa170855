"""The --evaluate_on_gpu path (evaluation/device_search.py, kmeans.kmeans_assign_torch), run here on the CPU,
against the CPU path (knn.hit_ranks, Faiss), Faiss's own search and k-means, and hand-made ties."""
import logging
from types import SimpleNamespace

import faiss
import numpy as np
import pytest
import torch

import evaluation
import evaluation.kmeans as kmeans
from evaluation import device_search, embed, evaluate, knn
from evaluation.device_search import BYTES_PER_ENTRY, block_shape, hit_ranks, nearest_neighbours
from metrics.base import l2_normalise
from utilities.run_evaluation import SplitEvaluation

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def grid_points(n, dim, n_classes, seed):
    """Points on a 1/8 grid, shifted per class: every score is exact in float32 whatever the summation order,
    and many tie exactly."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    points = (rng.integers(-12, 13, size=(n, dim)) + 6 * (labels[:, None] % 3)) / 8
    return points.astype(np.float32), labels


@pytest.fixture(scope="module")
def scattered():
    """240 points in 16-d around 8 class centres, plus one lone item of class 8 (a query with no relevant item)."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 8, 240)
    points = rng.normal(size=(8, 16))[labels] + 0.9 * rng.normal(size=(240, 16))
    labels[5] = 8
    return points.astype(np.float32), labels


def exact_scores(queries, gallery, inner_product):
    """float64 [Q, G]: the ranking scores, larger = nearer, without rounding on the tests' data."""
    queries, gallery = queries.astype(np.float64), gallery.astype(np.float64)
    return queries @ gallery.T if inner_product else -((queries[:, None] - gallery[None]) ** 2).sum(-1)


def stable_ranking(queries, gallery, inner_product, self_index=None):
    """int64 [Q, G]: every query's gallery order by the exact score, ties by lower index (a stable sort), the
    query's own item (self_index) last."""
    scores = exact_scores(queries, gallery, inner_product)
    if self_index is not None:
        scores[np.arange(len(queries)), self_index] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")


def faiss_ranking(queries, gallery, k, inner_product):
    index = faiss.IndexFlatIP(gallery.shape[1]) if inner_product else faiss.IndexFlatL2(gallery.shape[1])
    index.add(gallery)
    return index.search(queries, k)[1]


def smallest_relative_gap(queries, gallery, inner_product):
    """The smallest difference between two scores of one query, relative to the largest score: far above float32
    rounding (1e-7) means that no two float32 implementations can order the gallery differently."""
    scores = np.sort(exact_scores(queries, gallery, inner_product), axis=1)
    return (np.diff(scores, axis=1) / np.abs(scores).max()).min()


# ---- block sizes ----

@pytest.mark.parametrize("n_queries, gallery_size, memory_bytes", [
    (300, 300, 2**20), (300, 300, 12 * 300 * 7 + 11), (300, 300, 12 * 299), (40, 1000, 12 * 5), (5, 8, 1),
    (10, 10, 10**9)])
def test_block_shape_is_the_largest_block_under_the_cap(n_queries, gallery_size, memory_bytes):
    rows, cols = block_shape(n_queries, gallery_size, memory_bytes)
    assert 1 <= rows <= n_queries and 1 <= cols <= gallery_size
    assert rows * cols * BYTES_PER_ENTRY <= max(memory_bytes, BYTES_PER_ENTRY)  # at least one entry per block
    if cols < gallery_size:  # a row does not fit: one query, as many items as fit
        assert rows == 1 and (cols + 1) * BYTES_PER_ENTRY > memory_bytes
    else:
        assert rows == n_queries or (rows + 1) * cols * BYTES_PER_ENTRY > memory_bytes


def test_search_blocks_stay_under_the_cap(monkeypatch):
    points, _ = grid_points(50, 6, 4, seed=0)
    points = torch.from_numpy(points)
    shapes = []
    block_keys = device_search._block_keys

    def recorded(probes, targets, first, own):
        shapes.append((len(probes), len(targets)))
        return block_keys(probes, targets, first, own)

    monkeypatch.setattr(device_search, "_block_keys", recorded)
    for memory_bytes, expected_shape in ((12 * 7, (1, 7)), (12 * 50 * 3 + 5, (3, 50))):
        shapes.clear()
        nearest_neighbours(points, points, 49, self_index=torch.arange(50), memory_bytes=memory_bytes)
        assert max(rows * cols for rows, cols in shapes) * BYTES_PER_ENTRY <= memory_bytes
        assert shapes[0] == expected_shape
        row_blocks, col_blocks = -(-50 // expected_shape[0]), -(-50 // expected_shape[1])
        assert len(shapes) == row_blocks * col_blocks  # a 7-item block is less than one query row's need


# ---- neighbours and hit ranks ----

@pytest.mark.parametrize("memory_bytes", [12 * 11, 12 * 48 * 3, 2**30])  # 5 blocks per query row, 3 rows, all
@pytest.mark.parametrize("inner_product", [False, True])
def test_neighbours_equal_faiss_on_random_data(memory_bytes, inner_product):
    rng = np.random.default_rng(24)
    queries, gallery = rng.normal(size=(2, 48, 8)).astype(np.float32)
    assert smallest_relative_gap(queries, gallery, inner_product) > 5e-6
    for k in (1, 10, 48):
        ours = nearest_neighbours(torch.from_numpy(queries), torch.from_numpy(gallery), k,
                                  inner_product=inner_product, memory_bytes=memory_bytes)
        assert ours.dtype == torch.int64 and ours.shape == (48, k)
        np.testing.assert_array_equal(ours.numpy(), faiss_ranking(queries, gallery, k, inner_product))


@pytest.mark.parametrize("memory_bytes", [12 * 17, 12 * 80 * 4, 2**30])  # 5 blocks per query row, 4 rows, all
@pytest.mark.parametrize("inner_product", [False, True])
def test_neighbours_follow_the_stable_ranking_through_mass_ties(memory_bytes, inner_product):
    # On the grid every score is exact and many tie, also across block borders: the order must be the exact
    # one with ties by lower index, for any k up to the number of candidates.
    points, _ = grid_points(80, 4, 3, seed=1)
    tensor = torch.from_numpy(points)
    expected = stable_ranking(points, points, inner_product, self_index=np.arange(80))
    top = np.take_along_axis(exact_scores(points, points, inner_product), expected[:, :14], axis=1)
    assert (np.diff(top, axis=1) == 0).sum() > 20  # ties to break, within the first 13 places
    for k in (1, 13, 79):
        ours = nearest_neighbours(tensor, tensor, k, inner_product=inner_product, self_index=torch.arange(80),
                                  memory_bytes=memory_bytes)
        np.testing.assert_array_equal(ours.numpy(), expected[:, :k])
    # query/gallery: no exclusion, k up to the whole gallery
    ours = nearest_neighbours(tensor[:30], tensor[30:], 50, inner_product=inner_product, memory_bytes=memory_bytes)
    np.testing.assert_array_equal(ours.numpy(), stable_ranking(points[:30], points[30:], inner_product))


def test_exact_ties_by_hand():
    gallery = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [0.0, 2.0]])
    # Distances from the origin 2, 1, 1, 1, 1, 2: the four at 1 by index, then the two at 2.
    origin = torch.zeros(1, 2)
    assert nearest_neighbours(origin, gallery, 6).tolist() == [[1, 2, 3, 4, 0, 5]]
    # Inner products with (1, 1): 2, 1, 1, -1, -1, 2; with (0, -1): 0, -1, 0, 1, 0, -2.
    assert nearest_neighbours(torch.tensor([[1.0, 1.0]]), gallery, 6, inner_product=True).tolist() == [
        [0, 5, 1, 2, 3, 4]]
    assert nearest_neighbours(torch.tensor([[0.0, -1.0]]), gallery, 6, inner_product=True).tolist() == [
        [3, 0, 2, 4, 1, 5]]
    # Cut inside a run of ties, the lower indices are kept, also when the gallery comes in 1-item blocks.
    assert nearest_neighbours(origin, gallery, 2, memory_bytes=BYTES_PER_ENTRY).tolist() == [[1, 2]]
    # The CPU path ranks the same: the relevant items 2 and 3 of the origin's class come at ranks 2 and 3.
    labels = np.array([0, 0, 1, 1, 0, 0])
    expected = knn.hit_ranks(origin.numpy(), np.array([1]), gallery.numpy(), labels, 3)
    ours = hit_ranks(origin, np.array([1]), gallery, labels, 3)
    for a, b in zip(ours, expected):
        np.testing.assert_array_equal(a, b)
    assert ours[1].tolist() == [2, 3]


def test_keys_order_scores_then_lower_index():
    # Signed zeros (which some BLAS kernels return), subnormals, negative scores and the excluded item's -inf.
    scores = torch.tensor([[-0.0, 0.0, 1.5, -1.5, -0.0, -np.inf, 3e-45, -3e-45, 2.0, 1.5]])
    keys = device_search._selection_keys(scores.clone(), 100)
    assert torch.argsort(keys, dim=1, descending=True).tolist() == [[8, 2, 9, 6, 0, 1, 4, 7, 3, 5]]
    assert ((2**32 - 1) - (keys & (2**32 - 1))).tolist() == [list(range(100, 110))]  # the gallery index


def test_own_item_is_excluded_by_index_not_its_duplicate():
    gallery = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 0.0], [1.0, 0.0]])  # items 0 and 2 coincide
    own = torch.arange(4)
    neighbours = nearest_neighbours(gallery, gallery, 3, self_index=own)
    assert neighbours.tolist() == [[2, 3, 1], [3, 0, 2], [0, 3, 1], [0, 2, 1]]
    assert not (neighbours == own[:, None]).any()
    with pytest.raises(ValueError, match="between 1 and the 3 candidates"):
        nearest_neighbours(gallery, gallery, 4, self_index=own)
    labels = np.array([0, 1, 0, 1])
    expected = knn.hit_ranks(gallery.numpy(), labels, gallery.numpy(), labels, 3, self_index=np.arange(4))
    ours = hit_ranks(gallery, labels, gallery, labels, 3, self_index=np.arange(4))
    for a, b in zip(ours, expected):
        np.testing.assert_array_equal(a, b)
    assert ours[0].tolist() == [0, 1, 2, 3] and ours[1].tolist() == [1, 1, 1, 3]  # never itself


@pytest.mark.parametrize("memory_bytes", [12 * 100, 12 * 300 * 5, 2**30])
def test_hit_ranks_equal_the_cpu_path(scattered, memory_bytes):
    grid, grid_labels = grid_points(300, 6, 3, seed=2)  # mass ties, deep windows cut inside runs of ties
    x, y = scattered
    cases = [(grid, grid_labels, None, None, 150, False), (x, y, None, None, 40, False),
             (x, y, None, None, 40, True), (x[:60], y[:60], x[60:], y[60:], 240, False),
             (x[:60], y[:60], x[60:], y[60:], 20, True)]
    for queries, query_labels, gallery, gallery_labels, depth, cosine in cases:
        same_set = gallery is None
        if same_set:
            gallery, gallery_labels = queries, query_labels
            valid = np.flatnonzero(np.bincount(query_labels)[query_labels] > 1)
        else:
            valid = np.flatnonzero(np.isin(query_labels, gallery_labels))
        self_index = valid if same_set else None
        # Each path normalises with its own function (numpy's and torch's norms may differ in the last bit).
        host = l2_normalise if cosine else (lambda embeddings: embeddings)
        on_device = device_search.l2_normalise if cosine else (lambda embeddings: embeddings)
        expected = knn.hit_ranks(host(queries)[valid], query_labels[valid], host(gallery), gallery_labels, depth,
                                 self_index=self_index, inner_product=cosine)
        ours = hit_ranks(on_device(torch.from_numpy(queries))[valid], query_labels[valid],
                         on_device(torch.from_numpy(gallery)), gallery_labels, depth, self_index=self_index,
                         inner_product=cosine, memory_bytes=memory_bytes)
        assert len(expected[0]) > 50
        for a, b in zip(ours, expected):
            np.testing.assert_array_equal(a, b)


def test_search_runs_at_full_float32_precision_and_restores_the_setting(monkeypatch):
    matmul = torch.backends.cuda.matmul
    seen = []
    block_keys = device_search._block_keys

    def recorded(*args):
        seen.append(matmul.fp32_precision)
        with device_search._ieee_float32_matmul():
            seen.append(matmul.fp32_precision)
        return block_keys(*args)

    monkeypatch.setattr(device_search, "_block_keys", recorded)
    previous = matmul.fp32_precision  # a torch backend flag, which monkeypatch cannot set
    matmul.fp32_precision = "tf32"
    try:
        nearest_neighbours(torch.ones(2, 3), torch.ones(4, 3), 2)
        assert seen == ["tf32", "ieee"] and matmul.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision = previous


# ---- k-means ----

def test_kmeans_equals_faiss_on_separated_clusters(scattered):
    x, y = scattered
    for seed in (0, 1, 1234):
        expected = kmeans.kmeans_assign(x, 9, seed=seed)
        np.testing.assert_array_equal(kmeans.kmeans_assign_torch(torch.from_numpy(x), 9, seed=seed), expected)
    np.testing.assert_array_equal(kmeans.kmeans_assign_torch(torch.from_numpy(x), 9, seed=4, memory_bytes=12 * 5),
                                  kmeans.kmeans_assign(x, 9, seed=4))
    # Faiss's corner case: as many clusters as points.
    np.testing.assert_array_equal(kmeans.kmeans_assign_torch(torch.from_numpy(x[:12]), 12), np.arange(12))


def test_kmeans_splits_empty_clusters_as_faiss(monkeypatch):
    # Duplicated points give duplicated initial centroids, hence empty clusters that Faiss re-seeds by splitting.
    rng = np.random.default_rng(1)
    points = rng.normal(size=(80, 16)).astype(np.float32)
    points = np.concatenate([points, points[:40]])
    splits = []
    split = kmeans._split_empty_clusters

    def counted(centroids, cluster_sizes, n_points):
        splits.append(int((cluster_sizes == 0).sum()))
        split(centroids, cluster_sizes, n_points)

    monkeypatch.setattr(kmeans, "_split_empty_clusters", counted)
    for seed in range(3):
        np.testing.assert_array_equal(kmeans.kmeans_assign_torch(torch.from_numpy(points), 40, seed=seed),
                                      kmeans.kmeans_assign(points, 40, seed=seed))
    assert sum(splits) >= 10
    # One iteration from the same start: the same donors and perturbations as Faiss's split_clusters.
    faiss_kmeans = faiss.Kmeans(16, 40, niter=1, seed=0, max_points_per_centroid=10**9, min_points_per_centroid=1)
    faiss_kmeans.train(points)
    tensor = torch.from_numpy(points)
    permutation = np.empty(len(points), np.int32)
    faiss.rand_perm(faiss.swig_ptr(permutation), len(points), 1)
    start = tensor[torch.from_numpy(permutation[:40].astype(np.int64))]
    splits.clear()
    centroids = kmeans._updated_centroids(tensor, nearest_neighbours(tensor, start, 1)[:, 0], 40)
    assert splits and splits[0] > 1
    np.testing.assert_allclose(centroids.numpy(), faiss_kmeans.centroids, rtol=1e-6, atol=1e-6)


def test_split_draws_are_faiss_random_generator_draws():
    generator = faiss.RandomGenerator(1234)
    expected = np.array([generator.rand_float() for _ in range(3000)], np.float32)
    draws = kmeans._FaissRandom(1234)
    np.testing.assert_array_equal(draws._peek(3000), expected)
    # Faiss's donor search: cycle over the thresholds, one draw each, until one falls below.
    thresholds = np.array([0.01, 0.02, 0.0], np.float32)
    consumed = 0
    for _ in range(3):
        t = draws.first_below(thresholds, 3000 - consumed)
        below = np.flatnonzero(expected[consumed:] < np.resize(thresholds, 3000 - consumed))
        assert t == below[0]
        consumed += t + 1
    assert draws.first_below(np.zeros(3, np.float32), 5) is None
    np.testing.assert_array_equal(draws._peek(1), expected[consumed + 5:consumed + 6])


# ---- metrics and wiring ----

NAMES = ["e_recall@1", "e_recall@2", "e_recall@8", "mAP_R", "r_precision", "mAP_c", "mAP_1000", "c_recall@1",
         "c_mAP_R", "nmi", "c_nmi", "f1", "dists@intra", "dists@inter", "rho_spectrum@1", "norm_auroc"]


@pytest.mark.parametrize("memory_mb", [12 * 239 * 16 / 2**20, 1024])  # 16 queries per block, or all
def test_metrics_equal_the_cpu_path(scattered, memory_mb, caplog):
    x, y = scattered
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        expected = evaluate(NAMES, x, y, seed=5)
        ours = evaluate(NAMES, torch.from_numpy(x), y, seed=5, device="cpu", memory_mb=memory_mb)
    assert ours == expected
    assert caplog.text.count("1 of 240 queries have no other item of their class") == 2
    assert 0.3 < expected["mAP_R"] < 0.95 and 0.3 < expected["nmi"] < 0.99
    queries, gallery = slice(0, 70), slice(70, None)
    expected = evaluate(NAMES, x[queries], y[queries], x[gallery], y[gallery], seed=5)
    ours = evaluate(NAMES, torch.from_numpy(x[queries]), y[queries], torch.from_numpy(x[gallery]), y[gallery],
                    seed=5, device="cpu", memory_mb=memory_mb)
    assert ours == expected


def test_rescaled_embeddings_give_the_same_metrics(scattered):
    # Entries beyond 2**40 are scaled by a power of two on both paths.
    x, y = scattered
    names = ["e_recall@1", "mAP_R", "c_recall@1", "nmi", "norm_auroc"]
    huge = x * np.float32(2.0**60)
    assert evaluate(names, torch.from_numpy(huge), y, device="cpu") == evaluate(names, huge, y)


class LinearModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, images):
        return {"embeds": self.linear(images.flatten(1))}


def test_embed_on_device_returns_tensors_in_dataset_order():
    torch.manual_seed(0)
    model = LinearModel()
    images, labels = torch.randn(9, 3, 1), torch.arange(9) % 2
    order = np.random.default_rng(1).permutation(9)
    loader = [(images[batch], labels[batch], torch.as_tensor(batch), 0) for batch in np.array_split(order, 3)]
    outputs, out_labels = embed(model, loader, "cpu", on_device=True)
    on_host, host_labels = embed(model, loader, "cpu")
    embeddings = outputs["embeds"]
    assert isinstance(embeddings, torch.Tensor) and embeddings.dtype == torch.float32 and embeddings.is_contiguous()
    assert isinstance(out_labels, np.ndarray) and out_labels.dtype == np.int64
    np.testing.assert_array_equal(out_labels, labels.numpy())
    np.testing.assert_array_equal(embeddings.numpy(), on_host["embeds"])
    with torch.no_grad():
        np.testing.assert_array_equal(embeddings.numpy(), model.linear(images.flatten(1)).numpy())


def split_evaluation(x, y, evaluate_on_gpu, device=None):
    opt = SimpleNamespace(evaluate_on_gpu=evaluate_on_gpu, eval_memory_mb=1, no_train_metrics=True,
                          evaltypes=["embeds"], evaluation_metrics=["e_recall@1", "mAP_R", "nmi"], seed=0)
    data = SimpleNamespace(evaluation={"test": SimpleNamespace(query="test", gallery=None)}, selection_key="test")
    calls = []

    def embed_split(part, **options):
        calls.append(options)
        embeddings = torch.from_numpy(x) if options.get("on_device") else x
        return {"embeds": embeddings}, y

    evaluator = SplitEvaluation(opt, data, embed_split, SimpleNamespace(log=lambda *args: None), device)
    return evaluator, calls


def check_finite(what, embeddings):
    assert torch.isfinite(torch.as_tensor(embeddings)).all(), what


def test_flag_without_cuda_warns_once_and_evaluates_on_the_cpu(scattered, caplog):
    x, y = scattered
    expected = split_evaluation(x, y, False)[0].evaluate(0, check_finite)
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        evaluator, calls = split_evaluation(x, y, True, device=CPU)
        results = [evaluator.evaluate(epoch, check_finite) for epoch in (0, 1)]
    assert caplog.text.count("--evaluate_on_gpu needs a run on a CUDA device") == 1
    assert evaluator.device is None and calls == [{}, {}]
    assert results == [expected, expected]


def test_flag_on_a_device_keeps_the_embeddings_there(scattered, monkeypatch):
    # What a CUDA run does, on the CPU: embed_split is asked for tensors and evaluate() searches on the device.
    x, y = scattered
    expected = split_evaluation(x, y, False)[0].evaluate(0, check_finite)
    monkeypatch.setattr(evaluation, "evaluation_device", lambda requested, device: CPU if requested else None)
    searched = []
    search = device_search.hit_ranks

    def recorded(*args, **kwargs):
        searched.append(kwargs)
        return search(*args, **kwargs)

    monkeypatch.setattr(device_search, "hit_ranks", recorded)
    evaluator, calls = split_evaluation(x, y, True, device=CPU)
    assert evaluator.evaluate(0, check_finite) == expected
    assert calls == [{"on_device": True}] and searched[0]["memory_bytes"] == 2**20
