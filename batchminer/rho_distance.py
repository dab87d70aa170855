"""ρ-regularised distance-weighted sampling (Roth et al., ICML 2020, "Revisiting ... Generalization"), `rho_distance`.

Every anchor with a positive and a negative yields one triplet. With probability `--miner_rho_distance_cp` (0.2) it
is a "push" triplet (a, a, p): the anchor is its own positive and a uniformly random same-class sample p takes the
negative's place, so a triplet loss max(0, d(a,a) - d(a,p) + m) = max(0, m - d(a,p)) pushes same-class samples apart
and densifies the embedding's singular-value spectrum. Push triplets are the one intended exception to the
"negative has another label" contract. Otherwise the triplet is distance-weighted sampling as in `distance`:
a uniform positive and a negative drawn with probability proportional to 1/q(d), d clipped below at
`--miner_rho_distance_lower_cutoff` (0.5) — but with no upper cutoff, as in Roth's code (cutting far negatives made
his results slightly worse), so every negative stays possible.
"""
import torch

from batchminer import REGISTRY, sample_one_per_row
from batchminer.distance import DistanceWeightedMiner
from utilities.argtypes import positive_float, probability


@REGISTRY.register("rho_distance")
class RhoDistanceMiner(DistanceWeightedMiner):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--miner_rho_distance_lower_cutoff", default=0.5, type=positive_float,
                           help="Distances below this are clipped to it before weighting.")
        group.add_argument("--miner_rho_distance_cp", default=0.2, type=probability,
                           help="Probability that an anchor's triplet is a push triplet (a, a, same-class sample).")

    def __init__(self, opt):
        self.lower_cutoff = opt.miner_rho_distance_lower_cutoff
        self.upper_cutoff = float("inf")
        self.push_probability = opt.miner_rho_distance_cp

    def __call__(self, batch, labels):
        anchors, positives, weights = self.sampling_weights(batch, labels)
        pos = sample_one_per_row(positives.float())
        neg = sample_one_per_row(weights)
        push = torch.rand(len(anchors), device=anchors.device) < self.push_probability
        # A push triplet reuses the random positive as its "negative" and the anchor as its positive.
        return anchors, torch.where(push, anchors, pos), torch.where(push, pos, neg)
