"""Quadruplet loss (Chen et al., "Beyond Triplet Loss", CVPR 2017) on mined triplets, with Euclidean distances d as in
Roth et al.

Each mined (a, p, n) gets a fourth item f drawn uniformly among the batch items whose class differs from both a's and
n's (the paper's constraint), so that (n, f) is a negative pair not involving a's class:
  L = mean_t max(0, d(a, p) - d(a, n) + alpha_1) + mean_t' max(0, d(a, p) - d(n, f) + alpha_2),
the second mean over the triplets t' that have such an item (none when the batch holds only two classes).
Roth's code draws f from a mask over triplets, not batch items, so its f may share n's or a's class; this follows the
paper.
"""
import torch

from batchminer import sample_one_per_row
from criteria import REGISTRY
from criteria.base import TUPLE_MINERS, Criterion
from utilities.argtypes import nonnegative_float


@REGISTRY.register("quadruplet")
class QuadrupletLoss(Criterion):
    ALLOWED_BATCHMINERS = TUPLE_MINERS
    REQUIRES_BATCHMINER = True
    DEFAULT_BATCHMINER = "distance"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_quadruplet_margin_alpha_1", default=0.2, type=nonnegative_float,
                           help="Margin of the triplet term d(a,p) vs d(a,n).")
        group.add_argument("--loss_quadruplet_margin_alpha_2", default=0.2, type=nonnegative_float,
                           help="Margin of the quadruplet term d(a,p) vs d(n,f).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.margin_alpha_1 = opt.loss_quadruplet_margin_alpha_1
        self.margin_alpha_2 = opt.loss_quadruplet_margin_alpha_2

    @staticmethod
    def draw_fourth(labels, anchors, negatives):
        """Which triplets have a fourth item of a third class, and one such item for each of them."""
        third_class = (labels[None, :] != labels[anchors, None]) & (labels[None, :] != labels[negatives, None])
        has_fourth = third_class.any(dim=1)
        return has_fourth, sample_one_per_row(third_class[has_fourth].float())

    def forward(self, batch, labels, **context):
        anchors, positives, negatives = self.batchminer(batch.detach(), labels)
        if len(anchors) == 0:
            return batch.sum() * 0.0
        pos_dist = (batch[anchors] - batch[positives]).norm(dim=1)
        neg_dist = (batch[anchors] - batch[negatives]).norm(dim=1)
        loss = torch.relu(pos_dist - neg_dist + self.margin_alpha_1).mean()
        has_fourth, fourth = self.draw_fourth(labels, anchors, negatives)
        if has_fourth.any():
            negative_pair_dist = (batch[negatives[has_fourth]] - batch[fourth]).norm(dim=1)
            loss = loss + torch.relu(pos_dist[has_fourth] - negative_pair_dist + self.margin_alpha_2).mean()
        return loss
