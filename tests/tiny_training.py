"""A few-second training run of any loss on synthetic features, for "this loss actually learns" tests.

Inputs are 32-d points whose class shows in 8 directions among loud noise (see synthetic_features); the model is a
small MLP with an L2-normalised (or raw) 16-d embedding. Training and test classes are disjoint, as in DML
benchmarks. The steps go through the training loop's own `TrainingSteps` with the run's objective, named optimisers
and sampler; only the data (feature vectors instead of images) and the model differ. `train_and_evaluate` returns
the mean loss of the first and of the last epoch (6 steps each) and test recall@1 before and after training.
"""
from types import SimpleNamespace

import torch
import torch.nn.functional as F

import criteria
import datasampler
from datasets.base import collate_skipping
from evaluation import evaluate
from tests.helpers import options
from utilities.optimizers import MAIN, NamedOptimizers, OptimizerSpec
from utilities.training import TrainingSteps, resolve_batchminer


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
    """An MLP with the model contract the loop relies on: a dict with "embeds" (and "features")."""

    def __init__(self, normalize=True, embed_dim=16):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, embed_dim))
        self.normalize = normalize

    def forward(self, x, return_logits=False, return_intermediate=False):
        out = self.net(x)
        return {"embeds": F.normalize(out, dim=1) if self.normalize else out, "features": x}


class FeatureItems(torch.utils.data.Dataset):
    """(feature vector, label, index) items, as ImageDataset yields for images."""

    def __init__(self, features, labels):
        self.features, self.labels = features, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.features[index], int(self.labels[index]), index


def recall_at_1(model, features, labels, metric="e_recall@1"):
    with torch.no_grad():
        embeds = model(features)["embeds"].numpy()
    return evaluate([metric], embeds, labels.numpy())[metric]


def train_and_evaluate(loss_name, *flags, steps=60, lr=3e-3, normalize=True, miner=None, seed=0,
                       metric="e_recall@1"):
    opt = options("--bs", "32", "--samples_per_class", "4", "--seed", str(seed), "--loss", loss_name,
                  "--decay", "0", *(("--batch_mining", miner) if miner else ()), *flags)
    torch.manual_seed(seed)
    n_train_classes = 16
    train_x, train_y = synthetic_features(n_train_classes, 12, seed=seed)
    test_x, test_y = synthetic_features(16, 12, seed=seed + 100)
    model = TinyModel(normalize=normalize)
    objective = criteria.build_objective(opt, num_classes=n_train_classes, embed_dim=16,
                                         batchminer=resolve_batchminer(opt))
    groups = [{"params": list(model.parameters()), "lr": lr, "name": "model"}, *objective.param_groups(lr)]
    optimizers = NamedOptimizers(groups, {MAIN: OptimizerSpec(kind="adam")})
    sampler = datasampler.select("class_random", opt, train_y.numpy())
    loader = torch.utils.data.DataLoader(FeatureItems(train_x, train_y), batch_sampler=sampler,
                                         collate_fn=collate_skipping)
    loop = TrainingSteps(model, objective, optimizers, torch.amp.GradScaler("cuda", enabled=False),
                         torch.device("cpu"))
    context = SimpleNamespace(step=0, epoch=0)
    before = recall_at_1(model, test_x, test_y, metric)
    epoch_losses = []
    while context.step < steps:
        sampler.set_epoch(len(epoch_losses) + 1)
        values, _ = loop.run(loader, context)
        epoch_losses.append(values["loss"])
    after = recall_at_1(model, test_x, test_y, metric)
    return epoch_losses[0], epoch_losses[-1], before, after
