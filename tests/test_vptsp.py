"""Semantic proxies from visual prompts (criteria/vptsp.py), on a stand-in student whose CLS feature is the mean of
the class prompts it is given, so that what reaches each proxy can be traced."""
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import architectures
import criteria
import main
from criteria.proxyanchor import proxy_anchor
from criteria.vptsp import SemanticGRUCell
from tests.helpers import options
from tests.test_main import read_csv, tiny_run_flags
from utilities import checkpoint

WIDTH, EMBED, CLASSES = 6, 4, 5


class PromptEcho(torch.nn.Module):
    """features_i = mean of sample i's class-prompt tokens over blocks and tokens (+ the image's mean)."""

    def forward(self, images, class_prompts=None):
        features = images.flatten(1).mean(dim=1, keepdim=True).expand(-1, WIDTH)
        if class_prompts:
            features = features + torch.stack([p.mean(dim=1) for p in class_prompts]).mean(dim=0)
        return {"features": features, "embeds": features[:, :EMBED]}


@pytest.fixture
def loss(monkeypatch):
    monkeypatch.setattr(architectures, "describe", lambda arch: {"feature_dim": WIDTH, "stage_channels": []})
    opt = options("--loss", "vptsp", "--num_p_prompt", "2", "--loss_vptsp_p_prompt_depth", "3", "--lr_proxy", "0.05",
                  "--scheduler", "cosine", "--lr_cosine_length", "7", "--lr_cosine_min", "1e-6")
    torch.manual_seed(0)
    module = criteria.select("vptsp", opt, num_classes=CLASSES, embed_dim=EMBED)
    module.setup(SimpleNamespace(model=PromptEcho()))
    return module


def batch(labels):
    generator = torch.Generator().manual_seed(1)
    return torch.randn(len(labels), EMBED, generator=generator), torch.rand(len(labels), 3, 4, 4,
                                                                             generator=generator)


def test_the_gru_cell_by_hand():
    cell = SemanticGRUCell(2, torch.relu, 0.0)
    with torch.no_grad():
        cell.input_weights.copy_(torch.arange(12.0).view(2, 6) / 10)
        cell.hidden_weights.copy_(-torch.arange(12.0).view(2, 6) / 20)
        cell.bias.copy_(torch.tensor([0.1, 0.0, 0.0, 0.2, -0.1, 0.3]))
    x, h = torch.tensor([[1.0, -1.0]]), torch.tensor([[0.5, 2.0]])
    xw, hu = x @ cell.input_weights + cell.bias, h @ cell.hidden_weights
    z = torch.sigmoid(xw[:, 0:2] + hu[:, 0:2])
    r = torch.sigmoid(xw[:, 2:4] + hu[:, 2:4])
    n = torch.relu(xw[:, 4:6] + r * hu[:, 4:6])
    assert torch.allclose(cell(x, h), (1 - z) * n + z * h)


def test_proxy_anchor_averages_both_terms_over_all_classes():
    embeds, labels = torch.randn(6, 3), torch.tensor([0, 0, 2, 2, 3, 3])
    proxies = torch.randn(5, 3)
    cosine = F.normalize(proxies, dim=1) @ F.normalize(embeds, dim=1).T
    pos = sum(torch.log1p(torch.exp(-32 * (cosine[c, labels == c] - 0.1)).sum()) for c in range(5)) / 5
    neg = sum(torch.log1p(torch.exp(32 * (cosine[c, labels != c] + 0.1)).sum()) for c in range(5)) / 5
    assert proxy_anchor(embeds, labels, proxies, 32.0, 0.1, positives_over_all_classes=True).item() == pytest.approx(
        (pos + neg).item(), rel=1e-6)


def test_class_prompts_reach_only_their_own_class(loss):
    labels = torch.tensor([1, 1, 3, 3])
    embeds, images = batch(labels)
    semantic = loss.semantic_embeddings(images, labels)
    with torch.no_grad():
        loss.class_prompts[0][3] += torch.randn(loss.class_prompts[0][3].shape)  # LayerNorm ignores uniform shifts
    changed = loss.semantic_embeddings(images, labels)
    assert torch.equal(changed[:2], semantic[:2]) and not torch.allclose(changed[2:], semantic[2:])
    loss(embeds, labels, images=images).backward()
    for prompts in loss.class_prompts:
        used = prompts.grad.abs().sum(dim=(1, 2)) > 0
        assert used.tolist() == [False, True, False, True, False]


