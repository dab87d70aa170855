"""Hard DarkRank (Chen et al., AAAI 2018) with a triplet term, as the embedding-transfer baseline of Kim et al.,
"Embedding Transfer with Label Relaxation", CVPR 2021 (code: tjddus9597/LabelRelaxation-CVPR21, code/ET_losses.py
HardDarkRank, code/DML_losses.py TripletLoss).

Student (batch) and teacher (teacher_embeds) embeddings are both L2-normalised. Student scores are
s_ij = -alpha * d_ij^beta with d the plain Euclidean distance. For anchor i, pi_i = (pi_i1, ..., pi_iK) are its K
nearest neighbours under the teacher's distances, nearest first, the anchor itself excluded
(K = min(--loss_darkrank_permute_len, N - 1)). The student should give that ranking a high Plackett-Luce probability:
  log P_i = sum_{k=1..K} ( s_{i,pi_ik} - log sum_{m=k..K} exp(s_{i,pi_im}) ),
  L = -1/N sum_i log P_i + w * T,
  T = mean over the violating triplets of (d_ap - d_an + margin), over triplets (a, p, n) with y_a = y_p, a != p,
      y_n != y_a and d_ap - d_an + margin > 0 (T = 0 if there is none), on the normalised student embeddings.
Defaults are the authors': --loss_darkrank_alpha 3, --loss_darkrank_beta 3, --loss_darkrank_permute_len 4,
--loss_darkrank_triplet_w 1, --loss_darkrank_triplet_margin 0.2 (their comment: "followed RKD's setting").

T is what the authors' pytorch-metric-learning pair computes: TripletMarginMiner(0.2, type_of_triplets=
'DistanceWeightedMiner') treats that unknown type like "all" (every triplet with d_an - d_ap <= margin), and
TripletMarginLoss(0.2), with plain (power 1) Euclidean distances on normalised embeddings, averages relu(d_ap - d_an +
margin) over the positive values only (its AvgNonZeroReducer), so zero-loss triplets drop out. It is computed here
vectorised over all N^3 (a, p, n) instead of with the library.
The teacher's ranking is taken from its distances with the diagonal excluded; the authors sort the scores and drop
rank 0, which is the anchor itself since every other distance is >= 1e-6 (see criteria.rkd.pairwise_distance).
"""
import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from criteria.rkd import pairwise_distance
from utilities.argtypes import nonnegative_float, positive_float, positive_int


def plackett_luce_log_probability(ordered_scores):
    """Row-wise log-probability of ranking the columns in their given order: sum_k s_k - logsumexp(s_k, ..., s_K)."""
    tail_logsumexp = torch.logcumsumexp(ordered_scores.flip(1), dim=1).flip(1)
    return (ordered_scores - tail_logsumexp).sum(dim=1)


def margin_violating_triplet_loss(embeds, labels, margin):
    """Mean of d_ap - d_an + margin over the triplets where it is positive (0 if none), plain Euclidean distances."""
    distance = pairwise_distance(embeds)
    same_class = labels[:, None] == labels[None, :]
    self_pair = torch.eye(len(labels), dtype=torch.bool, device=embeds.device)
    valid_triplet = (same_class & ~self_pair)[:, :, None] & ~same_class[:, None, :]   # [anchor, positive, negative]
    violation = torch.relu(distance[:, :, None] - distance[:, None, :] + margin).masked_fill(~valid_triplet, 0.0)
    return violation.sum() / (violation > 0).sum().clamp(min=1)


@REGISTRY.register("darkrank")
class DarkRankLoss(Criterion):
    NEEDS = frozenset({"teacher_embeds"})

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_darkrank_alpha", default=3.0, type=positive_float,
                           help="Score scale alpha in s = -alpha * d^beta (authors: 3).")
        group.add_argument("--loss_darkrank_beta", default=3.0, type=positive_float,
                           help="Distance power beta in s = -alpha * d^beta (authors: 3).")
        group.add_argument("--loss_darkrank_permute_len", default=4, type=positive_int,
                           help="Number of the teacher's nearest neighbours whose order is transferred (authors: 4).")
        group.add_argument("--loss_darkrank_triplet_w", default=1.0, type=nonnegative_float,
                           help="Weight of the triplet term (authors: 1).")
        group.add_argument("--loss_darkrank_triplet_margin", default=0.2, type=nonnegative_float,
                           help="Margin of the triplet term, on plain Euclidean distances (authors: 0.2).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.alpha = opt.loss_darkrank_alpha
        self.beta = opt.loss_darkrank_beta
        self.permute_len = opt.loss_darkrank_permute_len
        self.triplet_weight = opt.loss_darkrank_triplet_w
        self.triplet_margin = opt.loss_darkrank_triplet_margin

    def forward(self, batch, labels, teacher_embeds, **context):
        student = F.normalize(batch, dim=1)
        with torch.no_grad():
            teacher_distance = pairwise_distance(F.normalize(teacher_embeds, dim=1))
            teacher_distance.fill_diagonal_(float("inf"))
            neighbours = teacher_distance.topk(min(self.permute_len, len(batch) - 1), dim=1, largest=False).indices
        student_score = -self.alpha * pairwise_distance(student).pow(self.beta)
        listwise = -plackett_luce_log_probability(student_score.gather(1, neighbours)).mean()
        triplet = margin_violating_triplet_loss(student, labels, self.triplet_margin)
        return listwise + self.triplet_weight * triplet
