"""Relaxed multi-similarity loss, the relaxed-contrastive paper's multi-similarity variant (Kim et al., CVPR 2021).

With P_ij the teacher similarities and d_ij the student's relative distances of criteria/relaxed_contrastive.py,
and P_ij set to 1 for two views of the same image, per anchor i over j != i:
  L_i = (1/a) log(1 + sum_j P_ij exp(a d_ij)) + (1/b) log(1 + sum_j (1 - P_ij) exp(b (delta - d_ij)))
  L = mean_i L_i
with a = `--loss_relaxed_ms_pos_scale` 1, b = `--loss_relaxed_ms_neg_scale` 2, `--loss_relaxed_ms_sigma` 1 and
`--loss_relaxed_ms_delta` 1, the values in the authors' code (code/Relaxed_losses.py, class Relaxed_MS). That class
does not run as released (it reads an undefined `student_col`) and pairs item i with item i + N/2 as views, which
is only right for two views; here views are recognised by their dataset index, so it works for any --views (with
one view there are no such pairs). Its mean over the anchors with L_i > 0 is the mean over all anchors, since every
L_i > 0.
"""
import torch

from criteria import REGISTRY
from criteria.base import Criterion
from criteria.relaxed_contrastive import relative_distances, teacher_similarities
from utilities.argtypes import positive_float


def relaxed_multisimilarity(embeddings, teacher_embeds, indices, sigma, delta, pos_scale, neg_scale):
    distances = relative_distances(embeddings)
    same_image = indices[:, None] == indices[None, :]
    similarity = torch.where(same_image, 1.0, teacher_similarities(teacher_embeds, sigma))
    others = ~torch.eye(len(embeddings), dtype=torch.bool, device=embeddings.device)
    pull = (similarity * torch.exp(pos_scale * distances) * others).sum(dim=1)
    push = ((1.0 - similarity) * torch.exp(neg_scale * (delta - distances)) * others).sum(dim=1)
    return (torch.log1p(pull) / pos_scale + torch.log1p(push) / neg_scale).mean()


@REGISTRY.register("relaxed_ms")
class RelaxedMultiSimilarityLoss(Criterion):
    NEEDS = frozenset({"teacher_embeds", "indices"})

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_relaxed_ms_sigma", default=1.0, type=positive_float,
                           help="Bandwidth of the teacher's similarity kernel exp(-d^2 / sigma).")
        group.add_argument("--loss_relaxed_ms_delta", default=1.0, type=positive_float,
                           help="Margin on the student's relative distances.")
        group.add_argument("--loss_relaxed_ms_pos_scale", default=1.0, type=positive_float, help="Pull scale a.")
        group.add_argument("--loss_relaxed_ms_neg_scale", default=2.0, type=positive_float, help="Push scale b.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.sigma = opt.loss_relaxed_ms_sigma
        self.delta = opt.loss_relaxed_ms_delta
        self.pos_scale = opt.loss_relaxed_ms_pos_scale
        self.neg_scale = opt.loss_relaxed_ms_neg_scale

    def forward(self, batch, labels, teacher_embeds, indices):
        return relaxed_multisimilarity(batch, teacher_embeds, indices.to(batch.device), self.sigma, self.delta,
                                       self.pos_scale, self.neg_scale)
