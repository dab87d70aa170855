"""EL-nivMF: probabilistic proxies with non-isotropic von Mises-Fisher distributions (Kirchhof, Roth, Akata and
Kasneci, "A Non-isotropic Probabilistic Take on Proxy-based Deep Metric Learning", ECCV 2022), `--loss proxyvmf_panc`.

An image is a vMF distribution: its embedding e is not normalised, its direction mu = e / |e| is the mean and its
norm kappa = |e| the concentration (the model's certainty). A class c is a non-isotropic vMF (nivMF) with a unit
direction m_c and a concentration per dimension k_c (C x D, kept >= 0.1); with nu_c = k_c * m_c (elementwise), the
nivMF log-density of a unit vector z is
    log f_c(z) = log C_D(|nu_c|) + z . nu_c + sum_d log k_{c,d} - log |nu_c|
(a vMF normaliser at concentration |nu_c| plus the log-determinant of diag(k_c) against |nu_c|, as in the paper).
The expected-likelihood kernel of image i and class c is estimated with S reparameterised samples z_s ~ vMF(mu_i,
kappa_i) (utilities/vmf.py, Wood's scheme; the same samples for every class):
    logit_{i,c} = log (1/S) sum_s exp( log f_c(z_s) / T )
with a learnable temperature T, and the loss is the softmax cross-entropy of the logits over all classes, plus
`--loss_proxyvmf_guidance_w` times Proxy-Anchor (alpha 32, delta 0.1) on the normalised embeddings with the proxy
directions m_c as proxies. All of it is vectorised over images, samples and classes.

The flags are the paper's `--loss_proxyvmf_*`, declared with the `proxyvmf` loss (criteria/proxyvmf.py) whose name
they carry. The paper's ablations are their own losses under the paper's names, sharing flags and parameters: `proxyvmf`
(isotropic EL-vMF and the Bhattacharyya kernel: closed-form probability product kernels of order rho 1 and 0.5),
`proxyvmf_kl` (the KL divergence) and `proxynca_nivmf` (the nivMF likelihood of the image's direction alone).

Set-up (the `setup` hook; on --resume the checkpoint replaces both): the embedding head's initial weights are
multiplied by `--loss_proxyvmf_init_norm_multiplier`, so that image concentrations start in a useful range, and with
`--loss_proxyvmf_warmstart` the proxy directions start at the normalised class means of the untrained network's
training embeddings (evaluation transform). Proxy directions, concentrations and temperature learn at
lr x their multipliers without weight decay. Architectures with `_normalize` are refused before anything loads (RAW_EMBEDDING_NORM, checked by
parameters.check_options): a unit norm would fix every image's concentration at 1; without --arch, these losses get
the default architecture without the tag.

Where we depart from the paper's code (github.com/ExplainableML/Probabilistic_Deep_Metric_Learning), and why:
  - log C_D is computed exactly for any D (utilities/vmf.py); the code uses a quadratic fit made for D = 128 and 512
    only (any other D silently gets the 512 one), which drifts for large concentrations;
  - the vMF sampler uses Wood's exact b for every kappa; the code switches to (D - 1) / (4 kappa) for kappa > 10,
    which puts samples on the wrong side of the sphere for 10 < kappa << D;
  - T is kept >= 1e-6 (the code leaves it unbounded) and can be fixed with `--loss_proxyvmf_fixed_temp` (the code's
    `--loss_proxyvmf_learnable_temp` is on by default and cannot be switched off; it is accepted here and does
    nothing else);
  - the guidance term is Proxy-Anchor as criteria/proxyanchor.py defines it (positive part averaged over the classes
    present); the code averages it over the batch items, counting a class once per image of it;
  - `--loss_proxyvmf_rho` is the order of the closed-form kernels of the ablations; the code accepts it for this loss
    too, where it has no effect, as here.
"""
import math

import torch
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.base import Criterion
from criteria.proxyanchor import proxy_anchor
from utilities.vmf import log_vmf_normaliser, sample_vmf

MIN_CONCENTRATION = 0.1
MIN_TEMPERATURE = 1e-6
MIN_IMAGE_KAPPA = 1e-4
GUIDANCE_ALPHA, GUIDANCE_DELTA = 32.0, 0.1


def nivmf_log_density(z, directions, concentrations):
    """log f_c(z) for unit vectors z (..., D) and C nivMFs (directions C x D unit, concentrations C x D): (..., C)."""
    nu = concentrations * directions
    nu_norm = nu.norm(dim=1)
    constant = log_vmf_normaliser(nu_norm, directions.shape[1]) + concentrations.log().sum(1) - nu_norm.log()
    return z @ nu.T + constant


