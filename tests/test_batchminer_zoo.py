"""semihard, softhard and rho_distance miners on hand-made batches whose answer is known."""
import math

import pytest
import torch

import batchminer
import criteria
from tests.helpers import options
from tests.test_batchminer import check_tuples


def draws(miner, embeds, labels, n=200):
    """Stack n independent minings: (n, anchors) tensors of anchors, positives and negatives."""
    torch.manual_seed(0)
    return [torch.stack(parts) for parts in zip(*(miner(embeds, labels) for _ in range(n)))]


def on_line(*xs):
    return torch.tensor([[x, 0.0] for x in xs])


@pytest.mark.parametrize("name", ["semihard", "softhard", "rho_distance"])
def test_miners_skip_anchors_without_positive(name):
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    embeds = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    anchors, positives, negatives = batchminer.select(name, options("--miner_rho_distance_cp", "0"))(embeds, labels)
    check_tuples(anchors, positives, negatives, labels)
    assert anchors.tolist() == [0, 1, 2, 3, 4]


def test_semihard_negatives_are_farther_than_the_positive_but_within_the_margin():
    # Anchor 0 at x=0, its positive 1 at 0.3; negatives at 0.1 (hard), 0.4 and 0.45 (semihard), 0.7 (easy).
    # Seen from anchor 1 (x=0.3) the negatives lie at 0.2, 0.1, 0.15 and 0.4: only x=0.7 is semihard.
    embeds, labels = on_line(0.0, 0.3, 0.1, 0.4, 0.45, 0.7), torch.tensor([0, 0, 1, 2, 3, 4])
    anchors, positives, negatives = draws(batchminer.select("semihard", options()), embeds, labels)
    assert (anchors[:, :2] == torch.tensor([0, 1])).all() and (positives[:, :2] == torch.tensor([1, 0])).all()
    assert set(negatives[:, 0].tolist()) == {3, 4}
    assert set(negatives[:, 1].tolist()) == {5}
    # The margin is the miner's own flag: with 0.05 anchor 0 has no semihard negative and draws any of them.
    narrow = batchminer.select("semihard", options("--miner_semihard_margin", "0.05"))
    assert set(draws(narrow, embeds, labels)[2][:, 0].tolist()) == {2, 3, 4, 5}


def test_softhard_draws_among_violating_positives_and_negatives():
    # Class 0 at x = 0, 0.2, 1.0 and 1.1; class 1 at 0.5 and 1.5. From anchor 0: farthest positive 1.1,
    # nearest negative 0.5, so the hard positives are x=1.0 and 1.1 (farther than 0.5) and the only hard negative
    # is x=0.5 (closer than 1.1). Class 2 at 10 and 10.1 is in order: uniform positive (the only one), any negative.
    embeds = on_line(0.0, 0.2, 1.0, 1.1, 0.5, 1.5, 10.0, 10.1)
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    anchors, positives, negatives = draws(batchminer.select("softhard", options()), embeds, labels)
    assert anchors[0].tolist() == list(range(8))
    assert set(positives[:, 0].tolist()) == {2, 3} and set(negatives[:, 0].tolist()) == {4}
    assert set(positives[:, 6].tolist()) == {7} and set(negatives[:, 6].tolist()) == {0, 1, 2, 3, 4, 5}


def test_rho_distance_without_push_is_distance_weighting_without_upper_cutoff():
    # As in test_distance_miner_follows_inverse_density_and_cutoffs, but the negative at d = 1.6 stays possible.
    def point(distance):
        angle = 2 * math.asin(distance / 2)
        return [math.cos(angle), math.sin(angle)]

    distances = [0.3, 0.8, 1.2, 1.6]
    embeds = torch.tensor([[1.0, 0.0], [1.0, 0.0]] + [point(d) for d in distances])
    labels = torch.tensor([0, 0, 1, 2, 3, 4])
    miner = batchminer.select("rho_distance", options("--miner_rho_distance_cp", "0"))
    weights = [math.sqrt(1 - max(d, 0.5) ** 2 / 4) for d in distances]
    expected = [w / sum(weights) for w in weights]
    _, _, ours = miner.sampling_weights(embeds, labels)
    assert (ours[0] / ours[0].sum())[2:].tolist() == pytest.approx(expected, rel=1e-4)
    counts = torch.bincount(draws(miner, embeds, labels, n=400)[2][:, 0], minlength=6)
    assert counts[2:].div(400).tolist() == pytest.approx(expected, abs=0.07)


def test_rho_distance_push_triplets_pair_the_anchor_with_itself_against_a_positive():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    embeds = torch.nn.functional.normalize(torch.randn(7, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    anchors, positives, negatives = draws(
        batchminer.select("rho_distance", options("--miner_rho_distance_cp", "1")), embeds, labels, n=50)
    assert (positives == anchors).all()
    assert (labels[negatives] == labels[anchors]).all() and (negatives != anchors).all()

    anchors, positives, negatives = draws(batchminer.select("rho_distance", options()), embeds, labels, n=400)
    push = positives == anchors
    assert push.float().mean().item() == pytest.approx(0.2, abs=0.03)  # the default cp
    check_tuples(anchors[~push], positives[~push], negatives[~push], labels)


@pytest.mark.parametrize("distance, expected", [
    # Anchors 0, 1 push each other 0.05 apart (hinge 0.2 - 0.05^2 squared, 0.2 - 0.05 plain); anchors 2, 3 coincide
    # (hinge 0.2 either way, with a finite gradient at zero distance).
    ("squared", (0.1975 * 2 + 0.2 * 2) / 4),
    ("euclidean", (0.15 * 2 + 0.2 * 2) / 4),
])
def test_triplet_loss_on_a_push_triplet_is_margin_minus_the_positive_distance(distance, expected):
    opt = options("--loss", "triplet", "--miner_rho_distance_cp", "1", "--loss_triplet_distance", distance)
    loss_fn = criteria.select("triplet", opt, num_classes=2, embed_dim=2,
                              batchminer=batchminer.select("rho_distance", opt))
    embeds = on_line(0.0, 0.05, 1.0, 1.0).requires_grad_()
    loss = loss_fn(embeds, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert loss.item() == pytest.approx(expected)
    assert torch.isfinite(embeds.grad).all()
