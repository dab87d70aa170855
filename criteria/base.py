"""The contract every loss follows.

A loss is an nn.Module called as `loss(embeddings, labels, **context)` returning a scalar. `context` carries what
some methods need beyond the embeddings, filled by the training loop only for the keys the loss lists in `NEEDS`
(see `criteria.objective.CONTEXT_KEYS`; an unknown key is refused when the run starts):
  - "features": pooled backbone features, "logits": ImageNet logits of the backbone's classifier,
  - "intermediate": per-stage backbone outputs (feature distillation such as FitNet / attention transfer),
  - "images" and "indices": the batch itself (images as the model saw them, dataset indices),
  - "teacher_embeds", "teacher_features", "teacher_intermediate": a frozen teacher's embeddings, pooled backbone
    features and stage outputs for the batch (needs --teacher; computed once per step, without gradients),
  - "views": the number of augmentations per image (see VIEWS).
With `VIEWS = V > 1` every image of a batch is augmented V times: the loss receives V * B embeddings, view-major
(rows v * B .. (v + 1) * B - 1 are view v of the B images), labels and indices repeated accordingly.

A loss declares the optimiser groups of its own parameters (`param_groups`): by default one group at
`lr_multiplier` x the base learning rate, with `weight_decay` when set (else the optimiser's); a group may name its
own optimiser ("optimizer": name, see utilities/optimizers.py).
Hooks (all optional, see utilities/hooks.py): `setup(ctx)` on a fresh start and on --resume before the state is
loaded (so state built there and kept in buffers or the state dict is restored), `on_epoch_start(ctx)`,
`on_step_end(ctx)`.
"""
import torch

from utilities.errors import ConfigError


# The miners that return (anchor, positive, negative) index triplets, usable by every tuple-based loss.
TUPLE_MINERS = ("random", "semihard", "softhard", "distance", "rho_distance")


class Criterion(torch.nn.Module):
    # Names of batchminers this loss accepts; empty means it mines internally or needs no tuples.
    ALLOWED_BATCHMINERS = ()
    REQUIRES_BATCHMINER = False
    DEFAULT_BATCHMINER = None
    NEEDS = frozenset()
    VIEWS = 1

    def __init__(self, batchminer=None):
        super().__init__()
        self.batchminer = batchminer
        self.lr_multiplier = 1.0
        self.weight_decay = None

    @classmethod
    def check_batchminer(cls, batchminer):
        name = getattr(batchminer, "registry_name", None)
        if batchminer is None:
            if cls.REQUIRES_BATCHMINER:
                raise ConfigError(f"Loss '{cls.registry_name}' needs a batchminer; choose one of: "
                                  f"{', '.join(cls.ALLOWED_BATCHMINERS)} (--batch_mining).")
        elif name not in cls.ALLOWED_BATCHMINERS:
            accepted = ", ".join(cls.ALLOWED_BATCHMINERS) or "none (it selects its pairs itself)"
            raise ConfigError(f"Loss '{cls.registry_name}' cannot use batchminer '{name}'; it accepts: {accepted}.")

    def param_groups(self, base_lr):
        """Optimiser groups for the loss's own trainable parameters (proxies, learned margins)."""
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            return []
        group = {"params": params, "lr": base_lr * self.lr_multiplier, "name": f"loss_{self.registry_name}"}
        if self.weight_decay is not None:
            group["weight_decay"] = self.weight_decay
        return [group]

    def optimizer_specs(self, opt, steps_per_epoch):
        """{name: utilities.optimizers.OptimizerSpec} of optimisers other than "main" that its groups ask for."""
        return {}

    def setup(self, ctx):
        """Once per process before training: on a fresh start and on --resume, before the saved state is loaded."""

    def on_epoch_start(self, ctx):
        """At the start of every training epoch (ctx.epoch)."""

    def on_step_end(self, ctx):
        """After every optimiser step (ctx.step)."""


def masked_log1p_sum_exp(logits, mask):
    """log(1 + sum_j exp(logits_ij)) over the entries where mask is True, row-wise, computed stably."""
    masked = logits.masked_fill(~mask, float("-inf"))
    zeros = torch.zeros_like(masked[:, :1])
    return torch.logsumexp(torch.cat([zeros, masked], dim=1), dim=1)