def el_nivmf_logits(embeddings, directions, concentrations, temperature, n_samples):
    """B x C logits: log-mean over n_samples vMF samples of each image of exp(log f_c(z) / T)."""
    kappa = embeddings.norm(dim=1).clamp_min(MIN_IMAGE_KAPPA)
    samples = sample_vmf(F.normalize(embeddings, dim=1), kappa, n_samples)  # S x B x D
    log_density = nivmf_log_density(samples, directions, concentrations)  # S x B x C
    return torch.logsumexp(log_density / temperature, dim=0) - math.log(n_samples)


class ProbabilisticProxies(Criterion):
    """What the EL-nivMF loss and its ablations share: proxies (directions and concentrations), temperature,
    optimiser groups, set-up, the cross-entropy over class logits and the guidance term. A subclass computes
    `logits(embeddings)` (B x C); `ISOTROPIC` proxies have one concentration per class instead of one per dimension."""

    ISOTROPIC = False

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        self.embed_dim = embed_dim
        self.directions = torch.nn.Parameter(F.normalize(torch.randn(num_classes, embed_dim), dim=1))
        width = 1 if self.ISOTROPIC else embed_dim
        self.concentrations = torch.nn.Parameter(torch.full((num_classes, width), opt.loss_proxyvmf_concentration))
        self.temperature = torch.nn.Parameter(torch.tensor(opt.loss_proxyvmf_temp),
                                              requires_grad=not opt.loss_proxyvmf_fixed_temp)
        self.multipliers = {"directions": opt.loss_proxyvmf_proxylrmulti,
                            "concentrations": opt.loss_proxyvmf_conclrmulti,
                            "temperature": opt.loss_proxyvmf_templrmulti}
        self.n_samples = opt.loss_proxyvmf_n_samples
        self.rho = opt.loss_proxyvmf_rho
        self.guidance_weight = opt.loss_proxyvmf_guidance_w
        self.warmstart = opt.loss_proxyvmf_warmstart
        self.init_norm_multiplier = opt.loss_proxyvmf_init_norm_multiplier

    def param_groups(self, base_lr):
        groups = []
        for name, multiplier in self.multipliers.items():
            parameter = getattr(self, name)
            if parameter.requires_grad:
                groups.append({"params": [parameter], "lr": base_lr * multiplier, "weight_decay": 0.0,
                               "name": f"loss_proxyvmf_{name}"})
        return groups

    def setup(self, ctx):
        if ctx.resuming:
            return  # the checkpoint holds the scaled head and the learned proxies
        with torch.no_grad():
            ctx.model.head.weight.mul_(self.init_norm_multiplier)
        if self.warmstart:
            outputs, labels = ctx.embed(ctx.train_split, keys=("embeds",))
            embeds, labels = torch.as_tensor(outputs["embeds"], dtype=torch.float64), torch.as_tensor(labels)
            sums = torch.zeros(len(self.directions), embeds.shape[1], dtype=torch.float64).index_add_(0, labels, embeds)
            with torch.no_grad():
                self.directions.copy_(F.normalize(sums, dim=1).to(self.directions))
            ctx.logger.info("%s: proxy directions warm-started from the class means of %d training images.",
                            self.registry_name, len(labels))

    def proxy_concentrations(self):
        return self.concentrations.clamp_min(MIN_CONCENTRATION)

    def proxy_directions(self):
        return F.normalize(self.directions, dim=1)

    def logit_temperature(self):
        return self.temperature.clamp_min(MIN_TEMPERATURE)

    def image_concentrations_and_cosines(self, batch):
        """Each image's concentration kappa_i = |e_i| (B) and the cosines of its direction to the proxies (B x C)."""
        kappa = batch.norm(dim=1).clamp_min(MIN_IMAGE_KAPPA)
        return kappa, (batch / kappa[:, None]) @ self.proxy_directions().T

    def forward(self, batch, labels, **context):
        loss = F.cross_entropy(self.logits(batch), labels)
        if self.guidance_weight:
            loss = loss + self.guidance_weight * proxy_anchor(batch, labels, self.directions, GUIDANCE_ALPHA,
                                                              GUIDANCE_DELTA)
        return loss


@REGISTRY.register("proxyvmf_panc")
class ELNivMFLoss(ProbabilisticProxies):
    EVALUATION_METRICS = ("c_recall@{k}", "norm_auroc", "c_norm_auroc", "c_norm_recall_spearman")
    RAW_EMBEDDING_NORM = True

    def logits(self, batch):
        return el_nivmf_logits(batch, self.proxy_directions(), self.proxy_concentrations(), self.logit_temperature(),
                               self.n_samples)
