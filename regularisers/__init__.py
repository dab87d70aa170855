"""Terms added on top of the base loss (`--loss`): language guidance, distillation terms, mask penalties, ...

One file per term. A term subclasses `regularisers.base.Regulariser`, registers itself with
`@REGISTRY.register("name")`, declares its flags in a static `add_arguments(group)` (namespaced, e.g.
`--language_distill_w`) and names the flag that weights it in `WEIGHT_OPTION`: the term is on when that
weight is non-zero (or when its `is_active(opt)` says so). `criteria.build_objective()` builds the active terms and merges them with the base loss.
"""
from utilities.registry import Registry

REGISTRY = Registry("regulariser", "regularisers")


def active(opt, num_classes, embed_dim):
    """{name: (weight, term)} for every registered term that is active (by default: weight option non-zero)."""
    terms = {}
    for name, term_class in REGISTRY.items():
        if term_class.is_active(opt):
            weight = float(getattr(opt, term_class.WEIGHT_OPTION, 0))
            terms[name] = (weight, term_class(opt, num_classes=num_classes, embed_dim=embed_dim))
    return terms
