"""Circle loss (Sun et al., CVPR 2020) with pair labels, on all pairs of the batch; no batchminer.

On cosine similarities s, for anchor i with positives P_i and negatives N_i:
  L_i = softplus(log sum_{p in P_i} exp(-gamma a_p (s_p - (1 - m))) + log sum_{n in N_i} exp(gamma a_n (s_n - m))),
  a_p = max(0, 1 + m - s_p), a_n = max(0, s_n + m), both held constant in the gradient (as in the paper);
the loss is the mean of L_i over anchors with at least one positive and one negative (zero when there are none).
"""
import torch
import torch.nn.functional as F

from batchminer import pair_masks
from criteria import REGISTRY
from criteria.base import Criterion
from criteria.lifted import masked_logsumexp
from utilities.argtypes import nonnegative_float, positive_float


@REGISTRY.register("circle")
class CircleLoss(Criterion):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_circle_m", default=0.25, type=nonnegative_float, help="Relaxation margin m.")
        group.add_argument("--loss_circle_gamma", default=256.0, type=positive_float, help="Scale gamma.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.m = opt.loss_circle_m
        self.gamma = opt.loss_circle_gamma

    def forward(self, batch, labels, **context):
        positives, negatives = pair_masks(labels)
        valid_anchor = positives.any(dim=1) & negatives.any(dim=1)
        if not valid_anchor.any():
            return batch.sum() * 0.0
        embeds = F.normalize(batch, dim=1)
        # Rows of anchors without a positive or negative are left out before the log-sum-exp: an empty one has no
        # gradient (NaN).
        similarity = embeds[valid_anchor] @ embeds.T
        positives, negatives = positives[valid_anchor], negatives[valid_anchor]
        pos_weight = torch.relu(1 + self.m - similarity.detach())
        neg_weight = torch.relu(similarity.detach() + self.m)
        pos_logits = -self.gamma * pos_weight * (similarity - (1 - self.m))
        neg_logits = self.gamma * neg_weight * (similarity - self.m)
        return F.softplus(masked_logsumexp(pos_logits, positives) + masked_logsumexp(neg_logits, negatives)).mean()
