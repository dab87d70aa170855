"""Exact k-nearest-neighbour search with Faiss, chunked over queries, with self-exclusion and index tie-breaking.

Faiss runs on the GPU when one is visible (and k fits the GPU's k-selection limit), on the CPU otherwise.
Distances are squared Euclidean as Faiss computes them (float32); items at equal distance are ordered by lower
gallery index. Faiss CPU already keeps the lower index among tied items, also at the k-th place; the explicit
re-sort makes the order within the returned k independent of the backend (on the GPU, which of several items
tied at the k-th place is kept is Faiss's choice). Exact duplicate vectors get equal distances, so they tie.
"""
import logging

import faiss
import numpy as np

logger = logging.getLogger(__name__)

GPU_MAX_K = 2048  # Faiss GPU k-selection limit
QUERY_CHUNK = 4096  # queries per search: bounds the per-chunk [queries, k] arrays built from the results
CHUNK_ELEMENTS = 2**22  # and, for large k, queries * k


def nearest_neighbours(queries, gallery, k, self_index=None):
    """Yield (start, stop, neighbours) for consecutive chunks of the queries.

    queries: float32 [Q, D], gallery: float32 [G, D], both C-contiguous. self_index: None (query/gallery: nothing
    is excluded), or int64 [Q], the gallery index of each query (same-set: that gallery item is removed from the
    query's neighbours, whatever its rank among items at distance 0). neighbours: int64 [stop - start, K] gallery
    indices, nearest first, K = min(k, number of candidates). No [Q, G] matrix is ever held.
    """
    exclude_self = self_index is not None
    k = min(k, len(gallery) - exclude_self)
    k_search = k + exclude_self
    index = _flat_index(gallery, k_search)
    chunk = max(1, min(QUERY_CHUNK, CHUNK_ELEMENTS // max(k_search, 1)))
    for start in range(0, len(queries), chunk):
        stop = min(start + chunk, len(queries))
        distances, indices = index.search(queries[start:stop], k_search)
        if exclude_self:
            distances, indices = _drop_self(distances, indices, self_index[start:stop])
        order = np.lexsort((indices, distances), axis=1)
        yield start, stop, np.take_along_axis(indices, order, axis=1).astype(np.int64, copy=False)


def _drop_self(distances, indices, self_index):
    """Remove each query's own gallery index; where it is not among the k+1 found (more than k items at
    distance 0 with lower indices), the last column goes instead, leaving the k nearest others."""
    is_self = indices == self_index[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    keep = ~is_self
    shape = (len(indices), indices.shape[1] - 1)
    return distances[keep].reshape(shape), indices[keep].reshape(shape)


def _flat_index(gallery, k):
    index = faiss.IndexFlatL2(gallery.shape[1])
    if faiss.get_num_gpus() > 0:
        if k <= GPU_MAX_K:
            index = faiss.index_cpu_to_all_gpus(index)
        else:
            logger.info("kNN with k=%d exceeds the Faiss GPU limit of %d; searching on the CPU.", k, GPU_MAX_K)
    index.add(gallery)
    return index
