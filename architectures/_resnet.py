"""torchvision ResNets as backbones; shared by resnet18.py and resnet50.py."""
from torch import nn

from architectures.base import Backbone
from architectures.weights import load_cached_state_dict, load_into


class TorchvisionResNet(Backbone):
    def __init__(self, constructor, weights, arch, pretrained):
        super().__init__()
        net = constructor(weights=None)
        if pretrained:
            load_into(net, load_cached_state_dict(weights.url, arch), arch, weights.url)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.classifier = net.fc
        self.feature_dim = net.fc.in_features
