"""Backbones for deep metric learning, selected by Roth-style names: a base name plus optional tags.

`select("resnet50_frozen_normalize", embed_dim=128, pretrained=True)` builds a ResNet-50 with frozen BatchNorm and an
L2-normalised 128-d embedding. Tags may come in any order. Each base architecture lives in its own module and
registers a `Backbone` subclass (constructed as `cls(pretrained)`) with `@REGISTRY.register(name)`.
"""
import logging

from utilities.errors import ConfigError
from utilities.registry import Registry

REGISTRY = Registry("architecture", "architectures")
TAGS = ("frozen", "normalize")

logger = logging.getLogger(__name__)

# Imported after REGISTRY so that architecture modules importing it from here never see a half-built package.
from architectures.base import EmbeddingModel  # noqa: E402


def _invalid(arch, problem):
    return ConfigError(
        f"Invalid architecture '{arch}': {problem}. Use a base name followed by optional tags in any order, "
        f"e.g. resnet50_frozen_normalize. Base names: {', '.join(REGISTRY.names())}. Tags: {', '.join(TAGS)}."
    )


def parse(arch):
    """Split a name into its base and the set of tags, e.g. 'resnet50_normalize' -> ('resnet50', {'normalize'})."""
    # Base names may contain underscores themselves (efficientnet_lite0), so match the longest registered prefix.
    bases = [b for b in REGISTRY.names() if arch == b or arch.startswith(b + "_")]
    if not bases:
        raise _invalid(arch, "unknown base architecture")
    base = max(bases, key=len)
    tags = arch[len(base) + 1 :].split("_") if arch != base else []
    unknown = [t for t in tags if t not in TAGS]
    if unknown:
        raise _invalid(arch, f"unknown tag(s) {', '.join(repr(t) for t in unknown)}")
    if len(set(tags)) != len(tags):
        raise _invalid(arch, "a tag is repeated")
    return base, set(tags)


def backbone_options(backbone_class, options):
    """The run options a backbone declares in OPTIONS (its own flags, e.g. prompt tokens), from a namespace or a
    dict (a checkpoint's saved options); options it does not find keep the constructor's defaults."""
    if options is None:
        return {}
    values = options if isinstance(options, dict) else vars(options)
    return {name: values[name] for name in backbone_class.OPTIONS if name in values}


def select(arch, embed_dim, pretrained, options=None):
    """The EmbeddingModel of `arch`; `options` (the run's options, namespace or dict) supplies what the backbone
    declares in OPTIONS, `channels_last` and `compile`."""
    if embed_dim < 1:
        raise ConfigError(f"The embedding dimension must be positive, got {embed_dim}.")
    base, tags = parse(arch)
    backbone_class = REGISTRY.get(base)
    backbone = backbone_class(pretrained, **backbone_options(backbone_class, options))
    model = EmbeddingModel(
        backbone, embed_dim, normalize_embedding="normalize" in tags, frozen_bn="frozen" in tags, name=arch,
        pretrained=pretrained)
    if _option(options, "channels_last"):
        model.use_channels_last()
    if _option(options, "compile"):
        # In place, so that state_dict keys (checkpoints, DDP, the teacher's loading) stay those of the plain model.
        model.compile(backend=_option(options, "compile_backend") or "inductor")
    logger.info(
        "Architecture %s: %s backbone (%d-d features), %d-d embedding%s%s",
        arch,
        "ImageNet-pretrained" if pretrained else "randomly initialised",
        model.feature_dim,
        embed_dim,
        ", L2-normalised" if model.normalize_embedding else "",
        ", frozen BatchNorm" if model.frozen_bn else "",
    )
    return model


def _option(options, name):
    if options is None:
        return None
    return options.get(name) if isinstance(options, dict) else getattr(options, name, None)


_DESCRIPTIONS = {}


def describe(arch):
    """The shapes an architecture produces, without loading weights: {"feature_dim": pooled feature size,
    "stage_channels": [channels of each stage output, shallow to deep]} (a CNN stage's dim 1, a token sequence's last
    dim), found by one forward pass of a randomly initialised copy on a 64 px image. Losses that attach modules to
    backbone stages (feature distillation) size them with it at construction."""
    base, _ = parse(arch)
    if base not in _DESCRIPTIONS:
        import torch
        model = EmbeddingModel(REGISTRY.get(base)(False), 1, normalize_embedding=False, frozen_bn=False,
                               name=base).eval()
        with torch.no_grad():
            stages = model(torch.zeros(1, 3, 64, 64), return_intermediate=True)["intermediate"]
        _DESCRIPTIONS[base] = {"feature_dim": model.feature_dim,
                               "stage_channels": [s.shape[1] if s.dim() == 4 else s.shape[-1] for s in stages]}
    return dict(_DESCRIPTIONS[base])
