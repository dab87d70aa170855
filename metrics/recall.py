"""Recall@k (e_recall@k, c_recall@k), the retrieval metric of Song et al. 2016 / Roth et al. 2020.

For a query q whose class has at least one other item in the gallery:
    recall@k(q) = 1 if any of the k nearest gallery items has q's class, else 0
and recall@k is the mean of recall@k(q) over those queries (queries without such an item are left out and
counted by evaluation/). In same-set evaluation the query itself is not among its neighbours. If the gallery
holds fewer than k candidates, all of them are read. recall@1 equals pytorch-metric-learning's precision_at_1.

Neighbours are ranked by distance, ties broken by lower gallery index:
    e_recall@k: Euclidean distance on the embeddings as given;
    c_recall@k: cosine similarity, i.e. Euclidean distance on L2-normalised embeddings.
"""
from metrics import REGISTRY
from metrics.base import RetrievalMetric


class _Recall(RetrievalMetric):
    takes_int = True

    def neighbours_needed(self, max_relevant):
        return self.param

    def per_query(self, hits, n_relevant):
        return hits[:, : self.param].any(axis=1).astype("float64")


@REGISTRY.register("e_recall")
class EuclideanRecall(_Recall):
    usage = "e_recall@<k>"
    space = "euclidean"


@REGISTRY.register("c_recall")
class CosineRecall(_Recall):
    usage = "c_recall@<k>"
    space = "cosine"
