"""Feature-distillation baselines of Kim et al. (CVPR 2021): crd, attention, fitnet (each + Proxy-Anchor add-on).

The losses are built as main.py builds them, from parsed flags and a real teacher checkpoint (a randomly initialised
ResNet-50 or ResNet-18 saved the way read_checkpoint expects), and checked on hand cases, against a direct float64
re-computation of CRD's NCE formula, for where gradients go and for their optimiser groups.
"""
import copy
import math
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import architectures
import criteria
from criteria.attention import attention_map
from criteria.proxyanchor import proxy_anchor
from tests.helpers import options
from utilities.errors import ConfigError

RESNET18_CHANNELS = [64, 128, 256, 512]
RESNET50_CHANNELS = [256, 512, 1024, 2048]
STAGE_SIZES = [8, 4, 2, 2]  # h = w of each stage: at least 2, since a 1 x 1 attention map is always 1


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """{arch: checkpoint file} of randomly initialised teachers, stored as main.py stores a trained model."""
    folder = tmp_path_factory.mktemp("teachers")
    paths = {}
    for arch in ("resnet50", "resnet18"):
        model = architectures.select(arch, 32, pretrained=False)
        paths[arch] = folder / f"{arch}.pth"
        torch.save({"epoch": 0, "model": model.state_dict(), "options": {"arch": arch, "embed_dim": 32}}, paths[arch])
    return paths


def build(name, teacher, *flags, num_classes=10):
    opt = options("--loss", name, "--arch", "resnet18", "--teacher", str(teacher), *flags)
    return criteria.select(name, opt, num_classes=num_classes, embed_dim=opt.embed_dim).double()


def setup_context(train_labels):
    return types.SimpleNamespace(train_split=types.SimpleNamespace(labels=np.asarray(train_labels)))


def random_stages(channels, batch=2, seed=0, requires_grad=False):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, size, size, generator=generator, dtype=torch.float64).requires_grad_(requires_grad)
            for c, size in zip(channels, STAGE_SIZES)]


def set_passthrough(head):
    """A head whose output is the first d input features (then normalised by the loss)."""
    with torch.no_grad():
        head.weight.copy_(torch.eye(*head.weight.shape))
        head.bias.zero_()


def set_identity(regressors):
    with torch.no_grad():
        for regressor in regressors:
            regressor.weight.copy_(torch.eye(regressor.weight.shape[0])[:, :, None, None])


def padded(rows, width):
    out = torch.zeros(len(rows), width, dtype=torch.float64)
    out[:, :len(rows[0])] = torch.tensor(rows, dtype=torch.float64)
    return out


# ---------------------------------------------------------------- CRD

def crd_step(crd, student_features, teacher_features, indices, labels):
    return crd(torch.zeros(len(indices), 128, dtype=torch.float64), torch.tensor(labels),
               features=padded(student_features, 512), teacher_features=padded(teacher_features, 2048),
               indices=torch.tensor(indices))


