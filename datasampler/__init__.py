"""Batch samplers: which training images form each mini-batch.

A sampler is a `torch.utils.data.Sampler` over lists of dataset indices (use it as a DataLoader `batch_sampler`).
Batches are a pure function of (seed, epoch, assignments): `set_epoch(e)` picks the epoch, so a resumed run draws
exactly the batches the uninterrupted run would have; the checkpoint state is the epoch and any assignments a
component handed over (`set_assignments`, e.g. cluster ids). Whether the loop embeds the training set before an
epoch is asked per epoch (`needs_embeddings`).
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

    def __len__(self):
        """Batches per epoch: as many as cover the training set once (the last incomplete batch dropped)."""
        return len(self.labels) // self.batch_size

    def state_dict(self):
        return {"epoch": self.epoch, "assignments": self.assignments}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]
        self.assignments = state.get("assignments")
