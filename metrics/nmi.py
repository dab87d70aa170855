"""Normalised mutual information (nmi, c_nmi) between the class labels and a k-means clustering of the embeddings.

k-means: Faiss, k = the number of classes in the evaluated split (query and gallery together in query/gallery
evaluation), 20 iterations (fewer when the objective stops changing), all points used for training, seeded; each
point is then assigned to its nearest final centroid. nmi clusters the embeddings as given, c_nmi the
L2-normalised embeddings (Euclidean k-means on the unit sphere). Then
    NMI(Y, C) = I(Y; C) / ((H(Y) + H(C)) / 2)
(arithmetic normalisation, natural log; sklearn's normalized_mutual_info_score default). With seed 1234 (Faiss's
default) nmi equals pytorch-metric-learning's NMI on the same points when its k-means is given the same settings
(its own default runs 25 iterations). Difference from Roth et al.'s code: his c_nmi assigns the normalised points
by inner product to the normalised centroids of the Euclidean run (a slip: it reads `centroids` where
`centroids_cosine` was meant); here the cosine run's own assignment is used.
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


@REGISTRY.register("c_nmi")
class CosineNMI(NMI):
    usage = "c_nmi"
    space = "cosine"
