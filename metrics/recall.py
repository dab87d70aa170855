"""Recall@k (e_recall@k, c_recall@k), the retrieval metric of Song et al. 2016 / Roth et al. 2020.

For a query q whose class has at least one other item in the gallery:
    recall@k(q) = 1 if any of the k nearest gallery items has q's class, else 0
and recall@k is the mean of recall@k(q) over those queries. In same-set evaluation the query itself is not among
its neighbours; in query/gallery evaluation a hit is any of the top k gallery items sharing the query's class.
If the gallery holds fewer than k candidates, all of them are read. recall@1 equals pytorch-metric-learning's
precision_at_1.

Neighbours are ranked by distance, ties broken by lower gallery index:
    e_recall@k: Euclidean distance on the embeddings as given;
    c_recall@k: cosine similarity.
Differences from Roth et al.'s code: Roth averages over all queries, counting a query whose class has no other
item as a miss (here it is left out and counted in the log), and drops the first search result as "the query",
which keeps the query and drops another item when an exact duplicate of the query has a lower index (here the
query is removed by its index).
"""
from metrics import REGISTRY
from metrics.base import PositiveIntParam, RetrievalMetric


class _Recall(PositiveIntParam, RetrievalMetric):
    def window(self, max_relevant, max_class):
        return self.param

    def saturates(self, candidates):
        return self.param >= candidates

    def per_query(self, hits):
        return (hits.first_hit_rank() <= self.param).astype("float64")


@REGISTRY.register("e_recall")
class EuclideanRecall(_Recall):
    usage = "e_recall@<k>"
    space = "euclidean"


@REGISTRY.register("c_recall")
class CosineRecall(_Recall):
    usage = "c_recall@<k>"
    space = "cosine"
