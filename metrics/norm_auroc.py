"""Norm AUROC (norm_auroc, c_norm_auroc): how well the length of a query's embedding, read as the model's
certainty (longer = more certain), tells whether its nearest neighbour is of its class. The "R@1 AUROC" of the
certainty that Kirchhof et al. 2022 ("A Non-isotropic Probabilistic Take on Proxy-based Deep Metric Learning",
ECCV) report, whose model outputs the vMF concentration kappa as the embedding norm.

Take the queries of recall@k: those with at least one other item of their class in the gallery (the others are
left out and counted in the log). For such a query q:
    s(q) = ||e_q||_2, the Euclidean norm of q's embedding as handed to the evaluation, never normalised (also for
           c_norm_auroc, whose ranking uses the normalised embeddings)
    c(q) = recall@1(q): 1 if q's nearest gallery neighbour has q's class, else 0
with the neighbours ranked exactly as for recall@1: norm_auroc by Euclidean distance (e_recall@1),
c_norm_auroc by cosine similarity (c_recall@1); ties to the lower gallery index; in same-set evaluation q is not
its own neighbour. With P = {q : c(q) = 1} (correct) and N = {q : c(q) = 0} (wrong):
    norm_auroc = 1 / (|P| |N|) * sum_{p in P} sum_{n in N} ( [s(p) > s(n)] + 1/2 [s(p) = s(n)] )
the Mann-Whitney U statistic of the correct queries' norms against the wrong ones', divided by the number of
pairs: the chance that a random correct query has a longer embedding than a random wrong one, an exact tie
counting one half. It equals the area under the ROC curve of the score s for the label c, as
sklearn.metrics.roc_auc_score(c, s) computes it. 1: every correct query is more certain than every wrong one;
0.5: the norm says nothing (e.g. all norms equal, as on a normalising model); below 0.5: longer embeddings go with
mistakes. NaN, with a warning, when every query is correct or every query is wrong (no pair to compare). The
value is one number over all queries, not a mean of per-query values, and it does not move when all embeddings
are scaled by one factor.

Exactness: the norms are compared through their squares, sums of the float32 entries squared in float64 (each
square exact; the sum rounded to float64); comparing the square roots instead could merge two distinct values
into a tie. The pairs are counted in integers (2 U = sum over p of #{n: s(n) < s(p)} + #{n: s(n) <= s(p)}) and
divided once.

Kirchhof et al.'s released code (github.com/ExplainableML/Probabilistic_Deep_Metric_Learning) has no file for
the norm's AUROC; its metrics/unc_cos.py, unc_l2.py and unc_logppk.py compute roc_auc_score with the same label,
"the nearest neighbour by cosine similarity has the query's class", and other scores (the cosine similarity to
that neighbour, the distance to it, a vMF probability product kernel). c_norm_auroc is that label with the norm
as the score. Differences from how their code forms the label: it counts every query, a query whose class has
no other item being always wrong (here such queries are left out, as in recall@k), and it drops the first Faiss
result as "the query", which keeps the query and drops another item when an exact duplicate has a lower index
(here the query is removed by its index; see recall.py).
"""
import logging

import numpy as np

from metrics import REGISTRY
from metrics.base import RankedEmbeddingMetric

logger = logging.getLogger(__name__)


def squared_norms(embeddings):
    """float64 [Q]: each row's sum of squares, in float64 (a float32 entry's square is exact there)."""
    return np.einsum("nd,nd->n", embeddings, embeddings, dtype=np.float64)


def mann_whitney_auroc(scores, positive):
    """P(score of a random positive > score of a random negative), ties counting 1/2, computed exactly (integer
    pair counts, one division); NaN when either group is empty. scores: [Q] floats, positive: bool [Q]."""
    positive = np.asarray(positive, dtype=bool)
    pos, neg = scores[positive], np.sort(scores[~positive])
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # Per positive: negatives strictly below it, plus negatives below or equal: twice its share of U.
    twice_u = int(np.searchsorted(neg, pos, side="left").sum()) + int(np.searchsorted(neg, pos, side="right").sum())
    return twice_u / (2 * len(pos) * len(neg))


class _NormAUROC(RankedEmbeddingMetric):
    def window(self, max_relevant, max_class):
        return 1

    def compute(self, hits, query_embeddings, query_labels):
        correct = hits.first_hit_rank() == 1
        if correct.all() or not correct.any():
            logger.warning("%s is NaN: %s %d queries' nearest neighbours are of their class, and the AUROC needs "
                           "both correct and wrong ones.", self.name, "all" if correct.all() else "none of the",
                           len(correct))
            return float("nan")
        return mann_whitney_auroc(squared_norms(query_embeddings), correct)


@REGISTRY.register("norm_auroc")
class NormAUROC(_NormAUROC):
    usage = "norm_auroc"
    space = "euclidean"


@REGISTRY.register("c_norm_auroc")
class CosineNormAUROC(_NormAUROC):
    usage = "c_norm_auroc"
    space = "cosine"
