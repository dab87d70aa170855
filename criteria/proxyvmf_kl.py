"""Isotropic vMF proxies scored by the KL divergence (the EL-nivMF paper's KL ablation, Kirchhof et al., ECCV 2022),
`--loss proxyvmf_kl`.

Image i is vMF(mu_i, kappa_i) as in criteria/proxyvmf_panc.py; class c is vMF(m_c, k_c) with one concentration per
class. logit_{i,c} = -KL(vMF(mu_i, kappa_i) || vMF(m_c, k_c)) / T with the exact divergence
    KL = log C_D(kappa_i) - log C_D(k_c) + A_D(kappa_i) (kappa_i - k_c mu_i . m_c),   A_D = I_{D/2} / I_{D/2-1},
followed by the shared cross-entropy and guidance term. The paper's code uses A_D = 1 (its large-kappa limit) and
feeds the divergence itself to the softmax; here the logit is its negative, so that a closer class scores higher.
Flags, proxies, optimiser groups and set-up are those of proxyvmf_panc (`--loss_proxyvmf_*`).
"""
from criteria import REGISTRY
from criteria.proxyvmf_panc import ProbabilisticProxies
from utilities.vmf import log_vmf_normaliser, mean_resultant_length


def kl_vmf(image_kappa, cosine, class_kappa, dim):
    """B x C divergences KL(image vMF || class vMF) from image concentrations (B), cosines (B x C), class ones (C)."""
    image_kappa, class_kappa = image_kappa[:, None], class_kappa[None, :]
    return (log_vmf_normaliser(image_kappa, dim) - log_vmf_normaliser(class_kappa, dim)
            + mean_resultant_length(image_kappa, dim) * (image_kappa - class_kappa * cosine))


@REGISTRY.register("proxyvmf_kl")
class ProxyVMFKLLoss(ProbabilisticProxies):
    ISOTROPIC = True
    EVALUATION_METRICS = ("c_recall@{k}", "norm_auroc", "c_norm_auroc", "c_norm_recall_spearman")
    RAW_EMBEDDING_NORM = True

    def logits(self, batch):
        kappa, cosine = self.image_concentrations_and_cosines(batch)
        return -kl_vmf(kappa, cosine, self.proxy_concentrations()[:, 0], batch.shape[1]) / self.logit_temperature()
