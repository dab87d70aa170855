"""Class-balanced batches: bs / samples_per_class random classes, samples_per_class random images of each.

Classes within a batch are distinct; a class with fewer images than samples_per_class repeats images. An epoch has
len(train set) // bs batches, so it sees about as many images as one pass over the data.

Cluster-aware (divide and conquer, regularisers/divide_and_conquer.py): once a component hands over per-image
cluster ids (`set_assignments`, -1 = left out), every batch is drawn as above from the images of one cluster, and
batch b comes from cluster b mod K: clusters take turns, each getting an equal share of the epoch's
len(train set) // bs batches, so smaller clusters are visited more often per image (as the reference's round-robin
over per-cluster loaders). A cluster with fewer classes than a batch needs contributes all its classes, with the
batch's images spread over them as evenly as possible. The batches' cluster ids are thus fixed by the assignments,
which only change between epochs, so a prefetching loader cannot put a batch under the wrong learner.

Under torchrun each global batch is split into contiguous parts (datasampler.RankShard); a batch lists its classes
one after the other with samples_per_class images each, so with --bs a multiple of samples_per_class x world size
(checked) every rank gets whole classes, bs / (samples_per_class x W) of them. Only a cluster with fewer classes
than a batch needs (its images spread unevenly over its classes) can have a class straddle two ranks; the loss,
which sees the gathered global batch, is the same either way.
"""
import numpy as np

from datasampler import REGISTRY, EpochSeededSampler, check_batch_shape
from utilities.errors import ConfigError


def class_members(labels):
    """Indices of each class's images, classes in sorted label order."""
    _, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    return np.split(order, np.cumsum(np.bincount(inverse))[:-1])


@REGISTRY.register("class_random")
class ClassRandomSampler(EpochSeededSampler):
    CLUSTER_AWARE = True

    def __init__(self, opt, labels):
        super().__init__(labels, opt.bs, opt.seed)
        check_batch_shape(opt.bs, opt.samples_per_class)
        self.samples_per_class = opt.samples_per_class
        self.classes_per_batch = opt.bs // opt.samples_per_class
        self.members = class_members(labels)
        if len(self.members) < self.classes_per_batch:
            raise ConfigError(
                f"A batch needs {self.classes_per_batch} classes (--bs {opt.bs} / --samples_per_class "
                f"{opt.samples_per_class}) but the training split has only {len(self.members)}.")

    def check_world_size(self, world_size):
        if self.classes_per_batch % world_size:
            raise ConfigError(
                f"--bs {self.batch_size} is the global batch of {self.classes_per_batch} classes x "
                f"{self.samples_per_class} images; each of the {world_size} torchrun processes takes whole classes, "
                f"so --bs must be a multiple of --samples_per_class x processes = "
                f"{self.samples_per_class * world_size} (e.g. --bs "
                f"{self.samples_per_class * world_size * max(1, round(self.classes_per_batch / world_size))}).")

    def cluster_members(self):
        """Per non-empty cluster (in id order), its images grouped by class."""
        groups = []
        for k in range(self.assignments.max() + 1):
            images = np.flatnonzero(self.assignments == k)
            if len(images):
                groups.append([images[group] for group in class_members(self.labels[images])])
        return groups

    def draw(self, rng, members):
        """One class-balanced batch from `members` (a list of per-class index arrays)."""
        n_classes = min(self.classes_per_batch, len(members))
        per_class = np.full(n_classes, self.batch_size // n_classes)
        if self.batch_size % n_classes:
            per_class[rng.choice(n_classes, self.batch_size % n_classes, replace=False)] += 1
        batch = []
        for c, n in zip(rng.choice(len(members), n_classes, replace=False), per_class):
            batch.extend(rng.choice(members[c], n, replace=len(members[c]) < n).tolist())
        return batch

    def __iter__(self):
        rng = self.rng()
        groups = [self.members] if self.assignments is None else self.cluster_members()
        for b in range(len(self)):
            yield self.draw(rng, groups[b % len(groups)])
