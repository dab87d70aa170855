"""Semihard negatives (Schroff et al., CVPR 2015), as in Roth et al.'s `semihard` miner.

Each anchor takes a uniformly random positive p and a negative drawn uniformly among the semihard ones: farther from
the anchor than p but by less than the margin, d(a, p) < d(a, n) < d(a, p) + margin (Euclidean distances). An anchor
without a semihard negative falls back to a uniformly random negative. The margin is the miner's own flag
(`--miner_semihard_margin`, 0.2 as Roth's triplet margin, which his miner borrowed from the loss).
"""
import torch

from batchminer import REGISTRY, pair_masks, sample_one_per_row
from utilities.argtypes import nonnegative_float


@REGISTRY.register("semihard")
class SemihardMiner:
    @staticmethod
    def add_arguments(group):
        group.add_argument("--miner_semihard_margin", default=0.2, type=nonnegative_float,
                           help="Negatives n with d(a,p) < d(a,n) < d(a,p) + margin are semihard.")

    def __init__(self, opt):
        self.margin = opt.miner_semihard_margin

    def __call__(self, batch, labels):
        positives, negatives = pair_masks(labels)
        anchors = (positives.any(dim=1) & negatives.any(dim=1)).nonzero().squeeze(1)
        positives, negatives = positives[anchors], negatives[anchors]
        distances = torch.cdist(batch.detach().float()[anchors], batch.detach().float())
        pos = sample_one_per_row(positives.float())
        pos_dist = distances.gather(1, pos[:, None])
        semihard = negatives & (distances > pos_dist) & (distances < pos_dist + self.margin)
        candidates = torch.where(semihard.any(dim=1, keepdim=True), semihard, negatives)
        return anchors, pos, sample_one_per_row(candidates.float())