def test_crd_memory_rows_of_the_batch_move_halfway_to_the_new_outputs(teachers):
    crd = build("crd", teachers["resnet50"], "--loss_crd_feat_dim", "2", "--loss_crd_nce_k", "3",
                "--loss_crd_proxyanchor_w", "0")
    crd.setup(setup_context([0, 0, 1, 1, 2, 2]))
    set_passthrough(crd.student_head)
    set_passthrough(crd.teacher_head)
    old_student = torch.tensor([[1, 0], [0, 1], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float64)
    old_teacher = torch.tensor([[0, 1], [1, 0], [0, 1], [1, 0], [0, 1], [1, 0]], dtype=torch.float64)
    crd.student_memory, crd.teacher_memory = old_student.clone(), old_teacher.clone()
    # Index 1: s = (0.6, 0.8), t = (-0.8, 0.6); index 4: s = (0, -1), t = (1, 0).
    crd_step(crd, [[3, 4], [0, -2]], [[-4, 3], [5, 0]], indices=[1, 4], labels=[0, 2])
    # normalize(0.5 (0, 1) + 0.5 (0.6, 0.8)) = normalize(0.3, 0.9); normalize(0.5 (-1, 0) + 0.5 (0, -1)).
    expected_student, expected_teacher = old_student.clone(), old_teacher.clone()
    expected_student[1] = torch.tensor([1, 3], dtype=torch.float64) / math.sqrt(10)
    expected_student[4] = torch.tensor([-1, -1], dtype=torch.float64) / math.sqrt(2)
    # normalize(0.5 (1, 0) + 0.5 (-0.8, 0.6)) = normalize(0.1, 0.3); normalize(0.5 (0, 1) + 0.5 (1, 0)).
    expected_teacher[1] = torch.tensor([1, 3], dtype=torch.float64) / math.sqrt(10)
    expected_teacher[4] = torch.tensor([1, 1], dtype=torch.float64) / math.sqrt(2)
    torch.testing.assert_close(crd.student_memory, expected_student, rtol=0, atol=1e-15)
    torch.testing.assert_close(crd.teacher_memory, expected_teacher, rtol=0, atol=1e-15)


def test_crd_updates_a_repeated_index_once_with_the_mean_of_its_views(teachers):
    crd = build("crd", teachers["resnet50"], "--loss_crd_feat_dim", "2", "--loss_crd_nce_k", "3",
                "--loss_crd_proxyanchor_w", "0", "--loss_crd_nce_mom", "0.75")
    crd.setup(setup_context([0, 0, 1, 1]))
    set_passthrough(crd.student_head)
    set_passthrough(crd.teacher_head)
    old = torch.tensor([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=torch.float64)
    crd.student_memory, crd.teacher_memory = old.clone(), old.clone()
    # View-major: index 0 twice (student views (0.6, 0.8) and (0.8, 0.6): mean (0.7, 0.7)), index 3 twice ((0, 1)).
    crd_step(crd, [[3, 4], [0, 1], [4, 3], [0, 5]], [[1, 0], [0, 1], [1, 0], [0, 1]], indices=[0, 3, 0, 3],
             labels=[0, 1, 0, 1])
    expected = old.clone()
    # Index 0, momentum 0.75: 0.75 (1, 0) + 0.25 (0.7, 0.7) = (0.925, 0.175), normalised.
    expected[0] = torch.tensor([0.925, 0.175], dtype=torch.float64) / math.hypot(0.925, 0.175)
    torch.testing.assert_close(crd.student_memory, expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(crd.teacher_memory, old, rtol=0, atol=1e-15)  # (1, 0) and (0, 1) were already there


def test_crd_negatives_are_uniform_over_the_other_classes(teachers):
    crd = build("crd", teachers["resnet50"], "--loss_crd_nce_k", "4096")
    train_labels = torch.tensor([2, 0, 1, 2, 0, 3, 1, 1, 3, 2, 0, 2])
    crd.setup(setup_context(train_labels.numpy()))
    anchors = torch.tensor([0, 1, 2, 3, 2])
    torch.manual_seed(0)
    negatives = crd.sample_negatives(anchors)
    assert negatives.shape == (5, 4096)
    assert (train_labels[negatives] != anchors[:, None]).all()
    for row, label in zip(negatives, anchors):
        other_class = torch.nonzero(train_labels != label).flatten()
        counts = torch.bincount(row, minlength=len(train_labels))[other_class].double()
        assert (counts > 0).all()  # every other-class image is drawn ...
        assert counts.max() / counts.min() < 1.4  # ... about equally often (~400-580 draws each)


def test_crd_loss_is_the_nce_formula_with_z_fixed_by_the_first_batch(teachers):
    n_negatives, temperature = 5, 0.07
    crd = build("crd", teachers["resnet50"], "--loss_crd_feat_dim", "4", "--loss_crd_nce_k", str(n_negatives),
                "--loss_crd_proxyanchor_w", "0")
    train_labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3, 3]
    crd.setup(setup_context(train_labels))
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(4, 512, generator=generator, dtype=torch.float64)
    teacher_features = torch.randn(4, 2048, generator=generator, dtype=torch.float64)
    indices, labels = torch.tensor([0, 4, 11, 2]), torch.tensor([0, 1, 3, 2])
    student_memory, teacher_memory = crd.student_memory.clone(), crd.teacher_memory.clone()
    with torch.no_grad():
        student = F.normalize(crd.student_head(features), dim=1).tolist()
        teacher = F.normalize(crd.teacher_head(teacher_features), dim=1).tolist()

    def step(seed):
        torch.manual_seed(seed)
        return crd(torch.zeros(4, 128, dtype=torch.float64), labels, features=features,
                   teacher_features=teacher_features, indices=indices).item()

    value = step(seed=3)
    torch.manual_seed(3)
    negatives = crd.sample_negatives(labels).tolist()

    def scores(anchors, memory):
        return [[math.exp(sum(a * m for a, m in zip(anchor, memory[k].tolist())) / temperature)
                 for k in [int(index), *row]] for anchor, index, row in zip(anchors, indices, negatives)]

    def nce(rows, z):
        noise = n_negatives / len(train_labels)
        total = 0.0
        for row in rows:
            p = [value / z for value in row]
            total += math.log(p[0] / (p[0] + noise + 1e-7)) + sum(math.log(noise / (q + noise + 1e-7)) for q in p[1:])
        return -total / len(rows)

    student_scores, teacher_scores = scores(student, teacher_memory), scores(teacher, student_memory)
    z_student = np.mean(student_scores) * len(train_labels)
    z_teacher = np.mean(teacher_scores) * len(train_labels)
    assert value == pytest.approx(nce(student_scores, z_student) + nce(teacher_scores, z_teacher), rel=1e-10)
    assert crd.normalizers.tolist() == pytest.approx([z_student, z_teacher], rel=1e-12)
    step(seed=4)  # the memory has moved, the scores differ: Z stays
    assert crd.normalizers.tolist() == pytest.approx([z_student, z_teacher], rel=1e-12)


def test_crd_memory_and_z_are_checkpointed_and_restored(teachers):
    flags = ("--loss_crd_feat_dim", "8", "--loss_crd_nce_k", "16")
    train_labels = np.arange(20) % 4
    crd = build("crd", teachers["resnet50"], *flags)
    crd.setup(setup_context(train_labels))
    crd_step(crd, [[1.0, 2.0]], [[3.0, -1.0]], indices=[7], labels=[3])
    state = crd.state_dict()
    assert {"student_memory", "teacher_memory", "normalizers"} <= set(state)
    assert "indices_by_class" not in state  # rebuilt from the training split in setup
    resumed = build("crd", teachers["resnet50"], *flags)
    resumed.setup(setup_context(train_labels))  # as on --resume: setup first, then the saved state
    resumed.load_state_dict(state)
    for name in ("student_memory", "teacher_memory", "normalizers"):
        torch.testing.assert_close(getattr(resumed, name), getattr(crd, name), rtol=0, atol=0)
    assert resumed.normalizers.min() > 0


def test_crd_heads_and_optimiser_groups(teachers):
    crd = build("crd", teachers["resnet50"])
    assert (crd.student_head.in_features, crd.teacher_head.in_features) == (512, 2048)
    assert crd.student_head.out_features == crd.teacher_head.out_features == 128
    groups = crd.param_groups(1e-4)
    assert [g["name"] for g in groups] == ["loss_crd_heads", "loss_crd_proxies"]
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-2])
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in
                                                    [*crd.student_head.parameters(), *crd.teacher_head.parameters()]}
    assert groups[1]["params"] == [crd.proxies] and crd.proxies.shape == (10, 128)


