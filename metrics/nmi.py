"""Normalised mutual information (nmi) between the class labels and a k-means clustering of the embeddings.

k-means runs on the embeddings as given (Euclidean), with k = the number of classes in the evaluated split
(query and gallery together in query/gallery evaluation), Faiss k-means, 20 iterations, all points used for
training, seeded; each point is assigned to its nearest centroid. Then
    NMI(Y, C) = I(Y; C) / ((H(Y) + H(C)) / 2)
(arithmetic normalisation, natural log; sklearn's normalized_mutual_info_score default).
"""
from sklearn.metrics import normalized_mutual_info_score

from metrics import REGISTRY
from metrics.base import ClusteringMetric


@REGISTRY.register("nmi")
class NMI(ClusteringMetric):
    usage = "nmi"
    space = "euclidean"

    def compute(self, labels, assignment):
        return float(normalized_mutual_info_score(labels, assignment, average_method="arithmetic"))
