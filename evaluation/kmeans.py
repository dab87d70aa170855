"""Seeded Faiss k-means (GPU when Faiss sees one) shared by all clustering metrics of an embedding space.

At most N_ITER iterations: recent Faiss (1.15 here) stops once the objective no longer changes, a fixed point, so
the result is the same. All points train (no subsampling); otherwise Faiss's defaults, as in Roth et al.'s code,
so with the same seed the clusters are his. pytorch-metric-learning's default differs (25 iterations, at most
256 points per centroid).
"""
import faiss
import numpy as np

N_ITER = 20


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
