"""MAP@R (mAP_R, c_mAP_R) and R-precision (r_precision, c_r_precision), Musgrave et al. 2020, "A Metric Learning
Reality Check".

For a query q, let R = the number of gallery items of q's class other than q itself. Rank the gallery by
distance (ties broken by lower gallery index; in same-set evaluation q is not in its own ranking), and let
rel(i) = 1 if the item at rank i has q's class, else 0, and P(i) = (1/i) * sum_{j<=i} rel(j). Then
    AP@R(q)          = (1/R) * sum_{i=1..R} P(i) * rel(i)
    R-precision(q)   = (1/R) * sum_{i=1..R} rel(i)
AP@R divides by R, not by the number of hits in the top R: a query whose top R holds a single relevant item at
rank 2 scores (1/2)/R, not 1/2. MAP@R and R-precision are the means over queries with R > 0 (queries with R = 0
are left out and counted in the log). They equal pytorch-metric-learning's mean_average_precision_at_r and
r_precision. The plain names rank by Euclidean distance, the c_ names by cosine similarity.
"""
from metrics import REGISTRY
from metrics.base import RetrievalMetric


class _WithinR(RetrievalMetric):
    def window(self, max_relevant, max_class):
        return max_relevant


@REGISTRY.register("mAP_R")
class MAPAtR(_WithinR):
    usage = "mAP_R"
    space = "euclidean"

    def per_query(self, hits):
        return hits.precision_sum_within(hits.n_relevant) / hits.n_relevant


@REGISTRY.register("c_mAP_R")
class CosineMAPAtR(MAPAtR):
    usage = "c_mAP_R"
    space = "cosine"


@REGISTRY.register("r_precision")
class RPrecision(_WithinR):
    usage = "r_precision"
    space = "euclidean"

    def per_query(self, hits):
        return hits.count_within(hits.n_relevant) / hits.n_relevant


@REGISTRY.register("c_r_precision")
class CosineRPrecision(RPrecision):
    usage = "c_r_precision"
    space = "cosine"
