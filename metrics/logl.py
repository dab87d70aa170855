"""kNN log-likelihood (logl@k, c_logl@k): how much probability a soft vote of a query's k nearest gallery items
gives the query's own class. The "log-likelihood" of Kirchhof et al. 2022 ("A Non-isotropic Probabilistic Take on
Proxy-based Deep Metric Learning", ECCV), whose test classes are unseen, so the predictive distribution is a
vote of the test items themselves, each neighbour weighted by exp(-distance / temperature).

For a query q whose class has at least one other item in the gallery (R > 0; the others are left out and counted
in the log, as in every retrieval metric), let N_k(q) be its k nearest gallery items (in same-set evaluation q
itself is not among them; ties broken by lower gallery index, also at the k-th place; k capped at the number of
candidates) and d(q, j) the distance to item j:
    logl@k:   the Euclidean distance between the embeddings as handed to the evaluation (never normalised, and
              not changed by evaluate()'s power-of-two rescaling of extreme embeddings), neighbours ranked by it;
    c_logl@k: 1 - the cosine similarity (a zero embedding has similarity 0), neighbours ranked by cosine.
With T = 0.1, fixed (the seed's --temp_ned default; a metric name carries only k):
    p(q)     = sum_{j in N_k(q), y_j = y_q} exp(-d(q, j) / T)  /  sum_{j in N_k(q)} exp(-d(q, j) / T)
    logl@k   = mean over those queries of log max(p(q), 1e-4)
in [log 1e-4, 0] = [-9.21, 0]: 0 when all k neighbours have q's class, log 1e-4 when none has (or when their
weight is below 1e-4 of the total). The distances are measured in float64, and each query's log-weights -d/T are
shifted by their largest before exponentiating (p does not change), so no weight overflows and the total is at
least 1: far neighbours give p -> 0, clipped to 1e-4, never 0/0. Not invariant to scaling the embeddings:
longer embeddings sharpen the vote towards the nearest neighbour.

Differences from the seed's code (github.com/ExplainableML/Probabilistic_Deep_Metric_Learning, metrics/logl.py and
the "NED confidences" in metrics/__init__.py), where it departs from the definition above:
  - k: there it is the largest k of every requested recall@k and logl@k name (logl@k's value changes with the other
    metrics asked for); here it is the metric's own k.
  - Queries whose class has no other item: averaged in with p = 0 (log 1e-4) there; left out here.
  - Weights and labels: the weights come from the Euclidean neighbours but the labels from the cosine neighbours,
    so they belong to different items unless both rankings agree; here both come from one ranking, per space.
  - Weights are exponentiated directly: every weight underflows to 0 once all k distances exceed about 745 T
    (74.5), and p is 0/0 = NaN; here they are combined in log space.
  - Under its proxyvmf losses the weights are a Monte-Carlo vMF probability product kernel with both
    concentrations fixed at 20 whatever the embedding norm; they overflow to inf, so p is inf/inf = NaN, and the
    logged mean NaN, as soon as one query has a class mate among its neighbours. It is stochastic and discards
    the norm, so it is not offered; c_logl@k is the deterministic cosine vote in its place.
  - The seed drops the first Faiss result as "the query", which keeps the query and drops another item when an
    exact duplicate has a lower index; here the query is removed by its index (see recall.py).
"""
import numpy as np

from metrics import REGISTRY
from metrics.base import PositiveIntParam, RetrievalMetric

TEMPERATURE = 0.1
FLOOR = 1e-4


class _LogLikelihood(PositiveIntParam, RetrievalMetric):
    needs_distances = True

    def window(self, max_relevant, max_class):
        return self.param

    def per_query(self, hits):
        logits = -hits.distances[:, :self.param] / TEMPERATURE  # the columns stop at the candidates
        # Shifting each row by its largest logit keeps every weight <= 1 and the total >= 1.
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        inside = hits.rank <= logits.shape[1]
        query, place = hits.query[inside], hits.rank[inside] - 1
        same = np.bincount(query, weights=weights[query, place], minlength=hits.n_queries)
        total = weights.sum(axis=1)
        # log max(same / total, FLOOR) without log(0) for a query with no hit among its k neighbours.
        return np.log(np.maximum(same, FLOOR * total) / total)


@REGISTRY.register("logl")
class LogLikelihood(_LogLikelihood):
    usage = "logl@<k>"
    space = "euclidean"


@REGISTRY.register("c_logl")
class CosineLogLikelihood(_LogLikelihood):
    usage = "c_logl@<k>"
    space = "cosine"
