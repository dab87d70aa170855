"""Base classes of metric families, the embedding spaces they are computed in, and the ranked hits they read.

A metric object stands for one requested name ("e_recall@4"). It declares the `space` it is computed in and,
through its kind, which shared computation it consumes; it never runs a search or a clustering itself, so that
evaluation/ can share one kNN search / one k-means / one SVD between all metrics of a space.
"""
from dataclasses import dataclass

import numpy as np

from utilities.errors import ConfigError


def l2_normalise(embeddings):
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    # A zero embedding stays zero instead of becoming NaN.
    return (embeddings / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


# "euclidean": the embeddings as given, ranked by Euclidean distance; "cosine": L2-normalised embeddings, ranked by
# inner product (= cosine similarity; a zero embedding has similarity 0 to everything). Clustering in the cosine
# space is Euclidean k-means on the normalised embeddings.
SPACES = {
    "euclidean": lambda embeddings: embeddings,
    "cosine": l2_normalise,
}


class Metric:
    usage = None  # how to request the family, shown in error messages, e.g. "e_recall@<k>"
    space = "euclidean"

    def __init__(self, name, param):
        problem = self.param_problem(param)
        if problem is not None:
            raise ConfigError(f"Metric {name!r} {problem}: {self.usage}.")
        self.name = name
        self.param = param

    def param_problem(self, param):
        """None if param is acceptable, else what is wrong with it. By default a family takes no parameter."""
        return None if param is None else "takes no parameter"


class PositiveIntParam:
    """Mixin for families requested as base@<positive int>."""

    def param_problem(self, param):
        return None if isinstance(param, int) and param > 0 else "needs a positive integer parameter"


@dataclass
class RankedHits:
    """Where each query's relevant gallery items ("hits") rank, for the Q queries that have at least one.

    A query's gallery is ranked by distance (ties broken by lower gallery index; in same-set evaluation the query
    itself is not in its own ranking). Only hits ranked within the first `depth` places are listed, sorted by
    query and then rank; `depth` is at least every requested metric's window (capped at the gallery size).

    `distances` is filled only when a metric of the space declares needs_distances (it costs a [Q, n] array and
    a pass over the neighbours' embeddings): row q holds query q's distances to its first n ranked gallery items,
    in rank order, n = the largest window() of those metrics capped at the candidates. They are computed in
    float64 from the embeddings exactly as handed to evaluate() (not rescaled): the Euclidean distance in the
    "euclidean" space, 1 - cosine similarity in the "cosine" space (a zero embedding has similarity 0).
    """

    n_relevant: np.ndarray  # int64 [Q]: R, the gallery items of the query's class (the query itself not counted)
    n_class: np.ndarray  # int64 [Q]: the class's items in the searched set, query included: R + 1 same-set, R
    # in query/gallery evaluation (the query is not part of the gallery)
    query: np.ndarray  # int64 [H]: which query (0..Q-1) each hit belongs to
    rank: np.ndarray  # int64 [H]: the hit's 1-based rank in its query's ranking
    ordinal: np.ndarray  # int64 [H]: 1-based position among its query's hits (hits at ranks <= rank)
    depth: int
    distances: np.ndarray = None  # float64 [Q, n], or None (see above)

    @property
    def n_queries(self):
        return len(self.n_relevant)

    def first_hit_rank(self):
        """float64 [Q]: rank of each query's best-ranked hit, inf when none is within depth."""
        first = np.full(self.n_queries, np.inf)
        is_first = self.ordinal == 1
        first[self.query[is_first]] = self.rank[is_first]
        return first

    def count_within(self, window):
        """float64 [Q]: hits at rank <= window[q] (window: int64 [Q] or an int)."""
        inside = self.rank <= np.broadcast_to(window, (self.n_queries,))[self.query]
        return np.bincount(self.query[inside], minlength=self.n_queries).astype(np.float64)

    def precision_sum_within(self, window):
        """float64 [Q]: sum of precision@rank = ordinal / rank over hits at rank <= window[q]."""
        inside = self.rank <= np.broadcast_to(window, (self.n_queries,))[self.query]
        precision = self.ordinal[inside] / self.rank[inside]
        return np.bincount(self.query[inside], weights=precision, minlength=self.n_queries)


class SearchMetric(Metric):
    """A metric that reads the RankedHits of its space. evaluation/ runs one kNN search per space for all of them,
    as deep as the largest window() requested, over the queries that have at least one relevant gallery item
    (n_relevant > 0); the others are left out (and counted in the log)."""

    # True: the metric reads RankedHits.distances, up to its window(); the search lists the neighbours only then.
    needs_distances = False

    def window(self, max_relevant, max_class):
        """How many ranks this metric reads, given the largest n_relevant and n_class of any query."""
        raise NotImplementedError

    def saturates(self, candidates):
        """True when, with this many gallery candidates per query, the metric is 1 whatever the embedding."""
        return False


class RetrievalMetric(SearchMetric):
    """Averaged over queries that have at least one relevant gallery item (n_relevant > 0)."""

    def per_query(self, hits):
        """hits: RankedHits. Returns float64 [Q]."""
        raise NotImplementedError


class RankedEmbeddingMetric(SearchMetric):
    """One number from the ranked hits and the query embeddings together, aggregated by the metric itself (not a
    mean over queries), e.g. how well a per-query certainty read off the embedding predicts retrieval success.

    It shares its space's kNN search with the retrieval metrics (declare the ranks read with window()) and sees the
    same queries: those with at least one relevant gallery item, in the same order; the others are left out.
    """

    def compute(self, hits, query_embeddings, query_labels):
        """hits: RankedHits of the metric's space, Q queries; query_embeddings: float32 [Q, D], read-only, row q the
        embedding of hits' query q as handed to evaluate(), in float32 (not normalised, not rescaled, whatever the
        space; in query/gallery evaluation the query set's); query_labels: int64 [Q]. Returns a float."""
        raise NotImplementedError


class ClusteringMetric(Metric):
    def compute(self, labels, assignment):
        """labels, assignment: int64 [N]; the assignment comes from k-means with k = number of classes."""
        raise NotImplementedError


class EmbeddingMetric(Metric):
    def compute(self, embeddings, labels, cache):
        """embeddings: float32 [N, D] in the metric's space; labels: int64 [N]; cache: a dict shared by the
        embedding metrics of one space in one evaluation, for statistics several of them use."""
        raise NotImplementedError


class SpectrumMetric(Metric):
    def compute(self, singular_values):
        """singular_values: float64 [min(N, D)], descending, of the [N, D] embedding matrix in the metric's space."""
        raise NotImplementedError
