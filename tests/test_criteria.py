import math

import pytest
import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.reducers import MeanReducer

import batchminer
import criteria
from tests.helpers import clustered_batch, loss_and_grad, options
from utilities.errors import ConfigError


def test_multisimilarity_hand_computed():
    # Two classes on the unit circle: a=(1,0), b=(0.8,0.6) class 0; c=(0,1), d=(0.6,0.8) class 1.
    embeds = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    opt = options("--loss_multisimilarity_pos_weight", "2", "--loss_multisimilarity_neg_weight", "40",
                  "--loss_multisimilarity_margin", "0.1", "--loss_multisimilarity_thresh", "0.5")
    loss = criteria.select("multisimilarity", opt, num_classes=2, embed_dim=2)(embeds, labels)
    # Similarities: s(a,b)=0.8, s(a,c)=0, s(a,d)=0.6, s(b,c)=0.6, s(b,d)=0.96, s(c,d)=0.8.
    # Anchor a: pos {b:0.8}; negs {c:0, d:0.6}; keep negs with s+0.1 > 0.8 -> none (0.7 < 0.8) => invalid.
    # Anchor b: pos {a:0.8}; negs {c:0.6, d:0.96}; keep d (1.06 > 0.8) only; pos a kept (0.7 < 0.96).
    # Anchor c: pos {d:0.8}; negs {a:0, b:0.6}; none kept => invalid.
    # Anchor d: pos {c:0.8}; negs {a:0.6, b:0.96}; keep b only; pos c kept (0.7 < 0.96).
    # b and d are symmetric: L = 1/2 log(1 + e^{-2(0.8-0.5)}) + 1/40 log(1 + e^{40(0.96-0.5)}).
    expected = 0.5 * math.log(1 + math.exp(-2 * 0.3)) + math.log(1 + math.exp(40 * 0.46)) / 40
    assert loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multisimilarity_matches_pytorch_metric_learning(seed):
    embeds, labels = clustered_batch(seed=seed, spread=1.5)
    opt = options("--loss_multisimilarity_neg_weight", "40")
    ours = criteria.select("multisimilarity", opt, num_classes=8, embed_dim=16)
    pml_loss = pml_losses.MultiSimilarityLoss(alpha=2, beta=40, base=0.5)
    pml_miner = pml_miners.MultiSimilarityMiner(epsilon=0.1)
    # PML, like the MS authors' code (sum / batch size), averages over all anchors, an anchor without mined pairs
    # counting as 0; ours, like Roth's code, averages over the anchors that keep both a positive and a negative.
    # With every anchor valid they coincide.
    similarity = embeds @ embeds.T
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool)
    min_pos = similarity.masked_fill(~same | eye, 2).min(1).values
    max_neg = similarity.masked_fill(same, -2).max(1).values
    assert ((max_neg + 0.1 > min_pos)).all(), "every anchor must keep a positive and a negative"
    value, grad = loss_and_grad(ours, embeds, labels)
    ref_value, ref_grad = loss_and_grad(lambda x, y: pml_loss(x, y, pml_miner(x, y)), embeds, labels)
    torch.testing.assert_close(value, ref_value, rtol=1e-7, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-9)


def test_multisimilarity_no_valid_anchor_gives_zero_with_gradient():
    embeds = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    loss = criteria.select("multisimilarity", options(), num_classes=2, embed_dim=2)(embeds, labels)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeds.grad, torch.zeros_like(embeds))


class FixedMiner:
    registry_name = "random"

    def __init__(self, tuples):
        self.tuples = tuples

    def __call__(self, batch, labels):
        return self.tuples


