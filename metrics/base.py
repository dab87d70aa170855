"""Base classes of metric families and the embedding spaces they are computed in.

A metric object stands for one requested name ("e_recall@4"). It declares the `space` it is computed in and,
through its kind, which shared computation it consumes; it never runs a search or a clustering itself, so that
evaluation/ can share one kNN search / one k-means between all metrics of a space.
"""
import numpy as np

from utilities.errors import ConfigError


def l2_normalise(embeddings):
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    # A zero embedding stays zero instead of becoming NaN.
    return (embeddings / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


# "cosine" is Euclidean distance on L2-normalised embeddings: it ranks exactly like cosine similarity, since
# |a-b|^2 = 2 - 2 cos(a, b) for unit vectors, and lets one Faiss L2 code path serve both spaces.
SPACES = {
    "euclidean": lambda embeddings: embeddings,
    "cosine": l2_normalise,
}


class Metric:
    usage = None  # how to request the family, shown in error messages, e.g. "e_recall@<k>"
    space = "euclidean"
    takes_int = False  # True: the name must be base@<positive int>; False: no parameter

    def __init__(self, name, param):
        if self.takes_int and not (isinstance(param, int) and param > 0):
            raise ConfigError(f"Metric {name!r} needs a positive integer parameter: {self.usage}.")
        if not self.takes_int and param is not None:
            raise ConfigError(f"Metric {name!r} takes no parameter: {self.usage}.")
        self.name = name
        self.param = param


class RetrievalMetric(Metric):
    """Averaged over queries that have at least one relevant gallery item (n_relevant > 0)."""

    def neighbours_needed(self, max_relevant):
        """How many nearest neighbours per query this metric reads, given the largest n_relevant of any query."""
        raise NotImplementedError

    def per_query(self, hits, n_relevant):
        """hits: bool [Q, K], hits[q, j] = the (j+1)-th nearest gallery item has the query's class (K is at
        least neighbours_needed, capped at the gallery size); n_relevant: int64 [Q] = gallery items of the
        query's class (the query itself excluded). Returns float64 [Q]."""
        raise NotImplementedError


class ClusteringMetric(Metric):
    def compute(self, labels, assignment):
        """labels, assignment: int64 [N]; the assignment comes from k-means with k = number of classes."""
        raise NotImplementedError
