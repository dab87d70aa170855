import logging
import os

import pytest
import sklearn.datasets
import timm
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import nn
from torchvision import transforms
from torchvision.models import ResNet18_Weights

from architectures import REGISTRY, TAGS, parse, select
from architectures.base import Backbone, EmbeddingModel
from architectures.efficientnet_lite0 import _packaged_weights_path, map_packaged_weights
from architectures.weights import cache_path
from utilities.errors import ConfigError

logger = logging.getLogger(__name__)

BASES = ["resnet18", "resnet50", "googlenet", "bninception", "efficientnet_lite0"]
VIT_BASES = ["vit_small_patch16_224", "vit_base_patch16_224", "vit_small_patch16_224_in21k",
             "vit_base_patch16_224_in21k"]  # tests/test_vit.py
# Downloaded weights are unavailable in tests; efficientnet_lite0's ship in a pip package, so test those for real.
PRETRAINED = {"efficientnet_lite0": True}
FEATURE_DIMS = {"resnet18": 512, "resnet50": 2048, "googlenet": 1024, "bninception": 1024, "efficientnet_lite0": 1280}
EMBED_DIM = 16


@pytest.fixture(scope="module")
def build():
    """Builds each architecture name once per module; tests that change a model's state build their own."""
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = select(name, EMBED_DIM, PRETRAINED.get(parse(name)[0], False))
        return cache[name]

    return get


