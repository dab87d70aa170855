"""Semantic proxies from visual prompts (Ren et al., "Learning Semantic Proxies from Visual Prompts for
Parameter-Efficient Fine-Tuning in Deep Metric Learning", ICLR 2024; the authors' VPTSP-G, code:
Noahsark/ParameterEfficient-DML), `--loss vptsp` on a ViT backbone (architectures/vit.py).

Flags carry the paper's names as aliases (`--num_p_prompt` = `--loss_vptsp_num_p_prompt`, ...). Each class c owns
prompt tokens: `--num_p_prompt` N for the first `--p_prompt_depth` blocks, N - i * s at block i with
`--prompt_p_block_step` s (while positive). Per step:
  1. a second pass of the batch's images through the (shared, mostly frozen) ViT, each image with its own class's
     prompts in place of the shared prompts; its CLS token goes through this loss's own head (LayerNorm + Linear,
     L2-normalised): the semantic embedding u_i;
  2. a GRU cell folds each class's semantic embeddings, in batch order, into that class's memory h_c (a C x E buffer,
     kept L2-normalised; `--semantic_mix_type gru_relu` uses a ReLU candidate, `gru` tanh, `mix` the running mean
     h_c <- 0.8 h_c + 0.2 mean_i u_i);
  3. proxy_c = r * b_c + (1 - r) * h_c with learnable biases b (C x E) and r = `--proxy_bias_ratio` (0.5); the
     batch's classes use this step's h_c (with gradient), the others their memory;
  4. Proxy-Anchor of the model's embeddings against all C proxies, alpha `--loss_vptsp_alpha` 32, delta
     `--loss_vptsp_delta` 0.1, with the authors' divisor: both the positive and the negative term are averaged over
     all C classes (the original Proxy-Anchor averages the positive term over the classes present in the batch).
Two optimisers (utilities/optimizers.py): the class prompts, GRU and head learn with the model at `--lr` in "main";
the biases b at `--lr_proxy` in "proxy", of the same kind (`--optim`, `--decay`), with its own cosine schedule
(`--lr_cosine_length`, `--lr_cosine_min`) stepped per epoch, as the authors' code steps both.

Where we depart from the authors' code, and why: the memory h is part of the checkpoint (theirs is not saved), so a
resumed run continues exactly; the prompts' per-block shrinking (`prompt_p_block_step`) and the CPU memory bank for
large class counts (`prompt_memory_bank`, a memory saving that leaves the results unchanged) is not reproduced:
every class prompt stays a trainable parameter on the training device. With `--prompt_p_block_step` each block's
class prompts hold exactly the tokens that block uses.
"""
import torch
import torch.nn.functional as F
from torch import nn

import architectures
from architectures.vit import shrinking_counts
from criteria import REGISTRY
from criteria.base import Criterion
from criteria.proxyanchor import proxy_anchor
from utilities.argtypes import fraction, nonnegative_float, nonnegative_int, positive_float
from utilities.optimizers import OptimizerSpec, cosine_schedule

SEMANTIC_MIX_TYPES = ("gru_relu", "gru", "mix")
MIX_KEEP = 0.8  # the authors' proxy_mix_keep_ratio for the `mix` type


class SemanticGRUCell(nn.Module):
    """The authors' GRU cell: z = s(x Wz + h Uz + bz), r = s(x Wr + h Ur + br), n = act(x Wn + r * (h Un) + bn),
    h' = (1 - z) n + z h (no hidden-side biases), act = ReLU or tanh, then dropout."""

    def __init__(self, dim, activation, dropout):
        super().__init__()
        self.input_weights = nn.Parameter(torch.empty(dim, 3 * dim))
        self.hidden_weights = nn.Parameter(torch.empty(dim, 3 * dim))
        self.bias = nn.Parameter(torch.zeros(3 * dim))
        nn.init.xavier_uniform_(self.input_weights)
        nn.init.xavier_uniform_(self.hidden_weights)
        self.activation = activation
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, h):
        update_x, reset_x, candidate_x = (x @ self.input_weights + self.bias).chunk(3, dim=1)
        update_h, reset_h, candidate_h = (h @ self.hidden_weights).chunk(3, dim=1)
        update = torch.sigmoid(update_x + update_h)
        reset = torch.sigmoid(reset_x + reset_h)
        candidate = self.activation(candidate_x + reset * candidate_h)
        return self.dropout((1 - update) * candidate + update * h)


