"""Roth et al.'s mean average precision variants: mAP_c, mAP_1000, mAP_lim, and their cosine versions c_mAP_c,
c_mAP_1000, c_mAP_lim.

For a query q, let R = the gallery items of q's class other than q, and n_c = the size of q's class in the
searched set counting q itself: R + 1 in same-set evaluation, R in query/gallery evaluation (where q is not part
of the gallery). With rel(i) and P(i) as in map_r.py (ranking by distance, ties broken by lower gallery index, q
not in its own ranking):
    AP_w(q) = (1/n_c) * sum_{i=1..w} P(i) * rel(i)
    mAP_c:    w = n_c   ("class-size" window)
    mAP_1000: w = 1000
    mAP_lim:  w = 1023  (Roth's cap for the Faiss GPU k limit of his time)
each averaged over the queries with R > 0; windows beyond the gallery read the whole gallery.

The divisor is n_c as in Roth's code (his `freq`), not R and not the number of hits: in same-set evaluation a
perfect ranking scores R / (R + 1) rather than 1; MAP@R (map_r.py) is the normalised version. Differences from
Roth's code: he averages over all queries, a query whose class has no other item scoring 0 (here it is left out
and counted in the log), and he drops the first search result as "the query" (see recall.py). The plain names
rank by Euclidean distance, the c_ names by cosine similarity.
"""
from metrics import REGISTRY
from metrics.base import RetrievalMetric


class _RothAP(RetrievalMetric):
    fixed_window = None  # int, or None for the class-size window

    def window(self, max_relevant, max_class):
        return max_class if self.fixed_window is None else self.fixed_window

    def per_query(self, hits):
        window = hits.n_class if self.fixed_window is None else self.fixed_window
        return hits.precision_sum_within(window) / hits.n_class


@REGISTRY.register("mAP_c")
class MAPClass(_RothAP):
    usage = "mAP_c"


@REGISTRY.register("c_mAP_c")
class CosineMAPClass(MAPClass):
    usage = "c_mAP_c"
    space = "cosine"


@REGISTRY.register("mAP_1000")
class MAP1000(_RothAP):
    usage = "mAP_1000"
    fixed_window = 1000


@REGISTRY.register("c_mAP_1000")
class CosineMAP1000(MAP1000):
    usage = "c_mAP_1000"
    space = "cosine"


@REGISTRY.register("mAP_lim")
class MAPLim(_RothAP):
    usage = "mAP_lim"
    fixed_window = 1023


@REGISTRY.register("c_mAP_lim")
class CosineMAPLim(MAPLim):
    usage = "c_mAP_lim"
    space = "cosine"
