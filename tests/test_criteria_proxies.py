"""Proxy and classification losses: proxynca, proxyanchor, softmax, arcface, softtriplet.

Each is checked on a hand-made case against its written formula, against pytorch-metric-learning (PML) with the same
embeddings, labels, hyperparameters and proxy values (loss and gradients w.r.t. embeddings and proxies), for its
optimiser groups and refusal of batchminers, and by a short training run.
"""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning.reducers import DoNothingReducer

import batchminer
import criteria
from tests.helpers import options
from utilities.errors import ConfigError

PROXY_LOSSES = ["proxynca", "proxyanchor", "softmax", "arcface", "softtriplet"]


def select(name, *flags, num_classes, embed_dim=2):
    return criteria.select(name, options(*flags), num_classes=num_classes, embed_dim=embed_dim).double()


def set_parameter(loss, rows):
    (parameter,) = loss.parameters()
    with torch.no_grad():
        parameter.copy_(torch.tensor(rows, dtype=torch.float64))


def loss_value(loss, rows, embeds, labels):
    set_parameter(loss, rows)
    return loss(torch.tensor(embeds, dtype=torch.float64), torch.tensor(labels)).item()


def log_softmax_at(logits, index):
    return logits[index] - math.log(sum(math.exp(v) for v in logits))


# ---------------------------------------------------------------- hand-made cases against the written formulas

