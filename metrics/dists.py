"""Embedding-space distance statistics (dists@intra, dists@inter, dists@intra_over_inter), Roth et al. 2020.

All distances are cosine distances, d(a, b) = 1 - cos(a, b), on the embeddings as given (a zero embedding has
cosine 0 to everything). With the classes y of the evaluated split (query and gallery together in query/gallery
evaluation) and their n_y members:
    dists@intra            = mean over classes with n_y >= 2 of the mean d(a, b) over ordered pairs a != b of
                             members of y
    dists@inter            = mean d(mu_y, mu_z) over ordered pairs of classes y != z, mu_y = the mean of the
                             class's embeddings (Roth normalises it first; cosine distance ignores the length)
    dists@intra_over_inter = dists@intra / max(dists@inter, 1e-8)
Lower intra and higher inter mean tighter, better separated classes. Differences from Roth et al.'s code: he
fills the NaN of single-item classes with an unintended value (np.max over intra_dists[1 - isnan], which indexes
positions 0 and 1); here those classes are left out. dists@inter needs two classes (else NaN); dists@intra needs
a class with two items (else NaN).
"""
import numpy as np
import scipy.sparse

from metrics import REGISTRY
from metrics.base import EmbeddingMetric, l2_normalise

MODES = ("intra", "inter", "intra_over_inter")


def class_sums(values, label_ids, n_classes):
    """float64 [n_classes, D]: the sum of the rows of values (float32 [N, D]) of each class."""
    one_hot = scipy.sparse.csr_matrix((np.ones(len(label_ids)), (label_ids, np.arange(len(label_ids)))),
                                      shape=(n_classes, len(label_ids)))
    return one_hot @ values


def _mean_pairwise_cosine_distance(unit_sums, unit_square_sums, counts):
    """Mean of 1 - <u_a, u_b> over ordered pairs a != b of each group, from the group's sum of unit vectors
    (sum_{a != b} <u_a, u_b> = |sum u|^2 - sum |u|^2)."""
    pairs = counts * (counts - 1)
    return 1 - ((unit_sums**2).sum(axis=-1) - unit_square_sums) / pairs


def intra_class_distance(embeddings, labels):
    _, label_ids, counts = np.unique(labels, return_inverse=True, return_counts=True)
    several = counts >= 2
    if not several.any():
        return float("nan")
    units = l2_normalise(embeddings)
    sums = class_sums(units, label_ids, len(counts))
    square_sums = np.bincount(label_ids, weights=np.einsum("nd,nd->n", units, units, dtype=np.float64),
                              minlength=len(counts))
    return float(_mean_pairwise_cosine_distance(sums[several], square_sums[several], counts[several]).mean())


def inter_class_distance(embeddings, labels):
    _, label_ids, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(counts) < 2:
        return float("nan")
    sums = class_sums(embeddings, label_ids, len(counts))
    # A class mean points the way its sum does; a class whose embeddings sum to zero gets a zero centre.
    centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-300)
    return float(_mean_pairwise_cosine_distance(centres.sum(axis=0), (centres**2).sum(), len(counts)))


@REGISTRY.register("dists")
class Dists(EmbeddingMetric):
    usage = "dists@<" + "|".join(MODES) + ">"
    space = "euclidean"

    def param_problem(self, param):
        return None if param in MODES else "needs one of the parameters " + ", ".join(MODES)

    def compute(self, embeddings, labels, cache):
        def cached(statistic):  # intra_over_inter reuses the intra and inter of the same evaluation
            if statistic not in cache:
                cache[statistic] = statistic(embeddings, labels)
            return cache[statistic]

        if self.param == "intra":
            return cached(intra_class_distance)
        if self.param == "inter":
            return cached(inter_class_distance)
        return cached(intra_class_distance) / max(cached(inter_class_distance), 1e-8)
