"""Vision Transformers from timm with deep visual prompts and BitFit, as in Ren et al. (ICLR 2024), "Learning
Semantic Proxies from Visual Prompts for Parameter-Efficient Fine-Tuning in Deep Metric Learning".

Four backbones, all ViT-{S,B}/16 AugReg weights at 224 px with mean = std = 0.5 per channel (timm's pretrained_cfg):
  vit_small_patch16_224        timm vit_small_patch16_224.augreg_in21k_ft_in1k  (D=384, ImageNet-1k head)
  vit_base_patch16_224         timm vit_base_patch16_224.augreg2_in21k_ft_in1k  (D=768, ImageNet-1k head)
  vit_small_patch16_224_in21k  timm vit_small_patch16_224.augreg_in21k          (D=384, 21,843-class head)
  vit_base_patch16_224_in21k   timm vit_base_patch16_224.augreg_in21k           (D=768, 21,843-class head)
The _in21k ones are the paper's backbones (its timm 0.9.16 names are deprecated aliases of these tags).

As in the paper's code (architectures/peft_vit.py of github.com/Noahsark/ParameterEfficient-DML):
  - features are the CLS token after timm's final LayerNorm;
  - --num_prompt N --prompt_depth L: deep visual prompts. Blocks 0..L-1 each own a (1, N_i, D) parameter
    (xavier_normal init), prepended before the CLS token for that block only and dropped from its output, so every
    prompted block sees fresh prompts of its own ("replace" VPT-deep); --prompt_block_step s shrinks the count with
    depth, N_i = max(N - i * s, 0) (the paper's Cars, SOP-B and iNat configs use it);
  - --vit_grad_checkpointing recomputes each block's activations in the backward pass instead of storing them
    (the paper's `checkpoint`): less memory, about one extra forward pass of time, the same gradients;
  - `forward(x, class_prompts=[...])` is the semantic-proxy pass: per-sample prompts (each image its class's) go into
    the blocks they cover instead of the shared prompts, and no shared prompt enters that pass;
  - --vit_bitfit: every bias of the transformer trains (BitFit);
  - --vit_head: the embedding head is LayerNorm(D) then Linear(D, embed_dim) (xavier_uniform weight, zero bias);
  - the transformer is frozen unless --vit_full_finetune, so what trains is the prompts, the biases with
    --vit_bitfit, and the embedding head (which always trains). Without any flag that is the head alone.

Departures, and why:
  - With --prompt_block_step each block's prompt parameter holds exactly the N_i tokens it uses (the paper allocates
    N per block and slices, so its unused tokens count as trainable parameters without ever getting a gradient).
  - --prompt_depth must lie within the block count (a ConfigError), where the paper clamps it silently, which would
    hide a typo and change the parameter count.
  - BitFit leaves the ImageNet classifier frozen; the paper's rule ("bias" in the name) also unfreezes the unused
    in21k head's bias, which gets no gradient and only inflates the trainable count by 21,843.
  - L2 normalisation of the embedding is the framework's `_normalize` tag (the paper always normalises), and the
    classifier is kept, as every backbone here keeps one for `return_logits`.
  - timm builds the model with dynamic_img_size and dynamic_img_pad, so the position embedding is resampled for
    inputs other than 224 px and sides that are not multiples of 16 are zero-padded (small CPU and emoji runs).
    At 224 px both are no-ops: the outputs are those of the fixed-size model.
  - Weights are read from disk only (no download): the Hugging Face hub cache that timm downloads into, or the
    original .npz in $TORCH_HOME/hub/checkpoints where timm caches its URL downloads.
"""
import logging
import os

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from architectures import REGISTRY
from architectures.base import Backbone
from architectures.efficientnet_lite0 import import_timm
from architectures.weights import cache_path, load_into
from utilities.argtypes import nonnegative_int
from utilities.errors import ConfigError

logger = logging.getLogger(__name__)

# The files timm reads from a model's Hugging Face repository, in the order it prefers them.
HF_FILES = ("model.safetensors", "pytorch_model.bin")


