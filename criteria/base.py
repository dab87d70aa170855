"""The contract every loss follows.

A loss is an nn.Module called as `loss(embeddings, labels, **context)` returning a scalar. `context` carries what
some methods need beyond the embeddings, filled by the training loop only when the loss lists the key in `NEEDS`:
  - "features": pooled backbone features, "feature_map": last feature map, "logits": ImageNet logits,
  - "intermediate": per-stage backbone outputs (feature distillation such as FitNet / attention transfer),
  - "images" and "indices": the batch itself (losses that run a frozen teacher or look up precomputed targets).
Hooks let a loss prepare before training (e.g. embed class names with a language model, run a teacher once) and act at
the start of chosen epochs (e.g. re-cluster the training set); both receive a TrainingContext.
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

    def __init__(self, batchminer=None):
        super().__init__()
        self.batchminer = batchminer

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
        return [{"params": params, "lr": base_lr, "name": f"loss_{self.registry_name}"}] if params else []

    def on_train_start(self, context):
        """Called once before epoch 0's training step."""

    def on_epoch_start(self, epoch, context):
        """Called at the start of every training epoch."""


def masked_log1p_sum_exp(logits, mask):
    """log(1 + sum_j exp(logits_ij)) over the entries where mask is True, row-wise, computed stably."""
    masked = logits.masked_fill(~mask, float("-inf"))
    zeros = torch.zeros_like(masked[:, :1])
    return torch.logsumexp(torch.cat([zeros, masked], dim=1), dim=1)
