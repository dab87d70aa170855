"""FitNet hints (Romero et al., ICLR 2015) as the feature-distillation baseline of Kim et al., "Embedding Transfer with
Label Relaxation" (CVPR 2021), `--loss fitnet --teacher <run folder or checkpoint>`; this file also holds what the
paper's three feature-distillation baselines share (criteria/attention.py and criteria/crd.py import it).

For the last n stage pairs (student stage S_l: B x C_s x h x w, teacher stage T_l: B x C_t x h x w, matched from the
deepest), a 1x1 convolution R_l (C_s -> C_t, no bias, weights ~ U(-0.005, 0.005)) regresses the frozen teacher's map:
    L = sum_l mean_{b, c, h, w} (R_l(S_l) - T_l)^2  +  w_PA * ProxyAnchor(student embeddings, labels)
Defaults: n = --loss_fitnet_stages 4 (the paper: ResNet-18 layer1-4 -> 64->256, 128->512, 256->1024, 512->2048 against
ResNet-50; BN-Inception 3 stages), w_PA = --loss_fitnet_proxyanchor_w 1. The regressors train jointly for the whole
run at the base lr (no separate hint stage, as the paper's code).

Proxy-Anchor add-on (all three baselines): the paper trains every feature-distillation baseline together with the
Proxy-Anchor loss (criteria/proxyanchor.py) on the student's embeddings, alpha 32, delta 0.1, its own proxies
(Kaiming-normal, fan_out) at lr x --loss_<name>_proxy_lrmulti (100), weighted w_PA (1); w_PA = 0 drops it (no
proxies). The teacher's outputs are detached: only the student, the loss's modules and the proxies learn.

Where we depart from the paper's code (github.com/tjddus9597/LabelRelaxation-CVPR21), and why:
  - stages are the architectures' `intermediate` outputs, the last n of each model: for ResNets the paper's layer1-4,
    but this repository's BN-Inception taps (conv2, 3b, 4d, 5b: 192, 320, 608, 1024 channels) are not the paper's
    3c/4e/5b (576, 1056, 1024), so n = 3 pairs 3b, 4d and 5b there;
  - a student stage whose spatial size differs from the teacher's (another stride or input size; never the case in
    the paper's pairs) is adaptive-average-pooled to the teacher's size: a teacher position is then compared with the
    mean of the student positions covering the same image area (pooling is linear, so it commutes with R_l), and a
    coarser student map is repeated over the finer teacher grid;
  - the paper adds the Proxy-Anchor term unweighted; w_PA = 0 allows distillation alone.
"""
import torch
import torch.nn.functional as F
from torch import nn

import architectures
from criteria import REGISTRY
from criteria.base import Criterion
from criteria.proxyanchor import proxy_anchor
from utilities.argtypes import nonnegative_float, positive_float, positive_int
from utilities.errors import ConfigError
from utilities.model_loading import trained_model_options

# The paper's Proxy-Anchor settings for the distillation baselines (hard-coded in its train_target.py).
PROXYANCHOR_ALPHA = 32.0
PROXYANCHOR_DELTA = 0.1
REGRESSOR_INIT_BOUND = 0.005


def add_proxyanchor_arguments(group, name):
    """The Proxy-Anchor add-on's flags of loss `name`: --loss_<name>_proxyanchor_w and --loss_<name>_proxy_lrmulti."""
    group.add_argument(f"--loss_{name}_proxyanchor_w", default=1.0, type=nonnegative_float,
                       help="Weight of the Proxy-Anchor term on the student's embeddings (0: none).")
    group.add_argument(f"--loss_{name}_proxy_lrmulti", default=100.0, type=positive_float,
                       help="Learning-rate multiplier of the Proxy-Anchor proxies (the paper: 100).")


def teacher_architecture(opt, loss_name):
    """architectures.describe() of the teacher named by --teacher, read from its checkpoint's options."""
    if not opt.teacher:
        raise ConfigError(f"Loss '{loss_name}' distils a frozen teacher: give --teacher <run folder or checkpoint> "
                          f"of a trained model.")
    return architectures.describe(trained_model_options(opt.teacher)["arch"])