def triplet_hand_case():
    embeds = torch.tensor([[0.0, 0.0], [0.3, 0.0], [0.0, 0.4], [1.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    tuples = (torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([2, 3]))
    return embeds, labels, tuples


# Triplets (0,1,2) and (1,0,3) of triplet_hand_case, margin 0.2:
#   squared:   0.3^2 - 0.4^2 + 0.2 = 0.13 and 0.3^2 - 0.7^2 + 0.2 = -0.2 -> 0; mean 0.065.
#   euclidean: 0.3   - 0.4   + 0.2 = 0.1  and 0.3   - 0.7   + 0.2 = -0.2 -> 0; mean 0.05.
@pytest.mark.parametrize("flags, expected", [((), 0.065), (("--loss_triplet_distance", "squared"), 0.065),
                                             (("--loss_triplet_distance", "euclidean"), 0.05)])
def test_triplet_hand_computed(flags, expected):
    embeds, labels, tuples = triplet_hand_case()
    loss = criteria.select("triplet", options(*flags), num_classes=2, embed_dim=2, batchminer=FixedMiner(tuples))
    value, grad = loss_and_grad(loss, embeds, labels)
    assert value.item() == pytest.approx(expected, rel=1e-12)
    # Only triplet (0,1,2) is active; its hinge is D(0,1) - D(0,2), halved by the mean over the two triplets.
    a, p, n = embeds[0], embeds[1], embeds[2]
    if loss.distance == "squared":
        grad_a, grad_p, grad_n = (2 * (a - p) - 2 * (a - n)) / 2, -2 * (a - p) / 2, 2 * (a - n) / 2
    else:
        unit_ap, unit_an = (a - p) / (a - p).norm(), (a - n) / (a - n).norm()
        grad_a, grad_p, grad_n = (unit_ap - unit_an) / 2, -unit_ap / 2, unit_an / 2
    torch.testing.assert_close(grad, torch.stack([grad_a, grad_p, grad_n, torch.zeros(2, dtype=torch.float64)]))


@pytest.mark.parametrize("distance, power", [("squared", 2), ("euclidean", 1)])
@pytest.mark.parametrize("seed", [0, 1])
def test_triplet_matches_pytorch_metric_learning(distance, power, seed):
    # PML's TripletMarginLoss hinges LpDistance(power=1) by default; power=2 is the squared form. MeanReducer averages
    # over every triplet, zero-loss ones included, as ours does (PML's default reducer skips the zeros).
    embeds, labels = clustered_batch(seed=seed, spread=1.0)
    tuples = batchminer.select("random", options())(embeds, labels)
    opt = options("--loss_triplet_distance", distance, "--loss_triplet_margin", "0.3")
    loss = criteria.select("triplet", opt, num_classes=8, embed_dim=16, batchminer=FixedMiner(tuples))
    pml = pml_losses.TripletMarginLoss(margin=0.3, distance=LpDistance(normalize_embeddings=False, p=2, power=power),
                                       reducer=MeanReducer())
    value, grad = loss_and_grad(loss, embeds, labels)
    ref_value, ref_grad = loss_and_grad(lambda x, y: pml(x, y, tuples), embeds, labels)
    assert 0 < value.item()
    torch.testing.assert_close(value, ref_value)
    torch.testing.assert_close(grad, ref_grad)


def test_triplet_hand_case_against_pml_in_both_forms():
    embeds, labels, tuples = triplet_hand_case()
    for distance, power in [("squared", 2), ("euclidean", 1)]:
        loss = criteria.select("triplet", options("--loss_triplet_distance", distance), num_classes=2, embed_dim=2,
                               batchminer=FixedMiner(tuples))
        pml = pml_losses.TripletMarginLoss(margin=0.2, reducer=MeanReducer(),
                                           distance=LpDistance(normalize_embeddings=False, p=2, power=power))
        value, grad = loss_and_grad(loss, embeds, labels)
        ref_value, ref_grad = loss_and_grad(lambda x, y: pml(x, y, tuples), embeds, labels)
        torch.testing.assert_close(value, ref_value)
        torch.testing.assert_close(grad, ref_grad)


def test_triplet_default_is_squared_with_roths_margin():
    opt = options()
    assert (opt.loss_triplet_distance, opt.loss_triplet_margin) == ("squared", 0.2)


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ConfigError, match="Unknown loss 'nope'.*multisimilarity.*triplet"):
        criteria.select("nope", options(), num_classes=2, embed_dim=2)


def test_loss_batchminer_compatibility_is_checked():
    opt = options()
    with pytest.raises(ConfigError, match="needs a batchminer"):
        criteria.select("triplet", opt, num_classes=2, embed_dim=2)
    with pytest.raises(ConfigError, match="cannot use batchminer 'random'"):
        criteria.select("multisimilarity", opt, num_classes=2, embed_dim=2,
                        batchminer=batchminer.select("random", opt))


@pytest.mark.parametrize("loss_name", ["multisimilarity", "triplet"])
@pytest.mark.slow
def test_short_training_lowers_the_loss_and_raises_recall(loss_name):
    from tests.tiny_training import train_and_evaluate
    first, last, before, after = train_and_evaluate(loss_name)
    assert last < first
    assert after > before + 0.2
