"""evaluate(): compute requested metrics on embeddings, sharing one kNN search / one k-means per embedding space.

Protocols:
  - same-set (gallery None): every item queries all the others; it is never its own neighbour.
  - query/gallery: each query ranks the whole gallery, nothing is excluded; clustering metrics use the union.
Retrieval metrics leave out queries with no relevant gallery item (same-set: classes with a single item;
query/gallery: classes absent from the gallery) and log how many.
"""
import logging
from collections import defaultdict

import numpy as np

from evaluation.kmeans import kmeans_assign
from evaluation.knn import nearest_neighbours
from metrics import build_metric
from metrics.base import SPACES, ClusteringMetric, RetrievalMetric

logger = logging.getLogger(__name__)


def evaluate(metric_names, query_embeddings, query_labels, gallery_embeddings=None, gallery_labels=None, seed=0):
    """Returns {name: value} for each requested name, in request order; seed seeds k-means."""
    metrics = {name: build_metric(name) for name in metric_names}
    query_embeddings, query_labels = _checked(query_embeddings, query_labels, "query")
    same_set = gallery_embeddings is None
    if same_set:
        if gallery_labels is not None:
            raise ValueError("gallery_labels given without gallery_embeddings.")
        gallery_embeddings, gallery_labels = query_embeddings, query_labels
    else:
        gallery_embeddings, gallery_labels = _checked(gallery_embeddings, gallery_labels, "gallery")
        if gallery_embeddings.shape[1] != query_embeddings.shape[1]:
            raise ValueError(
                f"Query and gallery embeddings differ in size: {query_embeddings.shape[1]} vs "
                f"{gallery_embeddings.shape[1]}."
            )

    results = {}
    retrieval = {name: m for name, m in metrics.items() if isinstance(m, RetrievalMetric)}
    clustering = {name: m for name, m in metrics.items() if isinstance(m, ClusteringMetric)}
    if retrieval:
        results.update(
            _retrieval(retrieval, query_embeddings, query_labels, gallery_embeddings, gallery_labels, same_set)
        )
    if clustering:
        if same_set:
            embeddings, labels = query_embeddings, query_labels
        else:
            embeddings = np.concatenate([query_embeddings, gallery_embeddings])
            labels = np.concatenate([query_labels, gallery_labels])
        results.update(_clustering(clustering, embeddings, labels, seed))
    return {name: results[name] for name in metrics}


def _checked(embeddings, labels, role):
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    if embeddings.ndim != 2 or labels.ndim != 1 or len(embeddings) != len(labels):
        raise ValueError(
            f"Expected {role} embeddings [N, D] and labels [N], got {embeddings.shape} and {labels.shape}."
        )
    if len(labels) == 0:
        raise ValueError(f"No {role} items to evaluate.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{role} labels must be integers, got dtype {labels.dtype}.")
    return embeddings, labels.astype(np.int64, copy=False)


def _n_relevant(query_labels, gallery_labels, same_set):
    """Gallery items sharing each query's class, the query itself not counted."""
    classes, counts = np.unique(gallery_labels, return_counts=True)
    position = np.minimum(np.searchsorted(classes, query_labels), len(classes) - 1)
    n = np.where(classes[position] == query_labels, counts[position], 0)
    return n - 1 if same_set else n


def _retrieval(metrics, query_embeddings, query_labels, gallery_embeddings, gallery_labels, same_set):
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

    max_relevant = int(n_relevant[valid].max())
    sums = dict.fromkeys(metrics, 0.0)
    by_space = defaultdict(dict)
    for name, metric in metrics.items():
        by_space[metric.space][name] = metric
    for space, group in by_space.items():
        gallery = SPACES[space](gallery_embeddings)
        queries = gallery[valid] if same_set else SPACES[space](query_embeddings)[valid]
        k = max(metric.neighbours_needed(max_relevant) for metric in group.values())
        neighbour_chunks = nearest_neighbours(queries, gallery, k, self_index=valid if same_set else None)
        for start, stop, neighbours in neighbour_chunks:
            rows = valid[start:stop]
            hits = gallery_labels[neighbours] == query_labels[rows, None]
            for name, metric in group.items():
                sums[name] += float(metric.per_query(hits, n_relevant[rows]).sum())
    return {name: total / len(valid) for name, total in sums.items()}


def _clustering(metrics, embeddings, labels, seed):
    n_classes = len(np.unique(labels))
    results = {}
    by_space = defaultdict(dict)
    for name, metric in metrics.items():
        by_space[metric.space][name] = metric
    for space, group in by_space.items():
        assignment = kmeans_assign(SPACES[space](embeddings), n_classes, seed=seed)
        for name, metric in group.items():
            results[name] = metric.compute(labels, assignment)
    return results
