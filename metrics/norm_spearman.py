"""Norm-recall Spearman (norm_recall_spearman, c_norm_recall_spearman): whether the classes whose embeddings are
longer, the length read as the model's certainty (longer = more certain), are the classes it retrieves better.
The class-level counterpart of norm_auroc, for models such as Kirchhof et al. 2022's EL-nivMF ("A Non-isotropic
Probabilistic Take on Proxy-based Deep Metric Learning", ECCV) that output the vMF concentration kappa as the
embedding norm.

Take the queries of recall@k: those with at least one other item of their class in the gallery (the others are
left out and counted in the log; a class with a single item in same-set evaluation, or a query class missing from
the gallery, has no query here and no say). For such a query q:
    s(q) = ||e_q||_2, the Euclidean norm of q's embedding as handed to the evaluation, never normalised (also for
           c_norm_recall_spearman, whose ranking uses the normalised embeddings)
    c(q) = recall@1(q): 1 if q's nearest gallery neighbour has q's class, else 0
with the neighbours ranked exactly as for recall@1 (the same search as norm_auroc and recall@k):
norm_recall_spearman by Euclidean distance (e_recall@1), c_norm_recall_spearman by cosine similarity
(c_recall@1); ties to the lower gallery index; in same-set evaluation q is not its own neighbour.
For each class c of those queries, with Q(c) its queries (every class counts once, whatever its size):
    n(c) = 1/|Q(c)| sum_{q in Q(c)} s(q)     the class's mean embedding norm
    r(c) = 1/|Q(c)| sum_{q in Q(c)} c(q)     the class's recall@1
and over the m classes, with rank_n(c), rank_r(c) the 1-based average ranks (tied values all get the mean of the
ranks they span, e.g. two values tied for places 2 and 3 both get 2.5):
    norm_recall_spearman = Spearman's rho = Pearson correlation of (rank_n(c), rank_r(c)) over the m classes
                         = sum_c a(c) b(c) / sqrt( sum_c a(c)^2 * sum_c b(c)^2 ),
                           a(c) = rank_n(c) - (m + 1)/2,  b(c) = rank_r(c) - (m + 1)/2
as scipy.stats.spearmanr(n, r) computes it. 1: the classes with longer embeddings are exactly the ones retrieved
better; 0: no monotone relation; -1: longer embeddings go with the harder classes. NaN, with a warning, when
fewer than 3 classes have queries (two points are always perfectly ranked) or when all classes have the same
recall@1 or the same mean norm (a constant side has no ranking; e.g. a normalising model). The value does not
move when all embeddings are scaled by one positive factor.

Exactness: the norms are square roots of sums of the float32 entries squared in float64; a class's norms are
summed in sorted order, so that two classes with the same multiset of norms get exactly the same mean (a tie);
r(c) is one division of integers, so equal fractions (1/3, 2/6) tie exactly. Ties are exact equality, as in
scipy. The centred ranks are multiples of 1/2, so the three sums are exact and the value is rounded only in the
final square root and division.

Kirchhof et al.'s released code (github.com/ExplainableML/Probabilistic_Deep_Metric_Learning) has no such metric
(its per-query uncertainty metrics are AUROCs, see norm_auroc.py); this one asks the same question of the norm
per class rather than per query, so that a few hard queries inside an easy class do not decide it.
"""
import logging

import numpy as np

from metrics import REGISTRY
from metrics.base import RankedEmbeddingMetric
from metrics.norm_auroc import squared_norms

logger = logging.getLogger(__name__)

MIN_CLASSES = 3


def class_means(values, labels):
    """(classes, means): the sorted distinct labels and each one's mean of values, the values of a class summed in
    ascending order (equal multisets give equal means). values: float64 [Q], labels: int [Q]."""
    order = np.lexsort((values, labels))
    labels, values = labels[order], values[order]
    classes, starts, counts = np.unique(labels, return_index=True, return_counts=True)
    return classes, np.add.reduceat(values, starts) / counts


def average_ranks(values):
    """float64 [m]: 1-based ranks of values, ties getting the mean of the ranks they span (scipy's 'average')."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    before = np.cumsum(counts) - counts  # values strictly below each distinct value
    return (before + (counts + 1) / 2)[inverse.reshape(-1)]


def spearman_rho(x, y):
    """Spearman's rho of two [m] arrays: the Pearson correlation of their average ranks; NaN when m < 2 or either
    side is constant."""
    m = len(x)
    if m < 2:
        return float("nan")
    a, b = average_ranks(x) - (m + 1) / 2, average_ranks(y) - (m + 1) / 2
    saa, sbb = float(a @ a), float(b @ b)
    if saa == 0 or sbb == 0:
        return float("nan")
    return float(np.clip(float(a @ b) / np.sqrt(saa * sbb), -1.0, 1.0))


class _NormRecallSpearman(RankedEmbeddingMetric):
    def window(self, max_relevant, max_class):
        return 1

    def compute(self, hits, query_embeddings, query_labels):
        labels = np.asarray(query_labels)
        correct = (hits.first_hit_rank() == 1).astype(np.float64)
        classes, norms = class_means(np.sqrt(squared_norms(query_embeddings)), labels)
        _, counts = np.unique(labels, return_counts=True)
        n_correct = np.bincount(np.searchsorted(classes, labels), weights=correct, minlength=len(classes))
        recalls = n_correct / counts
        if len(classes) < MIN_CLASSES:
            logger.warning("%s is NaN: its %d queries come from %d class(es), and a rank correlation over classes "
                           "needs at least %d.", self.name, len(labels), len(classes), MIN_CLASSES)
            return float("nan")
        constant = [what for what, values in (("recall@1", recalls), ("mean embedding norm", norms))
                    if (values == values[0]).all()]
        if constant:
            logger.warning("%s is NaN: all %d classes have the same %s, so there is no ranking to correlate.",
                           self.name, len(classes), " and the same ".join(constant))
            return float("nan")
        return spearman_rho(norms, recalls)


@REGISTRY.register("norm_recall_spearman")
class NormRecallSpearman(_NormRecallSpearman):
    usage = "norm_recall_spearman"
    space = "euclidean"


@REGISTRY.register("c_norm_recall_spearman")
class CosineNormRecallSpearman(_NormRecallSpearman):
    usage = "c_norm_recall_spearman"
    space = "cosine"
