"""Triplet loss with a margin on Euclidean distances (Schroff et al., 2015).

L = mean over mined triplets (a, p, n) of max(0, ||f_a - f_p|| - ||f_a - f_n|| + margin). The triplets come from the
batchminer, so the loss is exactly the mean hinge over what was mined (zero-loss triplets included, as in Roth's code).
"""
import torch

from criteria import REGISTRY
from criteria.base import TUPLE_MINERS, Criterion


@REGISTRY.register("triplet")
class TripletLoss(Criterion):
    ALLOWED_BATCHMINERS = TUPLE_MINERS
    REQUIRES_BATCHMINER = True
    DEFAULT_BATCHMINER = "distance"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_triplet_margin", default=0.2, type=float, help="Hinge margin.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.margin = opt.loss_triplet_margin

    def forward(self, batch, labels, **context):
        anchors, positives, negatives = self.batchminer(batch.detach(), labels)
        if len(anchors) == 0:
            return batch.sum() * 0.0
        pos_dist = (batch[anchors] - batch[positives]).norm(dim=1)
        neg_dist = (batch[anchors] - batch[negatives]).norm(dim=1)
        return torch.relu(pos_dist - neg_dist + self.margin).mean()
