"""Relaxed contrastive loss (Kim, Kim, Cho and Kwak, "Embedding Transfer with Label Relaxation for Improved Metric
Learning", CVPR 2021): a student learns from a frozen teacher's embedding space instead of labels.

With t the teacher's L2-normalised embeddings and s the student's (as the model gives them; the paper's students are
not normalised), over the N embeddings of the batch (all views):
  P_ij = exp(-||t_i - t_j||^2 / sigma)                      semantic similarity, no gradient
  d_ij = ||s_i - s_j|| / ((1/N) sum_k ||s_i - s_k||)        the row mean includes the zero self-distance
  L = (1/N) sum_{i != j} [ P_ij d_ij^2 + (1 - P_ij) relu(delta - d_ij)^2 ]
with `--loss_relaxed_contrastive_sigma` 1 and `--loss_relaxed_contrastive_delta` 1. This follows the authors' code
(tjddus9597/LabelRelaxation-CVPR21, code/Relaxed_losses.py) in every normalisation: sigma divides the squared
distance (not 2 sigma^2), each ordered pair counts (so each unordered pair twice), the sum is divided by N, not by
the number of pairs, and the row mean is part of the graph (not detached). Labels are not used. Distances are the
authors' pdist (criteria.rkd.pairwise_distance: squared distances clamped at 1e-12 before the root, the diagonal 0).
"""
import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from criteria.rkd import pairwise_distance
from utilities.argtypes import positive_float


def relative_distances(embeddings):
    """Student distances divided by their row mean over all N columns (the diagonal's zero included)."""
    distances = pairwise_distance(embeddings)
    return distances / distances.mean(dim=1, keepdim=True)


def teacher_similarities(teacher_embeds, sigma):
    """P_ij = exp(-||t_i - t_j||^2 / sigma) on the L2-normalised teacher embeddings (no gradient)."""
    with torch.no_grad():
        return torch.exp(-pairwise_distance(F.normalize(teacher_embeds, dim=1)).pow(2) / sigma)


def relaxed_contrastive(embeddings, teacher_embeds, sigma, delta):
    distances = relative_distances(embeddings)
    similarity = teacher_similarities(teacher_embeds, sigma)
    pull = similarity * distances.pow(2)
    push = (1.0 - similarity) * torch.relu(delta - distances).pow(2)
    off_diagonal = ~torch.eye(len(embeddings), dtype=torch.bool, device=embeddings.device)
    return ((pull + push) * off_diagonal).sum() / len(embeddings)


@REGISTRY.register("relaxed_contrastive")
class RelaxedContrastiveLoss(Criterion):
    NEEDS = frozenset({"teacher_embeds"})

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_relaxed_contrastive_sigma", default=1.0, type=positive_float,
                           help="Bandwidth of the teacher's similarity kernel exp(-d^2 / sigma).")
        group.add_argument("--loss_relaxed_contrastive_delta", default=1.0, type=positive_float,
                           help="Margin on the student's relative distances.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.sigma = opt.loss_relaxed_contrastive_sigma
        self.delta = opt.loss_relaxed_contrastive_delta

    def forward(self, batch, labels, teacher_embeds):
        return relaxed_contrastive(batch, teacher_embeds, self.sigma, self.delta)
