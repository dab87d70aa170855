"""Batchminers: given a batch of embeddings and labels, choose the (anchor, positive, negative) tuples a loss uses.

Every miner is called as `miner(embeddings, labels) -> (anchors, positives, negatives)`: three equally long
LongTensors of batch indices for the tuple miners; `npair` returns a boolean (A, B) mask of negatives and `lifted`
masks of positives and negatives instead (see their files), as their losses use every pair at once. Anchors without
any positive or negative in the batch yield no tuple. Miners take
their own flags (`--miner_<name>_<param>`), never another component's.
"""
import torch

from utilities.registry import Registry

REGISTRY = Registry("batchminer", "batchminer")


def select(name, opt):
    return REGISTRY.get(name)(opt)


def pair_masks(labels):
    """Boolean (B, B) masks of positive pairs (same label, not the item itself) and negative pairs."""
    same_class = labels[:, None] == labels[None, :]
    positives = same_class & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return positives, ~same_class


def sample_one_per_row(weights):
    """One column index per row, drawn with probability proportional to the row's non-negative weights.

    Exponential race: with E_j = -log(U_j) ~ Exp(1), argmin_j E_j / w_j (= argmax_j log(U_j) / w_j) falls on j with
    probability w_j / sum(w), exactly as torch.multinomial would draw, at a fraction of its cost on batch-sized
    matrices. Zero weights give -inf and are never drawn; rows must have positive mass.
    """
    return (torch.rand_like(weights).log_() / weights).argmax(dim=1)
