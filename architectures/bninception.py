from pretrainedmodels.models.bninception import BNInception, pretrained_settings

from architectures import REGISTRY
from architectures.base import Backbone
from architectures.weights import load_cached_state_dict, load_into

# Inputs of these layers are the outputs at strides 4, 8 and 16 (conv2, inception_3b and inception_4d); the network's
# forward is one long function with no module boundary there, so they are caught with pre-hooks.
_STAGE_INPUTS = ("pool2_3x3_s2", "inception_3c_3x3_reduce", "inception_4e_3x3_reduce")


@REGISTRY.register("bninception")
class BNInceptionBackbone(Backbone):
    # The Caffe weights expect BGR in [0, 255] minus a per-channel mean. On an RGB image in [0, 1] that is
    # (x - MEAN) / STD with the values below (listed in RGB order), followed by a swap of the channels to BGR, which
    # EmbeddingModel.normalize_input does because of CHANNEL_ORDER.
    MEAN = (128 / 255, 117 / 255, 104 / 255)
    STD = (1 / 255, 1 / 255, 1 / 255)
    CHANNEL_ORDER = "BGR"

    def __init__(self, pretrained):
        super().__init__()
        # Built directly rather than via pretrainedmodels.bninception(), which would try to download.
        self.net = BNInception(num_classes=1000)
        if pretrained:
            url = pretrained_settings["bninception"]["imagenet"]["url"]
            load_into(self.net, load_cached_state_dict(url, "bninception"), "bninception", url)
        self.feature_dim = self.net.last_linear.in_features

    @property
    def classifier(self):
        # A property rather than a second attribute so the layer is not saved twice in checkpoints.
        return self.net.last_linear

    def forward(self, x):
        outputs = []
        hooks = [
            self.net.get_submodule(name).register_forward_pre_hook(lambda module, args: outputs.append(args[0]))
            for name in _STAGE_INPUTS
        ]
        try:
            outputs.append(self.net.features(x))
        finally:
            for hook in hooks:
                hook.remove()
        return outputs
