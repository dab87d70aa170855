"""Seeded k-means shared by all clustering metrics of an embedding space: Faiss's (GPU when Faiss sees one) on the
CPU path, and a torch re-implementation of it for embeddings kept on a device (--evaluate_on_gpu).

kmeans_assign (Faiss): at most N_ITER iterations: recent Faiss (1.15 here) stops once the objective no longer
changes, a fixed point, so the result is the same. All points train (no subsampling); otherwise Faiss's defaults,
as in Roth et al.'s code, so with the same seed the clusters are his. pytorch-metric-learning's default differs
(25 iterations, at most 256 points per centroid).

kmeans_assign_torch follows Faiss's Clustering::train step by step (Faiss 1.15, random initialisation):
  - the same initial centroids, bit for bit: the points perm[:k] of Faiss's own rand_perm(N, seed + 1);
  - each iteration assigns every point to its nearest centroid, then sets each centroid to the mean of its points
    (a sum times the float32 reciprocal of the count, as Faiss), and splits a large cluster for each empty one as
    Faiss's split_clusters does: the same donor draws (std::mt19937(1234), re-seeded at each call), the same
    1 +- 1/1024 perturbation, the same fallback to the largest cluster;
  - it stops at a fixed point (assignment unchanged), where further iterations would repeat it, as Faiss stops
    when its objective no longer changes; the final assignment is to the nearest final centroid.
What is not bit for bit the same: distances are float32 products with another summation order (evaluation/
device_search.py's Euclidean score, ties to the lower centroid index), and centroid sums are accumulated in
float64 and rounded once (Faiss adds in float32 in point order), so centroids agree to float32 rounding (about
1e-7 relative), not bit for bit. The assignments are therefore identical unless some point is, at some
iteration, within that rounding of equidistant to two centroids; then the two runs may part. Such ties are
rare on real embeddings, but exact duplicates make them likely: duplicates give empty clusters, and Faiss's
symmetric split leaves the points at the donor's old centroid exactly equidistant to the two new ones, so
rounding picks the winner (in about half of the random cases with a third of the points duplicated, the runs
part there). On the tests' data (separated clusters; random points with duplicates, split but not tied) the
assignments, and so nmi and f1, are exactly equal.
"""
import faiss
import numpy as np
import torch

from evaluation.device_search import DEFAULT_MEMORY_MB, nearest_neighbours

N_ITER = 20
_SPLIT_EPS = 1 / 1024  # Faiss's perturbation of a split centroid (1 +- EPS are exact in float32)
_SPLIT_SEED = 1234  # Faiss seeds its donor draws with this at every split_clusters call


def kmeans_assign(embeddings, n_clusters, seed=0, n_iter=N_ITER):
    """Cluster float32 [N, D] embeddings into n_clusters; returns int64 [N], each point's nearest centroid."""
    kmeans = faiss.Kmeans(
        embeddings.shape[1],
        n_clusters,
        niter=n_iter,
        seed=seed,
        gpu=faiss.get_num_gpus() > 0,
        # Train on every point (no subsampling) and skip Faiss's "too few points per centroid" warning, which
        # fires on benchmarks with many small classes such as SOP.
        max_points_per_centroid=1_000_000_000,
        min_points_per_centroid=1,
        verbose=False,
    )
    kmeans.train(embeddings)
    _, assignment = kmeans.index.search(embeddings, 1)
    return assignment[:, 0].astype(np.int64)


def kmeans_assign_torch(embeddings, n_clusters, seed=0, n_iter=N_ITER, memory_bytes=DEFAULT_MEMORY_MB * 2**20):
    """kmeans_assign on a float32 [N, D] tensor, computed on the tensor's device (see the module docstring for
    what equals Faiss's result); returns int64 numpy [N], each point's nearest final centroid. seed >= 0;
    memory_bytes caps one block of point-centroid distances (device_search.block_shape)."""
    n_points = len(embeddings)
    if not 1 <= n_clusters <= n_points:
        raise ValueError(f"Cannot cluster {n_points} points into {n_clusters} clusters.")

    def nearest_centroid(centroids):
        return nearest_neighbours(embeddings, centroids, 1, memory_bytes=memory_bytes)[:, 0]

    if n_points == n_clusters:  # Faiss's corner case: the points themselves are the centroids, no iteration
        return nearest_centroid(embeddings).cpu().numpy()
    permutation = np.empty(n_points, np.int32)
    faiss.rand_perm(faiss.swig_ptr(permutation), n_points, seed + 1)
    first = torch.from_numpy(permutation[:n_clusters].astype(np.int64)).to(embeddings.device)
    assignment = nearest_centroid(embeddings[first])
    for _ in range(n_iter):
        updated = nearest_centroid(_updated_centroids(embeddings, assignment, n_clusters))
        if torch.equal(updated, assignment):
            break  # a fixed point: the centroids depend on the assignment only, so every later step repeats
        assignment = updated
    return assignment.cpu().numpy()


