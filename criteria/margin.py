"""Margin loss (Wu et al., "Sampling Matters in Deep Embedding Learning", ICCV 2017) on mined triplets.

For each mined (a, p, n), with Euclidean distances d and beta the boundary of the anchor's class,
  pos = max(0, d(a, p) - beta + margin),  neg = max(0, beta - d(a, n) + margin),
  L = (sum_t (pos + neg) + nu * sum_t beta) / max(1, number of non-zero pos and neg terms),
the nu term (pulling the boundaries down) only when beta is learned. beta starts at --loss_margin_beta for every
training class and is learned with its own learning rate and no weight decay (as in Roth's code), or stays one constant
with --loss_margin_beta_constant.

Normalisation. The divisor counts active *terms*: a triplet whose pos and neg hinges are both non-zero counts twice.
This is the authors' MXNet code (its `pair_cnt` sums the float 0/1 masks `(pos_loss > 0) + (neg_loss > 0)`) and
pytorch-metric-learning's MarginLoss (number of non-zero pos terms plus number of non-zero neg terms). Roth's
criteria/margin.py writes the same expression on torch bool tensors, where `+` is a logical OR, so his divisor is the
number of *triplets* with at least one active term; where both hinges are active in many triplets his loss is larger
than this one by up to a factor of 2 (a rescaling of the gradient, not of its direction). We keep the authors' count.
The nu term is divided by the same count as in the authors' code and pytorch-metric-learning; Roth's code means to add
it undivided but fails for nu != 0 (it assigns `beta_regularization_loss` and reads `beta_regularisation_loss`), so it
defines nothing to follow there.
"""
import torch

from criteria import REGISTRY
from criteria.base import TUPLE_MINERS, Criterion
from utilities.argtypes import nonnegative_float, positive_float


@REGISTRY.register("margin")
class MarginLoss(Criterion):
    ALLOWED_BATCHMINERS = TUPLE_MINERS
    REQUIRES_BATCHMINER = True
    DEFAULT_BATCHMINER = "distance"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_margin_margin", default=0.2, type=nonnegative_float,
                           help="Margin around the boundary beta.")
        group.add_argument("--loss_margin_beta", default=1.2, type=nonnegative_float,
                           help="Initial class boundary beta.")
        group.add_argument("--loss_margin_beta_lr", default=0.0005, type=positive_float,
                           help="Learning rate of the per-class betas.")
        group.add_argument("--loss_margin_nu", default=0.0, type=nonnegative_float,
                           help="Weight of the beta regulariser.")
        group.add_argument("--loss_margin_beta_constant", action="store_true",
                           help="Keep beta fixed and shared by all classes instead of learning one per class.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.margin = opt.loss_margin_margin
        self.nu = opt.loss_margin_nu
        self.beta_lr = opt.loss_margin_beta_lr
        self.beta_constant = opt.loss_margin_beta_constant
        if self.beta_constant:
            self.beta = opt.loss_margin_beta
        else:
            self.beta = torch.nn.Parameter(torch.full((num_classes,), float(opt.loss_margin_beta)))

    def param_groups(self, base_lr):
        if self.beta_constant:
            return []
        return [{"params": [self.beta], "lr": self.beta_lr, "weight_decay": 0.0, "name": "loss_margin_beta"}]

    def forward(self, batch, labels, **context):
        anchors, positives, negatives = self.batchminer(batch.detach(), labels)
        if len(anchors) == 0:
            return batch.sum() * 0.0
        pos_dist = (batch[anchors] - batch[positives]).norm(dim=1)
        neg_dist = (batch[anchors] - batch[negatives]).norm(dim=1)
        beta = self.beta if self.beta_constant else self.beta[labels[anchors]].to(batch.dtype)
        pos_loss = torch.relu(pos_dist - beta + self.margin)
        neg_loss = torch.relu(beta - neg_dist + self.margin)
        active_pairs = ((pos_loss > 0).sum() + (neg_loss > 0).sum()).clamp(min=1)
        total = (pos_loss + neg_loss).sum()
        if not self.beta_constant:
            total = total + self.nu * beta.sum()
        return total / active_pairs
