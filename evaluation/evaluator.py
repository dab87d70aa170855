"""evaluate(): compute requested metrics on embeddings, sharing one kNN search, one k-means and one SVD per
embedding space between all metrics that need them.

Protocols:
  - same-set (gallery None): every item queries all the others; it is never its own neighbour.
  - query/gallery: each query ranks the whole gallery, nothing is excluded; clustering, dists and rho_spectrum
    use query and gallery together.
Retrieval metrics leave out queries with no relevant gallery item (same-set: classes with a single item;
query/gallery: classes absent from the gallery) and log how many. A metric that cannot be below 1 for the gallery's
size (recall@k with k not smaller than the candidates) is computed, with one warning per metric and size.

Ranked-embedding metrics (norm_auroc, ...) are served by the same search as the retrieval metrics of their space
and see exactly the same queries (the left-out ones are left out of them too, and named in the same log line), in
the same order, with those queries' embeddings exactly as passed in: in same-set evaluation the rows of the one
set, in query/gallery evaluation the query rows; not normalised, whatever the space, and not rescaled (below).
When no query has a relevant item, every retrieval and ranked-embedding metric is NaN.

Ranks, k-means assignments, cosine distances and the normalised spectrum are invariant to scaling all embeddings by
one factor, so embeddings whose entries are huge or tiny are first scaled by a power of two, which is exact in
floating point, so that float32 squared distances neither overflow nor underflow. What is not invariant is read
from the embeddings as given: the ranked-embedding metrics' query embeddings, and RankedHits.distances, which a
search metric that declares needs_distances (logl@k) gets: each query's distances to its first window() ranked
gallery items, found by the same search and measured in float64 by knn.neighbour_distances on both paths.
Non-finite embeddings are refused. The search depth is the largest window any requested retrieval or
ranked-embedding metric reads (recall k, R, class size, 1000, 1 for norm_auroc, ...), so one search per space
serves them all.

Two paths, one result: by default (device None) the embeddings are numpy arrays on the host, searched by
knn.hit_ranks and clustered by Faiss. With a torch device (--evaluate_on_gpu) they are float32 tensors there, taken
as given when they already are (embed(on_device=True)), searched by device_search.hit_ranks in blocks of at most
memory_mb and clustered by kmeans.kmeans_assign_torch; the spectrum is computed there too. Both rank by the same
scores with the same tie rule (see device_search.py for what is equal); only metrics defined on host arrays
(dists, ranked-embedding metrics, neighbour distances) get a host copy of the embeddings, after the search.
"""
import logging
import time
from collections import defaultdict

import numpy as np
import torch

from evaluation import device_search
from evaluation.device_search import DEFAULT_MEMORY_MB
from evaluation.kmeans import kmeans_assign, kmeans_assign_torch
from evaluation.knn import hit_ranks, neighbour_distances
from evaluation.spectrum import singular_values
from metrics import build_metric
from metrics.base import (SPACES, ClusteringMetric, EmbeddingMetric, RankedEmbeddingMetric, RankedHits,
                          RetrievalMetric, SearchMetric, SpectrumMetric)

logger = logging.getLogger(__name__)

# Largest and smallest entry magnitude used as is; beyond them squared distances leave float32's safe range.
_SCALE_LIMITS = (2.0**-40, 2.0**40)
_warned_saturation = set()


def evaluate(metric_names, query_embeddings, query_labels, gallery_embeddings=None, gallery_labels=None, seed=0,
             device=None, memory_mb=DEFAULT_MEMORY_MB):
    """Returns {name: float} for each requested name, in request order; seed seeds k-means. Embeddings: numpy arrays
    or tensors; device: None (the CPU path) or the torch device to search and cluster on, where memory_mb (MiB, a
    fraction allowed) caps one block of query-gallery similarities (see the module docstring)."""
    metrics = {name: build_metric(name) for name in metric_names}
    path = _HostPath() if device is None else _DevicePath(torch.device(device), int(memory_mb * 2**20))
    query_embeddings, query_labels = path.checked(query_embeddings, query_labels, "query")
    same_set = gallery_embeddings is None
    if same_set:
        if gallery_labels is not None:
            raise ValueError("gallery_labels given without gallery_embeddings.")
        gallery_embeddings, gallery_labels = query_embeddings, query_labels
    else:
        gallery_embeddings, gallery_labels = path.checked(gallery_embeddings, gallery_labels, "gallery")
        if gallery_embeddings.shape[1] != query_embeddings.shape[1]:
            raise ValueError(
                f"Query and gallery embeddings differ in size: {query_embeddings.shape[1]} vs "
                f"{gallery_embeddings.shape[1]}."
            )

    given = query_embeddings, gallery_embeddings  # what ranked-embedding metrics and distances see: not rescaled
    query_embeddings, gallery_embeddings = _rescaled(query_embeddings, None if same_set else gallery_embeddings,
                                                     path)
    if same_set:
        gallery_embeddings = query_embeddings

    results = {}
    searched = _of_kind(metrics, SearchMetric)
    if searched:
        results.update(_searched(searched, query_embeddings, query_labels, gallery_embeddings, gallery_labels,
                                 same_set, given, path))
    if len(results) < len(metrics):
        if same_set:
            embeddings, labels = query_embeddings, query_labels
        else:
            embeddings = path.concatenate([query_embeddings, gallery_embeddings])
            labels = np.concatenate([query_labels, gallery_labels])
        results.update(_clustering(_of_kind(metrics, ClusteringMetric), embeddings, labels, seed, path))
        for space, group in _by_space(_of_kind(metrics, EmbeddingMetric)).items():
            space_embeddings, cache = SPACES[space](path.host(embeddings)), {}
            results.update({name: metric.compute(space_embeddings, labels, cache) for name, metric in group.items()})
        for space, group in _by_space(_of_kind(metrics, SpectrumMetric)).items():
            values = singular_values(path.space(space, embeddings))
            results.update({name: metric.compute(values) for name, metric in group.items()})
    return {name: float(results[name]) for name in metrics}


