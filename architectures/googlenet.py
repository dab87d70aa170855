from torch import nn
from torchvision.models import GoogLeNet, GoogLeNet_Weights

from architectures import REGISTRY
from architectures.base import Backbone
from architectures.weights import load_cached_state_dict, load_into


@REGISTRY.register("googlenet")
class GoogLeNetBackbone(Backbone):
    # torchvision's GoogLeNet weights come from TensorFlow and expect (x - 0.5) / 0.5; torchvision gets there by
    # re-normalising ImageNet-normalised input (transform_input=True). Asking for that normalisation directly is the
    # same computation with one step less.
    MEAN = (0.5, 0.5, 0.5)
    STD = (0.5, 0.5, 0.5)

    def __init__(self, pretrained):
        super().__init__()
        net = GoogLeNet(aux_logits=False, transform_input=False, init_weights=not pretrained)
        if pretrained:
            weights = GoogLeNet_Weights.IMAGENET1K_V1
            state_dict = load_cached_state_dict(weights.url, "googlenet")
            # The auxiliary classifiers were never meant for inference and are not built here.
            state_dict = {k: v for k, v in state_dict.items() if not k.startswith(("aux1.", "aux2."))}
            load_into(net, state_dict, "googlenet", weights.url)
        self.stem = nn.Sequential(net.conv1, net.maxpool1)
        # Cut at strides 4, 8, 16 and 32, the same points as the ResNet stages.
        self.stages = nn.ModuleList(
            [
                nn.Sequential(net.conv2, net.conv3),
                nn.Sequential(net.maxpool2, net.inception3a, net.inception3b),
                nn.Sequential(net.maxpool3, net.inception4a, net.inception4b, net.inception4c, net.inception4d,
                              net.inception4e),
                nn.Sequential(net.maxpool4, net.inception5a, net.inception5b),
            ]
        )
        self.classifier = net.fc
        self.feature_dim = net.fc.in_features