def test_crd_gradients_reach_the_student_features_and_the_heads_not_the_teacher(teachers):
    crd = build("crd", teachers["resnet50"], "--loss_crd_nce_k", "16")
    crd.setup(setup_context(np.arange(30) % 5))
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(6, 512, generator=generator, dtype=torch.float64, requires_grad=True)
    teacher_features = torch.randn(6, 2048, generator=generator, dtype=torch.float64, requires_grad=True)
    embeds = torch.randn(6, 128, generator=generator, dtype=torch.float64, requires_grad=True)
    crd(embeds, torch.tensor([0, 1, 2, 3, 4, 0]), features=features, teacher_features=teacher_features,
        indices=torch.tensor([0, 1, 2, 3, 4, 5])).backward()
    assert features.grad.abs().sum() > 0 and embeds.grad.abs().sum() > 0
    assert teacher_features.grad is None
    assert crd.student_head.weight.grad.abs().sum() > 0 and crd.teacher_head.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- FitNet and attention transfer

def test_fitnet_regressors_map_resnet18_stages_to_resnet50_channels(teachers):
    fitnet = build("fitnet", teachers["resnet50"])
    assert [tuple(r.weight.shape) for r in fitnet.regressors] == [
        (256, 64, 1, 1), (512, 128, 1, 1), (1024, 256, 1, 1), (2048, 512, 1, 1)]
    assert all(r.bias is None for r in fitnet.regressors)
    assert max(r.weight.abs().max().item() for r in fitnet.regressors) <= 0.005
    groups = fitnet.param_groups(1e-4)
    assert [g["name"] for g in groups] == ["loss_fitnet_regressors", "loss_fitnet_proxies"]
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-2])
    assert len(groups[0]["params"]) == 4


