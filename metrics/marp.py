"""mARP (mARP, c_mARP): the "mean average R-precision" that Sanakoyeu et al. ("Improving Deep Metric Learning by
Divide and Conquer", TPAMI 2021) report next to NMI and recall@k. Their code documents it as MAP@R, "mean average
R-precision at R", retrieving R neighbours per query, relevant items not retrieved counting zero: the MAP@R of
Musgrave et al. 2020. Defined as that, mARP equals mAP_R (and c_mARP c_mAP_R) for every embedding; it is registered
under the seed's name so that a run logs the column the seed's tables use.

For a query q, R = the gallery items of q's class other than q itself (same-set: its class size minus 1;
query/gallery: its class's gallery items). Rank the gallery by distance (ties to the lower gallery index; in
same-set evaluation q is not in its own ranking), let rel(i) = 1 if the item at rank i has q's class, else 0, and
P(i) = (1/i) * sum_{j<=i} rel(j). Then
    AP@R(q) = (1/R) * sum_{i=1..R} P(i) * rel(i)
and mARP is its mean over the queries with R > 0; the others (a class with a single item, or in query/gallery
evaluation a class absent from the gallery) are left out and counted in the log. mARP ranks by Euclidean distance,
c_mARP by cosine similarity.

Differences from the seed's code (github.com/CompVis/metric-learning-divide-and-conquer-improved,
metriclearning/evaluation/mean_avg_precision.py, called from metriclearning/utils.py eval_model):
  - average_precision() divides the precision sum over the top R by the number of hits in the top R, not by R,
    although its own comment says the average runs over all relevant items with the unretrieved ones at zero. Per
    query that value is AP@R(q) / R-precision(q) (0 without a hit), never below ours: R = 2 and a single hit at
    rank 2 give 1/2 there and 1/4 here. We follow the documented definition; only it penalises relevant items
    left out of the top R.
  - It averages over all queries, a query whose class has no other item scoring 0, and fails (KeyError) on a
    query whose class is absent from the gallery; here both are left out, as in every retrieval metric.
  - It takes the evaluation for same-set when the query and gallery label arrays are equal (and then subtracts the
    query from R), also in a query/gallery evaluation whose labels happen to coincide; here the protocol decides.
  - It searches with Faiss's squared-Euclidean index (ties in Faiss's order) and only in the Euclidean space; its
    models L2-normalise the embeddings, where the Euclidean and cosine rankings agree.
"""
from metrics import REGISTRY
from metrics.map_r import MAPAtR


@REGISTRY.register("mARP")
class MARP(MAPAtR):
    usage = "mARP"
    space = "euclidean"


@REGISTRY.register("c_mARP")
class CosineMARP(MAPAtR):
    usage = "c_mARP"
    space = "cosine"
