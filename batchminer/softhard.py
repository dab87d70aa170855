"""Soft hard mining, as in Roth et al.'s `softhard` miner.

Instead of the single hardest positive and negative, each anchor draws uniformly among all that violate the ordering
"every positive closer than every negative" (Euclidean distances):
  positive: uniform among positives farther than the anchor's nearest negative, d(a, p) > min_n d(a, n);
  negative: uniform among negatives closer than the anchor's farthest positive, d(a, n) < max_p d(a, p).
When no positive (negative) violates it, the positive (negative) is uniform among all of them. The miner has no flags.
"""
import torch

from batchminer import REGISTRY, pair_masks, sample_one_per_row


@REGISTRY.register("softhard")
class SofthardMiner:
    def __init__(self, opt):
        pass

    def __call__(self, batch, labels):
        positives, negatives = pair_masks(labels)
        anchors = (positives.any(dim=1) & negatives.any(dim=1)).nonzero().squeeze(1)
        positives, negatives = positives[anchors], negatives[anchors]
        distances = torch.cdist(batch.detach().float()[anchors], batch.detach().float())
        farthest_positive = distances.masked_fill(~positives, float("-inf")).max(dim=1, keepdim=True).values
        nearest_negative = distances.masked_fill(~negatives, float("inf")).min(dim=1, keepdim=True).values
        hard_positives = positives & (distances > nearest_negative)
        hard_negatives = negatives & (distances < farthest_positive)
        pos = torch.where(hard_positives.any(dim=1, keepdim=True), hard_positives, positives)
        neg = torch.where(hard_negatives.any(dim=1, keepdim=True), hard_negatives, negatives)
        return anchors, sample_one_per_row(pos.float()), sample_one_per_row(neg.float())