def test_proxynca_hand_computed():
    # Proxies (2,0), (0,1), (-1,0): normalised and scaled to length 3, so d = ||x - p||^2 = 18 (1 - cos).
    loss = select("proxynca", num_classes=3)
    value = loss_value(loss, [[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], [[1.0, 0.0], [0.6, 0.8]], [0, 1])
    # (1,0), class 0: cosines 1, 0, -1 -> d = 0, 18, 36; (0.6,0.8), class 1: cosines 0.6, 0.8, -0.6 -> 7.2, 3.6, 28.8.
    first = 0 + math.log(math.exp(-18) + math.exp(-36))
    second = 3.6 + math.log(math.exp(-7.2) + math.exp(-28.8))
    assert value == pytest.approx((first + second) / 2, rel=1e-12)


def test_proxyanchor_hand_computed():
    # Proxies (1,0), (0,1), (-1,0); a=(1,0), b=(0.8,0.6) class 0, c=(0,1) class 1; class 2 is absent: |P+| = 2.
    loss = select("proxyanchor", num_classes=3)
    value = loss_value(loss, [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], [0, 0, 1])
    alpha, delta = 32, 0.1

    def pos(*cosines):
        return math.log(1 + sum(math.exp(-alpha * (s - delta)) for s in cosines))

    def neg(*cosines):
        return math.log(1 + sum(math.exp(alpha * (s + delta)) for s in cosines))

    # Cosines: proxy 0 -> a 1, b 0.8, c 0; proxy 1 -> a 0, b 0.6, c 1; proxy 2 -> a -1, b -0.8, c 0.
    expected = (pos(1.0, 0.8) + pos(1.0)) / 2 + (neg(0.0) + neg(0.0, 0.6) + neg(-1.0, -0.8, 0.0)) / 3
    assert value == pytest.approx(expected, rel=1e-12)


def test_softmax_hand_computed():
    # Weights (3,0), (0,1) (normalised by the loss); T = 0.05 turns cosines into logits x 20.
    loss = select("softmax", num_classes=2)
    value = loss_value(loss, [[3.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [2.0, 0.0]], [0, 1])
    expected = -(log_softmax_at([12.0, 16.0], 0) + log_softmax_at([20.0, 0.0], 1)) / 2
    assert value == pytest.approx(expected, rel=1e-12)


def test_arcface_hand_computed_both_branches():
    # Weights (1,0), (0,1), (-1,0); m = 0.5, s = 16.
    loss = select("arcface", num_classes=3)
    embeds = [[0.6, 0.8], [-0.96, 0.28]]
    value = loss_value(loss, [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], embeds, [1, 0])
    m, s = 0.5, 16
    # (0.6,0.8), class 1: theta = acos 0.8 <= pi - m, so the target logit is cos(theta + m).
    first = log_softmax_at([s * 0.6, s * math.cos(math.acos(0.8) + m), s * -0.6], 1)
    # (-0.96,0.28), class 0: theta = acos(-0.96) > pi - m, so the target logit is cos(theta) - m sin(m).
    assert math.acos(-0.96) > math.pi - m
    second = log_softmax_at([s * (-0.96 - m * math.sin(m)), s * 0.28, s * 0.96], 0)
    assert value == pytest.approx(-(first + second) / 2, rel=1e-12)


def test_softtriplet_hand_computed():
    # K = 2 centres: class 0 at (1,0) and (0,1), class 1 at (-1,0) and (0,-1); gamma 0.1, lambda 8, delta 0.01, tau 0.2.
    loss = select("softtriplet", num_classes=2)
    value = loss_value(loss, [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], [[0.6, 0.8]], [0])

    def soft_similarity(a, b):
        return (a * math.exp(a / 0.1) + b * math.exp(b / 0.1)) / (math.exp(a / 0.1) + math.exp(b / 0.1))

    classification = -log_softmax_at([8 * (soft_similarity(0.6, 0.8) - 0.01), 8 * soft_similarity(-0.6, -0.8)], 0)
    # Each class's two centres are orthogonal: distance sqrt(2 + 1e-5); two pairs over C K (K - 1) = 4.
    regulariser = 2 * math.sqrt(2 + 1e-5) / 4
    assert value == pytest.approx(classification + 0.2 * regulariser, rel=1e-12)


# ---------------------------------------------------------------- against pytorch-metric-learning

def proxynca_reference(opt, num_classes, embed_dim):
    # Deliberate difference: ours (Roth's, as in the ProxyNCA paper) leaves the positive proxy out of the softmax
    # denominator; PML's ProxyNCALoss keeps it. With PML's squared distances on unit vectors and softmax_scale = s^2,
    # both use the same distances, and per sample  ours = PML + log(1 - exp(-PML))  (log sum over negatives =
    # log sum over all + log(1 - p_positive), with p_positive = exp(-PML)). PML's per-sample values come from
    # DoNothingReducer; the mean is taken after the transformation.
    pml = pml_losses.ProxyNCALoss(num_classes, embed_dim, softmax_scale=opt.loss_proxynca_scale ** 2,
                                  reducer=DoNothingReducer())

    def reference(x, y):
        per_sample = pml(x, y)["loss"]["losses"]
        return (per_sample + torch.log(-torch.expm1(-per_sample))).mean()

    return pml, pml.proxies, False, reference


def proxyanchor_reference(opt, num_classes, embed_dim):
    # Same definition; PML names delta "margin".
    pml = pml_losses.ProxyAnchorLoss(num_classes, embed_dim, margin=opt.loss_proxyanchor_delta,
                                     alpha=opt.loss_proxyanchor_alpha)
    return pml, pml.proxies, False, pml


def softmax_reference(opt, num_classes, embed_dim):
    # Same definition and temperature; PML stores the class weights transposed (D x C).
    pml = pml_losses.NormalizedSoftmaxLoss(num_classes, embed_dim, temperature=opt.loss_softmax_temperature)
    return pml, pml.W, True, pml


def arcface_reference(opt, num_classes, embed_dim):
    # PML takes the margin in degrees (0.5 rad = 28.65 deg) and stores weights as D x C; both use the authors'
    # cos(theta) - m sin(m) fallback beyond theta = pi - m.
    pml = pml_losses.ArcFaceLoss(num_classes, embed_dim, margin=math.degrees(opt.loss_arcface_angular_margin),
                                 scale=opt.loss_arcface_feature_scale)
    return pml, pml.W, True, pml


def softtriplet_reference(opt, num_classes, embed_dim):
    # PML names: centers_per_class = K, la = lambda, gamma = gamma (it, too, divides by it), margin = delta; centres
    # are stored as D x CK. PML leaves out the paper's centre regulariser, so the test adds it, written pair by pair.
    k = opt.loss_softtriplet_n_centroids
    pml = pml_losses.SoftTripleLoss(num_classes, embed_dim, centers_per_class=k, la=opt.loss_softtriplet_lambda,
                                    gamma=opt.loss_softtriplet_gamma, margin=opt.loss_softtriplet_margin_delta)

    def reference(x, y):
        centres = F.normalize(pml.fc, dim=0)
        distances = [torch.sqrt(2 + 1e-5 - 2 * centres[:, c * k + i] @ centres[:, c * k + j])
                     for c in range(num_classes) for i, j in itertools.combinations(range(k), 2)]
        return pml(x, y) + opt.loss_softtriplet_reg_weight * sum(distances) / (num_classes * k * (k - 1))

    return pml, pml.fc, True, reference


PML_REFERENCES = {
    "proxynca": (proxynca_reference, ["--loss_proxynca_scale", "2"]),
    "proxyanchor": (proxyanchor_reference, ["--loss_proxyanchor_alpha", "16", "--loss_proxyanchor_delta", "0.2"]),
    "softmax": (softmax_reference, ["--loss_softmax_temperature", "0.1"]),
    "arcface": (arcface_reference, ["--loss_arcface_angular_margin", "0.3", "--loss_arcface_feature_scale", "30"]),
    "softtriplet": (softtriplet_reference, ["--loss_softtriplet_n_centroids", "3", "--loss_softtriplet_gamma", "0.2",
                                            "--loss_softtriplet_lambda", "10", "--loss_softtriplet_margin_delta",
                                            "0.05", "--loss_softtriplet_reg_weight", "0.5"]),
}


@pytest.mark.parametrize("custom", [False, True], ids=["defaults", "custom"])
@pytest.mark.parametrize("name", PROXY_LOSSES)
def test_matches_pytorch_metric_learning(name, custom):
    build_reference, custom_flags = PML_REFERENCES[name]
    opt = options(*custom_flags) if custom else options()
    num_classes, embed_dim = 10, 16
    ours = criteria.select(name, opt, num_classes=num_classes, embed_dim=embed_dim).double()
    pml, pml_parameter, transposed, reference = build_reference(opt, num_classes, embed_dim)

    generator = torch.Generator().manual_seed(7)
    (parameter,) = ours.parameters()
    with torch.no_grad():
        parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
        pml_parameter.data = (parameter.T if transposed else parameter).detach().clone()
    # Six of the ten classes, four items each: absent classes matter for proxyanchor's 1/|P+|.
    labels = torch.tensor([0, 2, 3, 5, 7, 9]).repeat_interleave(4)
    embeds = torch.randn(len(labels), embed_dim, generator=generator, dtype=torch.float64)
    # Item 0 points away from its class's (first) proxy: arcface's theta > pi - m branch, hard cases for the others.
    rows_per_class = len(parameter) // num_classes
    embeds[0] = -parameter.detach()[labels[0] * rows_per_class] + 0.05 * embeds[0]

    ours_x = embeds.clone().requires_grad_(True)
    value = ours(ours_x, labels)
    value.backward()
    pml_x = embeds.clone().requires_grad_(True)
    ref_value = reference(pml_x, labels)
    ref_value.backward()
    ref_parameter_grad = pml_parameter.grad.T if transposed else pml_parameter.grad
    torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=0)
    torch.testing.assert_close(ours_x.grad, pml_x.grad, rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(parameter.grad, ref_parameter_grad, rtol=1e-5, atol=1e-12)


# ---------------------------------------------------------------- optimiser groups, batchminers, training

@pytest.mark.parametrize("name, multiplier, weight_decay", [
    ("proxynca", 50, 0.0), ("proxyanchor", 100, None), ("softmax", 1, 0.0), ("arcface", 50, 0.0),
    ("softtriplet", 1, 0.0),
])
def test_param_groups_scale_the_learning_rate(name, multiplier, weight_decay):
    # weight_decay None: the group inherits the optimiser's --decay (Proxy-Anchor's authors decay their proxies).
    loss = criteria.select(name, options(), num_classes=4, embed_dim=8)
    (group,) = loss.param_groups(2e-4)
    assert group["params"] == list(loss.parameters())
    assert group["lr"] == pytest.approx(2e-4 * multiplier)
    assert group.get("weight_decay") == weight_decay
    optimizer = torch.optim.Adam([group], weight_decay=4e-4)
    assert optimizer.param_groups[0]["weight_decay"] == (4e-4 if weight_decay is None else weight_decay)


@pytest.mark.parametrize("name", PROXY_LOSSES)
def test_refuses_batchminers(name):
    opt = options()
    with pytest.raises(ConfigError, match=f"Loss '{name}' cannot use batchminer 'random'"):
        criteria.select(name, opt, num_classes=4, embed_dim=8, batchminer=batchminer.select("random", opt))


def test_proxynca_needs_a_negative_proxy():
    with pytest.raises(ConfigError, match="at least two training classes"):
        criteria.select("proxynca", options(), num_classes=1, embed_dim=8)


@pytest.mark.parametrize("name", PROXY_LOSSES)
@pytest.mark.slow
def test_short_training_lowers_the_loss_and_raises_recall(name):
    from tests.tiny_training import train_and_evaluate
    first, last, before, after = train_and_evaluate(name)
    assert last < first
    assert after > before + 0.2
