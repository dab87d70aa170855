"""N-pair tuples (Sohn, NeurIPS 2016) as Roth et al.'s npair miner builds them.

Returns (anchors, positives, negatives), unlike the triplet miners: anchors and positives are LongTensors (A,), one
positive drawn uniformly per anchor, and negatives is a BoolTensor (A, B) marking every batch item of another class than
the anchor. With two samples per class (Roth's setting) every item is some anchor's positive, so an anchor's negatives
are exactly the positives of the anchors of the other classes. Only the losses that accept `npair` read this structure.
"""
from batchminer import REGISTRY, pair_masks, sample_one_per_row


@REGISTRY.register("npair")
class NPairMiner:
    def __init__(self, opt):
        pass

    def __call__(self, batch, labels):
        positives, negatives = pair_masks(labels)
        anchors = (positives.any(dim=1) & negatives.any(dim=1)).nonzero().squeeze(1)
        return anchors, sample_one_per_row(positives[anchors].float()), negatives[anchors]
