"""The contract of a term added to the base loss: like a loss (criteria/base.py) it is an nn.Module called as
`term(embeddings, labels, **context)` returning an unweighted scalar, with `NEEDS`, `param_groups`, the hooks
`setup`/`on_epoch_start`/`on_step_end` and its state in its state dict; the objective multiplies it by the value of
the option named in `WEIGHT_OPTION`."""
from criteria.base import Criterion


class Regulariser(Criterion):
    WEIGHT_OPTION = None

    def __init__(self):
        super().__init__(batchminer=None)