@REGISTRY.register("vptsp")
class SemanticProxyLoss(Criterion):
    NEEDS = frozenset({"images"})

    @staticmethod
    def add_arguments(group):
        group.add_argument("--loss_vptsp_num_p_prompt", "--num_p_prompt", default=5, type=nonnegative_int,
                           help="Class-specific prompt tokens per block.")
        group.add_argument("--loss_vptsp_p_prompt_depth", "--p_prompt_depth", default=3, type=nonnegative_int,
                           help="Blocks (from the first) that receive the class-specific prompts.")
        group.add_argument("--loss_vptsp_p_prompt_block_step", "--prompt_p_block_step", default=0,
                           type=nonnegative_int, help="Block i gets max(num_p_prompt - i * step, 0) class prompts.")
        group.add_argument("--loss_vptsp_semantic_mix_type", "--semantic_mix_type", default="gru_relu", choices=SEMANTIC_MIX_TYPES,
                           help="How a class's semantic embeddings update its memory.")
        group.add_argument("--loss_vptsp_proxy_bias_ratio", "--proxy_bias_ratio", default=0.5, type=fraction,
                           help="Share r of the learnable bias in proxy = r * bias + (1 - r) * semantic memory.")
        group.add_argument("--loss_vptsp_lr_proxy", "--lr_proxy", default=0.05, type=positive_float,
                           help="Learning rate of the proxies' learnable biases (their own optimiser).")
        group.add_argument("--loss_vptsp_rnn_dropout", "--rnn_dropout", default=0.0, type=nonnegative_float, help="Dropout after the GRU cell.")
        group.add_argument("--loss_vptsp_alpha", default=32.0, type=positive_float, help="Proxy-Anchor scale.")
        group.add_argument("--loss_vptsp_delta", default=0.1, type=nonnegative_float, help="Proxy-Anchor margin.")

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)
        width = architectures.describe(opt.arch)["feature_dim"]
        self.class_prompts = nn.ParameterList()
        for count in shrinking_counts(opt.loss_vptsp_num_p_prompt, opt.loss_vptsp_p_prompt_depth,
                                      opt.loss_vptsp_p_prompt_block_step):
            prompts = nn.Parameter(torch.empty(num_classes, count, width))
            nn.init.xavier_normal_(prompts)
            self.class_prompts.append(prompts)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, embed_dim))
        nn.init.xavier_uniform_(self.head[1].weight)
        nn.init.zeros_(self.head[1].bias)
        self.mix_type = opt.loss_vptsp_semantic_mix_type
        if self.mix_type != "mix":
            activation = torch.relu if self.mix_type == "gru_relu" else torch.tanh
            self.gru = SemanticGRUCell(embed_dim, activation, opt.loss_vptsp_rnn_dropout)
        self.proxy_bias = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.xavier_uniform_(self.proxy_bias)
        with torch.no_grad():
            self.proxy_bias.div_(8)
        memory = torch.empty(num_classes, embed_dim)
        nn.init.xavier_uniform_(memory)
        self.register_buffer("memory", F.normalize(memory / 8, dim=1))
        self.bias_ratio = opt.loss_vptsp_proxy_bias_ratio
        self.alpha = opt.loss_vptsp_alpha
        self.delta = opt.loss_vptsp_delta
        self.lr_proxy = opt.loss_vptsp_lr_proxy
        self.proxy_optimizer = OptimizerSpec(kind=opt.optim, weight_decay=opt.decay, momentum=opt.sgd_momentum,
                                             schedule=cosine_schedule(opt), step_per="epoch")

    def setup(self, ctx):
        # The model runs the semantic pass; kept as a plain attribute so it is not part of this loss's state.
        object.__setattr__(self, "student", ctx.model)

    def param_groups(self, base_lr):
        proxy_net = [p for name, p in self.named_parameters() if name != "proxy_bias"]
        return [{"params": proxy_net, "lr": base_lr, "name": "loss_vptsp"},
                {"params": [self.proxy_bias], "lr": self.lr_proxy, "name": "loss_vptsp_proxies",
                 "optimizer": "proxy"}]

    def optimizer_specs(self, opt, steps_per_epoch):
        return {"proxy": self.proxy_optimizer}

    def semantic_embeddings(self, images, labels):
        out = self.student(images, class_prompts=[prompts[labels] for prompts in self.class_prompts])
        return F.normalize(self.head(out["features"].float()), dim=1)

    def semantic_memory(self, semantic, labels):
        """(classes of the batch, their updated memories h_c, with gradient); the buffer gets the detached values."""
        classes, inverse = torch.unique(labels, return_inverse=True)
        hidden = self.memory[classes]
        if self.mix_type == "mix":
            means = torch.zeros_like(hidden).index_add_(0, inverse, semantic) / torch.bincount(inverse)[:, None]
            hidden = MIX_KEEP * hidden + (1 - MIX_KEEP) * means
        else:
            # The GRU folds each class's samples in batch order: step t takes every class's t-th sample at once.
            order = torch.argsort(inverse, stable=True)
            counts = torch.bincount(inverse)
            starts = torch.cumsum(counts, 0) - counts
            for t in range(int(counts.max())):
                has_sample = counts > t
                rows = order[starts[has_sample] + t]
                hidden = hidden.index_put((has_sample.nonzero()[:, 0],), self.gru(semantic[rows], hidden[has_sample]))
        hidden = F.normalize(hidden, dim=1)
        with torch.no_grad():
            self.memory[classes] = hidden.detach()
        return classes, hidden

    def forward(self, batch, labels, images):
        classes, hidden = self.semantic_memory(self.semantic_embeddings(images, labels), labels)
        semantic = self.memory.clone().index_copy(0, classes, hidden.to(self.memory.dtype))
        proxies = self.bias_ratio * self.proxy_bias + (1 - self.bias_ratio) * semantic
        return proxy_anchor(batch, labels, proxies, self.alpha, self.delta, positives_over_all_classes=True)
