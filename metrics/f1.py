"""Clustering F1 (f1, c_f1) as in Roth et al.'s code: pair counting between the classes and the same k-means
clustering that nmi / c_nmi use (see nmi.py).

Over all unordered pairs of distinct items, let
    A  = pairs in the same class,            sum over classes y of C(n_y, 2)
    B  = pairs in the same cluster,          sum over clusters c of C(n_c, 2)
    TP = pairs in the same class and cluster, sum over (y, c) of C(n_yc, 2)
Roth's code takes precision TP / A and recall TP / B (the names swapped relative to the usual convention, which
does not change F1), so
    F1 = 2 P R / (P + R) = 2 TP / (A + B).
It is NaN only when A + B = 0 (every class and every cluster a singleton); Roth's code also gives NaN when TP = 0,
where this gives 0. Roth relabels each cluster by its point nearest to the centroid first, which does not change
the pair counts.
"""
import numpy as np

from metrics import REGISTRY
from metrics.base import ClusteringMetric


def _pairs(counts):
    counts = counts.astype(np.float64)
    return float((counts * (counts - 1) / 2).sum())


@REGISTRY.register("f1")
class F1(ClusteringMetric):
    usage = "f1"
    space = "euclidean"

    def compute(self, labels, assignment):
        _, label_ids = np.unique(labels, return_inverse=True)
        _, cluster_ids = np.unique(assignment, return_inverse=True)
        same_class = _pairs(np.bincount(label_ids))
        same_cluster = _pairs(np.bincount(cluster_ids))
        _, joint = np.unique(label_ids * (cluster_ids.max() + 1) + cluster_ids, return_counts=True)
        denominator = same_class + same_cluster
        return 2 * _pairs(joint) / denominator if denominator else float("nan")


@REGISTRY.register("c_f1")
class CosineF1(F1):
    usage = "c_f1"
    space = "cosine"