class _HostPath:
    """The CPU path: float32 numpy arrays, knn.hit_ranks, Faiss k-means."""

    def checked(self, embeddings, labels, role):
        if isinstance(embeddings, torch.Tensor):
            embeddings = embeddings.detach().cpu().numpy()
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        labels = _checked_labels(embeddings.shape, labels, role)
        if not np.isfinite(embeddings).all():
            raise ValueError(f"The {role} embeddings contain NaN or infinite values.")
        return embeddings, labels

    @staticmethod
    def scaled(embeddings, exponent):
        return np.ldexp(embeddings, exponent).astype(np.float32)

    @staticmethod
    def space(space, embeddings):
        return SPACES[space](embeddings)

    @staticmethod
    def rows(embeddings, rows):
        return embeddings[rows]

    @staticmethod
    def concatenate(arrays):
        return np.concatenate(arrays)

    @staticmethod
    def host(embeddings):
        return embeddings

    @staticmethod
    def hit_ranks(*args, **kwargs):
        return hit_ranks(*args, **kwargs)

    @staticmethod
    def kmeans(embeddings, n_clusters, seed):
        return kmeans_assign(embeddings, n_clusters, seed=seed)


class _DevicePath:
    """--evaluate_on_gpu: float32 tensors on `device`, device_search.hit_ranks and kmeans_assign_torch with
    blocks of at most memory_bytes; host copies only for the metrics that read numpy arrays."""

    SPACES = {"euclidean": lambda embeddings: embeddings, "cosine": device_search.l2_normalise}

    def __init__(self, device, memory_bytes):
        self.device = device
        self.memory_bytes = memory_bytes

    def checked(self, embeddings, labels, role):
        embeddings = torch.as_tensor(embeddings).to(self.device, torch.float32).contiguous()
        labels = _checked_labels(tuple(embeddings.shape), labels, role)
        if not torch.isfinite(embeddings).all():
            raise ValueError(f"The {role} embeddings contain NaN or infinite values.")
        return embeddings, labels

    @staticmethod
    def scaled(embeddings, exponent):
        # The product is exact in float64 and rounded once, as np.ldexp rounds (2**exponent may overflow float32).
        return (embeddings.double() * 2.0**exponent).float()

    def space(self, space, embeddings):
        return self.SPACES[space](embeddings)

    def rows(self, embeddings, rows):
        return embeddings[torch.from_numpy(rows).to(self.device)]

    @staticmethod
    def concatenate(arrays):
        return torch.cat(arrays)

    @staticmethod
    def host(embeddings):
        return embeddings.cpu().numpy()

    def hit_ranks(self, *args, **kwargs):
        return device_search.hit_ranks(*args, memory_bytes=self.memory_bytes, **kwargs)

    def kmeans(self, embeddings, n_clusters, seed):
        return kmeans_assign_torch(embeddings, n_clusters, seed=seed, memory_bytes=self.memory_bytes)


def _of_kind(metrics, kind):
    return {name: metric for name, metric in metrics.items() if isinstance(metric, kind)}


def _by_space(metrics):
    groups = defaultdict(dict)
    for name, metric in metrics.items():
        groups[metric.space][name] = metric
    return groups


def _checked_labels(embeddings_shape, labels, role):
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if len(embeddings_shape) != 2 or labels.ndim != 1 or embeddings_shape[0] != len(labels):
        raise ValueError(
            f"Expected {role} embeddings [N, D] and labels [N], got {embeddings_shape} and {labels.shape}."
        )
    if len(labels) == 0:
        raise ValueError(f"No {role} items to evaluate.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{role} labels must be integers, got dtype {labels.dtype}.")
    return labels.astype(np.int64, copy=False)


