"""Attention transfer (Zagoruyko and Komodakis, ICLR 2017) as the feature-distillation baseline of Kim et al.,
"Embedding Transfer with Label Relaxation" (CVPR 2021), `--loss attention --teacher <run folder or checkpoint>`.

The attention map of a stage output X (B x C x h x w) is the L2-normalised, flattened channel mean of its squares,
    a(X) = normalize(vec((1/C) sum_c X_c^2)),
and the loss sums, over the last n stage pairs (student S_l, frozen teacher T_l, matched from the deepest), the mean
squared difference of the maps:
    L = sum_l mean_{b, i} (a(S_l) - a(T_l))^2  +  w_PA * ProxyAnchor(student embeddings, labels)
Defaults: n = --loss_attention_stages 4 (the paper: ResNet layer1-4; the last three stages for BN-Inception),
w_PA = --loss_attention_proxyanchor_w 1, proxies at lr x --loss_attention_proxy_lrmulti 100 (the Proxy-Anchor add-on
and the stage matching are described in criteria/fitnet.py). As the paper's code: a channel mean, not a sum, and no
beta / 2 factor or other scaling.

Where we depart from the paper's code (github.com/tjddus9597/LabelRelaxation-CVPR21), and why: besides the stage taps
and the optional w_PA = 0 (criteria/fitnet.py), when a student stage's spatial size differs from the teacher's (never
in the paper's pairs), its channel mean of squares is adaptive-average-pooled to the teacher's size before the
normalisation: the pooled map is the student's mean activation energy over the image area of each teacher position
(pooling the features themselves first would let activations of opposite sign cancel).
"""
import torch.nn.functional as F

from criteria import REGISTRY
from criteria.fitnet import (ProxyAnchorDistillation, add_proxyanchor_arguments, matched_stage_channels,
                            teacher_architecture)
from utilities.argtypes import positive_int


def attention_map(stage_output, size):
    """a(X) of a B x C x h x w map as B x (H W): its channel mean of squares, adaptive-average-pooled to size = (H, W)
    (the identity for (h, w)), flattened and L2-normalised."""
    energy = F.adaptive_avg_pool2d(stage_output.pow(2).mean(dim=1, keepdim=True), size)
    return F.normalize(energy.flatten(1), dim=1)


@REGISTRY.register("attention")
class AttentionTransferLoss(ProxyAnchorDistillation):
    NEEDS = frozenset({"intermediate", "teacher_intermediate"})

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_attention_stages", default=4, type=positive_int,
                           help="Transfer the attention of the last this many backbone stages (the paper: 4 for "
                                "ResNet, 3 for BN-Inception).")
        add_proxyanchor_arguments(group, "attention")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        teacher = teacher_architecture(opt, "attention")
        super().__init__(batchminer, num_classes, embed_dim, opt.loss_attention_proxyanchor_w,
                         opt.loss_attention_proxy_lrmulti)
        self.n_stages = len(matched_stage_channels(opt, teacher, opt.loss_attention_stages, "attention"))

    def distillation(self, batch, labels, intermediate, teacher_intermediate, **context):
        loss = batch.new_zeros(())
        for student, teacher in zip(intermediate[-self.n_stages:], teacher_intermediate[-self.n_stages:]):
            grid = teacher.shape[-2:]
            student_map = attention_map(student.to(batch.dtype), grid)
            loss = loss + (student_map - attention_map(teacher.detach().to(batch.dtype), grid)).pow(2).mean()
        return loss
