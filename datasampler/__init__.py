"""Batch samplers: which training images form each mini-batch.

A sampler is a `torch.utils.data.Sampler` over lists of dataset indices (use it as a DataLoader `batch_sampler`).
Batches are a pure function of (seed, epoch): `set_epoch(e)` picks the epoch, so a resumed run draws exactly the
batches the uninterrupted run would have, and the sampler's checkpoint state is just its epoch.
"""
import numpy as np
import torch

from utilities.errors import ConfigError
from utilities.registry import Registry

REGISTRY = Registry("data sampler", "datasampler")


def select(name, opt, labels):
    """Build sampler `name` for the training labels (one int per image)."""
    return REGISTRY.get(name)(opt, np.asarray(labels))


class EpochSeededSampler(torch.utils.data.Sampler):
    # Samplers that choose batches by embedding coverage set this; the training loop then embeds the training set
    # (test transform) at the start of every epoch and hands it over through set_embeddings().
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

    def set_epoch(self, epoch):
        self.epoch = epoch

    def set_embeddings(self, embeddings):
        """(N, D) float32 embeddings of the training set, row i = dataset index i."""
        self.embeddings = embeddings

    def rng(self):
        return np.random.default_rng([self.seed, self.epoch])

    def __len__(self):
        """Batches per epoch: as many as cover the training set once (the last incomplete batch dropped)."""
        return len(self.labels) // self.batch_size

    def state_dict(self):
        return {"epoch": self.epoch}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]
