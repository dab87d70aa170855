"""Distance-weighted sampling (Wu et al., ICCV 2017).

On unit-normalised embeddings in D dimensions, pairwise distances of random points follow
q(d) ~ d^(D-2) (1 - d^2/4)^((D-3)/2). Each anchor takes a uniformly random positive and a negative drawn with
probability proportional to 1/q(d), with d clipped below at `cutoff` (0.5) to tame the variance, and negatives farther
than `nonzero_loss_cutoff` (1.4) excluded because they would contribute no loss. An anchor whose negatives all lie past
the cutoff falls back to a uniform negative.
"""
import torch

from batchminer import REGISTRY, pair_masks, sample_one_per_row
from utilities.argtypes import positive_float


@REGISTRY.register("distance")
class DistanceWeightedMiner:
    @staticmethod
    def add_arguments(group):
        group.add_argument("--miner_distance_lower_cutoff", default=0.5, type=positive_float,
                           help="Distances below this are clipped to it before weighting.")
        group.add_argument("--miner_distance_upper_cutoff", default=1.4, type=positive_float,
                           help="Negatives farther than this are never drawn (their loss would be zero).")

    def __init__(self, opt):
        self.lower_cutoff = opt.miner_distance_lower_cutoff
        self.upper_cutoff = opt.miner_distance_upper_cutoff

    def __call__(self, batch, labels):
        anchors, positives, weights = self.sampling_weights(batch, labels)
        return anchors, sample_one_per_row(positives.float()), sample_one_per_row(weights)

    def sampling_weights(self, batch, labels):
        """Anchors with a positive and a negative, their positive masks and unnormalised negative weights."""
        batch = batch.detach().float()
        positives, negatives = pair_masks(labels)
        anchors = (positives.any(dim=1) & negatives.any(dim=1)).nonzero().squeeze(1)
        dim = batch.shape[1]
        distances = torch.cdist(batch[anchors], batch).clamp(min=self.lower_cutoff)
        # log(1/q(d)), computed in log space and shifted per row before exponentiating, for stability.
        log_weights = (2.0 - dim) * distances.log() - (dim - 3.0) / 2.0 * (1.0 - 0.25 * distances.pow(2)).clamp(
            min=1e-8).log()
        allowed = negatives[anchors] & (distances < self.upper_cutoff)
        log_weights = log_weights.masked_fill(~allowed, float("-inf"))
        row_max = log_weights.max(dim=1, keepdim=True).values.nan_to_num(neginf=0.0)
        weights = (log_weights - row_max).exp()
        no_candidate = weights.sum(dim=1) == 0
        weights[no_candidate] = negatives[anchors][no_candidate].float()
        return anchors, positives[anchors], weights