def test_attention_trains_only_its_proxies(teachers):
    groups = build("attention", teachers["resnet50"]).param_groups(1e-4)
    assert [(g["name"], len(g["params"])) for g in groups] == [("loss_attention_proxies", 1)]
    assert groups[0]["lr"] == pytest.approx(1e-2)


@pytest.mark.parametrize("name", ["fitnet", "attention"])
def test_identical_student_and_teacher_stages_cost_nothing(teachers, name):
    loss = build(name, teachers["resnet18"], f"--loss_{name}_proxyanchor_w", "0")
    if name == "fitnet":
        set_identity(loss.regressors)
    stages = random_stages(RESNET18_CHANNELS)
    embeds, labels = torch.zeros(2, 128, dtype=torch.float64), torch.tensor([0, 1])
    assert loss(embeds, labels, intermediate=stages, teacher_intermediate=[s.clone() for s in stages]).item() == 0
    other = random_stages(RESNET18_CHANNELS, seed=1)
    assert loss(embeds, labels, intermediate=stages, teacher_intermediate=other).item() > 0


def test_attention_map_hand_case():
    # Channels (1, 2) and (3, 0) at two positions: channel means of squares (1 + 9) / 2 = 5 and (4 + 0) / 2 = 2.
    stage = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])
    torch.testing.assert_close(attention_map(stage, (1, 2)), torch.tensor([[5.0, 2.0]]) / math.sqrt(29))


