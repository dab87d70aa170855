"""ProxyNCA (Movshovitz-Attias et al., ICCV 2017) in Roth et al.'s formulation: one learned proxy per class.

With x = s * x/||x|| and p_c = s * p_c/||p_c|| (s = scale, 3 as in Roth's code: it acts as an NCA temperature),
d_ic = ||x_i - p_c||^2 and
  L = mean_i [ d_{i,y_i} + log sum_{c != y_i} exp(-d_ic) ] = mean_i -log( exp(-d_{i,y_i}) / sum_{c != y_i} exp(-d_ic) ).
As in the paper, the positive proxy is left out of the denominator (pytorch-metric-learning's ProxyNCALoss keeps it).
Proxies start as N(0, 1/64) (Roth) and learn with lr x --loss_proxynca_lrmulti and no weight decay (Roth's proxy
group carries none).
"""
import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from utilities.argtypes import positive_float
from utilities.errors import ConfigError


@REGISTRY.register("proxynca")
class ProxyNCALoss(Criterion):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_proxynca_lrmulti", default=50.0, type=positive_float,
                           help="Learning-rate multiplier for the proxies (Roth: 50).")
        group.add_argument("--loss_proxynca_scale", default=3.0, type=positive_float,
                           help="Length of embeddings and proxies after normalisation (Roth: 3).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        if num_classes < 2:
            raise ConfigError("Loss 'proxynca' needs at least two training classes (a negative proxy).")
        self.weight_decay = 0.0  # the class proxies are not decayed
        self.lr_multiplier = opt.loss_proxynca_lrmulti
        self.scale = opt.loss_proxynca_scale
        self.proxies = torch.nn.Parameter(torch.randn(num_classes, embed_dim) / 8)

    def forward(self, batch, labels, **context):
        # On vectors of length s, ||x - p||^2 = 2 s^2 (1 - cos).
        cosine = F.normalize(batch, dim=1) @ F.normalize(self.proxies, dim=1).T
        distance = 2 * self.scale ** 2 * (1 - cosine)
        positive = F.one_hot(labels, len(self.proxies)).bool()
        to_negatives = torch.logsumexp((-distance).masked_fill(positive, float("-inf")), dim=1)
        return (distance[positive] + to_negatives).mean()
