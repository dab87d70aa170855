"""Embedding-transfer losses that distil a frozen teacher's relations into the student: rkd, pkt, darkrank.

Each is checked on hand-computed cases against the formulas of the authors' code (Kim et al., CVPR 2021), RKD and
DarkRank's listwise term against loop-based float64 re-implementations on random data, DarkRank's triplet term
against pytorch-metric-learning, and each is built by the registry from parsed options.
"""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners

import batchminer
import criteria
import parameters
from tests.helpers import clustered_batch, options
from utilities.errors import ConfigError

LOSSES = ["rkd", "pkt", "darkrank"]


def select(name, *flags):
    return criteria.select(name, options(*flags), num_classes=10, embed_dim=8)


def value(loss, student, teacher, labels=None):
    student = torch.tensor(student, dtype=torch.float64) if isinstance(student, list) else student
    teacher = torch.tensor(teacher, dtype=torch.float64) if isinstance(teacher, list) else teacher
    labels = torch.arange(len(student)) if labels is None else labels
    return loss(student, labels, teacher_embeds=teacher).item()


def polar(degrees, length=1.0):
    return [length * math.cos(math.radians(degrees)), length * math.sin(math.radians(degrees))]


def smooth_l1(z):
    return 0.5 * z * z if abs(z) < 1 else abs(z) - 0.5


def random_pair(n=6, student_dim=5, teacher_dim=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, student_dim, generator=generator, dtype=torch.float64),
            torch.randn(n, teacher_dim, generator=generator, dtype=torch.float64))


# ---------------------------------------------------------------- RKD

def test_rkd_angle_term_right_isosceles_student_against_equilateral_teacher():
    # Teacher: an equilateral triangle once its points are L2-normalised (lengths 2, 3, 0.5 must not matter):
    # cos 60 = 0.5 at every vertex. Student: (0,0), (1,0), (0,1): cos 90 = 0 at vertex 0, cos 45 at vertices 1, 2.
    # Of the 27 entries <e_ij, e_ik>, only j != k with both != i differ: 2 per vertex.
    teacher = [polar(90, 2.0), polar(210, 3.0), polar(330, 0.5)]
    student = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    angle_term = (2 * smooth_l1(0 - 0.5) + 4 * smooth_l1(math.sqrt(0.5) - 0.5)) / 27
    got = value(select("rkd", "--loss_rkd_dist_w", "0"), student, teacher)
    assert got == pytest.approx(2 * angle_term, rel=1e-12)  # the default angle weight is 2


def test_rkd_distance_term_by_hand():
    # Teacher (3,0), (0.5,0), (-2,0) normalises to (1,0), (1,0), (-1,0): distances 0 (1e-6 after the clamp), 2, 2,
    # mean 4/3 -> 0, 1.5, 1.5. Student on a line at 0, 2, 1: distances 2, 1, 1, mean 4/3 -> 1.5, 0.75, 0.75.
    # Differences 1.5 (linear branch: 1.0) and -0.75 twice (0.5 * 0.5625), each pair counted twice, over 9 entries.
    teacher = [[3.0, 0.0], [0.5, 0.0], [-2.0, 0.0]]
    student = [[0.0, 0.0], [2.0, 0.0], [1.0, 0.0]]
    got = value(select("rkd", "--loss_rkd_angle_w", "0"), student, teacher)
    assert got == pytest.approx(2 * (1.0 + 2 * 0.28125) / 9, rel=1e-5)