def _weight_locations(pretrained_cfg):
    """(the file found or None, the paths looked at) for the weights a timm model's pretrained_cfg names."""
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.file_download import repo_folder_name

    hub_id = pretrained_cfg["hf_hub_id"]
    # Read at call time rather than at import, so that the cache folder can be redirected.
    hub_cache = constants.HF_HUB_CACHE
    repo_dir = os.path.join(hub_cache, repo_folder_name(repo_id=hub_id, repo_type="model"))
    looked_at = [os.path.join(repo_dir, "snapshots", "<revision>", name) for name in HF_FILES]
    for name in HF_FILES:
        path = try_to_load_from_cache(hub_id, name, cache_dir=hub_cache)
        if isinstance(path, str):  # otherwise None, or a marker that the hub reported the file missing
            return path, looked_at
    if pretrained_cfg.get("url"):
        path = cache_path(pretrained_cfg["url"])
        looked_at.append(path)
        if os.path.isfile(path):
            return path, looked_at
    return None, looked_at


def load_pretrained(net, arch):
    """Load a timm VisionTransformer with the weights its pretrained_cfg names, from disk; a ConfigError naming
    where they were looked for when there are none."""
    cfg = net.pretrained_cfg
    path, looked_at = _weight_locations(cfg)
    if path is None:
        raise ConfigError(
            f"Pretrained weights for '{arch}' (timm {cfg['architecture']}.{cfg['tag']}) are not on disk and cannot "
            f"be downloaded here. Looked for {', '.join(looked_at)}. Fetch them where there is network, e.g. "
            f"`hf download {cfg['hf_hub_id']}` (the cache folder follows HF_HUB_CACHE), or train from random "
            f"initialisation with --not_pretrained.")
    logger.info("Loading pretrained weights for %s from %s", arch, path)
    if path.endswith(".npz"):
        # The original JAX checkpoint: timm's own converter reads it, as when timm downloads from that URL.
        try:
            net.load_pretrained(path)
        except (KeyError, ValueError, RuntimeError) as error:
            raise ConfigError(f"The weights file {path} does not fit architecture '{arch}': {error}") from error
    else:
        load_into(net, import_timm().models.load_state_dict(path), arch, path)


