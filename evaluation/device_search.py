"""Nearest-neighbour search in torch on any device: the --evaluate_on_gpu path of evaluate().

With --evaluate_on_gpu in a run on CUDA, embed(on_device=True) keeps the embeddings on the GPU and
evaluate(..., device=...) ranks them here and clusters them with kmeans.kmeans_assign_torch, with no copy to the
host before the search. The CPU path (knn.hit_ranks, Faiss k-means) is the reference; this module gives the same
neighbours by the same rules. It runs on the CPU as well, which is how the tests compare the two paths.

Ranking score, larger = nearer, as in knn.py: Euclidean: 2 <q, g> - |g|^2, one product of augmented vectors
[2q, -1] . [g, |g|^2] with |g|^2 summed in float64 and stored in float32; inner product (cosine similarity on
normalised embeddings): <q, g>. float32 throughout, the products at full float32 precision (TF32 is switched off
around them, since its 10-bit mantissa would reorder near neighbours).

Tie rule: equal scores rank by lower gallery index, knn.py's rule (-0.0 and +0.0 are equal). torch.topk's own
order among equal values is undefined, so selection runs on one int64 key per (query, gallery item): the score's
float32 bits mapped to an int32 of the same order, times 2^32, plus 2^32 - 1 - the gallery index. Keys are
distinct, a larger key means a larger score or an equal score at a lower index, so every top-k has a single answer
and the top-k of gallery blocks merge exactly.

Self-exclusion (same-set search): each query's own gallery item (self_index) scores -inf and at most G - 1
neighbours are asked for, so the item is never returned, while an exact duplicate of the query at another index
is, as in knn.py.

Memory: queries x gallery go in blocks of rows x cols with rows * cols * BYTES_PER_ENTRY <= memory_bytes (the
float32 scores and their int64 keys): whole gallery rows, as many as fit, when one fits; else one query at a time
against gallery blocks, each block's top k merged into the running top k. Besides the blocks: the gallery (with
one extra column for Euclidean scores) and, per query block, its top-k keys.

Equality with the CPU path: same scores formula, same tie rule, same self-exclusion, so the same neighbours and
hit ranks, hence the same metrics, whenever both compute the same float32 scores. Both round the products in
float32, but with different summation orders (cuBLAS or MKL here, OpenBLAS there), so two items whose scores
differ by about 1e-7 relative may come out in either order; exact scores, e.g. small integer coordinates, give
identical results including mass ties. Block shapes may change a product's summation order the same way, and in
the cosine space numpy's and torch's norms may differ in the last bit. Faiss's flat search agrees on random data,
but its inner-product search does not order exact ties by index; the rule here is knn.py's, which is defined.
"""
import logging
from contextlib import contextmanager

import numpy as np
import torch

logger = logging.getLogger(__name__)

BYTES_PER_ENTRY = 12  # one float32 score and its int64 selection key
DEFAULT_MEMORY_MB = 1024  # --eval_memory_mb's default
_INDEX_SPAN = 2**32  # keys hold the reversed gallery index in their low 32 bits


def evaluation_device(requested, run_device):
    """The device evaluate() should search on: run_device when requested (--evaluate_on_gpu) and it is a CUDA
    device, else None (the CPU path), with one warning when requested in vain."""
    if not requested:
        return None
    if run_device is not None and torch.device(run_device).type == "cuda" and torch.cuda.is_available():
        return torch.device(run_device)
    logger.warning("--evaluate_on_gpu needs a run on a CUDA device (this one runs on %s); evaluating on the CPU.",
                   run_device or "the CPU")
    return None


