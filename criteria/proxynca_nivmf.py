"""nivMF proxies scoring the image's direction alone (the EL-nivMF paper's point-to-distribution ablation, Kirchhof et
al., ECCV 2022), `--loss proxynca_nivmf` (the paper's name).

logit_{i,c} = log f_c(mu_i) / T: the nivMF log-density of criteria/proxyvmf_panc.py at the image's direction
mu_i = e_i / |e_i|, without sampling, so the image's concentration |e_i| gets no gradient from this term. The paper's
code (criteria/proxynca_nivmf.py) evaluates normalise(k_c * mu_i) . (k_c * m_c) instead of mu_i . (k_c * m_c), a
different density from the one its EL-nivMF loss uses; here both losses share one density, so the ablation isolates
the sampling. Flags, proxies, optimiser groups and set-up are those of proxyvmf_panc (`--loss_proxyvmf_*`).
"""
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.proxyvmf_panc import ProbabilisticProxies, nivmf_log_density


@REGISTRY.register("proxynca_nivmf")
class ProxyNivMFPointLoss(ProbabilisticProxies):
    EVALUATION_METRICS = ("c_recall@{k}", "norm_auroc", "c_norm_auroc", "c_norm_recall_spearman")
    RAW_EMBEDDING_NORM = True

    def logits(self, batch):
        return nivmf_log_density(F.normalize(batch, dim=1), self.proxy_directions(), self.proxy_concentrations()) \
            / self.logit_temperature()
