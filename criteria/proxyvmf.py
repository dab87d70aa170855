"""Isotropic vMF proxies with a closed-form probability product kernel (the EL-nivMF paper's ablations, Kirchhof et
al., ECCV 2022), `--loss proxyvmf` (the paper's name): `--loss_proxyvmf_rho 1` is the isotropic EL-vMF (expected
likelihood), `--loss_proxyvmf_rho 0.5` the Bhattacharyya kernel.

Image i is vMF(mu_i, kappa_i) as in criteria/proxyvmf_panc.py; class c is vMF(m_c, k_c) with one concentration per
class. The probability product kernel of order rho of two vMFs on S^{D-1} is
    log PPK = rho (log C_D(kappa_i) + log C_D(k_c)) - log C_D(rho |kappa_i mu_i + k_c m_c|)
and logit_{i,c} = log PPK / T, followed by the shared cross-entropy and guidance term. Flags, proxies, optimiser
groups and set-up are those of proxyvmf_panc; the `--loss_proxyvmf_*` flags of the whole family are declared here,
with the loss whose name they carry (`--loss_proxyvmf_n_samples` is unused by this one).
"""
from criteria import REGISTRY
from criteria.proxyvmf_panc import MIN_IMAGE_KAPPA, ProbabilisticProxies
from utilities.argtypes import nonnegative_float, positive_float, positive_int
from utilities.vmf import log_vmf_normaliser


def log_ppk(image_kappa, cosine, class_kappa, rho, dim):
    """B x C log probability product kernels from image concentrations (B), cosines (B x C), class ones (C)."""
    image_kappa, class_kappa = image_kappa[:, None], class_kappa[None, :]
    joint = (image_kappa ** 2 + class_kappa ** 2 + 2 * image_kappa * class_kappa * cosine).clamp_min(0).sqrt()
    return (rho * (log_vmf_normaliser(image_kappa, dim) + log_vmf_normaliser(class_kappa, dim))
            - log_vmf_normaliser((rho * joint).clamp_min(MIN_IMAGE_KAPPA), dim))


@REGISTRY.register("proxyvmf")
class ProxyVMFProductKernelLoss(ProbabilisticProxies):
    ISOTROPIC = True
    EVALUATION_METRICS = ("c_recall@{k}", "norm_auroc", "c_norm_auroc", "c_norm_recall_spearman")
    RAW_EMBEDDING_NORM = True

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_proxyvmf_proxylrmulti", default=5000.0, type=positive_float,
                           help="Learning-rate multiplier of the proxy directions.")
        group.add_argument("--loss_proxyvmf_conclrmulti", default=50000.0, type=positive_float,
                           help="Learning-rate multiplier of the proxy concentrations.")
        group.add_argument("--loss_proxyvmf_templrmulti", default=500.0, type=positive_float,
                           help="Learning-rate multiplier of the temperature.")
        group.add_argument("--loss_proxyvmf_concentration", default=10.0, type=positive_float,
                           help="Initial concentration of every proxy (per dimension for the nivMF proxies).")
        group.add_argument("--loss_proxyvmf_temp", default=0.01, type=positive_float,
                           help="Initial temperature T of the logits.")
        group.add_argument("--loss_proxyvmf_learnable_temp", action="store_true", default=True,
                           help="Accepted for the paper's commands: the temperature learns unless "
                                "--loss_proxyvmf_fixed_temp.")
        group.add_argument("--loss_proxyvmf_fixed_temp", action="store_true",
                           help="Keep the temperature at --loss_proxyvmf_temp.")
        group.add_argument("--loss_proxyvmf_n_samples", default=20, type=positive_int,
                           help="vMF samples per image for the expected likelihood.")
        group.add_argument("--loss_proxyvmf_warmstart", action="store_true",
                           help="Start the proxy directions at the class means of the untrained network.")
        group.add_argument("--loss_proxyvmf_guidance_w", default=0.0, type=nonnegative_float,
                           help="Weight of the Proxy-Anchor guidance term on the normalised embeddings.")
        group.add_argument("--loss_proxyvmf_init_norm_multiplier", default=100.0, type=positive_float,
                           help="Factor on the embedding head's initial weights (image concentrations).")
        group.add_argument("--loss_proxyvmf_rho", default=1.0, type=positive_float,
                           help="Order of the probability product kernel of the closed-form ablations "
                                "(1: expected likelihood, 0.5: Bhattacharyya).")

    def logits(self, batch):
        kappa, cosine = self.image_concentrations_and_cosines(batch)
        return log_ppk(kappa, cosine, self.proxy_concentrations()[:, 0], self.rho, batch.shape[1]) \
            / self.logit_temperature()