def test_attention_loss_hand_case_with_a_finer_student_map(teachers):
    loss = build("attention", teachers["resnet18"], "--loss_attention_stages", "1",
                 "--loss_attention_proxyanchor_w", "0")
    # Student 2 x 4, one channel: squares 1 on the left half, 9 on the right; pooled to the teacher's 1 x 2: (1, 9)
    # (pooling the activations before squaring would give (0, 9): the left half's signs cancel).
    student = torch.tensor([[[[1.0, -1.0, 3.0, 3.0], [-1.0, 1.0, -3.0, -3.0]]]], dtype=torch.float64)
    teacher = torch.tensor([[[[2.0, 0.0]], [[-2.0, 0.0]]]], dtype=torch.float64)  # energy (4, 0): map (1, 0)
    value = loss(torch.zeros(1, 128, dtype=torch.float64), torch.tensor([0]), intermediate=[student],
                 teacher_intermediate=[teacher])
    expected = ((1 / math.sqrt(82) - 1) ** 2 + (9 / math.sqrt(82)) ** 2) / 2
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_fitnet_pools_a_finer_student_map_to_the_teachers_grid(teachers):
    fitnet = build("fitnet", teachers["resnet18"], "--loss_fitnet_proxyanchor_w", "0")
    set_identity(fitnet.regressors)
    stages = random_stages(RESNET18_CHANNELS)
    coarser = [F.avg_pool2d(s, 2) for s in stages]
    value = fitnet(torch.zeros(2, 128, dtype=torch.float64), torch.tensor([0, 1]), intermediate=stages,
                   teacher_intermediate=coarser)
    assert value.item() == pytest.approx(0, abs=1e-24)


@pytest.mark.parametrize("name", ["fitnet", "attention"])
def test_gradients_reach_the_student_stages_not_the_teachers(teachers, name):
    loss = build(name, teachers["resnet50"])
    student = random_stages(RESNET18_CHANNELS, requires_grad=True)
    teacher = random_stages(RESNET50_CHANNELS, seed=1, requires_grad=True)
    embeds = torch.randn(2, 128, dtype=torch.float64, requires_grad=True)
    loss(embeds, torch.tensor([0, 1]), intermediate=student, teacher_intermediate=teacher).backward()
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student)
    assert all(t.grad is None for t in teacher)
    assert embeds.grad.abs().sum() > 0 and loss.proxies.grad.abs().sum() > 0


# ---------------------------------------------------------------- shared: Proxy-Anchor add-on, refusals

def contexts(name):
    if name == "crd":
        generator = torch.Generator().manual_seed(5)
        return {"features": torch.randn(4, 512, generator=generator, dtype=torch.float64),
                "teacher_features": torch.randn(4, 2048, generator=generator, dtype=torch.float64),
                "indices": torch.tensor([0, 5, 9, 4])}
    return {"intermediate": random_stages(RESNET18_CHANNELS, batch=4),
            "teacher_intermediate": random_stages(RESNET50_CHANNELS, batch=4, seed=1)}


@pytest.mark.parametrize("name", ["crd", "attention", "fitnet"])
def test_the_proxy_anchor_add_on_is_proxy_anchor_on_the_losss_own_proxies(teachers, name):
    loss = build(name, teachers["resnet50"], f"--loss_{name}_proxyanchor_w", "0.5", "--loss_crd_nce_k", "8")
    if name == "crd":
        loss.setup(setup_context(np.arange(12) % 3))
    distillation_only = copy.deepcopy(loss)
    embeds = torch.randn(4, 128, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 2, 0, 1])
    torch.manual_seed(0)
    total = loss(embeds, labels, **contexts(name))
    torch.manual_seed(0)
    distillation = distillation_only.distillation(embeds, labels, **contexts(name))
    proxy_anchor_value = proxy_anchor(embeds, labels, loss.proxies, alpha=32, delta=0.1)
    assert distillation.item() > 0
    assert total.item() == pytest.approx(distillation.item() + 0.5 * proxy_anchor_value.item(), rel=1e-12)


@pytest.mark.parametrize("name", ["crd", "attention", "fitnet"])
def test_a_missing_teacher_is_refused(name):
    opt = options("--loss", name, "--arch", "resnet18")
    with pytest.raises(ConfigError, match="--teacher <run folder or checkpoint>"):
        criteria.select(name, opt, num_classes=10, embed_dim=opt.embed_dim)


@pytest.mark.parametrize("name", ["attention", "fitnet"])
def test_more_stages_than_the_models_have_are_refused(teachers, name):
    with pytest.raises(ConfigError, match=f"--loss_{name}_stages"):
        build(name, teachers["resnet50"], f"--loss_{name}_stages", "5")
