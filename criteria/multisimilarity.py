"""Multi-Similarity loss (Wang et al., CVPR 2019), with its own pair mining.

On cosine similarities S, for anchor i with positives P_i and negatives N_i:
  mining keeps negative k if S_ik + margin > min_{j in P_i} S_ij and positive j if S_ij - margin < max_{k in N_i} S_ik;
  L_i = 1/alpha * log(1 + sum_{kept j} exp(-alpha (S_ij - thresh))) + 1/beta * log(1 + sum_{kept k} exp(beta (S_ik - thresh)))
with alpha = pos weight, beta = neg weight. The loss is the mean of L_i over the anchors that keep at least one positive
and one negative, as in Roth et al.'s criteria/multisimilarity.py; a batch with no such anchor gives zero (where Roth's
code fails on an empty stack). The authors' code (msight-tech/research-ms-loss, ret_benchmark/losses/
multi_similarity_loss.py) skips the same anchors but divides the sum of L_i by the batch size, so an anchor without
kept pairs counts as a zero there, as in pytorch-metric-learning's mean over all anchors: its loss is ours times
(number of valid anchors / batch size), equal whenever every anchor keeps pairs. The authors' code also tells
positives from the anchor itself by similarity (S < 1 - 1e-5), which drops exact duplicates too; here by index.
"""
import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion, masked_log1p_sum_exp
from utilities.argtypes import finite_float, nonnegative_float, positive_float


@REGISTRY.register("multisimilarity")
class MultiSimilarityLoss(Criterion):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_multisimilarity_pos_weight", default=2.0, type=positive_float, help="alpha.")
        group.add_argument("--loss_multisimilarity_neg_weight", default=40.0, type=positive_float, help="beta.")
        group.add_argument("--loss_multisimilarity_margin", default=0.1, type=nonnegative_float,
                           help="Pair-mining margin.")
        group.add_argument("--loss_multisimilarity_thresh", default=0.5, type=finite_float,
                           help="Similarity offset lambda.")

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
