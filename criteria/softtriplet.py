"""SoftTriple loss (Qian et al., ICCV 2019): K learned centres per class, softly assigned.

With unit embeddings x_i and unit centres w_c^k, the similarity to class c is the softmax-weighted mean over its centres
  S_ic = sum_k softmax_k(x_i . w_c^k / gamma) x_i . w_c^k,
classification uses a scale lambda and a margin delta on the true class, and a regulariser pulls a class's centres
together so that surplus centres merge:
  L = mean_i -log softmax_c( lambda (S_ic - delta [c = y_i]) )_{y_i}
      + tau * sum_c sum_{k < k'} sqrt(2 + 1e-5 - 2 w_c^k . w_c^k') / (C K (K - 1))      (tau = --..._reg_weight).
This is the paper's and its authors' code's definition. Roth's version differs (softmax over classes instead of centres,
gamma as a multiplier instead of 1/gamma, centres normalised across the wrong axis, embeddings left to a _normalize
backbone); we do not reproduce that.
Centres start as U(-1/sqrt(CK), 1/sqrt(CK)) (Roth, PML) and learn with lr x --loss_softtriplet_lrmulti (Roth: 1; the
authors' runs use 100) and no weight decay (Roth's proxy group carries none).
"""
import math

import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from utilities.argtypes import nonnegative_float, positive_float, positive_int

# The authors' epsilon: keeps the square root differentiable when two centres coincide.
DISTANCE_EPS = 1e-5


@REGISTRY.register("softtriplet")
class SoftTripleLoss(Criterion):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_softtriplet_n_centroids", default=2, type=positive_int, help="Centres per class K.")
        group.add_argument("--loss_softtriplet_margin_delta", default=0.01, type=nonnegative_float,
                           help="Margin delta.")
        group.add_argument("--loss_softtriplet_gamma", default=0.1, type=positive_float,
                           help="Temperature gamma of the soft assignment to a class's centres.")
        group.add_argument("--loss_softtriplet_lambda", default=8.0, type=positive_float, help="Logit scale lambda.")
        group.add_argument("--loss_softtriplet_reg_weight", default=0.2, type=nonnegative_float,
                           help="Weight tau of the centre-merging regulariser.")
        group.add_argument("--loss_softtriplet_lrmulti", default=1.0, type=positive_float,
                           help="Learning-rate multiplier for the centres (Roth: 1).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.n_centroids = opt.loss_softtriplet_n_centroids
        self.margin_delta = opt.loss_softtriplet_margin_delta
        self.gamma = opt.loss_softtriplet_gamma
        self.lam = opt.loss_softtriplet_lambda
        self.reg_weight = opt.loss_softtriplet_reg_weight
        self.weight_decay = 0.0  # the class proxies are not decayed
        self.lr_multiplier = opt.loss_softtriplet_lrmulti
        self.num_classes = num_classes
        # Row c * K + k is centre k of class c.
        bound = 1 / math.sqrt(num_classes * self.n_centroids)
        self.centres = torch.nn.Parameter(
            torch.empty(num_classes * self.n_centroids, embed_dim).uniform_(-bound, bound))

    def forward(self, batch, labels, **context):
        centres = F.normalize(self.centres, dim=1).view(self.num_classes, self.n_centroids, -1)
        similarity = torch.einsum("bd,ckd->bck", F.normalize(batch, dim=1), centres)
        class_similarity = (F.softmax(similarity / self.gamma, dim=2) * similarity).sum(dim=2)
        margin = self.margin_delta * F.one_hot(labels, self.num_classes).to(class_similarity.dtype)
        classification = F.cross_entropy(self.lam * (class_similarity - margin), labels)

        first, second = torch.triu_indices(self.n_centroids, self.n_centroids, offset=1, device=batch.device)
        centre_similarity = (centres[:, first] * centres[:, second]).sum(dim=2)
        # With K = 1 there are no pairs: the sum is 0 and the normaliser is clamped to stay finite.
        regulariser = torch.sqrt(2 + DISTANCE_EPS - 2 * centre_similarity).sum() / max(
            self.num_classes * self.n_centroids * (self.n_centroids - 1), 1)
        return classification + self.reg_weight * regulariser
