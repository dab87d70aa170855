"""ViT backbones with deep visual prompts and BitFit (architectures/vit.py), on randomly initialised ViT-S at 32 px."""
import os

import huggingface_hub.constants
import numpy as np
import pytest
import safetensors.torch
import timm
import torch

import architectures
import parameters
from architectures.vit import ViTSmall, shrinking_counts
from architectures.weights import cache_path
from utilities.errors import ConfigError
from utilities.model_loading import build_model

D = 384  # ViT-S width
BLOCKS = 12
# BitFit's D-sized bias vectors: the patch embedding, 12 blocks x (norm1, qkv (3 D), attention projection, norm2,
# fc1 (4 D), fc2) and the final norm.
BITFIT_BIASES = (1 + BLOCKS * (1 + 3 + 1 + 1 + 4 + 1) + 1) * D
IMAGES = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def vit_head_size(embed_dim):
    """LayerNorm(D) + Linear(D, embed_dim)."""
    return 2 * D + D * embed_dim + embed_dim


def backbone(**options):
    torch.manual_seed(0)  # the same transformer weights whatever the options: prompts are drawn after them
    return ViTSmall(False, **options).eval()


def count(model, trainable_only):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@pytest.fixture(autouse=True)
def no_weights_on_disk(tmp_path, monkeypatch):
    """Both weight caches point at empty folders, so a test never sees real files."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))


def test_the_four_registered_vits_declare_timm_statistics_and_heads():
    for name, timm_name, in1k in [("vit_small_patch16_224", "vit_small_patch16_224.augreg_in21k_ft_in1k", True),
                                  ("vit_base_patch16_224", "vit_base_patch16_224.augreg2_in21k_ft_in1k", True),
                                  ("vit_small_patch16_224_in21k", "vit_small_patch16_224.augreg_in21k", False),
                                  ("vit_base_patch16_224_in21k", "vit_base_patch16_224.augreg_in21k", False)]:
        cls = architectures.REGISTRY.get(name)
        cfg = timm.models.get_pretrained_cfg(timm_name)
        assert cls.TIMM_NAME == timm_name and cls.POOLING == "cls"
        assert (cls.MEAN, cls.STD) == (cfg.mean, cfg.std) == ((0.5,) * 3, (0.5,) * 3)
        assert cls.IMAGENET_1K_HEAD is in1k and cls.NUM_CLASSES == cfg.num_classes == (1000 if in1k else 21843)


def test_without_prompts_the_output_is_timms_and_prompts_change_it():
    plain = backbone()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        stages = plain(x)
        assert len(stages) == BLOCKS and all(s.shape == (2, 1 + 4, D) for s in stages)
        assert torch.allclose(stages[-1], plain.vit.forward_features(x), atol=1e-6)
        prompted = backbone(num_prompt=3, prompt_depth=5)
        assert torch.equal(prompted.vit.state_dict()["pos_embed"], plain.vit.state_dict()["pos_embed"])
        with_prompts = prompted(x)
    assert [tuple(p.shape) for p in prompted.prompts] == [(1, 3, D)] * 5
    assert all(s.shape == (2, 1 + 4, D) for s in with_prompts)  # prompt tokens are dropped after each block
    assert not torch.allclose(with_prompts[-1], stages[-1], atol=1e-3)


def test_sizes_that_are_not_multiples_of_the_patch_are_padded():
    with torch.no_grad():
        assert backbone(num_prompt=2)(torch.randn(1, 3, 40, 40))[-1].shape == (1, 1 + 9, D)


def test_one_step_moves_prompts_biases_and_head_only():
    torch.manual_seed(0)
    model = architectures.select("vit_small_patch16_224", 8, pretrained=False,
                                 options={"num_prompt": 2, "prompt_depth": 3, "vit_bitfit": True, "vit_head": True})
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.param_groups(lr=0.1, head_lr=0.1), lr=0.1)
    loss = (model(IMAGES)["embeds"] - torch.randn(2, 8)).pow(2).sum()
    loss.backward()
    optimizer.step()
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    expected = ({f"backbone.prompts.{i}" for i in range(3)} | {f"head.{k}" for k in model.head.state_dict()}
                | {name for name in before if name.startswith("backbone.vit.") and name.endswith(".bias")})
    assert trainable == expected
    for name, p in model.named_parameters():
        if name in trainable:
            assert not torch.equal(p, before[name]), name
        else:
            assert p.grad is None and torch.equal(p, before[name]), name


@pytest.mark.parametrize("options, trainable", [
    ({}, D * 16 + 16),
    ({"num_prompt": 10, "vit_head": True}, 12 * 10 * D + vit_head_size(16)),
    ({"num_prompt": 10, "prompt_depth": 4, "vit_bitfit": True}, 4 * 10 * D + BITFIT_BIASES + D * 16 + 16),
    ({"num_prompt": 10, "vit_bitfit": True, "vit_full_finetune": True}, None),
])
def test_trainable_parameters_are_prompts_bitfit_biases_and_head(options, trainable):
    model = architectures.select("vit_small_patch16_224", 16, pretrained=False, options=options)
    timm_total = count(model.backbone.vit, False) + count(model.backbone.classifier, False)
    prompts = options.get("prompt_depth", 12) * options.get("num_prompt", 0) * D
    head = vit_head_size(16) if options.get("vit_head") else D * 16 + 16
    assert count(model, False) == timm_total + prompts + head
    assert count(model, True) == (count(model, False) if trainable is None else trainable)


def test_the_papers_vit_s_recipe_counts():
    model = architectures.select("vit_small_patch16_224_in21k", 384, pretrained=False,
                                 options={"num_prompt": 10, "prompt_depth": 12, "vit_bitfit": True, "vit_head": True})
    assert count(model, True) == 12 * 10 * D + BITFIT_BIASES + vit_head_size(384) == 246_144
    assert model.backbone.classifier.out_features == 21843 and not model.imagenet_logits


def test_class_prompts_replace_the_shared_ones_and_stay_within_their_sample():
    shared = backbone(num_prompt=2)
    unprompted = backbone()
    x = torch.randn(2, 3, 32, 32)
    class_prompts = [torch.randn(2, n, D) for n in (5, 3, 0)]  # per block; the proxy pass may shrink them
    with torch.no_grad():
        proxy_pass = shared(x, class_prompts=class_prompts)[-1]
        assert not torch.allclose(proxy_pass, shared(x)[-1], atol=1e-3)
        # No shared prompt enters the pass: a model without any gives the same output.
        assert torch.allclose(proxy_pass, unprompted(x, class_prompts=class_prompts)[-1], atol=1e-5)
        changed = [p.clone() for p in class_prompts]
        # Random, not a constant shift, which the blocks' LayerNorm would cancel.
        changed[0][0] = torch.randn(5, D)
        changed[1][0] = torch.randn(3, D)
        other = shared(x, class_prompts=changed)[-1]
    assert torch.allclose(other[1], proxy_pass[1], atol=1e-5)
    assert not torch.allclose(other[0], proxy_pass[0], atol=1e-3)


def test_class_prompts_of_the_wrong_shape_are_refused():
    model = backbone()
    with pytest.raises(ValueError, match="class_prompts"):
        model(IMAGES, class_prompts=[torch.zeros(3, 1, D)])
    with pytest.raises(ValueError, match="13 entries"):
        model(IMAGES, class_prompts=[torch.zeros(2, 1, D)] * 13)


def test_a_prompt_depth_beyond_the_blocks_is_a_config_error():
    with pytest.raises(ConfigError, match="--prompt_depth 13 exceeds the 12 blocks"):
        ViTSmall(False, num_prompt=1, prompt_depth=13)


@pytest.mark.parametrize("arch, npz", [("vit_small_patch16_224_in21k", True), ("vit_base_patch16_224", False)])
def test_missing_weights_name_the_paths_and_the_flag(tmp_path, arch, npz):
    with pytest.raises(ConfigError) as error:
        architectures.select(arch, 16, pretrained=True)
    message = str(error.value)
    hub_id = architectures.REGISTRY.get(arch).TIMM_NAME
    assert "--not_pretrained" in message and f"hf download timm/{hub_id}" in message
    for name in ("model.safetensors", "pytorch_model.bin"):
        assert str(tmp_path / "hf" / f"models--timm--{hub_id}" / "snapshots" / "<revision>" / name) in message
    assert (str(tmp_path / "torch" / "hub" / "checkpoints") in message) is npz  # only a URL gives a timm cache file


def hf_cache_file(tmp_path, hub_id, filename):
    """Where the Hugging Face hub would keep `filename` of `hub_id` at the revision main points to."""
    repo = tmp_path / "hf" / f"models--{hub_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abc")
    (repo / "snapshots" / "0123abc").mkdir(parents=True)
    return repo / "snapshots" / "0123abc" / filename


def test_weights_in_the_hugging_face_cache_are_loaded(tmp_path):
    torch.manual_seed(1)  # other weights than the seed-0 init
    other = ViTSmall(False)
    source = {**other.vit.state_dict(), **{f"head.{k}": v for k, v in other.classifier.state_dict().items()}}
    safetensors.torch.save_file(source, hf_cache_file(tmp_path, f"timm/{ViTSmall.TIMM_NAME}", "model.safetensors"))
    loaded = ViTSmall(True)
    for key, value in loaded.vit.state_dict().items():
        assert torch.equal(value, source[key]), key
    assert torch.equal(loaded.classifier.weight, source["head.weight"])


def test_a_weights_file_that_does_not_fit_is_a_config_error(tmp_path):
    path = hf_cache_file(tmp_path, f"timm/{ViTSmall.TIMM_NAME}", "pytorch_model.bin")
    torch.save({"pos_embed": torch.zeros(1, 197, D)}, path)
    with pytest.raises(ConfigError, match="does not fit"):
        ViTSmall(True)


def jax_checkpoint(vit, classifier):
    """The tensors of a timm ViT in the layout of Google's original .npz checkpoints (what timm converts from)."""
    def heads(weight):  # [D_out, D_in] -> [D_in, heads, head_dim]
        return weight.T.reshape(D, 6, D // 6)

    w = {"embedding/kernel": vit.patch_embed.proj.weight.permute(2, 3, 1, 0),
         "embedding/bias": vit.patch_embed.proj.bias,
         "cls": vit.cls_token, "Transformer/posembed_input/pos_embedding": vit.pos_embed,
         "Transformer/encoder_norm/scale": vit.norm.weight, "Transformer/encoder_norm/bias": vit.norm.bias,
         "head/kernel": classifier.weight.T, "head/bias": classifier.bias}
    for i, block in enumerate(vit.blocks):
        b = f"Transformer/encoderblock_{i}/"
        a = b + "MultiHeadDotProductAttention_1/"
        for j, part in enumerate(("query", "key", "value")):
            w[a + part + "/kernel"] = heads(block.attn.qkv.weight[j * D:(j + 1) * D])
            w[a + part + "/bias"] = block.attn.qkv.bias[j * D:(j + 1) * D].reshape(6, D // 6)
        w[a + "out/kernel"] = block.attn.proj.weight.reshape(D, 6, D // 6).permute(1, 2, 0)
        w[a + "out/bias"] = block.attn.proj.bias
        for norm, key in ((block.norm1, "LayerNorm_0"), (block.norm2, "LayerNorm_2")):
            w[b + key + "/scale"], w[b + key + "/bias"] = norm.weight, norm.bias
        for r, fc in enumerate((block.mlp.fc1, block.mlp.fc2)):
            w[b + f"MlpBlock_3/Dense_{r}/kernel"], w[b + f"MlpBlock_3/Dense_{r}/bias"] = fc.weight.T, fc.bias
    return {k: v.detach().numpy() for k, v in w.items()}


def test_the_original_npz_in_the_torch_hub_cache_is_loaded():
    torch.manual_seed(1)
    source = ViTSmall(False)
    path = cache_path(source.vit.pretrained_cfg["url"])
    os.makedirs(os.path.dirname(path))
    np.savez(path, **jax_checkpoint(source.vit, source.classifier))
    loaded = ViTSmall(True)
    with torch.no_grad():
        assert torch.allclose(loaded(IMAGES)[-1], source(IMAGES)[-1], atol=1e-5)
        assert torch.equal(loaded.classifier.weight, source.classifier.weight)


def test_flags_parse_and_reach_the_backbone():
    opt = parameters.parse_args(["--arch", "vit_small_patch16_224", "--num_prompt", "10", "--vit_bitfit"])
    assert (opt.num_prompt, opt.prompt_depth, opt.vit_bitfit, opt.vit_head, opt.vit_full_finetune) == (
        10, 12, True, False, False)
    model = architectures.select("vit_small_patch16_224", 64, pretrained=False, options=opt)
    assert [tuple(p.shape) for p in model.backbone.prompts] == [(1, 10, D)] * 12
    assert model.backbone.vit.blocks[0].attn.qkv.bias.requires_grad
    assert not model.backbone.vit.blocks[0].attn.qkv.weight.requires_grad
    assert isinstance(model.head, torch.nn.Linear)


def test_describe():
    assert architectures.describe("vit_small_patch16_224") == {"feature_dim": D, "stage_channels": [D] * BLOCKS}


def test_a_checkpoint_with_prompts_is_rebuilt_from_its_options():
    options = {"arch": "vit_small_patch16_224_normalize", "embed_dim": 8, "num_prompt": 3, "prompt_depth": 4,
               "vit_bitfit": True, "vit_head": True}
    torch.manual_seed(0)
    model = architectures.select(options["arch"], 8, pretrained=False, options=options).eval()
    rebuilt = build_model({"options": options, "model": model.state_dict()}, "x").eval()
    with torch.no_grad():
        assert torch.equal(rebuilt(IMAGES)["embeds"], model(IMAGES)["embeds"])
    with pytest.raises(ConfigError, match="do not fit"):
        build_model({"options": {**options, "num_prompt": 0}, "model": model.state_dict()}, "x")


def test_the_prompt_count_shrinks_with_depth_by_the_block_step():
    assert shrinking_counts(10, 12, 0) == [10] * 12
    assert shrinking_counts(80, 11, 2) == [80 - 2 * i for i in range(11)]  # the paper's Cars ViT-S recipe
    assert shrinking_counts(5, 4, 5) == [5]  # CUB ViT-B's class prompts: blocks past the first get none
    assert shrinking_counts(7, 12, 3) == [7, 4, 1] and shrinking_counts(0, 12, 1) == []
    model = backbone(num_prompt=7, prompt_block_step=3)
    assert [tuple(p.shape) for p in model.prompts] == [(1, 7, D), (1, 4, D), (1, 1, D)]
    # the blocks past the shrinking prompts run without any: the output is the same with the parameters in place
    # or passed as class prompts of the same values
    as_class_prompts = [p.detach().expand(2, -1, -1) for p in model.prompts]
    with torch.no_grad():
        assert torch.equal(model(IMAGES)[-1], model(IMAGES, class_prompts=as_class_prompts)[-1])


def test_gradient_checkpointing_gives_the_same_gradients(monkeypatch):
    import architectures.vit as vit_module
    calls = []
    real_checkpoint = vit_module.checkpoint
    monkeypatch.setattr(vit_module, "checkpoint", lambda *a, **k: calls.append(1) or real_checkpoint(*a, **k))

    def gradients(**options):
        model = backbone(num_prompt=3, vit_bitfit=True, **options).train()
        model(IMAGES)[-1][:, 0].pow(2).sum().backward()
        return {name: p.grad for name, p in model.named_parameters() if p.requires_grad}

    plain = gradients()
    assert not calls
    checkpointed = gradients(vit_grad_checkpointing=True)
    assert len(calls) == BLOCKS  # every block recomputed in the backward pass
    assert plain.keys() == checkpointed.keys() and len(plain) > 12
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=1e-5, atol=1e-7, msg=name)
