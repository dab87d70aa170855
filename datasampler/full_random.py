"""Independent batches: every batch draws bs distinct images uniformly from the whole training set."""
from datasampler import REGISTRY, EpochSeededSampler


@REGISTRY.register("full_random")
class FullRandomSampler(EpochSeededSampler):
    def __init__(self, opt, labels):
        super().__init__(labels, opt.bs, opt.seed)

    def __iter__(self):
        rng = self.rng()
        for _ in range(len(self)):
            yield rng.choice(len(self.labels), self.batch_size, replace=False).tolist()
