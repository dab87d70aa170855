"""MAP@R (mAP_R), as defined by Musgrave et al. 2020, "A Metric Learning Reality Check", Euclidean distance.

For a query q, let R = the number of gallery items of q's class other than q itself. Rank the gallery by
distance (ties broken by lower gallery index; q itself is not in its own ranking), and let rel(i) = 1 if the
item at rank i has q's class, else 0, and P(i) = (1/i) * sum_{j<=i} rel(j). Then
    AP@R(q) = (1/R) * sum_{i=1..R} P(i) * rel(i)
dividing by R, not by the number of hits in the top R: a query whose top R holds a single relevant item at
rank 2 scores (1/2)/R, not 1/2. MAP@R is the mean of AP@R(q) over queries with R > 0 (queries with R = 0 are
left out and counted by evaluation/). It equals pytorch-metric-learning's mean_average_precision_at_r.
"""
import numpy as np

from metrics import REGISTRY
from metrics.base import RetrievalMetric


@REGISTRY.register("mAP_R")
class MAPAtR(RetrievalMetric):
    usage = "mAP_R"
    space = "euclidean"

    def neighbours_needed(self, max_relevant):
        return max_relevant

    def per_query(self, hits, n_relevant):
        ranks = np.arange(1, hits.shape[1] + 1)
        # Only the first R ranks of each query count; K is shared with other metrics and may exceed R.
        rel = hits & (ranks <= n_relevant[:, None])
        precision = np.cumsum(rel, axis=1) / ranks
        return (precision * rel).sum(axis=1) / n_relevant
