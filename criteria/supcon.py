"""Supervised contrastive loss (Khosla et al., NeurIPS 2020, the L_out form), on all pairs of the batch; no batchminer.

On cosine similarities s and temperature T, for anchor i with positives P_i (same class, i excluded):
  L_i = -1/|P_i| sum_{p in P_i} log( exp(s_ip / T) / sum_{j != i} exp(s_ij / T) ),
and the loss is the mean of L_i over anchors with at least one positive (zero when there are none).
"""
import torch
import torch.nn.functional as F

from batchminer import pair_masks
from criteria import REGISTRY
from criteria.base import Criterion
from utilities.argtypes import positive_float


@REGISTRY.register("supcon")
class SupConLoss(Criterion):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_supcon_temperature", default=0.1, type=positive_float, help="Temperature T.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.temperature = opt.loss_supcon_temperature

    def forward(self, batch, labels, **context):
        positives, _ = pair_masks(labels)
        valid_anchor = positives.any(dim=1)
        if not valid_anchor.any():
            return batch.sum() * 0.0
        embeds = F.normalize(batch, dim=1)
        logits = embeds[valid_anchor] @ embeds.T / self.temperature
        positives = positives[valid_anchor]
        is_self = torch.eye(len(labels), dtype=torch.bool, device=batch.device)[valid_anchor]
        log_prob = logits - torch.logsumexp(logits.masked_fill(is_self, float("-inf")), dim=1, keepdim=True)
        return -((log_prob * positives).sum(dim=1) / positives.sum(dim=1)).mean()
