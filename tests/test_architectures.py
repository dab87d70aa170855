import logging
import os

import pytest
import sklearn.datasets
import timm
import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision import transforms
from torchvision.models import ResNet18_Weights

from architectures import REGISTRY, TAGS, parse, select
from architectures.efficientnet_lite0 import _packaged_weights_path, map_packaged_weights
from architectures.weights import cache_path
from utilities.errors import ConfigError

logger = logging.getLogger(__name__)

BASES = ["resnet18", "resnet50", "googlenet", "bninception", "efficientnet_lite0"]
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


def test_registry_holds_the_five_bases():
    assert REGISTRY.names() == sorted(BASES)


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
def test_output_keys_and_shapes(build, base):
    model = build(base).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        stages = model(x, return_intermediate=True)["intermediate"]
    dim = FEATURE_DIMS[base]
    assert set(out) == {"embeds", "features", "feature_map", "logits"}
    assert out["embeds"].shape == (2, EMBED_DIM)
    assert out["features"].shape == (2, dim)
    assert out["feature_map"].shape == (2, dim, 2, 2)
    assert out["logits"].shape == (2, 1000)
    assert model.feature_dim == dim and model.name == base
    assert len(model.mean) == len(model.std) == 3
    # Strides 4, 8, 16, 32 at a 64 px input; the deepest stage is the feature map.
    assert [s.shape[-1] for s in stages] == [16, 8, 4, 2]
    assert torch.equal(stages[-1], out["feature_map"])


@pytest.mark.parametrize("base", BASES)
def test_normalize_tag_gives_unit_norm_embeddings(build, base):
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        normalized = build(base + "_normalize").eval()(x)["embeds"].norm(dim=1)
        plain = build(base).eval()(x)["embeds"].norm(dim=1)
    assert torch.allclose(normalized, torch.ones(3), atol=1e-5)
    assert not torch.allclose(plain, torch.ones(3), atol=1e-2)


@pytest.mark.parametrize("base", BASES)
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
            transforms.ToTensor(),
            transforms.Normalize(model.mean, model.std),
        ]
    )
    with torch.no_grad():
        probs = model.eval()(preprocess(image)[None])["logits"].softmax(dim=1)[0]
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
