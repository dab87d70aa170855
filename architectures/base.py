"""The embedding model every architecture is wrapped in, and the backbone contract each architecture implements.

Every model takes RGB images in [0, 1] (what `transforms.ToTensor()` gives); the conversion to what the backbone's
pretrained weights expect happens inside `EmbeddingModel.forward`, so the data pipeline never depends on the model.
"""
import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# How a backbone turns its final output into one feature vector per image:
#   "avg": global average pooling over the spatial positions of a B x C x h x w feature map (CNNs);
#   "cls": the first token of a B x tokens x D sequence (ViTs with a class token).
POOLINGS = ("avg", "cls")
CHANNEL_ORDERS = ("RGB", "BGR")


class Backbone(nn.Module):
    """An ImageNet classifier split so the embedding model can reach its stages, pooled features and classifier.

    A subclass declares, as class attributes:
      - `MEAN`, `STD`: the per-channel normalisation `(x - MEAN) / STD` of an RGB image in [0, 1] that its weights
        expect, always listed in RGB order (ImageNet statistics by default);
      - `CHANNEL_ORDER`: "RGB" (default), or "BGR" for weights trained on BGR input: the normalised image is then
        flipped to BGR before `forward` sees it;
      - `POOLING`: "avg" (default, global average pooling) or "cls" (class token), see POOLINGS; `pool()` applies it
        and may be overridden where a backbone needs more (e.g. a norm applied after pooling);
    and sets, as instance attributes, `feature_dim` (size of the pooled features) and `classifier` (pooled
    features -> 1000 ImageNet logits). `IMAGENET_1K_HEAD = False` declares that even its pretrained weights have no
    trained ImageNet-1k classifier (e.g. weights trained on other labels).

    A backbone with options of its own (prompt tokens, which parameters train) declares their flags in a static
    `add_arguments(group)` and their names in `OPTIONS`: the run's values are passed to its constructor as keyword
    arguments, `cls(pretrained, **options)`, on training and when a checkpoint is rebuilt from its saved options.
    `embedding_head(embed_dim)` builds the embedding head (default: a Linear layer on the pooled features).

    `forward(x, **extra_inputs)` receives the normalised image (and any extra keyword inputs the caller passed to
    `EmbeddingModel.forward`, e.g. prompt tokens; a backbone that takes none simply has no such parameters) and
    returns the list of its stage outputs from shallow to deep; the last one is the final output that `pool()`
    reduces. The default `forward` runs `self.stem` and then each of `self.stages` (CNN stages at strides 4, 8, 16
    and 32).
    """

    MEAN = IMAGENET_MEAN
    STD = IMAGENET_STD
    CHANNEL_ORDER = "RGB"
    POOLING = "avg"
    IMAGENET_1K_HEAD = True
    OPTIONS = ()
    feature_dim: int
    classifier: nn.Module

    def embedding_head(self, embed_dim):
        return nn.Linear(self.feature_dim, embed_dim)

    def forward(self, x):
        x = self.stem(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def pool(self, final_output):
        """One feature vector per image (B x feature_dim) from the last stage output, as POOLING declares."""
        if self.POOLING == "avg":
            return F.adaptive_avg_pool2d(final_output, 1).flatten(1)
        if self.POOLING == "cls":
            return final_output[:, 0]
        raise ValueError(f"{type(self).__name__}.POOLING is {self.POOLING!r}; expected one of {', '.join(POOLINGS)}.")


class EmbeddingModel(nn.Module):
    """Input normalisation + backbone + pooling (as the backbone declares it) + linear embedding head.

    `forward(images, return_logits=False, return_intermediate=False, **extra_inputs)` takes RGB images in [0, 1]
    (B x 3 x H x W), normalises them as the backbone declares (`normalize_input`), passes `extra_inputs` on to the
    backbone and returns a dict with, always:
      - `embeds` (B x embed_dim, unit norm iff `normalize_embedding`),
      - `features` (pooled backbone features, B x feature_dim),
      - `feature_map` (the backbone's final output before pooling: B x feature_dim x h x w for a CNN);
    and only when asked:
      - `logits` (return_logits: ImageNet logits of the backbone's own classifier on `features`),
      - `intermediate` (return_intermediate: the list of stage outputs, shallow to deep, for feature distillation).

    `imagenet_logits` is True when `logits` come from a trained ImageNet-1k classifier (pretrained weights of a
    backbone that has one), which pseudo-labelling needs.

    The normalisation statistics are non-persistent buffers: they follow `.to(device)` but are not part of the
    state dict, so checkpoints hold only learned weights.

    With `frozen_bn`, every BatchNorm layer stays in eval mode, so it normalises with its ImageNet running statistics
    and never updates them (small class-balanced batches would give poor estimates). Its affine parameters still
    learn, as in Roth et al.'s framework.
    """

    def __init__(self, backbone, embed_dim, normalize_embedding, frozen_bn, name, pretrained=False):
        super().__init__()
        if backbone.POOLING not in POOLINGS:
            raise ValueError(f"{type(backbone).__name__}.POOLING is {backbone.POOLING!r}; expected one of "
                             f"{', '.join(POOLINGS)}.")
        if backbone.CHANNEL_ORDER not in CHANNEL_ORDERS:
            raise ValueError(f"{type(backbone).__name__}.CHANNEL_ORDER is {backbone.CHANNEL_ORDER!r}; expected one "
                             f"of {', '.join(CHANNEL_ORDERS)}.")
        self.backbone = backbone
        self.head = backbone.embedding_head(embed_dim)
        self.name = name
        self.embed_dim = embed_dim
        self.feature_dim = backbone.feature_dim
        self.imagenet_logits = pretrained and backbone.IMAGENET_1K_HEAD
        # Shaped [C, 1, 1] in float32, exactly as torchvision's Normalize builds them, so that the arithmetic below
        # gives the same bits as normalising in the data pipeline did.
        self.register_buffer("input_mean", torch.tensor(backbone.MEAN, dtype=torch.float32).view(-1, 1, 1),
                             persistent=False)
        self.register_buffer("input_std", torch.tensor(backbone.STD, dtype=torch.float32).view(-1, 1, 1),
                             persistent=False)
        self.normalize_embedding = normalize_embedding
        self.frozen_bn = frozen_bn
        self.channels_last = False
        self.train()

    def use_channels_last(self):
        """Keep convolution weights and inputs channels-last (NHWC): faster kernels on CPUs with oneDNN and on GPUs
        with tensor cores. The same function of the input, up to the kernels' float rounding."""
        self.to(memory_format=torch.channels_last)
        self.channels_last = True
        return self

    def _batchnorms(self):
        return [m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def train(self, mode=True):
        super().train(mode)
        if self.frozen_bn:
            for bn in self._batchnorms():
                bn.eval()
        return self

    def head_parameters(self):
        return list(self.head.parameters())

    def backbone_parameters(self):
        return list(self.backbone.parameters())

    def param_groups(self, lr, head_lr):
        """The model's optimiser groups (utilities/optimizers.py): the trainable backbone parameters at lr, frozen
        during --warmup, and the embedding head at head_lr."""
        head_ids = {id(p) for p in self.head.parameters()}
        groups = [{"params": [p for p in self.parameters() if id(p) not in head_ids and p.requires_grad],
                   "lr": lr, "name": "backbone", "warmup_frozen": True},
                  {"params": [p for p in self.head.parameters() if p.requires_grad], "lr": head_lr, "name": "head"}]
        return [group for group in groups if group["params"]]

    def normalize_input(self, images):
        """RGB images in [0, 1] -> the backbone's input: `(x - mean) / std` per channel, then BGR if it asks."""
        # Subtract then divide, as torchvision's Normalize does (its sub_/div_ on a copy).
        x = (images - self.input_mean) / self.input_std
        if self.backbone.CHANNEL_ORDER == "BGR":
            x = x.flip(1)
        return x

    def forward(self, images, return_logits=False, return_intermediate=False, **extra_inputs):
        if self.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        stages = self.backbone(self.normalize_input(images), **extra_inputs)
        final = stages[-1]
        features = self.backbone.pool(final)
        embeds = self.head(features)
        if self.normalize_embedding:
            embeds = F.normalize(embeds, dim=-1)
        out = {"embeds": embeds, "features": features, "feature_map": final}
        if return_logits:
            out["logits"] = self.backbone.classifier(features)
        if return_intermediate:
            out["intermediate"] = stages
        return out
