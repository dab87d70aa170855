"""Training losses. One file per loss; each registers itself and declares its own `--loss_<name>_*` flags.

Stable entry points:
    loss = criteria.select(opt.loss, opt, num_classes=C, embed_dim=D, batchminer=miner)   # the base loss alone
    value = loss(embeddings, labels)        # float tensor (B, D), integer tensor (B,) -> scalar
    objective = criteria.build_objective(opt, num_classes=C, embed_dim=D, batchminer=miner)      # what a run trains:
                                            # the base loss plus every regulariser whose weight flag is non-zero
"""
from criteria.base import Criterion
from utilities.registry import Registry

REGISTRY = Registry("loss", "criteria")


def select(name, opt, num_classes, embed_dim, batchminer=None):
    criterion_class = REGISTRY.get(name)
    criterion_class.check_batchminer(batchminer)
    return criterion_class(opt, num_classes=num_classes, embed_dim=embed_dim, batchminer=batchminer)


def build_objective(opt, num_classes, embed_dim, batchminer=None):
    import regularisers
    from criteria.objective import Objective
    base = select(opt.loss, opt, num_classes=num_classes, embed_dim=embed_dim, batchminer=batchminer)
    return Objective(base, regularisers.active(opt, num_classes, embed_dim), views=opt.views)


__all__ = ["Criterion", "REGISTRY", "build_objective", "select"]
