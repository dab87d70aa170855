"""Triplet loss with a margin (Schroff et al., "FaceNet", CVPR 2015) on mined triplets.

  L = mean over mined triplets (a, p, n) of max(0, D(a, p) - D(a, n) + margin),
where D depends on --loss_triplet_distance:
  - squared (default): D(x, y) = ||f_x - f_y||^2, the squared Euclidean distance of the FaceNet paper and of
    Roth et al.'s criteria/triplet.py (with his default margin, 0.2, also the default here);
  - euclidean: D(x, y) = ||f_x - f_y||, the plain distance, which is what pytorch-metric-learning's TripletMarginLoss
    hinges by default (LpDistance with power 1).
On L2-normalised embeddings the squared distance lies in [0, 4] and the plain one in [0, 2], so the same margin asks
for a different separation in the two forms. The triplets come from the batchminer, and the loss is the mean hinge over
everything that was mined, zero-loss triplets included, as in Roth's code (pytorch-metric-learning's default reducer
would average over the non-zero ones only).
"""
import torch

from criteria import REGISTRY
from criteria.base import TUPLE_MINERS, Criterion
from utilities.argtypes import nonnegative_float
from utilities.errors import ConfigError

DISTANCES = ("squared", "euclidean")


@REGISTRY.register("triplet")
class TripletLoss(Criterion):
    ALLOWED_BATCHMINERS = TUPLE_MINERS
    REQUIRES_BATCHMINER = True
    DEFAULT_BATCHMINER = "distance"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_triplet_margin", default=0.2, type=nonnegative_float,
                           help="Hinge margin, in units of the chosen distance (Roth: 0.2 on squared distances).")
        group.add_argument("--loss_triplet_distance", default="squared", choices=DISTANCES,
                           help="Distance the hinge compares: squared Euclidean (FaceNet, Roth) or plain Euclidean "
                                "(pytorch-metric-learning's default).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.margin = opt.loss_triplet_margin
        self.distance = opt.loss_triplet_distance
        if self.distance not in DISTANCES:
            raise ConfigError(f"--loss_triplet_distance {self.distance!r}: choose one of {', '.join(DISTANCES)}.")

    def pair_distance(self, first, second):
        difference = first - second
        if self.distance == "squared":
            return difference.pow(2).sum(dim=1)
        return difference.norm(dim=1)

    def forward(self, batch, labels, **context):
        anchors, positives, negatives = self.batchminer(batch.detach(), labels)
        if len(anchors) == 0:
            return batch.sum() * 0.0
        pos_dist = self.pair_distance(batch[anchors], batch[positives])
        neg_dist = self.pair_distance(batch[anchors], batch[negatives])
        return torch.relu(pos_dist - neg_dist + self.margin).mean()