@REGISTRY.register("vit_small_patch16_224")
class ViTSmall(Backbone):
    """ViT-S/16 (ImageNet-21k, fine-tuned on ImageNet-1k); the other ViTs subclass it with their own weights."""

    TIMM_NAME = "vit_small_patch16_224.augreg_in21k_ft_in1k"
    NUM_CLASSES = 1000
    MEAN = (0.5, 0.5, 0.5)
    STD = (0.5, 0.5, 0.5)
    POOLING = "cls"
    OPTIONS = ("num_prompt", "prompt_depth", "prompt_block_step", "vit_bitfit", "vit_head", "vit_full_finetune",
               "vit_grad_checkpointing")

    @staticmethod
    def add_arguments(group):
        # Declared once here for all four ViTs (subclasses' add_arguments would not be found by the flag reader).
        group.add_argument("--num_prompt", type=nonnegative_int, default=0,
                           help="ViTs: deep visual prompt tokens per prompted block (0: none; the paper uses 10-90).")
        group.add_argument("--prompt_depth", type=nonnegative_int, default=12,
                           help="ViTs: how many blocks, from the first, get their own --num_prompt prompt tokens.")
        group.add_argument("--prompt_block_step", type=nonnegative_int, default=0,
                           help="ViTs: block i gets max(num_prompt - i * step, 0) prompt tokens (0: all get "
                                "--num_prompt).")
        group.add_argument("--vit_bitfit", action="store_true",
                           help="ViTs: train every bias of the otherwise frozen transformer (BitFit).")
        group.add_argument("--vit_head", action="store_true",
                           help="ViTs: embedding head LayerNorm + Linear (the paper's) instead of a Linear layer.")
        group.add_argument("--vit_full_finetune", action="store_true",
                           help="ViTs: train every transformer weight. Without it the transformer is frozen and "
                                "only the prompts, the biases (--vit_bitfit) and the embedding head train.")
        group.add_argument("--vit_grad_checkpointing", action="store_true",
                           help="ViTs: recompute block activations in the backward pass (less memory, more time).")

    def __init__(self, pretrained, num_prompt=0, prompt_depth=12, prompt_block_step=0, vit_bitfit=False,
                 vit_head=False, vit_full_finetune=False, vit_grad_checkpointing=False):
        super().__init__()
        net = import_timm().create_model(self.TIMM_NAME, pretrained=False, num_classes=self.NUM_CLASSES,
                                         dynamic_img_size=True, dynamic_img_pad=True)
        if prompt_depth > len(net.blocks):
            raise ConfigError(f"--prompt_depth {prompt_depth} exceeds the {len(net.blocks)} blocks of "
                              f"{self.registry_name}.")
        if pretrained:
            load_pretrained(net, self.registry_name)
        # The classifier is kept apart so that it is held once, and so that BitFit can leave its bias frozen.
        self.classifier = net.head
        net.head = nn.Identity()
        self.vit = net
        self.feature_dim = net.embed_dim
        self.vit_head = vit_head
        for name, parameter in net.named_parameters():
            parameter.requires_grad = vit_full_finetune or (vit_bitfit and name.endswith("bias"))
        self.classifier.requires_grad_(vit_full_finetune)
        self.grad_checkpointing = vit_grad_checkpointing
        self.prompts = nn.ParameterList(
            [nn.Parameter(nn.init.xavier_normal_(torch.empty(1, count, net.embed_dim)))
             for count in shrinking_counts(num_prompt, prompt_depth, prompt_block_step)])

    def embedding_head(self, embed_dim):
        if not self.vit_head:
            return super().embedding_head(embed_dim)
        linear = nn.Linear(self.feature_dim, embed_dim)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        return nn.Sequential(nn.LayerNorm(self.feature_dim), linear)

    def forward(self, x, class_prompts=None):
        """The block outputs (B x (1 + patches) x D, prompt tokens removed), the last after the final norm.

        class_prompts: None, or a list of per-sample prompts [B x n_i x D] for blocks 0, 1, ...; they replace the
        shared prompts in this pass, and the blocks beyond the list run without prompts.
        """
        vit = self.vit
        prompts = self.prompts
        if class_prompts is not None:
            if len(class_prompts) > len(vit.blocks):
                raise ValueError(f"class_prompts holds {len(class_prompts)} entries for {len(vit.blocks)} blocks.")
            for p in class_prompts:
                if p.dim() != 3 or p.shape[0] != x.shape[0] or p.shape[2] != self.feature_dim:
                    raise ValueError(f"class_prompts entries must be [B={x.shape[0]}, n, D={self.feature_dim}], "
                                     f"got {list(p.shape)}.")
            prompts = class_prompts
        x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
        outputs = []
        for index, block in enumerate(vit.blocks):
            if index < len(prompts):
                prompt = prompts[index].expand(x.shape[0], -1, -1)
                x = self.run_block(block, torch.cat([prompt, x], dim=1))[:, prompt.shape[1]:]
            else:
                x = self.run_block(block, x)
            outputs.append(x)
        outputs[-1] = vit.norm(x)
        return outputs

    def run_block(self, block, x):
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, x, use_reentrant=False)
        return block(x)


def shrinking_counts(count, depth, step):
    """Prompt tokens of blocks 0, 1, ...: count - i * step for i < depth while positive (a block past them gets none).
    """
    return [n for n in (count - index * step for index in range(depth)) if n > 0]


@REGISTRY.register("vit_base_patch16_224")
class ViTBase(ViTSmall):
    """ViT-B/16 (ImageNet-21k, fine-tuned on ImageNet-1k with AugReg2)."""

    TIMM_NAME = "vit_base_patch16_224.augreg2_in21k_ft_in1k"


@REGISTRY.register("vit_small_patch16_224_in21k")
class ViTSmallIn21k(ViTSmall):
    """ViT-S/16 trained on ImageNet-21k only: the paper's ViT-S backbone."""

    TIMM_NAME = "vit_small_patch16_224.augreg_in21k"
    NUM_CLASSES = 21843
    IMAGENET_1K_HEAD = False


@REGISTRY.register("vit_base_patch16_224_in21k")
class ViTBaseIn21k(ViTSmall):
    """ViT-B/16 trained on ImageNet-21k only: the paper's ViT-B backbone."""

    TIMM_NAME = "vit_base_patch16_224.augreg_in21k"
    NUM_CLASSES = 21843
    IMAGENET_1K_HEAD = False
