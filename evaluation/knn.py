"""Exact ranks of every query's relevant gallery items within its first `depth` neighbours: one chunked
similarity product per search, serving every retrieval metric; the ranks are counted, not found by sorting or
top-k-selecting gallery indices.

Ranking score, larger = nearer: Euclidean: 2 <q, g> - |g|^2 (= |q|^2 - |q - g|^2; the query's own norm is the
same for every gallery item and left out); inner product (cosine similarity on normalised embeddings): <q, g>.
A relevant item j of query q (same class, not q itself) has
    rank(j) = 1 + #{items with a larger score} + #{other items with an equal score and a lower gallery index}
so ties are broken by lower gallery index, also at the depth-th place; exact duplicate vectors get equal scores
and tie. In same-set search the query's own gallery item is masked out by its index, so an exact duplicate of
the query stays among its neighbours.

Per chunk of queries (see _Scorer): the [rows, G] scores, and the depth + 1 largest scores of each row, sorted.
The scores of each query's relevant items are gathered (from its class's member list); an item's rank is 1 + the
number of those top scores above its own, and the few items whose score another item shares get the count of
equal scores at lower indices from their row. Only when asked (a metric that reads its neighbours' distances),
the first n neighbours of each row are listed too: the items scoring at least the n-th largest top score, sorted
by score and index; neighbour_distances then measures them in float64. Memory: the gallery plus one reused
[rows, G] block, rows chosen so that it fits CHUNK_BYTES (on a GPU a quarter of the free memory); no [Q, G]
matrix is ever held. Scores are float32: items whose distances differ by less than float32 rounding (about 1e-7
relative) may be ordered differently from an exact computation, or from another float32 implementation such as
Faiss's.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from threadpoolctl import threadpool_limits

CHUNK_BYTES = 128 * 2**20


def search_device():
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def rows_per_chunk(n_queries, gallery_size, device):
    """Queries per chunk: as many as fit the budget, spread evenly over the chunks."""
    budget = torch.cuda.mem_get_info(device)[0] // 4 if device.type == "cuda" else CHUNK_BYTES
    most = max(1, budget // (4 * max(gallery_size, 1)))
    return -(-n_queries // -(-n_queries // most))


class ClassMembers:
    """Gallery indices of each class, to list a query's relevant items without comparing it to every label."""

    def __init__(self, gallery_labels):
        self.order = np.argsort(gallery_labels, kind="stable")
        self.classes, self.start, self.count = np.unique(gallery_labels[self.order], return_index=True,
                                                         return_counts=True)

    def padded(self, labels):
        """(members int64 [n, M], is_member bool [n, M]): row i lists the gallery items of class labels[i]
        (which must occur in the gallery), padded to the largest class M with index 0."""
        position = np.searchsorted(self.classes, labels)
        width = int(self.count[position].max())
        offsets = np.arange(width)
        is_member = offsets < self.count[position, None]
        members = self.order[np.where(is_member, self.start[position, None] + offsets, 0)]
        return members, is_member


def hit_ranks(queries, query_labels, gallery, gallery_labels, depth, self_index=None, inner_product=False,
              neighbours=0):
    """(query, rank), int64 [H] each: for every relevant gallery item ranked within the first `depth` places of a
    query's ranking, the query's position in `queries` and the item's 1-based rank; sorted by query, then rank.
    With neighbours > 0, (query, rank, first): first, int64 [Q, n], lists each query's first
    n = min(neighbours, depth) ranked gallery indices, best first, by the same ranking and tie rule.

    queries: float32 [Q, D], gallery: float32 [G, D], both C-contiguous; every query's class must occur in the
    gallery. self_index: None (query/gallery: nothing is excluded), or int64 [Q], each query's own gallery index
    (same-set: that item is neither ranked nor relevant). depth is capped at the number of candidates.
    """
    device = search_device()
    depth = min(depth, len(gallery) - (self_index is not None))
    listed = max(0, min(neighbours, depth))
    if depth <= 0 or len(queries) == 0:
        empty = np.zeros(0, np.int64), np.zeros(0, np.int64)
        return empty + (np.zeros((len(queries), listed), np.int64),) if neighbours > 0 else empty
    members = ClassMembers(gallery_labels)
    rows = rows_per_chunk(len(queries), len(gallery), device)
    keys, first = [], []
    with _Scorer(gallery, inner_product, rows, min(depth + 1, len(gallery)), device) as score:
        for start in range(0, len(queries), rows):
            stop = min(start + rows, len(queries))
            own = None if self_index is None else self_index[start:stop]
            scores, top = score(queries[start:stop], own)
            relevant, is_relevant = members.padded(query_labels[start:stop])
            if own is not None:
                is_relevant &= relevant != own[:, None]
            rank = _ranks(scores, top, torch.from_numpy(relevant).to(device),
                          torch.from_numpy(is_relevant).to(device), depth)
            row, place = torch.nonzero(rank <= depth, as_tuple=True)
            # One sortable key per hit: query position, then rank.
            keys.append(((row + start) * (depth + 1) + rank[row, place] - 1).cpu().numpy())
            if listed:
                first.append(_first_ranked(scores, top, listed).cpu().numpy())
    keys = np.sort(np.concatenate(keys))
    found = keys // (depth + 1), keys % (depth + 1) + 1
    return found + (np.concatenate(first),) if neighbours > 0 else found


