"""Class-balanced batches: bs / samples_per_class random classes, samples_per_class random images of each.

Classes within a batch are distinct; a class with fewer images than samples_per_class repeats images. An epoch has
len(train set) // bs batches, so it sees about as many images as one pass over the data.
"""
import numpy as np

from datasampler import REGISTRY, EpochSeededSampler, check_batch_shape
from utilities.errors import ConfigError


@REGISTRY.register("class_random")
class ClassRandomSampler(EpochSeededSampler):
    def __init__(self, opt, labels):
        super().__init__(labels, opt.bs, opt.seed)
        check_batch_shape(opt.bs, opt.samples_per_class)
        self.samples_per_class = opt.samples_per_class
        self.classes_per_batch = opt.bs // opt.samples_per_class
        classes, inverse = np.unique(labels, return_inverse=True)
        if len(classes) < self.classes_per_batch:
            raise ConfigError(
                f"A batch needs {self.classes_per_batch} classes (--bs {opt.bs} / --samples_per_class "
                f"{opt.samples_per_class}) but the training split has only {len(classes)}.")
        self.members = [np.flatnonzero(inverse == c) for c in range(len(classes))]

    def __iter__(self):
        rng = self.rng()
        for _ in range(len(self)):
            batch = []
            for c in rng.choice(len(self.members), self.classes_per_batch, replace=False):
                members = self.members[c]
                replace = len(members) < self.samples_per_class
                batch.extend(rng.choice(members, self.samples_per_class, replace=replace).tolist())
            yield batch
