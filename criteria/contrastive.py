"""Contrastive loss (Hadsell et al., CVPR 2006) on mined tuples, as in Roth et al.

Each mined (a, p, n) gives a positive pair (a, p) and a negative pair (a, n); with Euclidean distances d,
  L = mean_t max(0, d(a, p) - pos_margin) + mean_t max(0, neg_margin - d(a, n)),
both means over all mined tuples, zero-loss pairs included.
"""
import torch

from criteria import REGISTRY
from criteria.base import TUPLE_MINERS, Criterion
from utilities.argtypes import nonnegative_float


@REGISTRY.register("contrastive")
class ContrastiveLoss(Criterion):
    ALLOWED_BATCHMINERS = TUPLE_MINERS
    REQUIRES_BATCHMINER = True
    DEFAULT_BATCHMINER = "distance"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_contrastive_pos_margin", default=0.0, type=nonnegative_float,
                           help="Positive pairs closer than this cost nothing.")
        group.add_argument("--loss_contrastive_neg_margin", default=1.0, type=nonnegative_float,
                           help="Negative pairs farther than this cost nothing.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.pos_margin = opt.loss_contrastive_pos_margin
        self.neg_margin = opt.loss_contrastive_neg_margin

    def forward(self, batch, labels, **context):
        anchors, positives, negatives = self.batchminer(batch.detach(), labels)
        if len(anchors) == 0:
            return batch.sum() * 0.0
        pos_dist = (batch[anchors] - batch[positives]).norm(dim=1)
        neg_dist = (batch[anchors] - batch[negatives]).norm(dim=1)
        return torch.relu(pos_dist - self.pos_margin).mean() + torch.relu(self.neg_margin - neg_dist).mean()
