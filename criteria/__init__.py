"""Training losses. One file per loss; each registers itself and declares its own `--loss_<name>_*` flags.

Stable entry point for tools outside the training loop:
    loss = criteria.select(opt.loss, opt, num_classes=C, embed_dim=D, batchminer=miner)
    value = loss(embeddings, labels)        # float tensor (B, D), integer tensor (B,) -> scalar
"""
from criteria.base import Criterion
from utilities.registry import Registry

REGISTRY = Registry("loss", "criteria")


def select(name, opt, num_classes, embed_dim, batchminer=None):
    criterion_class = REGISTRY.get(name)
    criterion_class.check_batchminer(batchminer)
    return criterion_class(opt, num_classes=num_classes, embed_dim=embed_dim, batchminer=batchminer)


__all__ = ["Criterion", "REGISTRY", "select"]
