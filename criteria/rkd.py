"""Relational Knowledge Distillation (Park et al., CVPR 2019), as the embedding-transfer baseline of Kim et al.,
"Embedding Transfer with Label Relaxation", CVPR 2021 (code: tjddus9597/LabelRelaxation-CVPR21, code/ET_losses.py).

The student (batch, B x D_s) learns the teacher's (teacher_embeds, B x D_t) pairwise distances and triplet angles:
  L = w_dist * mean_{i,j} h(d_ij / mu - d'_ij / mu') + w_angle * mean_{i,j,k} h(<e_ij, e_ik> - <e'_ij, e'_ik>),
where d_ij is the plain Euclidean distance between student embeddings i and j (d_ii = 0), mu the mean of d over the
N(N-1) off-diagonal entries, e_ij = (x_j - x_i) / ||x_j - x_i|| (the zero vector when x_j = x_i), primes mark the
teacher, and h is the smooth L1 loss with beta 1 (0.5 z^2 if |z| < 1, else |z| - 0.5). The means run over all N^2
distance entries and all N^3 angle entries, the diagonal and degenerate (zero-vector) entries included, as in the
authors' code. Defaults are the authors' hard-coded weights: --loss_rkd_dist_w 1, --loss_rkd_angle_w 2.

The teacher's embeddings are L2-normalised first: the authors' teacher outputs unit vectors (--source-norm 1), while
here that depends on the teacher's architecture (a no-op for a `_normalize` one). The student's are used as they come
(the authors' --target-norm 0); both terms are invariant to a global scale of either side. No gradient reaches the
teacher, and none flows through the zeroed diagonal of the distance matrix.
"""
import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from utilities.argtypes import nonnegative_float


def pairwise_distance(embeds):
    """Plain Euclidean distances (N x N) as the authors' pdist computes them: from the Gram matrix, the squared
    distance clamped at 1e-12 before the square root (so off-diagonal entries are >= 1e-6 and their gradient is
    finite for coincident points), and the diagonal set to exactly 0."""
    squared_norm = embeds.pow(2).sum(dim=1)
    squared = (squared_norm[:, None] + squared_norm[None, :] - 2 * embeds @ embeds.T).clamp(min=1e-12)
    self_pair = torch.eye(len(embeds), dtype=torch.bool, device=embeds.device)
    return squared.sqrt().masked_fill(self_pair, 0.0)


def mean_normalised_distance(embeds):
    """Pairwise distances divided by their mean over the N(N-1) off-diagonal entries."""
    distance = pairwise_distance(embeds)
    n = len(embeds)
    return distance / (distance.sum() / (n * (n - 1)))


def triplet_angles(embeds):
    """N x N x N cosines <e_ij, e_ik> of the angle at vertex i of every (i, j, k)."""
    # F.normalize maps the zero vector x_i - x_i to 0, so entries with j = i or k = i are 0 on both sides.
    unit_differences = F.normalize(embeds[None, :, :] - embeds[:, None, :], dim=2)
    return unit_differences @ unit_differences.transpose(1, 2)


@REGISTRY.register("rkd")
class RKDLoss(Criterion):
    NEEDS = frozenset({"teacher_embeds"})

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_rkd_dist_w", default=1.0, type=nonnegative_float,
                           help="Weight of the distance term (authors: 1).")
        group.add_argument("--loss_rkd_angle_w", default=2.0, type=nonnegative_float,
                           help="Weight of the angle term (authors: 2).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.dist_weight = opt.loss_rkd_dist_w
        self.angle_weight = opt.loss_rkd_angle_w

    def forward(self, batch, labels, teacher_embeds, **context):
        with torch.no_grad():
            teacher = F.normalize(teacher_embeds, dim=1)
            teacher_distance = mean_normalised_distance(teacher)
            teacher_angle = triplet_angles(teacher)
        distance_term = F.smooth_l1_loss(mean_normalised_distance(batch), teacher_distance, beta=1.0)
        angle_term = F.smooth_l1_loss(triplet_angles(batch), teacher_angle, beta=1.0)
        return self.dist_weight * distance_term + self.angle_weight * angle_term
