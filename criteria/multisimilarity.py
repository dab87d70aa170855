"""Multi-Similarity loss (Wang et al., CVPR 2019), with its own pair mining.

On cosine similarities S, for anchor i with positives P_i and negatives N_i:
  mining keeps negative k if S_ik + margin > min_{j in P_i} S_ij and positive j if S_ij - margin < max_{k in N_i} S_ik;
  L_i = 1/alpha * log(1 + sum_{kept j} exp(-alpha (S_ij - thresh))) + 1/beta * log(1 + sum_{kept k} exp(beta (S_ik - thresh)))
with alpha = pos weight, beta = neg weight. The loss is the mean of L_i over anchors that keep at least one positive
and one negative (as in the authors' and Roth's code); a batch with none gives zero.
"""
import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion, masked_log1p_sum_exp


@REGISTRY.register("multisimilarity")
class MultiSimilarityLoss(Criterion):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_multisimilarity_pos_weight", default=2.0, type=float, help="alpha.")
        group.add_argument("--loss_multisimilarity_neg_weight", default=40.0, type=float, help="beta.")
        group.add_argument("--loss_multisimilarity_margin", default=0.1, type=float, help="Pair-mining margin.")
        group.add_argument("--loss_multisimilarity_thresh", default=0.5, type=float, help="Similarity offset lambda.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.pos_weight = opt.loss_multisimilarity_pos_weight
        self.neg_weight = opt.loss_multisimilarity_neg_weight
        self.margin = opt.loss_multisimilarity_margin
        self.thresh = opt.loss_multisimilarity_thresh

    def forward(self, batch, labels, **context):
        embeds = F.normalize(batch, dim=1)
        similarity = embeds @ embeds.T
        same_class = labels[:, None] == labels[None, :]
        self_pair = torch.eye(len(labels), dtype=torch.bool, device=batch.device)
        positives = same_class & ~self_pair
        negatives = ~same_class

        hardest_positive = similarity.masked_fill(~positives, float("inf")).min(dim=1, keepdim=True).values
        hardest_negative = similarity.masked_fill(~negatives, float("-inf")).max(dim=1, keepdim=True).values
        kept_negatives = negatives & (similarity + self.margin > hardest_positive)
        kept_positives = positives & (similarity - self.margin < hardest_negative)
        valid_anchor = kept_positives.any(dim=1) & kept_negatives.any(dim=1)
        if not valid_anchor.any():
            return batch.sum() * 0.0

        pos_term = masked_log1p_sum_exp(-self.pos_weight * (similarity - self.thresh), kept_positives) / self.pos_weight
        neg_term = masked_log1p_sum_exp(self.neg_weight * (similarity - self.thresh), kept_negatives) / self.neg_weight
        return (pos_term + neg_term)[valid_anchor].mean()
