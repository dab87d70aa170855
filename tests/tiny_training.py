"""A few-second training run of any loss on synthetic features, for "this loss actually learns" tests.

Inputs are 32-d points whose class shows in 8 directions among loud noise (see synthetic_features); the model is a small MLP with an L2-normalised (or raw) 16-d embedding. Training and test classes are disjoint, as in
DML benchmarks. `train_and_evaluate` returns the mean loss of the first and last few steps and test recall@1 before
and after training.
"""
import numpy as np
import torch
import torch.nn.functional as F

import batchminer as batchminer_registry
import criteria
import datasampler
from evaluation import evaluate
from tests.helpers import options


def synthetic_features(n_classes, per_class, seed, dim=32, signal_dim=8):
    """Class identity lives in a few directions; the rest is loud class-independent noise, all randomly rotated.

    An untrained network ranks mostly by the noise; learning to ignore it carries over to unseen classes.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    centres = torch.randn(n_classes, signal_dim, generator=generator)
    signal = centres[labels] + 0.25 * torch.randn(len(labels), signal_dim, generator=generator)
    nuisance = 1.2 * torch.randn(len(labels), dim - signal_dim, generator=generator)
    rotation = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(1234)))[0]
    return torch.cat([signal, nuisance], dim=1) @ rotation, labels


class TinyModel(torch.nn.Module):
    def __init__(self, normalize=True, embed_dim=16):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, embed_dim))
        self.normalize = normalize

    def forward(self, x):
        out = self.net(x)
        return F.normalize(out, dim=1) if self.normalize else out


def recall_at_1(model, features, labels):
    with torch.no_grad():
        embeds = model(features).numpy()
    return evaluate(["e_recall@1"], embeds, labels.numpy())["e_recall@1"]


def train_and_evaluate(loss_name, *flags, steps=60, lr=3e-3, normalize=True, miner=None, seed=0):
    # Options first: building the parser imports every component, and some imports draw from the global RNG.
    opt = options("--bs", "32", "--samples_per_class", "4", "--seed", str(seed), *flags)
    torch.manual_seed(seed)
    n_train_classes = 16
    train_x, train_y = synthetic_features(n_train_classes, 12, seed=seed)
    test_x, test_y = synthetic_features(16, 12, seed=seed + 100)
    model = TinyModel(normalize=normalize)
    miner_object = batchminer_registry.select(miner, opt) if miner else None
    if miner_object is None and criteria.REGISTRY.get(loss_name).DEFAULT_BATCHMINER:
        miner_object = batchminer_registry.select(criteria.REGISTRY.get(loss_name).DEFAULT_BATCHMINER, opt)
    loss_fn = criteria.select(loss_name, opt, num_classes=n_train_classes, embed_dim=16, batchminer=miner_object)
    groups = [{"params": model.parameters(), "lr": lr}, *loss_fn.param_groups(lr)]
    optimizer = torch.optim.Adam(groups)
    sampler = datasampler.select("class_random", opt, train_y.numpy())
    before = recall_at_1(model, test_x, test_y)
    losses, epoch = [], 0
    while len(losses) < steps:
        sampler.set_epoch(epoch)
        for batch in sampler:
            batch = torch.as_tensor(batch)
            loss = loss_fn(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        epoch += 1
    after = recall_at_1(model, test_x, test_y)
    return float(np.mean(losses[:5])), float(np.mean(losses[-5:])), before, after
