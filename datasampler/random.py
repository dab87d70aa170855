"""Plain shuffling: each epoch is a random permutation of the training set cut into batches."""
from datasampler import REGISTRY, EpochSeededSampler


@REGISTRY.register("random")
class RandomSampler(EpochSeededSampler):
    def __init__(self, opt, labels):
        super().__init__(labels, opt.bs, opt.seed)

    def __iter__(self):
        order = self.rng().permutation(len(self.labels))
        for b in range(len(self)):
            yield order[b * self.batch_size:(b + 1) * self.batch_size].tolist()
