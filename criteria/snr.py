"""Signal-to-noise-ratio triplet loss (Yuan et al., CVPR 2019) on mined triplets, as in Roth et al.

SNR(a, x) = var(a - x) / var(a), variances over the embedding dimensions (unbiased, as in Roth's code):
  L = sum_t max(0, SNR(a, p) - SNR(a, n) + margin) / (number of non-zero terms, at least 1)
      + reg_lambda * mean_t |sum_d a_d|,
the last term pulling the anchors' embeddings towards zero mean (the paper's regulariser). With the `distance`
batchminer reg_lambda is taken as 0, as Roth's code does, so that Roth's published `--loss snr --batch_mining distance`
runs train the same loss.
"""
import torch

from criteria import REGISTRY
from criteria.base import TUPLE_MINERS, Criterion
from utilities.argtypes import nonnegative_float


def signal_to_noise_ratio(anchor_embeds, other_embeds):
    return (anchor_embeds - other_embeds).var(dim=1) / anchor_embeds.var(dim=1)


@REGISTRY.register("snr")
class SNRTripletLoss(Criterion):
    ALLOWED_BATCHMINERS = TUPLE_MINERS
    REQUIRES_BATCHMINER = True
    DEFAULT_BATCHMINER = "distance"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_snr_margin", default=0.2, type=nonnegative_float,
                           help="Hinge margin on SNR distances.")
        group.add_argument("--loss_snr_reg_lambda", default=0.005, type=nonnegative_float,
                           help="Weight of the zero-mean regulariser (taken as 0 with --batch_mining distance).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.margin = opt.loss_snr_margin
        distance_mining = getattr(batchminer, "registry_name", None) == "distance"
        self.reg_lambda = 0.0 if distance_mining else opt.loss_snr_reg_lambda

    def forward(self, batch, labels, **context):
        anchors, positives, negatives = self.batchminer(batch.detach(), labels)
        if len(anchors) == 0:
            return batch.sum() * 0.0
        anchor_embeds = batch[anchors]
        hinge = torch.relu(signal_to_noise_ratio(anchor_embeds, batch[positives])
                           - signal_to_noise_ratio(anchor_embeds, batch[negatives]) + self.margin)
        snr_loss = hinge.sum() / (hinge > 0).sum().clamp(min=1)
        zero_mean_regulariser = anchor_embeds.sum(dim=1).abs().mean()
        return snr_loss + self.reg_lambda * zero_mean_regulariser
