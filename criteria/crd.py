"""Contrastive representation distillation (Tian, Krishnan and Isola, ICLR 2020) as the feature-distillation baseline
of Kim et al., "Embedding Transfer with Label Relaxation" (CVPR 2021): `--loss crd --teacher <run folder or
checkpoint>`.

Heads g_s, g_t (Linear to d, then L2-normalised) map the student's and the frozen teacher's pooled backbone features
to s_i = g_s(f_i), t_i = g_t(f^T_i). Two memory banks M_s, M_t hold one d-vector per training image (N rows, indexed
by dataset index). For row i with dataset index n_i, contrast set (n_i, k_1 .. k_K): its own index first, then K
indices drawn uniformly with replacement among the training images of other classes, and scores
    P^s_ij = exp(<M_t[k_j], s_i> / tau) / Z_s,     P^t_ij = exp(<M_s[k_j], t_i> / tau) / Z_t    (j = 0: own index),
with Z constant: mean(exp(.)) x N over the first batch's scores, then fixed (kept in a buffer, restored on resume).
With the noise term K P_n = K / N (eps = 1e-7), the NCE loss of either side, over the B rows, is
    h(P) = -1/B sum_i [ log(P_i0 / (P_i0 + K / N + eps)) + sum_{j >= 1} log((K / N) / (P_ij + K / N + eps)) ],
    L = h(P^s) + h(P^t)  +  w_PA * ProxyAnchor(student embeddings, labels)
After the scores, without gradients, each index's rows move towards this step's outputs:
    M_s[n] <- normalize(m M_s[n] + (1 - m) s_n),   M_t[n] <- normalize(m M_t[n] + (1 - m) t_n).
The banks start uniform in +-1 / sqrt(d / 3). Defaults (the paper's): d = --loss_crd_feat_dim 128,
K = --loss_crd_nce_k 4096, tau = --loss_crd_nce_t 0.07, m = --loss_crd_nce_mom 0.5, w_PA = --loss_crd_proxyanchor_w 1
with proxies at lr x --loss_crd_proxy_lrmulti 100 (the Proxy-Anchor add-on is described in criteria/fitnet.py). The
heads learn at the base lr; N and the labels come from the training split in `setup`.

Where we depart from the paper's code (github.com/tjddus9597/LabelRelaxation-CVPR21), and why:
  - multi-view batches repeat dataset indices. The paper's banks have N x views rows of which only the first N are
    ever used, and its index_copy_ with repeated indices keeps one arbitrary view's update. Here the banks have N rows
    and each index is updated once per step with the mean of its views' outputs (s_n, t_n above); the noise
    probability and Z use this N (the paper: N x views, so its K P_n and Z differ by that factor under multi-view);
  - negatives are drawn for every row, so an image's views get independent negatives (the paper draws once per
    image and shares them between its views); both are uniform over the other classes' images;
  - the heads' inputs are this repository's pooled backbone features (`features`: global average pooling), while the
    paper's backbones pool with average + max.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

import architectures
from criteria import REGISTRY
from criteria.fitnet import ProxyAnchorDistillation, add_proxyanchor_arguments, teacher_architecture
from utilities.argtypes import positive_float, positive_int, probability
from utilities.errors import ConfigError

NCE_EPS = 1e-7


def nce_loss(probabilities, bank_size):
    """h(P) of the module docstring for P = B x (1 + K) scores divided by Z, the positive in column 0."""
    noise = (probabilities.shape[1] - 1) / bank_size
    positive = torch.log(probabilities[:, 0] / (probabilities[:, 0] + noise + NCE_EPS))
    negative = torch.log(noise / (probabilities[:, 1:] + noise + NCE_EPS))
    return -(positive.sum() + negative.sum()) / len(probabilities)


@REGISTRY.register("crd")
class CRDLoss(ProxyAnchorDistillation):
    NEEDS = frozenset({"features", "teacher_features", "indices"})
    MODULES_GROUP = "heads"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_crd_feat_dim", default=128, type=positive_int,
                           help="Size d of the contrastive heads' outputs and of the memory rows.")
        group.add_argument("--loss_crd_nce_k", default=4096, type=positive_int,
                           help="Negatives per image K, drawn from the memory among other classes' images.")
        group.add_argument("--loss_crd_nce_t", default=0.07, type=positive_float, help="Temperature tau.")
        group.add_argument("--loss_crd_nce_mom", default=0.5, type=probability,
                           help="Momentum m of the memory update (the share of the old row).")
        add_proxyanchor_arguments(group, "crd")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        teacher = teacher_architecture(opt, "crd")
        super().__init__(batchminer, num_classes, embed_dim, opt.loss_crd_proxyanchor_w, opt.loss_crd_proxy_lrmulti)
        feat_dim = opt.loss_crd_feat_dim
        self.student_head = nn.Linear(architectures.describe(opt.arch)["feature_dim"], feat_dim)
        self.teacher_head = nn.Linear(teacher["feature_dim"], feat_dim)
        self.n_negatives = opt.loss_crd_nce_k
        self.temperature = opt.loss_crd_nce_t
        self.momentum = opt.loss_crd_nce_mom
        # Sized by the training set in setup(); the banks and Z are checkpointed, the class index is rebuilt there.
        self.register_buffer("student_memory", torch.empty(0, feat_dim))
        self.register_buffer("teacher_memory", torch.empty(0, feat_dim))
        self.register_buffer("normalizers", torch.zeros(2))  # (Z_s, Z_t); 0 until the first batch sets them
        self.register_buffer("indices_by_class", torch.empty(0, dtype=torch.long), persistent=False)
        self.register_buffer("class_starts", torch.empty(0, dtype=torch.long), persistent=False)
        self.register_buffer("class_sizes", torch.empty(0, dtype=torch.long), persistent=False)

    def setup(self, ctx):
        device, dtype = self.student_memory.device, self.student_memory.dtype
        labels = torch.as_tensor(ctx.train_split.labels, dtype=torch.long, device=device)
        sizes = torch.bincount(labels)
        if sizes.max() == len(labels):
            raise ConfigError("Loss 'crd' draws its negatives from other classes, but the training set has only one.")
        self.indices_by_class = torch.argsort(labels, stable=True)
        self.class_sizes = sizes
        self.class_starts = torch.cumsum(sizes, 0) - sizes
        bound = 1 / math.sqrt(self.student_memory.shape[1] / 3)
        shape = (len(labels), self.student_memory.shape[1])
        self.student_memory = torch.empty(shape, dtype=dtype, device=device).uniform_(-bound, bound)
        self.teacher_memory = torch.empty(shape, dtype=dtype, device=device).uniform_(-bound, bound)

    def sample_negatives(self, labels):
        """B x K dataset indices, uniform with replacement among the training images whose class is not the row's."""
        starts, sizes = self.class_starts[labels, None], self.class_sizes[labels, None]
        pool_sizes = len(self.indices_by_class) - sizes
        # Uniform in 0 .. pool_size - 1 (the modulo's bias is below 2^-40 for any realistic N).
        draws = torch.randint(2 ** 62, (len(labels), self.n_negatives), device=labels.device) % pool_sizes
        # Positions in the class-sorted order: the row's own class block [start, start + size) is skipped.
        return self.indices_by_class[draws + sizes * (draws >= starts)]

    def distillation(self, batch, labels, features, teacher_features, indices, **context):
        if not len(self.student_memory):
            raise RuntimeError("Loss 'crd' sizes its memory by the training set in setup(ctx); call it first.")
        indices = indices.to(self.student_memory.device)
        student = F.normalize(self.student_head(features.to(batch.dtype)), dim=1)
        teacher = F.normalize(self.teacher_head(teacher_features.detach().to(batch.dtype)), dim=1)
        contrast = torch.cat([indices[:, None], self.sample_negatives(labels)], dim=1)
        # Against the other model's bank as it was before this step's update (the banks carry no gradient).
        student_scores = torch.exp((student @ self.teacher_memory.T).gather(1, contrast) / self.temperature)
        teacher_scores = torch.exp((teacher @ self.student_memory.T).gather(1, contrast) / self.temperature)
        bank_size = len(self.student_memory)
        with torch.no_grad():
            first_batch = torch.stack([student_scores.mean(), teacher_scores.mean()]) * bank_size
            self.normalizers.copy_(torch.where(self.normalizers > 0, self.normalizers, first_batch))
            self.update_memory(indices, student, teacher)
        return (nce_loss(student_scores / self.normalizers[0], bank_size)
                + nce_loss(teacher_scores / self.normalizers[1], bank_size))

    def update_memory(self, indices, student, teacher):
        """M[n] <- normalize(m M[n] + (1 - m) mean of the rows with index n), once per distinct index in the batch
        (call without gradients). New tensors, not in-place writes: the backward of the scores needs the old banks."""
        unique, row_to_unique = torch.unique(indices, return_inverse=True)
        views = torch.bincount(row_to_unique, minlength=len(unique)).unsqueeze(1)

        def updated(memory, outputs):
            means = outputs.new_zeros(len(unique), outputs.shape[1]).index_add_(0, row_to_unique, outputs) / views
            rows = F.normalize(self.momentum * memory[unique] + (1 - self.momentum) * means, dim=1)
            return memory.index_copy(0, unique, rows)

        self.student_memory = updated(self.student_memory, student)
        self.teacher_memory = updated(self.teacher_memory, teacher)