def test_the_proxies_semantic_part_follows_the_class_prompts_and_the_memory_keeps_it(loss):
    labels = torch.tensor([0, 0, 2, 2])
    embeds, images = batch(labels)
    before = loss.memory.clone()
    loss(embeds, labels, images=images)
    moved = (loss.memory - before).abs().sum(dim=1) > 0
    assert moved.tolist() == [True, False, True, False, False]
    assert torch.allclose(loss.memory.norm(dim=1), torch.ones(CLASSES))
    first = loss.memory[2].clone()
    loss.memory.copy_(before)
    with torch.no_grad():
        for prompts in loss.class_prompts:
            prompts[2] += torch.randn(prompts[2].shape)
    loss(embeds, labels, images=images)
    assert not torch.allclose(loss.memory[2], first)
    assert "memory" in loss.state_dict()  # restored on --resume


def test_the_gru_folds_every_sample_of_a_class_and_unequal_counts_work(loss):
    labels = torch.tensor([4, 1, 4, 4])
    semantic = F.normalize(torch.randn(4, EMBED), dim=1)
    memory = loss.memory.clone()
    classes, hidden = loss.semantic_memory(semantic, labels)
    expected_4 = memory[4:5]
    for row in (0, 2, 3):  # batch order
        expected_4 = loss.gru(semantic[row:row + 1], expected_4)
    expected_1 = loss.gru(semantic[1:2], memory[1:2])
    assert classes.tolist() == [1, 4]
    assert torch.allclose(hidden, F.normalize(torch.cat([expected_1, expected_4]), dim=1), atol=1e-6)


def test_the_proxy_biases_have_their_own_optimiser_and_cosine_schedule(loss):
    groups = loss.param_groups(1e-3)
    assert [(g["name"], g["lr"], g.get("optimizer", "main")) for g in groups] == [
        ("loss_vptsp", 1e-3, "main"), ("loss_vptsp_proxies", 0.05, "proxy")]
    assert groups[1]["params"] == [loss.proxy_bias]
    spec = loss.optimizer_specs(None, 10)["proxy"]
    optimizer, schedule = spec.build([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.05}])
    assert spec.step_per == "epoch" and isinstance(schedule, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert (schedule.T_max, schedule.eta_min) == (7, 1e-6)


def test_class_prompts_shrink_by_their_block_step(monkeypatch):
    monkeypatch.setattr(architectures, "describe", lambda arch: {"feature_dim": WIDTH, "stage_channels": []})
    opt = options("--loss", "vptsp", "--num_p_prompt", "5", "--p_prompt_depth", "4", "--prompt_p_block_step", "2")
    module = criteria.select("vptsp", opt, num_classes=CLASSES, embed_dim=EMBED)
    assert [tuple(p.shape) for p in module.class_prompts] == [(CLASSES, 5, WIDTH), (CLASSES, 3, WIDTH),
                                                               (CLASSES, 1, WIDTH)]


@pytest.mark.slow
def test_a_randomly_initialised_vit_s_trains_and_evaluates_end_to_end(source, tmp_path, caplog):
    flags = tiny_run_flags(source, tmp_path, "--arch", "vit_small_patch16_224_normalize", "--loss", "vptsp",
                           "--num_prompt", "2", "--prompt_block_step", "1", "--vit_bitfit", "--vit_head",
                           "--num_p_prompt", "2", "--p_prompt_depth", "2", "--optim", "sgd", "--lr", "5e-3",
                           "--lr_proxy", "0.1", "--scheduler", "cosine", "--no_train_metrics", epochs=2)
    with caplog.at_level(logging.INFO):
        assert main.main(flags) == 0
    # prompts of 2 and 1 tokens, BitFit's biases and the LayerNorm + Linear head train, nothing else of the model
    bitfit = (1 + 12 * 11 + 1) * 384  # see tests/test_vit.py, BITFIT_BIASES
    trained = (2 + 1) * 384 + bitfit + (2 * 384 + 384 * 32 + 32)
    assert f"Parameters: model {trained:,} trainable of" in caplog.text
    run_dir = tmp_path / "cub200" / "tiny_s0"
    rows = read_csv(run_dir / "test_embeds.csv")
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    assert all(0 < row["e_recall@1"] <= 1 and 0 <= row["mAP_R"] <= 1 for row in rows)
    losses = [row["loss"] for row in read_csv(run_dir / "train.csv")]
    assert len(losses) == 2 and all(value > 0 for value in losses)
    state = checkpoint.load(run_dir / checkpoint.LAST)
    assert state["epoch"] == 2
    loss_state = state["criterion"]
    assert {"base.class_prompts.0", "base.class_prompts.1", "base.memory", "base.proxy_bias"} <= set(loss_state)
