"""ArcFace, additive angular margin (Deng et al., CVPR 2019).

With theta_ic the angle between x_i and the class weight w_c, the target logit gets an angular margin m:
  L = mean_i -log softmax( s * [cos theta_ic, with c = y_i replaced by psi(theta_{i,y_i})] )_{y_i},
  psi(theta) = cos(theta + m) if theta <= pi - m, else cos(theta) - m sin(m);
the second branch, from the authors' implementation, keeps the target logit decreasing in theta where theta + m would
pass pi. (Roth's version adds the margin's change to every logit of a row, which the softmax cancels, and clamps
cosines below at 1e-10; we follow the paper.) Class weights start as U(-1/sqrt(D), 1/sqrt(D)) (Roth) and learn with
lr x --loss_arcface_lrmulti (50: Roth's absolute proxy lr 5e-4 at his base lr 1e-5) and no weight decay (Roth's proxy
group carries none).
Embeddings are normalised here as well (Roth's code leaves that to a _normalize backbone): on an already normalised
embedding this changes neither the value nor the backbone's gradients.
"""
import math

import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from utilities.argtypes import nonnegative_float, positive_float

# acos has an infinite slope at +-1; keeping the cosine this far inside leaves values unchanged to float precision.
COSINE_LIMIT = 1 - 1e-7


@REGISTRY.register("arcface")
class ArcFaceLoss(Criterion):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_arcface_angular_margin", default=0.5, type=nonnegative_float,
                           help="Angular margin m in radians.")
        group.add_argument("--loss_arcface_feature_scale", default=16.0, type=positive_float, help="Logit scale s.")
        lr = group.add_mutually_exclusive_group()
        lr.add_argument("--loss_arcface_lrmulti", default=50.0, type=positive_float,
                        help="Learning-rate multiplier for the class weights (Roth: 5e-4 at base lr 1e-5).")
        lr.add_argument("--loss_arcface_lr", default=None, type=positive_float,
                        help="Roth's flag: the class weights' learning rate itself; sets --loss_arcface_lrmulti to "
                             "this / --lr.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.margin = opt.loss_arcface_angular_margin
        self.scale = opt.loss_arcface_feature_scale
        self.weight_decay = 0.0  # the class proxies are not decayed
        self.lr_multiplier = opt.loss_arcface_lrmulti
        bound = 1 / math.sqrt(embed_dim)
        self.class_weights = torch.nn.Parameter(torch.empty(num_classes, embed_dim).uniform_(-bound, bound))

    def forward(self, batch, labels, **context):
        cosine = F.normalize(batch, dim=1) @ F.normalize(self.class_weights, dim=1).T
        target_cosine = cosine.gather(1, labels[:, None])
        theta = torch.acos(target_cosine.clamp(-COSINE_LIMIT, COSINE_LIMIT))
        target_logit = torch.where(theta <= math.pi - self.margin, torch.cos(theta + self.margin),
                                   target_cosine - self.margin * math.sin(self.margin))
        return F.cross_entropy(self.scale * cosine.scatter(1, labels[:, None], target_logit), labels)
