"""The embedding model every architecture is wrapped in, and the backbone interface each architecture implements."""
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """An ImageNet classifier split so the embedding model can reach its stages, pooled features and classifier.

    Subclasses set `feature_dim` (channels of the last feature map), `classifier` (pooled features -> 1000 ImageNet
    logits) and, where they differ from torchvision's, `mean`/`std`: the per-channel normalisation of an RGB image in
    [0, 1] that the weights expect. `forward(x)` returns the stage outputs from shallow to deep (strides 4, 8, 16, 32);
    the last one is the final feature map. The default `forward` runs `self.stem` and then each of `self.stages`.
    """

    mean = IMAGENET_MEAN
    std = IMAGENET_STD
    feature_dim: int
    classifier: nn.Module

    def forward(self, x):
        x = self.stem(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs


class EmbeddingModel(nn.Module):
    """Backbone + global average pooling + linear embedding head.

    `forward(x)` returns a dict: `embeds` (B x embed_dim, unit norm iff `normalize_embedding`), `features` (pooled
    backbone features, B x feature_dim), `feature_map` (B x feature_dim x h x w), `logits` (ImageNet logits of the
    backbone's own classifier on `features`) and, with `return_intermediate=True`, `intermediate` (the list of stage
    outputs, shallow to deep, for feature distillation).

    With `frozen_bn`, every BatchNorm layer stays in eval mode, so it normalises with its ImageNet running statistics
    and never updates them (small class-balanced batches would give poor estimates). Its affine parameters still
    learn, as in Roth et al.'s framework.
    """

    def __init__(self, backbone, embed_dim, normalize_embedding, frozen_bn, name):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.feature_dim, embed_dim)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.name = name
        self.embed_dim = embed_dim
        self.feature_dim = backbone.feature_dim
        self.mean = tuple(backbone.mean)
        self.std = tuple(backbone.std)
        self.normalize_embedding = normalize_embedding
        self.frozen_bn = frozen_bn
        self.train()

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

    def forward(self, x, return_intermediate=False):
        stages = self.backbone(x)
        feature_map = stages[-1]
        features = self.pool(feature_map).flatten(1)
        embeds = self.head(features)
        if self.normalize_embedding:
            embeds = F.normalize(embeds, dim=-1)
        out = {
            "embeds": embeds,
            "features": features,
            "feature_map": feature_map,
            "logits": self.backbone.classifier(features),
        }
        if return_intermediate:
            out["intermediate"] = stages
        return out
