"""Generalised lifted structure loss (Hermans et al., "In Defense of the Triplet Loss", 2017), with the lifted
batchminer, as Roth et al. implement their `lifted` loss.

For each anchor a with its positives P_a and negatives N_a (all of them, see batchminer/lifted.py) and Euclidean
distances d on raw embeddings:
  L = mean_a max(0, log sum_{p in P_a} exp(d(a, p)) + log sum_{n in N_a} exp(neg_margin - d(a, n)))
      + l2 * mean over the batch of ||x||.
This is not Song et al.'s original lifted structure loss (squared hinge per positive pair, negatives of both ends).
"""
import torch

from criteria import REGISTRY
from criteria.base import Criterion
from utilities.argtypes import nonnegative_float


def masked_logsumexp(values, mask):
    """log sum exp over the entries where mask is True, row-wise (every row must keep one entry)."""
    return torch.logsumexp(values.masked_fill(~mask, float("-inf")), dim=1)


@REGISTRY.register("lifted")
class LiftedStructureLoss(Criterion):
    ALLOWED_BATCHMINERS = ("lifted",)
    REQUIRES_BATCHMINER = True
    DEFAULT_BATCHMINER = "lifted"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_lifted_neg_margin", default=1.0, type=nonnegative_float,
                           help="Margin on negative distances.")
        group.add_argument("--loss_lifted_l2", default=0.005, type=nonnegative_float,
                           help="Weight of the mean embedding norm (embeddings are not normalised).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.neg_margin = opt.loss_lifted_neg_margin
        self.l2_weight = opt.loss_lifted_l2

    def forward(self, batch, labels, **context):
        anchors, positives, negatives = self.batchminer(batch.detach(), labels)
        l2_term = self.l2_weight * batch.norm(dim=1).mean()
        if len(anchors) == 0:
            return l2_term
        distances = torch.cdist(batch[anchors], batch)
        structure = (masked_logsumexp(distances, positives)
                     + masked_logsumexp(self.neg_margin - distances, negatives))
        return torch.relu(structure).mean() + l2_term