def _updated_centroids(embeddings, assignment, n_clusters):
    """float32 [k, D]: Faiss's compute_centroids (each centroid the mean of its points) and split_clusters."""
    counts = torch.bincount(assignment, minlength=n_clusters)
    # float64 sums, rounded once: nearly independent of the (device-dependent) order of the additions.
    sums = torch.zeros(n_clusters, embeddings.shape[1], dtype=torch.float64, device=embeddings.device)
    sums.index_add_(0, assignment, embeddings.double())
    centroids = sums.float() * (1 / counts.clamp(min=1).float())[:, None]  # an empty cluster's centroid is 0
    if (counts == 0).any():
        _split_empty_clusters(centroids, counts.cpu().numpy().astype(np.float32), len(embeddings))
    return centroids


def _split_empty_clusters(centroids, cluster_sizes, n_points):
    """Faiss's split_clusters, in place: each empty cluster, in index order, takes a copy of a donor cluster's
    centroid, found by Faiss's draws (cluster j, cycling from 0, is taken when a uniform draw falls below
    (size_j - 1) / (N - k); the largest cluster after 10 k failed draws), and the two are pushed apart by a factor
    1 +- 1/1024 per coordinate; the donor's size is shared between them. A loop over the empty clusters, since each
    split changes the sizes the next draw reads."""
    n_clusters, dim = centroids.shape
    even = torch.arange(dim, device=centroids.device) % 2 == 0
    grow = torch.where(even, 1 + _SPLIT_EPS, 1 - _SPLIT_EPS)  # the new centroid's factors
    shrink = torch.where(even, 1 - _SPLIT_EPS, 1 + _SPLIT_EPS)  # the donor's
    draws = _FaissRandom(_SPLIT_SEED)
    for empty in np.flatnonzero(cluster_sizes == 0):
        # Faiss: float p = (hassign[cj] - 1.0) / (float)(n - k), the division in double.
        thresholds = ((cluster_sizes.astype(np.float64) - 1.0) / float(np.float32(n_points - n_clusters)))
        draw = draws.first_below(thresholds.astype(np.float32), 10 * n_clusters)
        donor = draw % n_clusters if draw is not None else int(np.argmax(cluster_sizes))
        centroids[empty] = centroids[donor] * grow
        centroids[donor] *= shrink
        cluster_sizes[empty] = cluster_sizes[donor] / np.float32(2)
        cluster_sizes[donor] -= cluster_sizes[empty]


class _FaissRandom:
    """The rand_float() stream of faiss::RandomGenerator(seed): each std::mt19937(seed) output u gives
    float32(u) / float32(2^32 - 1). numpy's legacy MT19937 seeding (RandomState(seed)) is std::mt19937's."""

    def __init__(self, seed):
        self._generator = np.random.MT19937()
        self._generator.state = np.random.RandomState(seed).get_state(legacy=False)
        self._pending = np.zeros(0, np.float32)  # generated, not yet consumed

    def first_below(self, thresholds, max_draws):
        """The position t of the first draw below thresholds[t % len(thresholds)] among the next max_draws draws,
        or None; consumes the draws up to t (all max_draws when there is none), as Faiss's donor search does."""
        consumed = 0
        while consumed < max_draws:
            count = min(len(thresholds), max_draws - consumed)  # one cycle over the clusters at a time
            below = np.flatnonzero(self._peek(count) < thresholds[:count])
            if len(below):
                self._pending = self._pending[below[0] + 1:]
                return consumed + int(below[0])
            self._pending = self._pending[count:]
            consumed += count
        return None

    def _peek(self, count):
        if len(self._pending) < count:
            raw = self._generator.random_raw(count - len(self._pending))
            self._pending = np.concatenate([self._pending, raw.astype(np.float32) / np.float32(2**32 - 1)])
        return self._pending[:count]