def matched_stage_channels(opt, teacher, n_stages, loss_name):
    """[(student channels, teacher channels)] of the last n_stages stages of --arch and of the teacher."""
    student_channels = architectures.describe(opt.arch)["stage_channels"]
    teacher_channels = teacher["stage_channels"]
    if n_stages > min(len(student_channels), len(teacher_channels)):
        raise ConfigError(f"Loss '{loss_name}' distils the last {n_stages} stages, but the student ({opt.arch}) has "
                          f"{len(student_channels)} and the teacher {len(teacher_channels)}; lower "
                          f"--loss_{loss_name}_stages.")
    return list(zip(student_channels[-n_stages:], teacher_channels[-n_stages:]))


def to_teacher_grid(student_map, teacher_map):
    """The student's B x C x h x w map adaptive-average-pooled to the teacher's h x w (the identity when they agree)."""
    return F.adaptive_avg_pool2d(student_map, teacher_map.shape[-2:])


class ProxyAnchorDistillation(Criterion):
    """A distillation loss (`distillation`) plus w_PA x Proxy-Anchor on the student's embeddings with its own proxies.

    Optimiser groups: the loss's own modules (heads, regressors) at the base lr as "loss_<name>_<MODULES_GROUP>", the
    proxies at lr x proxy_lr_multiplier as "loss_<name>_proxies".
    """

    MODULES_GROUP = "modules"

    def __init__(self, batchminer, num_classes, embed_dim, proxyanchor_weight, proxy_lr_multiplier):
        super().__init__(batchminer)
        self.proxyanchor_weight = proxyanchor_weight
        self.proxy_lr_multiplier = proxy_lr_multiplier
        self.register_parameter("proxies", None)
        if proxyanchor_weight > 0:
            self.proxies = nn.Parameter(torch.empty(num_classes, embed_dim))
            nn.init.kaiming_normal_(self.proxies, mode="fan_out")

    def distillation(self, batch, labels, **context):
        raise NotImplementedError

    def forward(self, batch, labels, **context):
        loss = self.distillation(batch, labels, **context)
        if self.proxies is not None:
            loss = loss + self.proxyanchor_weight * proxy_anchor(batch, labels, self.proxies, PROXYANCHOR_ALPHA,
                                                                 PROXYANCHOR_DELTA)
        return loss

    def param_groups(self, base_lr):
        modules = [p for p in self.parameters() if p is not self.proxies and p.requires_grad]
        groups = [{"params": modules, "lr": base_lr, "name": f"loss_{self.registry_name}_{self.MODULES_GROUP}"}]
        if self.proxies is not None:
            groups.append({"params": [self.proxies], "lr": base_lr * self.proxy_lr_multiplier,
                           "name": f"loss_{self.registry_name}_proxies"})
        return [group for group in groups if group["params"]]


@REGISTRY.register("fitnet")
class FitNetLoss(ProxyAnchorDistillation):
    NEEDS = frozenset({"intermediate", "teacher_intermediate"})
    MODULES_GROUP = "regressors"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_fitnet_stages", default=4, type=positive_int,
                           help="Distil the last this many backbone stages (the paper: 4 for ResNet, 3 for "
                                "BN-Inception).")
        add_proxyanchor_arguments(group, "fitnet")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        teacher = teacher_architecture(opt, "fitnet")
        super().__init__(batchminer, num_classes, embed_dim, opt.loss_fitnet_proxyanchor_w,
                         opt.loss_fitnet_proxy_lrmulti)
        channels = matched_stage_channels(opt, teacher, opt.loss_fitnet_stages, "fitnet")
        self.regressors = nn.ModuleList(nn.Conv2d(student, teacher, kernel_size=1, bias=False)
                                        for student, teacher in channels)
        for regressor in self.regressors:
            nn.init.uniform_(regressor.weight, -REGRESSOR_INIT_BOUND, REGRESSOR_INIT_BOUND)

    def distillation(self, batch, labels, intermediate, teacher_intermediate, **context):
        n_stages = len(self.regressors)
        loss = batch.new_zeros(())
        for regressor, student, teacher in zip(self.regressors, intermediate[-n_stages:],
                                               teacher_intermediate[-n_stages:]):
            teacher = teacher.detach().to(batch.dtype)
            loss = loss + (regressor(to_teacher_grid(student.to(batch.dtype), teacher)) - teacher).pow(2).mean()
        return loss