def _rescaled(query_embeddings, gallery_embeddings, path):
    """Both arrays scaled by one power of two when their largest entry is outside _SCALE_LIMITS (see above)."""
    arrays = [a for a in (query_embeddings, gallery_embeddings) if a is not None]
    largest = max(max(float(a.max()), -float(a.min())) for a in arrays)  # no |a| copy of a large array
    if largest == 0 or _SCALE_LIMITS[0] <= largest <= _SCALE_LIMITS[1]:
        return query_embeddings, gallery_embeddings
    exponent = int(np.frexp(largest)[1])
    logger.info("Embedding entries reach %.3g: scaled by 2**%d for exact float32 distances.", largest, -exponent)
    scaled = [None if a is None else path.scaled(a, -exponent) for a in (query_embeddings, gallery_embeddings)]
    return scaled[0], scaled[1]


def _warn_saturated(metrics, candidates):
    for name, metric in metrics.items():
        if metric.saturates(candidates) and (name, candidates) not in _warned_saturation:
            _warned_saturation.add((name, candidates))
            logger.warning("%s: each query has only %d gallery candidates, so %s is 1 whatever the embedding.",
                           name, candidates, name)


def _n_relevant(query_labels, gallery_labels, same_set):
    """Gallery items sharing each query's class, the query itself not counted."""
    classes, counts = np.unique(gallery_labels, return_counts=True)
    position = np.minimum(np.searchsorted(classes, query_labels), len(classes) - 1)
    n = np.where(classes[position] == query_labels, counts[position], 0)
    return n - 1 if same_set else n


def _searched(metrics, query_embeddings, query_labels, gallery_embeddings, gallery_labels, same_set, given, path):
    """Retrieval and ranked-embedding metrics: one kNN search per space over the queries with a relevant item.
    given: the (query, gallery) embeddings as passed in, before any rescaling."""
    _warn_saturated(metrics, len(gallery_labels) - same_set)
    n_relevant = _n_relevant(query_labels, gallery_labels, same_set)
    valid = np.flatnonzero(n_relevant > 0)
    n_left_out = len(query_labels) - len(valid)
    if n_left_out:
        logger.warning(
            "%d of %d queries have no other item of their class in the gallery; they are left out of %s.",
            n_left_out, len(query_labels), ", ".join(metrics),
        )
    if len(valid) == 0:
        logger.warning("No query has a relevant gallery item; %s are NaN.", ", ".join(metrics))
        return dict.fromkeys(metrics, float("nan"))

    n_relevant = n_relevant[valid]
    n_class = n_relevant + same_set
    results = {}
    for space, group in _by_space(metrics).items():
        windows = {name: metric.window(int(n_relevant.max()), int(n_class.max())) for name, metric in group.items()}
        depth = max(windows.values())
        listed = max((windows[name] for name, metric in group.items() if metric.needs_distances), default=0)
        gallery = path.space(space, gallery_embeddings)
        queries = gallery if same_set else path.space(space, query_embeddings)
        if len(valid) < len(queries):
            queries = path.rows(queries, valid)
        started = time.perf_counter()
        # The neighbour list is asked for only when a metric reads distances.
        found = path.hit_ranks(
            queries, query_labels[valid], gallery, gallery_labels, depth,
            self_index=valid if same_set else None, inner_product=space == "cosine",
            **({"neighbours": listed} if listed else {}),
        )
        query, rank = found[:2]
        logger.debug("%s kNN search of %d queries, depth %d: %.2f s", space, len(valid), depth,
                     time.perf_counter() - started)
        distances = None
        if listed:
            # Measured on the embeddings as given, so that a rescaling does not change them (same on both paths).
            given_queries = path.host(given[0])
            distances = neighbour_distances(given_queries[valid], given_queries if same_set else path.host(given[1]),
                                            found[2], cosine=space == "cosine")
        first_of_query = np.searchsorted(query, query)  # hits come sorted by query, then rank
        hits = RankedHits(n_relevant, n_class, query, rank, np.arange(1, len(query) + 1) - first_of_query, depth,
                          distances)
        for name, metric in group.items():
            if isinstance(metric, RetrievalMetric):
                results[name] = metric.per_query(hits).mean()
            elif isinstance(metric, RankedEmbeddingMetric):
                results[name] = metric.compute(hits, _read_only(path.host(given[0]), valid), query_labels[valid])
            else:
                raise TypeError(f"{name}: a SearchMetric must be a RetrievalMetric or a RankedEmbeddingMetric.")
    return results


def _read_only(embeddings, rows):
    """The given rows, without a copy when they are all of them, as an array the metric cannot write to."""
    view = embeddings[rows] if len(rows) < len(embeddings) else embeddings.view()
    view.flags.writeable = False
    return view


def _clustering(metrics, embeddings, labels, seed, path):
    n_classes = len(np.unique(labels))
    results = {}
    for space, group in _by_space(metrics).items():
        started = time.perf_counter()
        assignment = path.kmeans(path.space(space, embeddings), n_classes, seed)
        logger.debug("%s k-means of %d points, k=%d: %.2f s", space, len(embeddings), n_classes,
                     time.perf_counter() - started)
        results.update({name: metric.compute(labels, assignment) for name, metric in group.items()})
    return results