def block_shape(n_queries, gallery_size, memory_bytes):
    """(rows, cols): queries and gallery items per block, rows * cols * BYTES_PER_ENTRY <= memory_bytes (at least
    one entry): whole gallery rows, as many as fit, when one fits; else one query against as many items as fit."""
    entries = max(1, memory_bytes // BYTES_PER_ENTRY)
    cols = min(gallery_size, entries)
    return max(1, min(n_queries, entries // cols)), cols


def l2_normalise(embeddings):
    """metrics.base.l2_normalise on a tensor: each row divided by max(its norm, 1e-12); a zero row stays zero."""
    return embeddings / torch.linalg.vector_norm(embeddings, dim=1, keepdim=True).clamp(min=1e-12)


def nearest_neighbours(queries, gallery, k, inner_product=False, self_index=None,
                       memory_bytes=DEFAULT_MEMORY_MB * 2**20):
    """int64 [Q, k] on the gallery's device: each query's k best-ranked gallery indices, best first (see the
    module docstring for the ranking, the tie rule and the blocks).

    queries: float32 [Q, D], gallery: float32 [G, D], tensors on one device. self_index: None, or int64 [Q], each
    query's own gallery index, never returned. k: 1 to the number of candidates (G, or G - 1 with self_index).
    """
    return torch.cat([neighbours for _, neighbours in
                      _ranked_blocks(queries, gallery, k, inner_product, self_index, memory_bytes)])


def hit_ranks(queries, query_labels, gallery, gallery_labels, depth, self_index=None, inner_product=False,
              neighbours=0, memory_bytes=DEFAULT_MEMORY_MB * 2**20):
    """knn.hit_ranks on tensors: (query, rank), int64 numpy [H] each, for every relevant gallery item ranked within
    the first `depth` places of a query's ranking; sorted by query, then rank. With neighbours > 0,
    (query, rank, first): first, int64 numpy [Q, min(neighbours, depth)], each query's first ranked gallery
    indices, best first (the neighbours the search found anyway).

    queries: float32 [Q, D], gallery: float32 [G, D], tensors on one device; labels: int64 numpy [Q] and [G];
    self_index: None (query/gallery) or int64 numpy [Q] (same-set: each query's own gallery index, neither ranked
    nor relevant). depth is capped at the number of candidates.
    """
    depth = min(depth, len(gallery) - (self_index is not None))
    listed = max(0, min(neighbours, depth))
    if depth <= 0 or len(queries) == 0:
        empty = np.zeros(0, np.int64), np.zeros(0, np.int64)
        return empty + (np.zeros((len(queries), listed), np.int64),) if neighbours > 0 else empty
    device = gallery.device
    query_labels = torch.from_numpy(query_labels).to(device)
    gallery_labels = torch.from_numpy(gallery_labels).to(device)
    own = None if self_index is None else torch.from_numpy(self_index).to(device)
    hit_queries, ranks, first = [], [], []
    for start, ranked in _ranked_blocks(queries, gallery, depth, inner_product, own, memory_bytes):
        is_hit = gallery_labels[ranked] == query_labels[start:start + len(ranked), None]
        row, place = torch.nonzero(is_hit, as_tuple=True)  # row-major: sorted by query, then rank
        hit_queries.append(row + start)
        ranks.append(place + 1)
        first.append(ranked[:, :listed])
    found = torch.cat(hit_queries).cpu().numpy(), torch.cat(ranks).cpu().numpy()
    return found + (torch.cat(first).cpu().numpy(),) if neighbours > 0 else found


def _ranked_blocks(queries, gallery, k, inner_product, self_index, memory_bytes):
    """Yields (start, neighbours int64 [rows, k]) for consecutive blocks of queries, starting at query `start`."""
    candidates = len(gallery) - (self_index is not None)
    if not 1 <= k <= candidates:
        raise ValueError(f"k must be between 1 and the {candidates} candidates, got {k}.")
    rows, cols = block_shape(len(queries), len(gallery), memory_bytes)
    targets = gallery if inner_product else torch.cat([gallery, _squared_norms(gallery)[:, None]], dim=1)
    for start in range(0, len(queries), rows):
        probes = queries[start:start + rows]
        if not inner_product:
            probes = torch.cat([2 * probes, probes.new_full((len(probes), 1), -1.0)], dim=1)
        own = None if self_index is None else self_index[start:start + rows]
        best = None  # the best keys so far of each query, unsorted
        for first in range(0, len(gallery), cols):
            keys = _block_keys(probes, targets[first:first + cols], first, own)
            block_best = keys.topk(min(k, keys.shape[1]), dim=1, sorted=False).values
            del keys  # free the block before the merge
            if best is not None:
                block_best = torch.cat([best, block_best], dim=1)
                block_best = block_best.topk(min(k, block_best.shape[1]), dim=1, sorted=False).values
            best = block_best
        ordered = best.sort(dim=1, descending=True).values
        yield start, (_INDEX_SPAN - 1) - (ordered & (_INDEX_SPAN - 1))


def _squared_norms(gallery):
    """float32 [G]: |g|^2 summed in float64, as knn.py does, so that both paths score with the same norms."""
    return gallery.double().square_().sum(dim=1).float()


def _block_keys(probes, targets, first, own):
    """int64 [rows, cols] selection keys of one block: gallery items first .. first + cols - 1."""
    with _ieee_float32_matmul():
        scores = probes @ targets.T
    if own is not None:
        local = own - first
        row = torch.nonzero((local >= 0) & (local < len(targets))).squeeze(1)
        scores[row, local[row]] = -np.inf
    return _selection_keys(scores, first)


def _selection_keys(scores, first):
    """int64 [rows, cols]: the selection key (module docstring) of each float32 score of gallery items first ..
    first + cols - 1; a larger key is a larger score, or an equal score at a lower index. Overwrites scores."""
    scores.add_(0.0)  # -0.0 + 0.0 = +0.0: the two zeros must get one key
    bits = scores.view(torch.int32)
    # Non-negative floats order like their bit patterns as int32; negative ones the reverse way, so their 31 low
    # bits are flipped (the arithmetic shift gives -1 on negative values, 0 on the others).
    flip = bits >> 31
    flip &= 0x7FFFFFFF
    bits ^= flip
    del flip
    keys = bits.to(torch.int64)
    del scores, bits  # the float32 block; peak memory is the scores plus the keys
    keys *= _INDEX_SPAN
    keys += (_INDEX_SPAN - 1) - torch.arange(first, first + keys.shape[1], device=keys.device)
    return keys


@contextmanager
def _ieee_float32_matmul():
    """Full float32 matrix products on CUDA (no TF32) and on the CPU (no bf16), whatever the process has set."""
    backends = (torch.backends.cuda.matmul, torch.backends.mkldnn.matmul)
    previous = [backend.fp32_precision for backend in backends]
    for backend in backends:
        backend.fp32_precision = "ieee"
    try:
        yield
    finally:
        for backend, precision in zip(backends, previous):
            backend.fp32_precision = precision
