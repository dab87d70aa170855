"""N-pair loss (Sohn, NeurIPS 2016) with the npair batchminer, as in Roth et al.

For each anchor a with its drawn positive p and its negatives N_a (every other-class item, see batchminer/npair.py),
on raw (unnormalised) embeddings:
  L = mean_a log(1 + sum_{n in N_a} exp(a.n - a.p)) + l2 * mean over the batch of ||x||.
The log-sum-exp is evaluated stably, which is why Roth's division of BN-Inception embeddings by 4 against overflow is
not done here (it would also change the loss).
"""
import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from utilities.argtypes import nonnegative_float


def npair_term(batch, anchors, positives, negatives):
    """mean_a log(1 + sum_{n in N_a} exp(a.n - a.p)) for npair-miner output (negatives as a (A, B) mask).

    Computed as the cross-entropy of the positive among {positive} + N_a, which is the same quantity:
    log(exp(a.p) + sum_n exp(a.n)) - a.p, in one fused, stable op.
    """
    if len(anchors) == 0:
        return batch.sum() * 0.0
    candidates = negatives.clone()
    candidates[torch.arange(len(anchors), device=batch.device), positives] = True
    logits = (batch[anchors] @ batch.T).masked_fill(~candidates, float("-inf"))
    return F.cross_entropy(logits, positives)


@REGISTRY.register("npair")
class NPairLoss(Criterion):
    ALLOWED_BATCHMINERS = ("npair",)
    REQUIRES_BATCHMINER = True
    DEFAULT_BATCHMINER = "npair"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_npair_l2", default=0.005, type=nonnegative_float,
                           help="Weight of the mean embedding norm (embeddings are not normalised).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.l2_weight = opt.loss_npair_l2

    def forward(self, batch, labels, **context):
        anchors, positives, negatives = self.batchminer(batch.detach(), labels)
        return npair_term(batch, anchors, positives, negatives) + self.l2_weight * batch.norm(dim=1).mean()
