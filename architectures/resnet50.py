from torchvision.models import ResNet50_Weights, resnet50

from architectures import REGISTRY
from architectures._resnet import TorchvisionResNet


@REGISTRY.register("resnet50")
class ResNet50(TorchvisionResNet):
    def __init__(self, pretrained):
        # IMAGENET1K_V1 are the weights `pretrained=True` gave, which the DML literature used.
        super().__init__(resnet50, ResNet50_Weights.IMAGENET1K_V1, "resnet50", pretrained)
