"""Batch samplers: which training images form each mini-batch.

A sampler is a `torch.utils.data.Sampler` over lists of dataset indices (use it as a DataLoader `batch_sampler`).
Batches are a pure function of (seed, epoch, assignments): `set_epoch(e)` picks the epoch, so a resumed run draws
exactly the batches the uninterrupted run would have; the checkpoint state is the epoch and any assignments a
component handed over (`set_assignments`, e.g. cluster ids). Whether the loop embeds the training set before an
epoch is asked per epoch (`needs_embeddings`).

Under torchrun (utilities/distributed.py) every rank runs the same sampler, so every rank draws the same global
batches, exactly those of one process with the same seed; `RankShard` hands rank r its part of each (`shard`:
contiguous, bs / W positions each, so the shards are disjoint and together are the global batch in order), each
image with the seed its augmentation is drawn with. The state (epoch, assignments) does not depend on the world
size, so a checkpoint resumes with any number of processes.
"""
import numpy as np
import torch

from utilities.errors import ConfigError
from utilities.registry import Registry

REGISTRY = Registry("data sampler", "datasampler")


def check_batch_shape(bs, samples_per_class):
    """The one check that class-balanced batches can be formed: bs must be a multiple of samples_per_class."""
    if samples_per_class < 1 or bs % samples_per_class:
        raise ConfigError(f"--bs ({bs}) must be a multiple of --samples_per_class ({samples_per_class}).")


def select(name, opt, labels):
    """Build sampler `name` for the training labels (one int per image)."""
    return REGISTRY.get(name)(opt, np.asarray(labels))


class EpochSeededSampler(torch.utils.data.Sampler):
    # Samplers that choose batches by embedding coverage set this (or override needs_embeddings); the training loop
    # then embeds the training set (test transform) before the epoch and hands it over through set_embeddings().
    REQUIRES_EMBEDDINGS = False

    def __init__(self, labels, batch_size, seed):
        if batch_size < 2:
            raise ConfigError(f"--bs must be at least 2, got {batch_size}.")
        if len(labels) < batch_size:
            raise ConfigError(f"--bs {batch_size} is larger than the training set ({len(labels)} images).")
        self.labels = labels
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.assignments = None

    def set_epoch(self, epoch):
        self.epoch = epoch

    def setup(self, ctx):
        """Hook (utilities/hooks.py): once per process, before any saved state is loaded."""

    def on_epoch_start(self, ctx):
        """Hook: at the start of every training epoch, after the objective's."""

    def needs_embeddings(self, epoch):
        """Whether the loop must embed the training set before this epoch (asked every epoch)."""
        return self.REQUIRES_EMBEDDINGS

    def set_assignments(self, assignments):
        """Per-image assignments (e.g. cluster ids, int [N]) handed over by a component's hook; checkpointed."""
        self.assignments = None if assignments is None else np.asarray(assignments, dtype=np.int64)

    def set_embeddings(self, embeddings):
        """(N, D) float32 embeddings of the training set, row i = dataset index i."""
        self.embeddings = embeddings

    def rng(self):
        return np.random.default_rng([self.seed, self.epoch])

    def check_world_size(self, world_size):
        """Refuse (ConfigError) a world size the global batch cannot be split over evenly."""
        if self.batch_size % world_size:
            raise ConfigError(f"--bs ({self.batch_size}) is the global batch, split evenly over the {world_size} "
                              f"torchrun processes: it must be a multiple of {world_size}.")

    def shard(self, size, rank, world_size):
        """Positions in a global batch of `size` that rank `rank` of `world_size` trains on: the rank-th of
        world_size contiguous, equal parts (a skipped unreadable image only shortens its rank's part)."""
        part = size // world_size
        return range(rank * part, (rank + 1) * part)

    def __len__(self):
        """Batches per epoch: as many as cover the training set once (the last incomplete batch dropped)."""
        return len(self.labels) // self.batch_size

    def state_dict(self):
        return {"epoch": self.epoch, "assignments": self.assignments}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]
        self.assignments = state.get("assignments")


def augmentation_seeds(seed, epoch, batch, size):
    """One seed per position of a global batch, fixed by (seed, epoch, batch number): what an image is augmented
    with under torchrun does not depend on the rank, the world size or the data-loading workers."""
    return np.random.SeedSequence([seed, epoch, batch, 0xA06]).generate_state(size)


class RankShard(torch.utils.data.Sampler):
    """Rank `rank`'s part of every global batch of `sampler` (a DataLoader batch_sampler), as (dataset index,
    augmentation seed) items; see the module docstring. As many batches per epoch as the sampler has."""

    def __init__(self, sampler, rank, world_size):
        sampler.check_world_size(world_size)
        self.sampler = sampler
        self.rank = rank
        self.world_size = world_size

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        for number, batch in enumerate(self.sampler):
            seeds = augmentation_seeds(self.sampler.seed, self.sampler.epoch, number, len(batch))
            yield [(int(batch[p]), int(seeds[p])) for p in self.sampler.shard(len(batch), self.rank, self.world_size)]