def _first_ranked(scores, top, n):
    """int64 [rows, n]: each row's n best-ranked gallery indices, best first, ties to the lower index. Only items
    scoring at least the n-th largest score (from `top`, ascending) can be among them: these are ordered by
    score, then index, and the first n kept."""
    row, item = torch.nonzero(scores >= top[:, top.shape[1] - n, None], as_tuple=True)  # by row, then index
    # Two stable sorts: by score (descending; + 0.0 makes -0.0 equal to +0.0), then by row.
    order = torch.sort(scores[row, item] + 0.0, descending=True, stable=True).indices
    order = order[torch.sort(row[order], stable=True).indices]
    row, item = row[order], item[order]
    place = torch.arange(len(row), device=row.device) - torch.searchsorted(row, row)
    return item[place < n].view(-1, n)


def neighbour_distances(queries, gallery, neighbours, cosine):
    """float64 [Q, n]: the distance of queries[q] to gallery[neighbours[q, i]], computed in float64 from the
    float32 embeddings as given: Euclidean (from the differences, so near neighbours of long embeddings lose
    nothing to cancellation), or with cosine, 1 - cosine similarity (a zero embedding has similarity 0).
    queries: [Q, D], gallery: [G, D] numpy arrays; neighbours: int64 [Q, n]. Works on float64 blocks of at most
    CHUNK_BYTES, so no float64 copy of either set is made."""
    distances = np.empty(neighbours.shape)
    rows = max(1, CHUNK_BYTES // (8 * max(1, neighbours.shape[1] * queries.shape[1])))
    for start in range(0, len(queries), rows):
        block = queries[start:start + rows].astype(np.float64)
        near = gallery[neighbours[start:start + rows]].astype(np.float64)
        if cosine:
            norms = np.linalg.norm(block, axis=1)[:, None] * np.linalg.norm(near, axis=2)
            products = np.einsum("qd,qkd->qk", block, near)
            cosines = np.divide(products, norms, out=np.zeros_like(products), where=norms > 0)
            distances[start:start + rows] = 1 - cosines
        else:
            near -= block[:, None]
            distances[start:start + rows] = np.sqrt(np.einsum("qkd,qkd->qk", near, near))
    return distances


class _Scorer:
    """For a chunk of queries, (scores, top): float32 [rows, G] ranking scores against the gallery, larger =
    nearer, the query's own item (if given) at -inf; and the `count` largest of each row, ascending. A context
    manager.

    Euclidean scores come from one product of augmented vectors, [2q, -1] . [g, |g|^2] = 2 <q, g> - |g|^2, so
    that no second pass over the block is needed. The scores go into one reused buffer (a freshly allocated
    block this large costs a page fault per 4 KiB each time).
    On a GPU: torch's product and topk. On CPUs: each of torch's threads takes a share of the rows and runs a
    single-threaded numpy (OpenBLAS) product on them, then numpy's SIMD partition, a few rows at a time while
    they are in cache. OpenBLAS measured 1.3-1.5x faster than torch's MKL on the AMD CPUs here, numpy's
    partition several times faster than torch.topk or Faiss's heaps at large depth, and one thread per share
    keeps OpenBLAS's own thread pool, which spins after each call, from competing with the rest."""

    ROWS_PER_STEP = 8

    def __init__(self, gallery, inner_product, rows, count, device):
        self.inner_product = inner_product
        self.count = count
        if not inner_product:
            norms = np.einsum("nd,nd->n", gallery, gallery, dtype=np.float64).astype(np.float32)
            gallery = np.concatenate([gallery, norms[:, None]], axis=1)
        self.device = device
        if device.type == "cuda":
            self.gallery = torch.from_numpy(gallery).to(device)
            self.buffer = torch.empty(rows, len(gallery), device=device)
        else:
            self.gallery = gallery
            self.buffer = np.empty((rows, len(gallery)), dtype=np.float32)
            self.threads = max(1, torch.get_num_threads())

    def __enter__(self):
        if self.device.type != "cuda":
            self.pool = ThreadPoolExecutor(self.threads)
            self.blas_limit = threadpool_limits(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc_info):
        if self.device.type != "cuda":
            self.pool.shutdown()
            self.blas_limit.restore_original_limits()

    def __call__(self, queries, own):
        if not self.inner_product:
            queries = np.concatenate([2 * queries, np.full((len(queries), 1), -1, np.float32)], axis=1)
        if self.device.type == "cuda":
            scores = torch.mm(torch.from_numpy(queries).to(self.device), self.gallery.T,
                              out=self.buffer[: len(queries)])
            if own is not None:
                scores[torch.arange(len(own), device=self.device), torch.from_numpy(own).to(self.device)] = -np.inf
            return scores, torch.topk(scores, self.count, dim=1).values.flip(1)
        scores = self.buffer[: len(queries)]
        kth = scores.shape[1] - self.count

        def share(first, last):
            block = scores[first:last]
            np.matmul(queries[first:last], self.gallery.T, out=block)
            if own is not None:
                block[np.arange(last - first), own[first:last]] = -np.inf
            return [np.sort(np.partition(block[step:step + self.ROWS_PER_STEP], kth, axis=1)[:, kth:], axis=1)
                    for step in range(0, last - first, self.ROWS_PER_STEP)]

        bounds = np.linspace(0, len(queries), self.threads + 1).astype(int)
        tops = [top for part in self.pool.map(share, bounds[:-1], bounds[1:]) for top in part]
        return torch.from_numpy(scores), torch.from_numpy(np.concatenate(tops))


def _ranks(scores, top, relevant, is_relevant, depth):
    """int64 [rows, M]: the rank of each relevant item where it is within depth, else depth + 1. top: the
    depth + 1 largest scores of each row, ascending (every score, if there are no more): all scores above the
    depth-th largest are among them, so for items scoring at least that much the larger ones are counted
    exactly, and so are those equal to it; the extra one reveals equal scores beyond the depth-th place."""
    relevant_scores = scores.gather(1, relevant)
    at_most = torch.searchsorted(top, relevant_scores, right=True)
    rank = 1 + top.shape[1] - at_most
    threshold = top[:, top.shape[1] - depth, None]
    within = is_relevant & (relevant_scores >= threshold)
    # An item whose score others share goes after those of lower index. Within `top` the item's own score is
    # at place at_most - 1, so another equal one would be at at_most - 2.
    shared = (at_most >= 2) & (top.gather(1, (at_most - 2).clamp(min=0)) == relevant_scores)
    row, place = torch.nonzero(within & shared, as_tuple=True)
    if len(row):
        rank[row, place] += _equal_before(scores, row, relevant[row, place], relevant_scores[row, place])
    return torch.where(within, rank, depth + 1)


def _equal_before(scores, row, item, value):
    """For each (row, item, value): the items of that row scoring exactly value at a lower index than item. One
    running count per distinct (row, value), so that even a collapsed embedding (every score tied) costs only
    one pass over the scores."""
    groups, group_of = torch.unique(torch.stack([row.double(), value.double()]), dim=1, return_inverse=True)
    counts = torch.empty_like(item)
    step = max(1, 2**24 // scores.shape[1])
    for start in range(0, groups.shape[1], step):
        rows, values = groups[0, start:start + step].long(), groups[1, start:start + step].float()
        running = (scores[rows] == values[:, None]).cumsum(dim=1, dtype=torch.int32)
        pick = (group_of >= start) & (group_of < start + step)
        counts[pick] = running[group_of[pick] - start, item[pick]].long() - 1  # - 1: the item itself
    return counts
