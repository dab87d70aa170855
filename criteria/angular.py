"""Angular loss (Wang et al., ICCV 2017) in its N-pair form, with the npair batchminer, as in Roth et al.

For each anchor a with its drawn positive p and its negatives N_a (every other-class item, see batchminer/npair.py),
with ^ marking L2-normalised embeddings and t = tan(alpha):
  angular = mean_a log(1 + sum_{n in N_a} exp(4 t^2 (a^ + p^).n^ - 2 (1 + t^2) a^.p^)),
  L = npair + npair_ang_weight * angular + l2 * mean over the batch of ||x||,
where npair is the N-pair term of criteria/npair.py on the raw embeddings (the paper's combination).
Roth clamps the N-pair exponents to [-50, 50] against overflow; here the log-sum-exp is evaluated stably instead, which
only differs where Roth's clamp cut the gradient.
"""
import math

import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion, masked_log1p_sum_exp
from criteria.npair import npair_term
from utilities.argtypes import nonnegative_float, positive_float


@REGISTRY.register("angular")
class AngularLoss(Criterion):
    ALLOWED_BATCHMINERS = ("npair",)
    REQUIRES_BATCHMINER = True
    DEFAULT_BATCHMINER = "npair"

    @staticmethod
    def add_arguments(group):
        import argparse

        def acute_angle(text):
            """Degrees strictly between 0 and 90: the loss uses tan(alpha), positive and finite only there."""
            try:
                value = positive_float(text)
            except argparse.ArgumentTypeError:
                value = None
            if value is None or value >= 90:
                raise argparse.ArgumentTypeError(
                    f"expected an angle in degrees strictly between 0 and 90, got {text!r}")
            return value

        group.add_argument("--loss_angular_alpha", default=45.0, type=acute_angle,
                           help="Angle bound alpha in degrees, strictly between 0 and 90.")
        group.add_argument("--loss_angular_npair_ang_weight", default=2.0, type=nonnegative_float,
                           help="Weight of the angular term relative to the N-pair term.")
        group.add_argument("--loss_angular_npair_l2", default=0.005, type=nonnegative_float,
                           help="Weight of the mean embedding norm (the N-pair term sees unnormalised embeddings).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.sq_tan_alpha = math.tan(math.radians(opt.loss_angular_alpha)) ** 2
        self.angular_weight = opt.loss_angular_npair_ang_weight
        self.l2_weight = opt.loss_angular_npair_l2

    def angular_term(self, batch, anchors, positives, negatives):
        if len(anchors) == 0:
            return batch.sum() * 0.0
        embeds = F.normalize(batch, dim=1)
        anchor_embeds, positive_embeds = embeds[anchors], embeds[positives]
        anchor_positive = (anchor_embeds * positive_embeds).sum(dim=1, keepdim=True)
        logits = (4 * self.sq_tan_alpha * (anchor_embeds + positive_embeds) @ embeds.T
                  - 2 * (1 + self.sq_tan_alpha) * anchor_positive)
        return masked_log1p_sum_exp(logits, negatives).mean()

    def forward(self, batch, labels, **context):
        anchors, positives, negatives = self.batchminer(batch.detach(), labels)
        return (npair_term(batch, anchors, positives, negatives)
                + self.angular_weight * self.angular_term(batch, anchors, positives, negatives)
                + self.l2_weight * batch.norm(dim=1).mean())
