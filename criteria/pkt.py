"""Probabilistic Knowledge Transfer (Passalis & Tefas, ECCV 2018), as the embedding-transfer baseline of Kim et al.,
"Embedding Transfer with Label Relaxation", CVPR 2021 (code: tjddus9597/LabelRelaxation-CVPR21, code/ET_losses.py,
itself from the PKT authors' code).

Each side's cosine similarities become row-wise probability distributions, and the student (batch, B x D_s) matches
the teacher's (teacher_embeds, B x D_t):
  u_i = x_i / (||x_i|| + 1e-7),   q_ij = ((<u_i, u_j> + 1) / 2) / sum_k ((<u_i, u_k> + 1) / 2)   (student),
  p_ij likewise for the teacher,
  L = 1/N^2 sum_{i,j} p_ij log((p_ij + 1e-7) / (q_ij + 1e-7)),
i.e. KL(teacher || student) per row, averaged over all N^2 entries (the diagonal included in the row sums and in the
loss) rather than summed per row, as in the authors' code. It has no hyper-parameters.

Departure: the authors' code sets NaN entries of u to 0. They can only come from non-finite embeddings (a zero row
divides to 0 thanks to the 1e-7), so here they are left to show as a NaN loss instead of being hidden.
"""
import torch

from criteria import REGISTRY
from criteria.base import Criterion

EPS = 1e-7


def cosine_probabilities(embeds):
    """Row-normalised (cosine + 1) / 2 similarities, N x N."""
    unit = embeds / (embeds.norm(dim=1, keepdim=True) + EPS)
    similarity = (unit @ unit.T + 1) / 2
    return similarity / similarity.sum(dim=1, keepdim=True)


@REGISTRY.register("pkt")
class PKTLoss(Criterion):
    NEEDS = frozenset({"teacher_embeds"})

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)

    def forward(self, batch, labels, teacher_embeds, **context):
        with torch.no_grad():
            teacher = cosine_probabilities(teacher_embeds)
        student = cosine_probabilities(batch)
        return (teacher * torch.log((teacher + EPS) / (student + EPS))).mean()
