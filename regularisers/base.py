"""The contract of a term added to the base loss: like a loss (criteria/base.py) it is an nn.Module called as
`term(embeddings, labels, **context)` returning an unweighted scalar, with `NEEDS`, `param_groups`, the hooks
`setup`/`on_epoch_start`/`on_step_end` and its state in its state dict; the objective multiplies it by the value of
the option named in `WEIGHT_OPTION`.

A term is on when `is_active(opt)` says so (by default: its weight is non-zero). A term that changes what the base
loss sees (e.g. divide and conquer's per-cluster masks) overrides `embeddings_for_base_loss`; the other terms and
the evaluation always see the model's own embeddings."""
from criteria.base import Criterion


class Regulariser(Criterion):
    WEIGHT_OPTION = None

    def __init__(self):
        super().__init__(batchminer=None)

    @classmethod
    def is_active(cls, opt):
        return bool(getattr(opt, cls.WEIGHT_OPTION, 0))

    def embeddings_for_base_loss(self, embeddings, labels, **context):
        """The embeddings the base loss is computed on (context: this term's NEEDS); by default unchanged."""
        return embeddings
