"""Seeded Faiss k-means (GPU when Faiss sees one) shared by all clustering metrics of an embedding space.

At most N_ITER iterations: Faiss (1.10 and later) stops early once the objective no longer changes, which
leaves the result unchanged. All points train (no subsampling); Faiss's defaults otherwise, as in Roth et al.'s
code and pytorch-metric-learning's, so with the same seed the clusters are theirs.
"""
import faiss
import numpy as np

N_ITER = 20


def kmeans_assign(embeddings, n_clusters, seed=0):
    """Cluster float32 [N, D] embeddings into n_clusters; returns int64 [N], each point's nearest centroid."""
    kmeans = faiss.Kmeans(
        embeddings.shape[1],
        n_clusters,
        niter=N_ITER,
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
