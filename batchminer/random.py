"""Random tuples: each anchor gets one positive and one negative drawn uniformly from the batch."""
from batchminer import REGISTRY, pair_masks, sample_one_per_row


@REGISTRY.register("random")
class RandomMiner:
    def __init__(self, opt):
        pass

    def __call__(self, batch, labels):
        positives, negatives = pair_masks(labels)
        anchors = (positives.any(dim=1) & negatives.any(dim=1)).nonzero().squeeze(1)
        pos = sample_one_per_row(positives[anchors].float())
        neg = sample_one_per_row(negatives[anchors].float())
        return anchors, pos, neg
