"""The relaxed losses of embedding transfer (criteria/relaxed_contrastive.py, criteria/relaxed_ms.py) and --views."""
import math

import pytest
import torch
import torch.nn.functional as F

import criteria
from criteria.relaxed_contrastive import relaxed_contrastive
from criteria.relaxed_ms import relaxed_multisimilarity
from tests.helpers import options
from utilities.errors import ConfigError


def contrastive_by_the_formula(student, teacher, sigma, delta):
    """Entry by entry, float64: P_ij from the normalised teacher, d_ij over the row mean (with the zero diagonal)."""
    n = len(student)
    t = [teacher[i] / teacher[i].norm() for i in range(n)]
    raw = [[(student[i] - student[j]).norm() if i != j else student.new_zeros(()) for j in range(n)]
           for i in range(n)]
    total = student.new_zeros(())
    for i in range(n):
        row_mean = sum(raw[i]) / n
        for j in range(n):
            if i != j:
                p = torch.exp(-((t[i] - t[j]) ** 2).sum() / sigma)
                d = raw[i][j] / row_mean
                total = total + p * d ** 2 + (1 - p) * torch.relu(delta - d) ** 2
    return total / n


def test_two_points_by_hand():
    student = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    # Relative distance 5 / (5 / 2) = 2 whatever the scale, so the gradient vanishes.
    same = relaxed_contrastive(student, torch.tensor([[1.0, 0.0], [2.0, 0.0]]), sigma=1.0, delta=1.0)
    assert same.item() == pytest.approx(4.0)  # P = 1: (1/2) (2^2 + 2^2)
    orthogonal = relaxed_contrastive(student, torch.tensor([[1.0, 0.0], [0.0, 3.0]]), sigma=1.0, delta=1.0)
    assert orthogonal.item() == pytest.approx(4 * math.exp(-2))  # P = e^-2, push term zero (d = 2 > delta)
    orthogonal.backward()
    assert torch.allclose(student.grad, torch.zeros(2, 2, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("sigma, delta", [(1.0, 1.0), (0.5, 1.5)])
def test_relaxed_contrastive_equals_the_formula_in_value_and_gradient(sigma, delta):
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(7, 5, generator=generator, dtype=torch.float64)
    teacher = torch.randn(7, 9, generator=generator, dtype=torch.float64)
    ours = student.clone().requires_grad_(True)
    reference = student.clone().requires_grad_(True)
    value = relaxed_contrastive(ours, teacher, sigma, delta)
    expected = contrastive_by_the_formula(reference, teacher, sigma, delta)
    value.backward()
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)
    assert torch.allclose(ours.grad, reference.grad, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: relaxed_contrastive(x, teacher, sigma, delta), student.clone()
                                    .requires_grad_(True))


def test_the_teacher_gets_no_gradient_and_labels_are_unused():
    student, teacher = torch.randn(6, 4, requires_grad=True), torch.randn(6, 8, requires_grad=True)
    loss = criteria.select("relaxed_contrastive", options("--loss", "relaxed_contrastive"), num_classes=3,
                           embed_dim=4)
    value = loss(student, torch.zeros(6, dtype=torch.long), teacher_embeds=teacher)
    value.backward()
    assert teacher.grad is None and student.grad is not None
    assert value.item() == loss(student, torch.arange(6), teacher_embeds=teacher).item()


def ms_by_the_papers_loop(student, teacher, indices, sigma, delta, pos_scale, neg_scale):
    """The authors' per-anchor loop, with views recognised by index."""
    n = len(student)
    distances = torch.cdist(student, student)
    distances = distances / distances.mean(dim=1, keepdim=True)
    t = F.normalize(teacher, dim=1)
    similarity = torch.exp(-torch.cdist(t, t) ** 2 / sigma)
    losses = []
    for i in range(n):
        pull, push = 0.0, 0.0
        for j in range(n):
            if j == i:
                continue
            p = 1.0 if indices[i] == indices[j] else similarity[i, j]
            pull = pull + p * torch.exp(pos_scale * distances[i, j])
            push = push + (1 - p) * torch.exp(neg_scale * (delta - distances[i, j]))
        losses.append(torch.log(1 + pull) / pos_scale + torch.log(1 + push) / neg_scale)
    return torch.stack(losses).mean()


def test_relaxed_ms_equals_the_papers_loop_with_two_views():
    generator = torch.Generator().manual_seed(1)
    student = torch.randn(8, 5, generator=generator, dtype=torch.float64)
    teacher = torch.randn(8, 6, generator=generator, dtype=torch.float64)
    indices = torch.tensor([3, 9, 4, 1]).repeat(2)  # view-major: item i and i + 4 are one image
    value = relaxed_multisimilarity(student, teacher, indices, 1.0, 1.0, 1.0, 2.0)
    expected = ms_by_the_papers_loop(student, teacher, indices, 1.0, 1.0, 1.0, 2.0)
    assert value.item() == pytest.approx(expected.item(), rel=1e-10)
    # The view pairs matter: with distinct indices the value changes.
    assert relaxed_multisimilarity(student, teacher, torch.arange(8), 1.0, 1.0, 1.0, 2.0).item() != \
        pytest.approx(value.item())


def test_both_losses_need_the_teacher():
    assert "teacher_embeds" in criteria.REGISTRY.get("relaxed_contrastive").NEEDS
    assert {"teacher_embeds", "indices"} <= criteria.REGISTRY.get("relaxed_ms").NEEDS


def test_views_come_from_the_command_line_and_a_loss_that_declares_them_must_agree(monkeypatch):
    objective = criteria.build_objective(options("--loss", "relaxed_contrastive", "--views", "2"), 3, 16)
    assert objective.VIEWS == 2
    assert criteria.build_objective(options("--loss", "relaxed_contrastive"), 3, 16).VIEWS == 1
    monkeypatch.setattr(criteria.REGISTRY.get("relaxed_contrastive"), "VIEWS", 3)
    assert criteria.build_objective(options("--loss", "relaxed_contrastive"), 3, 16).VIEWS == 3
    with pytest.raises(ConfigError, match="--views 2"):
        criteria.build_objective(options("--loss", "relaxed_contrastive", "--views", "2"), 3, 16)


@pytest.mark.parametrize("script, count, students", [("embedding_transfer_benchmarks.sh", 9, 3),
                                                     ("embedding_transfer_emoji.sh", 3, 1)])
def test_the_embedding_transfer_scripts_parse_and_every_student_names_its_teacher(script, count, students):
    import parameters
    from tests.helpers import script_commands
    commands = script_commands(script)
    assert len(commands) == count
    for argv in commands:
        opt = parameters.parse_args(argv)
        parameters.check_options(opt)
        assert bool(opt.teacher) == (opt.loss == "relaxed_contrastive")
    assert sum(parameters.parse_args(argv).views == 2 for argv in commands) == students