def rkd_reference(student, teacher, dist_weight=1.0, angle_weight=2.0):
    """The authors' RKD written out with loops in plain float64 Python."""
    def unit(vector):
        norm = math.sqrt(sum(c * c for c in vector))
        return [c / norm for c in vector] if norm > 0 else [0.0] * len(vector)

    def distances(rows):
        n = len(rows)
        d = [[math.dist(rows[i], rows[j]) for j in range(n)] for i in range(n)]
        mean = sum(d[i][j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        return [[v / mean for v in row] for row in d]

    def angles(rows):
        n = len(rows)
        edge = {(i, j): unit([b - a for a, b in zip(rows[i], rows[j])]) for i in range(n) for j in range(n)}
        return {(i, j, k): sum(a * b for a, b in zip(edge[i, j], edge[i, k]))
                for i, j, k in itertools.product(range(n), repeat=3)}

    s_rows, t_rows = student.tolist(), [unit(row) for row in teacher.tolist()]
    n = len(s_rows)
    s_d, t_d = distances(s_rows), distances(t_rows)
    s_a, t_a = angles(s_rows), angles(t_rows)
    dist = sum(smooth_l1(s_d[i][j] - t_d[i][j]) for i in range(n) for j in range(n)) / n ** 2
    angle = sum(smooth_l1(s_a[key] - t_a[key]) for key in s_a) / n ** 3
    return dist_weight * dist + angle_weight * angle


@pytest.mark.parametrize("seed", [0, 1])
def test_rkd_equals_a_loop_reference_on_random_data(seed):
    student, teacher = random_pair(seed=seed)  # some angle entries differ by more than 1: smooth L1's linear branch
    assert value(select("rkd"), student, teacher) == pytest.approx(rkd_reference(student, teacher), rel=1e-9)
    flags = ("--loss_rkd_dist_w", "0.5", "--loss_rkd_angle_w", "3")
    assert value(select("rkd", *flags), student, teacher) == pytest.approx(
        rkd_reference(student, teacher, 0.5, 3.0), rel=1e-9)


def test_rkd_zero_when_the_student_is_a_scaled_copy_of_the_normalised_teacher():
    _, teacher = random_pair(teacher_dim=4)
    assert value(select("rkd"), 7.0 * F.normalize(teacher, dim=1), teacher) == pytest.approx(0.0, abs=1e-12)
    assert value(select("rkd"), teacher, teacher) > 1e-4  # the teacher's norms differ: normalising it changes it


# ---------------------------------------------------------------- PKT

def test_pkt_hand_computed_on_three_points():
    # Teacher (1,0), (0,2), (0.3,0.4): cosines 0, 0.6, 0.8 -> (c+1)/2 rows [1, .5, .8], [.5, 1, .9], [.8, .9, 1].
    # Student: orthogonal axes in 3-D with lengths 2, 3, 0.5: every row becomes [1/2 on the diagonal, 1/4, 1/4].
    teacher = [[1.0, 0.0], [0.0, 2.0], [0.3, 0.4]]
    student = [[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.5]]
    p = [[10 / 23, 5 / 23, 8 / 23], [5 / 24, 10 / 24, 9 / 24], [8 / 27, 9 / 27, 10 / 27]]
    q = [[0.5 if i == j else 0.25 for j in range(3)] for i in range(3)]
    expected = sum(p[i][j] * math.log(p[i][j] / q[i][j]) for i in range(3) for j in range(3)) / 9
    assert value(select("pkt"), student, teacher) == pytest.approx(expected, rel=1e-6)


def test_pkt_zero_on_identical_spaces_and_positive_otherwise():
    student, teacher = random_pair(n=8, student_dim=7, teacher_dim=5)
    loss = select("pkt")
    assert value(loss, teacher, teacher) == 0.0
    # A positive scale and an isometry into a wider space keep every cosine.
    generator = torch.Generator().manual_seed(3)
    orthonormal_rows = torch.linalg.qr(torch.randn(7, 5, dtype=torch.float64, generator=generator))[0].T
    assert abs(value(loss, 2.5 * teacher @ orthonormal_rows, teacher)) < 1e-10
    assert abs(value(loss, 0.01 * teacher, teacher)) < 1e-10
    assert value(loss, student, teacher) > 1e-3


# ---------------------------------------------------------------- DarkRank

def test_darkrank_listwise_term_hand_computed():
    # Teacher directions 0, 60, 180 degrees: distances d01 = 1, d02 = 2, d12 = sqrt(3), so the teacher ranks the
    # others [1, 2] for anchor 0, [0, 2] for 1 and [1, 0] for 2 (K = min(4, N - 1) = 2).
    # Student directions 0, 90, 180 degrees: d01 = d12 = sqrt(2), d02 = 2; scores -3 d^3 = -6 sqrt(2) and -24.
    # Plackett-Luce: P = e^{s_a} / (e^{s_a} + e^{s_b}) * 1, so log P = -log(1 + e^{s_b - s_a}):
    # anchors 0 and 2 get -log(1 + e^{6 sqrt(2) - 24}), anchor 1 (a tie for the student) gets -log 2.
    teacher = [polar(0, 2.0), polar(60, 0.5), polar(180, 3.0)]
    student = [polar(0, 1.5) + [0.0], polar(90, 4.0) + [0.0], polar(180, 0.2) + [0.0]]
    expected = (2 * math.log1p(math.exp(6 * math.sqrt(2) - 24)) + math.log(2)) / 3
    got = value(select("darkrank", "--loss_darkrank_triplet_w", "0"), student, teacher)
    assert got == pytest.approx(expected, rel=1e-9)


def darkrank_listwise_reference(student, teacher, alpha, beta, permute_len):
    """-mean_i log P_i with loops: the teacher's K nearest neighbours, the student's Plackett-Luce probability."""
    s_rows, t_rows = F.normalize(student, dim=1).tolist(), F.normalize(teacher, dim=1).tolist()
    n = len(s_rows)
    total = 0.0
    for i in range(n):
        others = sorted((j for j in range(n) if j != i), key=lambda j: math.dist(t_rows[i], t_rows[j]))
        scores = [-alpha * math.dist(s_rows[i], s_rows[j]) ** beta for j in others[:permute_len]]
        total += sum(math.log(math.exp(scores[k]) / sum(math.exp(s) for s in scores[k:])) for k in range(len(scores)))
    return -total / n


@pytest.mark.parametrize("flags, alpha, beta, permute_len", [
    ((), 3.0, 3.0, 4),
    (("--loss_darkrank_alpha", "2", "--loss_darkrank_beta", "1.5", "--loss_darkrank_permute_len", "20"), 2.0, 1.5, 20),
])
def test_darkrank_listwise_term_equals_a_loop_reference(flags, alpha, beta, permute_len):
    student, teacher = random_pair(n=7, seed=4)
    got = value(select("darkrank", "--loss_darkrank_triplet_w", "0", *flags), student, teacher)
    assert got == pytest.approx(darkrank_listwise_reference(student, teacher, alpha, beta, permute_len), rel=1e-9)


@pytest.mark.parametrize("labels", [torch.arange(4).repeat_interleave(3), torch.arange(12)],
                         ids=["four_classes", "no_positives"])
def test_darkrank_triplet_term_matches_pytorch_metric_learning(labels):
    student, teacher = random_pair(n=12, student_dim=6, teacher_dim=4, seed=5)
    with_triplet = value(select("darkrank"), student, teacher, labels)
    without = value(select("darkrank", "--loss_darkrank_triplet_w", "0"), student, teacher, labels)
    unit = F.normalize(student, dim=1)
    # The authors' pair: an unknown miner type behaves like "all"; the loss averages the non-zero hinges.
    mined = pml_miners.TripletMarginMiner(margin=0.2, type_of_triplets="all")(unit, labels)
    expected = pml_losses.TripletMarginLoss(margin=0.2)(unit, labels, mined).item()
    assert with_triplet - without == pytest.approx(expected, rel=1e-5, abs=1e-12)
    if len(labels.unique()) < len(labels):
        assert expected > 0  # the case has violating triplets


def test_darkrank_is_lower_when_the_student_copies_the_teacher():
    teacher, labels = clustered_batch(n_classes=6, per_class=4, dim=16, seed=2)
    random_student = torch.randn(len(labels), 16, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    loss = select("darkrank")
    assert value(loss, teacher, teacher, labels) < value(loss, random_student, teacher, labels) - 0.1


# ---------------------------------------------------------------- all three

@pytest.mark.parametrize("name", LOSSES)
def test_gradients_are_finite_with_coincident_points(name):
    student, teacher = random_pair(n=8, student_dim=6, teacher_dim=4, seed=6)
    student[3], teacher[5] = student[1], teacher[2]  # duplicates: zero distances and zero difference vectors
    student = student.float().requires_grad_(True)
    loss = select(name)(student, torch.arange(4).repeat(2), teacher_embeds=teacher.float())
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LOSSES)
def test_the_registry_builds_it_from_parsed_options(name):
    opt = parameters.parse_args(["--loss", name])
    loss = criteria.select(name, opt, num_classes=10, embed_dim=opt.embed_dim)
    assert isinstance(loss, criteria.REGISTRY.get(name))
    assert "teacher_embeds" in criteria.REGISTRY.get(name).NEEDS
    with pytest.raises(ConfigError, match=f"Loss '{name}' cannot use batchminer 'random'"):
        criteria.select(name, opt, num_classes=10, embed_dim=opt.embed_dim, batchminer=batchminer.select("random", opt))
