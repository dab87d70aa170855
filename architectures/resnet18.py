from torchvision.models import ResNet18_Weights, resnet18

from architectures import REGISTRY
from architectures._resnet import TorchvisionResNet


@REGISTRY.register("resnet18")
class ResNet18(TorchvisionResNet):
    def __init__(self, pretrained):
        # IMAGENET1K_V1 are the weights `pretrained=True` gave, which the DML literature used.
        super().__init__(resnet18, ResNet18_Weights.IMAGENET1K_V1, "resnet18", pretrained)
