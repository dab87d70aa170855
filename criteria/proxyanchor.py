"""Proxy-Anchor loss (Kim et al., CVPR 2020): proxies act as anchors over the whole batch.

With cosine similarities s(x, p) between embeddings and one proxy per class, P+ the classes present in the batch,
X+_p the batch items of p's class and X-_p the others:
  L = 1/|P+| sum_{p in P+} log(1 + sum_{x in X+_p} exp(-alpha (s(x, p) - delta)))
    + 1/C    sum_{p}       log(1 + sum_{x in X-_p} exp( alpha (s(x, p) + delta)))
Proxies are Kaiming-normal initialised (fan_out) and learn with lr x --loss_proxyanchor_lrmulti (the authors use 100)
under the optimiser's weight decay, as in the authors' code, where the proxies share the network's decay.
"""
import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion, masked_log1p_sum_exp
from utilities.argtypes import nonnegative_float, positive_float


@REGISTRY.register("proxyanchor")
class ProxyAnchorLoss(Criterion):
    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_proxyanchor_alpha", default=32.0, type=positive_float, help="Scale alpha.")
        group.add_argument("--loss_proxyanchor_delta", default=0.1, type=nonnegative_float, help="Margin delta.")
        group.add_argument("--loss_proxyanchor_lrmulti", default=100.0, type=positive_float,
                           help="Learning-rate multiplier for the proxies (authors: 100).")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.alpha = opt.loss_proxyanchor_alpha
        self.delta = opt.loss_proxyanchor_delta
        self.lr_multiplier = opt.loss_proxyanchor_lrmulti  # no weight_decay: --decay applies, as the authors'
        self.proxies = torch.nn.Parameter(torch.empty(num_classes, embed_dim))
        torch.nn.init.kaiming_normal_(self.proxies, mode="fan_out")

    def forward(self, batch, labels, **context):
        return proxy_anchor(batch, labels, self.proxies, self.alpha, self.delta)


def proxy_anchor(batch, labels, proxies, alpha, delta, positives_over_all_classes=False):
    """The Proxy-Anchor loss of a batch against C proxies (rows of `proxies`, any length: both sides are normalised).
    The positive term is averaged over the proxies with positives in the batch (the paper), or over all C with
    positives_over_all_classes (the semantic-proxy authors' variant, criteria/vptsp.py)."""
    # Rows are proxies: each proxy sums over the batch.
    cosine = F.normalize(proxies, dim=1) @ F.normalize(batch, dim=1).T
    positive = labels[None, :] == torch.arange(len(proxies), device=labels.device)[:, None]
    with_positives = positive.any(dim=1)
    pos_divisor = len(proxies) if positives_over_all_classes else with_positives.sum()
    pos_term = masked_log1p_sum_exp(-alpha * (cosine - delta), positive).sum() / pos_divisor
    neg_term = masked_log1p_sum_exp(alpha * (cosine + delta), ~positive).sum() / len(proxies)
    return pos_term + neg_term
