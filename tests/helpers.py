"""Small shared test utilities."""
import torch
import torch.nn.functional as F

import parameters


def options(*argv):
    """An options namespace exactly as main.py would build it from these flags."""
    return parameters.parse_args(list(argv))


def clustered_batch(n_classes=8, per_class=4, dim=16, seed=0, spread=0.6):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, dim, generator=generator)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    embeds = centres[labels] + spread * torch.randn(len(labels), dim, generator=generator)
    return F.normalize(embeds, dim=1).double(), labels


def loss_and_grad(loss_fn, embeds, labels):
    x = embeds.clone().requires_grad_(True)
    value = loss_fn(x, labels)
    value.backward()
    return value.detach(), x.grad
