"""Terms added on top of the base loss (`--loss`): language guidance, distillation terms, mask penalties, ...

One file per term. A term subclasses `regularisers.base.Regulariser`, registers itself with
`@REGISTRY.register("name")`, declares its flags in a static `add_arguments(group)` (namespaced, e.g.
`--language_distill_w`) and names the flag that weights it in `WEIGHT_OPTION`: the term is on exactly when that
weight is non-zero. `criteria.build_objective()` builds the active terms and merges them with the base loss.
"""
from utilities.registry import Registry

REGISTRY = Registry("regulariser", "regularisers")


def active(opt, num_classes, embed_dim):
    """{name: (weight, term)} for every registered term whose weight option is non-zero, by name."""
    terms = {}
    for name, term_class in REGISTRY.items():
        weight = getattr(opt, term_class.WEIGHT_OPTION, 0)
        if weight:
            terms[name] = (float(weight), term_class(opt, num_classes=num_classes, embed_dim=embed_dim))
    return terms
