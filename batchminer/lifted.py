"""All positive and negative pairs of every anchor, as Roth et al.'s lifted miner gives them.

Returns (anchors, positives, negatives), unlike the triplet miners: anchors is a LongTensor (A,) of the items with at
least one positive and one negative, positives and negatives are BoolTensors (A, B) marking each anchor's same-class
items (itself excluded) and other-class items. Only the losses that accept `lifted` read this structure.
"""
from batchminer import REGISTRY, pair_masks


@REGISTRY.register("lifted")
class LiftedMiner:
    def __init__(self, opt):
        pass

    def __call__(self, batch, labels):
        positives, negatives = pair_masks(labels)
        anchors = (positives.any(dim=1) & negatives.any(dim=1)).nonzero().squeeze(1)
        return anchors, positives[anchors], negatives[anchors]