def batchnorms(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_registry_holds_the_cnn_and_vit_bases():
    assert REGISTRY.names() == sorted(BASES + VIT_BASES)


def test_parse_accepts_tags_in_any_order():
    assert parse("efficientnet_lite0") == ("efficientnet_lite0", set())
    assert parse("resnet50_normalize_frozen") == parse("resnet50_frozen_normalize") == ("resnet50", set(TAGS))


@pytest.mark.parametrize("name", ["vgg16", "resnet", "resnet50_foo", "resnet50_frozen_frozen", "resnet50_"])
def test_invalid_names_list_valid_bases_and_tags(name):
    with pytest.raises(ConfigError) as error:
        select(name, EMBED_DIM, pretrained=False)
    for valid in BASES + list(TAGS):
        assert valid in str(error.value)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.slow
def test_output_keys_and_shapes(build, base):
    model = build(base).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        plain = model(x)
        full = model(x, return_logits=True, return_intermediate=True)
        only_logits = model(x, return_logits=True)
        only_stages = model(x, return_intermediate=True)
        stages = model.backbone(model.normalize_input(x))
    dim = FEATURE_DIMS[base]
    # The ImageNet classifier and the stage list are there only when asked for.
    assert set(plain) == {"embeds", "features", "feature_map"}
    assert set(full) == {"embeds", "features", "feature_map", "logits", "intermediate"}
    assert set(only_logits) == {"embeds", "features", "feature_map", "logits"}
    assert set(only_stages) == {"embeds", "features", "feature_map", "intermediate"}
    assert plain["embeds"].shape == (2, EMBED_DIM)
    assert plain["features"].shape == (2, dim)
    assert plain["feature_map"].shape == (2, dim, 2, 2)
    assert full["logits"].shape == (2, 1000)
    assert model.feature_dim == dim and model.name == base
    # Asking for more changes nothing else, and what is asked for is the full computation.
    for key in plain:
        for out in (full, only_logits, only_stages):
            assert torch.equal(plain[key], out[key]), key
    logits = model.backbone.classifier(plain["features"])
    assert torch.equal(full["logits"], logits) and torch.equal(only_logits["logits"], logits)
    # Strides 4, 8, 16, 32 at a 64 px input; the deepest stage is the feature map.
    assert [s.shape[-1] for s in stages] == [16, 8, 4, 2]
    for out in (full, only_stages):
        assert len(out["intermediate"]) == 4
        assert all(torch.equal(a, b) for a, b in zip(out["intermediate"], stages))
    assert torch.equal(stages[-1], plain["feature_map"])


@pytest.mark.parametrize("base", BASES)
def test_cnn_backbones_declare_average_pooling(build, base):
    model = build(base).eval()
    assert model.backbone.POOLING == "avg"
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    torch.testing.assert_close(out["features"], out["feature_map"].mean(dim=(2, 3)))


def normalised_by_hand(model, x):
    """The old data pipeline's input: torchvision's Normalize with the backbone's statistics, i.e. (x - mean) / std
    per channel in float32, then (BN-Inception) the swap to BGR its forward used to do."""
    mean = torch.tensor(model.backbone.MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(model.backbone.STD, dtype=torch.float32).view(3, 1, 1)
    by_hand = (x - mean) / std
    assert torch.equal(by_hand, torch.stack([transforms.Normalize(model.backbone.MEAN, model.backbone.STD)(i)
                                             for i in x]))
    return by_hand.flip(1) if parse(model.name)[0] == "bninception" else by_hand


@pytest.mark.parametrize("base", BASES)
def test_the_model_normalises_images_in_0_1_itself(build, base):
    model = build(base + "_normalize").eval()
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
        stages = model.backbone(normalised_by_hand(model, x))
        features = F.adaptive_avg_pool2d(stages[-1], 1).flatten(1)
        embeds = F.normalize(model.head(features), dim=-1)
    assert torch.equal(out["features"], features)
    assert torch.equal(out["embeds"], embeds)


def test_the_statistics_each_backbone_declares():
    for base in ("resnet18", "resnet50"):
        backbone = REGISTRY.get(base)
        assert (backbone.MEAN, backbone.STD) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        assert backbone.CHANNEL_ORDER == "RGB"
    # Both trained in TensorFlow on [-1, 1].
    for base in ("googlenet", "efficientnet_lite0"):
        backbone = REGISTRY.get(base)
        assert (backbone.MEAN, backbone.STD, backbone.CHANNEL_ORDER) == ((0.5,) * 3, (0.5,) * 3, "RGB")


def test_bninception_gets_caffe_input_bgr_0_255_minus_the_mean(build):
    model = build("bninception").eval()
    assert model.backbone.CHANNEL_ORDER == "BGR"
    x = torch.rand(2, 3, 64, 64)
    seen = []
    hook = model.backbone.net.conv1_7x7_s2.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        with torch.no_grad():
            model(x)
    finally:
        hook.remove()
    caffe = x[:, [2, 1, 0]] * 255 - torch.tensor([104.0, 117.0, 128.0]).view(3, 1, 1)
    torch.testing.assert_close(seen[0], caffe, rtol=0, atol=1e-4)


def test_normalisation_statistics_are_buffers_outside_the_state_dict(build):
    model = select("bninception_normalize", EMBED_DIM, pretrained=False)
    buffers = dict(model.named_buffers())
    assert {"input_mean", "input_std"} <= set(buffers)
    assert buffers["input_mean"].shape == (3, 1, 1) and buffers["input_mean"].dtype == torch.float32
    assert all(key.startswith(("backbone.", "head.")) for key in model.state_dict())
    assert not any(key.endswith(("input_mean", "input_std")) for key in model.state_dict())
    # They follow the model like any buffer, and a state dict without them loads strictly.
    model.to(torch.float64)
    assert model.input_mean.dtype == model.input_std.dtype == torch.float64
    fresh = select("bninception_normalize", EMBED_DIM, pretrained=False)
    fresh.load_state_dict(build("bninception_normalize").state_dict())


class TokenBackbone(Backbone):
    """A stand-in for a ViT: a token sequence with a class token first, pooled by that token, and extra inputs."""

    POOLING = "cls"
    MEAN = (0.25, 0.5, 0.75)
    STD = (0.5, 0.25, 0.125)

    def __init__(self):
        super().__init__()
        self.feature_dim = 4
        self.patch = nn.Linear(3, 4)
        self.cls_token = nn.Parameter(torch.randn(1, 1, 4))
        self.classifier = nn.Linear(4, 10)
        self.received = None

    def forward(self, x, prompts=None, scale=1.0):
        self.received = {"input": x, "prompts": prompts, "scale": scale}
        tokens = self.patch(x.flatten(2).transpose(1, 2))  # B x HW x 4
        parts = [self.cls_token.expand(len(x), -1, -1)]
        if prompts is not None:
            parts.append(prompts)
        return [torch.cat(parts + [tokens], dim=1) * scale]


def test_extra_keyword_inputs_reach_the_backbone_and_cls_pooling_takes_the_first_token():
    torch.manual_seed(0)
    model = EmbeddingModel(TokenBackbone(), 3, normalize_embedding=False, frozen_bn=False, name="fake").eval()
    x = torch.rand(2, 3, 5, 5)
    prompts = torch.randn(2, 2, 4)
    out = model(x, return_logits=True, prompts=prompts, scale=2.0)
    received = model.backbone.received
    assert received["prompts"] is prompts and received["scale"] == 2.0
    assert torch.equal(received["input"], (x - torch.tensor([0.25, 0.5, 0.75]).view(3, 1, 1))
                       / torch.tensor([0.5, 0.25, 0.125]).view(3, 1, 1))
    assert out["feature_map"].shape == (2, 1 + 2 + 25, 4)
    assert torch.equal(out["features"], out["feature_map"][:, 0])
    assert torch.equal(out["embeds"], model.head(out["features"]))
    assert out["logits"].shape == (2, 10)
    model(x)
    assert model.backbone.received["prompts"] is None and model.backbone.received["scale"] == 1.0


def test_a_cnn_backbone_refuses_extra_inputs_it_does_not_take(build):
    with pytest.raises(TypeError, match="prompts"):
        build("resnet18")(torch.rand(1, 3, 32, 32), prompts=torch.zeros(1, 1, 512))


def test_an_unknown_pooling_declaration_is_refused():
    class Odd(TokenBackbone):
        POOLING = "max"

    with pytest.raises(ValueError, match="POOLING"):
        EmbeddingModel(Odd(), 3, normalize_embedding=False, frozen_bn=False, name="odd")


@pytest.mark.parametrize("base", BASES)
def test_normalize_tag_gives_unit_norm_embeddings(build, base):
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        normalized = build(base + "_normalize").eval()(x)["embeds"].norm(dim=1)
        plain = build(base).eval()(x)["embeds"].norm(dim=1)
    assert torch.allclose(normalized, torch.ones(3), atol=1e-5)
    assert not torch.allclose(plain, torch.ones(3), atol=1e-2)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.slow
def test_frozen_tag_keeps_batchnorm_fixed_in_training(build, base):
    model = build(base + "_frozen").train()
    bns = batchnorms(model)
    assert bns and not any(bn.training for bn in bns)
    assert model.training and model.head.training
    before = [{k: v.clone() for k, v in bn.state_dict().items()} for bn in bns]
    model(torch.randn(2, 3, 64, 64))["embeds"].sum().backward()
    for bn, saved in zip(bns, before):
        for key, value in bn.state_dict().items():
            assert torch.equal(value, saved[key]), key
        # As in Roth et al.: statistics are frozen, the affine parameters still learn.
        assert all(p.grad is not None for p in bn.parameters())
    assert model.head.weight.grad is not None
    model.zero_grad(set_to_none=True)


def test_without_frozen_tag_batchnorm_statistics_move():
    # Control for the test above: the same check must fail without the tag.
    model = select("resnet18", EMBED_DIM, pretrained=False).train()
    bn = batchnorms(model)[0]
    before = bn.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert bn.training and not torch.equal(before, bn.running_mean)


@pytest.mark.parametrize("name", [b + tag for b in BASES for tag in ("", "_frozen")])
def test_head_and_backbone_parameters_split(build, name):
    model = build(name)
    head, backbone = model.head_parameters(), model.backbone_parameters()
    assert {id(p) for p in head} == {id(p) for p in model.head.parameters()}
    assert not {id(p) for p in head} & {id(p) for p in backbone}
    assert {id(p) for p in head} | {id(p) for p in backbone} == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("base", ["resnet18", "resnet50", "googlenet", "bninception"])
def test_missing_weights_name_the_flag_and_the_path(tmp_path, monkeypatch, base):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ConfigError) as error:
        select(base, EMBED_DIM, pretrained=True)
    message = str(error.value)
    assert "--not_pretrained" in message
    assert str(tmp_path / "hub" / "checkpoints") in message and ".pth" in message and "http" in message


def test_weights_in_the_hub_cache_are_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(123)
    reference = torchvision.models.resnet18().state_dict()
    path = cache_path(ResNet18_Weights.IMAGENET1K_V1.url)
    assert path.startswith(str(tmp_path))
    os.makedirs(os.path.dirname(path))
    torch.save(reference, path)
    loaded = select("resnet18", EMBED_DIM, pretrained=True).backbone.state_dict()
    # The backbone keeps torchvision's module order, so the tensors line up one to one.
    assert len(loaded) == len(reference)
    for ours, theirs in zip(loaded.values(), reference.values()):
        assert torch.equal(ours, theirs)


def test_weights_file_of_the_wrong_architecture_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = cache_path(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url)
    os.makedirs(os.path.dirname(path))
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(ConfigError, match="does not fit"):
        select("resnet50", EMBED_DIM, pretrained=True)


def packaged_state_dict():
    return torch.load(_packaged_weights_path(), map_location="cpu", weights_only=True)


def test_packaged_efficientnet_weights_map_onto_timm_shape_by_shape():
    source = packaged_state_dict()
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    mapped = map_packaged_weights(source, target)
    assert list(mapped) == list(target)
    assert all(mapped[k].shape == target[k].shape for k in target)
    # Pairing by position must fail loudly as soon as one shape disagrees.
    keys = list(source)
    swapped = dict(source)
    swapped[keys[0]], swapped[keys[6]] = source[keys[6]], source[keys[0]]
    with pytest.raises(ConfigError, match="does not match"):
        map_packaged_weights(swapped, target)


def test_efficientnet_pretrained_weights_are_loaded(build):
    loaded = list(build("efficientnet_lite0").backbone.state_dict().values())
    source = list(packaged_state_dict().values())
    assert len(loaded) == len(source)
    assert all(torch.equal(a, b) for a, b in zip(loaded, source))
    random = select("efficientnet_lite0", EMBED_DIM, pretrained=False).backbone.state_dict()
    assert not torch.equal(random["stem.0.weight"], build("efficientnet_lite0").backbone.stem[0].weight)


def top5(model, filename):
    image = Image.open(os.path.join(os.path.dirname(sklearn.datasets.__file__), "images", filename)).convert("RGB")
    preprocess = transforms.Compose(
        [
            transforms.Resize(224),
            transforms.CenterCrop(224),
            transforms.ToTensor(),  # the model normalises by itself
        ]
    )
    with torch.no_grad():
        probs = model.eval()(preprocess(image)[None], return_logits=True)["logits"].softmax(dim=1)[0]
    categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    values, indices = probs.topk(5)
    result = [(categories[i], round(v.item(), 3)) for v, i in zip(values, indices)]
    logger.info("efficientnet_lite0 top-5 for %s: %s", filename, result)
    return result


def test_efficientnet_pretrained_predictions_are_plausible(build):
    model = build("efficientnet_lite0")
    # scikit-learn's sample photos: a Chinese temple by a lake, and a close-up of a flower.
    temple = top5(model, "china.jpg")
    flower = top5(model, "flower.jpg")
    buildings = {"palace", "monastery", "stupa", "bell cote", "castle", "church", "mosque", "dome", "boathouse"}
    assert temple[0][0] in buildings
    assert sum(name in buildings for name, _ in temple) >= 3
    assert temple[0][1] > 0.1  # far from the 0.001 of a uniform, untrained classifier
    assert "daisy" in [name for name, _ in flower]
    assert not buildings & {name for name, _ in flower}


def test_channels_last_keeps_the_function_and_the_checkpoint_format():
    torch.manual_seed(0)
    plain = select("resnet18_normalize", 16, pretrained=False).eval()
    fast = select("resnet18_normalize", 16, pretrained=False, options={"channels_last": True}).eval()
    fast.load_state_dict(plain.state_dict())
    conv = next(p for p in fast.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    images = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(fast(images)["embeds"], plain(images)["embeds"], rtol=1e-4, atol=1e-5)
    # its checkpoint loads into a model in the default format, values unchanged
    reloaded = select("resnet18_normalize", 16, pretrained=False)
    reloaded.load_state_dict(fast.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(reloaded.state_dict().values(), plain.state_dict().values()))


def test_compile_keeps_the_function_gradients_and_checkpoint_keys():
    torch.manual_seed(0)
    plain = select("resnet18_normalize", 16, pretrained=False)
    # The eager backend traces with dynamo but runs the captured graph as is: outputs must be identical.
    compiled = select("resnet18_normalize", 16, pretrained=False, options={"compile": True, "compile_backend": "eager"})
    compiled.load_state_dict(plain.state_dict())
    assert compiled._compiled_call_impl is not None and plain._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(plain.state_dict())  # no "_orig_mod." prefix in checkpoints
    images = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    counts = torch._dynamo.utils.counters["stats"]["calls_captured"]
    compiled(images)["embeds"].sum().backward()
    assert torch._dynamo.utils.counters["stats"]["calls_captured"] > counts  # dynamo really traced the forward
    plain(images)["embeds"].sum().backward()
    for (name, a), b in zip(compiled.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
