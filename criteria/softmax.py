"""Normalised softmax (Zhai & Wu, BMVC 2019, "Classification is a strong baseline for deep metric learning").

Cross-entropy over cosine similarities to one learned weight vector per class, divided by a temperature:
  L = mean_i -log softmax_c( cos(x_i, w_c) / T )_{y_i}.
Class weights start as U(-1/sqrt(D), 1/sqrt(D)) (Roth) and learn with lr x --loss_softmax_lrmulti (1: Roth's absolute
proxy lr 1e-5 equals his base lr) and no weight decay (Roth's proxy group carries none).
Embeddings are normalised here as well (Roth's code leaves that to a _normalize backbone): on an already normalised
embedding this changes neither the value nor the backbone's gradients.
"""
import math

import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from utilities.argtypes import positive_float


@REGISTRY.register("softmax")
class NormalizedSoftmaxLoss(Criterion):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_softmax_temperature", default=0.05, type=positive_float,
                           help="Softmax temperature T.")
        lr = group.add_mutually_exclusive_group()
        lr.add_argument("--loss_softmax_lrmulti", default=1.0, type=positive_float,
                        help="Learning-rate multiplier for the class weights (Roth: 1e-5 at base lr 1e-5).")
        lr.add_argument("--loss_softmax_lr", default=None, type=positive_float,
                        help="Roth's flag: the class weights' learning rate itself; sets --loss_softmax_lrmulti to "
                             "this / --lr.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.temperature = opt.loss_softmax_temperature
        self.weight_decay = 0.0  # the class proxies are not decayed
        self.lr_multiplier = opt.loss_softmax_lrmulti
        bound = 1 / math.sqrt(embed_dim)
        self.class_weights = torch.nn.Parameter(torch.empty(num_classes, embed_dim).uniform_(-bound, bound))

    def forward(self, batch, labels, **context):
        cosine = F.normalize(batch, dim=1) @ F.normalize(self.class_weights, dim=1).T
        return F.cross_entropy(cosine / self.temperature, labels)
