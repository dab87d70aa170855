import math

import pytest
import torch
import torch.nn.functional as F

import batchminer
from tests.helpers import options


def check_tuples(anchors, positives, negatives, labels):
    assert len(anchors) == len(positives) == len(negatives)
    assert (labels[anchors] == labels[positives]).all()
    assert (anchors != positives).all()
    assert (labels[anchors] != labels[negatives]).all()


@pytest.mark.parametrize("name", ["random", "distance"])
def test_miners_return_valid_tuples_and_skip_anchors_without_positive(name):
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])  # class 2 has a single member: no positive, no tuple
    embeds = F.normalize(torch.randn(6, 8), dim=1)
    anchors, positives, negatives = batchminer.select(name, options())(embeds, labels)
    check_tuples(anchors, positives, negatives, labels)
    assert anchors.tolist() == [0, 1, 2, 3, 4]


def test_random_miner_draws_every_positive_and_negative_uniformly():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    embeds = torch.zeros(7, 2)
    miner = batchminer.select("random", options())
    counts = torch.zeros(7, 7)
    for _ in range(3000):
        a, p, n = miner(embeds, labels)
        counts[a[0], p[0]] += 1
        counts[a[0], n[0]] += 1
    # Anchor 0: positives {1, 2} each with probability 1/2, negatives {3..6} each 1/4.
    assert counts[0, 1:3].div(3000).tolist() == pytest.approx([0.5, 0.5], abs=0.04)
    assert counts[0, 3:].div(3000).tolist() == pytest.approx([0.25] * 4, abs=0.04)


def test_distance_miner_follows_inverse_density_and_cutoffs():
    # Anchor at angle 0 on the unit circle (D = 2), negatives at chosen distances along the circle.
    def point(distance):
        angle = 2 * math.asin(distance / 2)
        return [math.cos(angle), math.sin(angle)]

    distances = [0.3, 0.8, 1.2, 1.6]
    embeds = torch.tensor([[1.0, 0.0], [1.0, 0.0]] + [point(d) for d in distances])
    labels = torch.tensor([0, 0, 1, 2, 3, 4])
    miner = batchminer.select("distance", options())
    # For D = 2: 1/q(d) = (1 - d^2/4)^(1/2) with d clipped to >= 0.5; d = 1.6 is beyond the 1.4 cutoff.
    weights = [math.sqrt(1 - max(d, 0.5) ** 2 / 4) if d < 1.4 else 0.0 for d in distances]
    expected = [w / sum(weights) for w in weights]
    anchors, positives, ours = miner.sampling_weights(embeds, labels)
    assert anchors.tolist() == [0, 1]
    assert (ours[0] / ours[0].sum())[2:].tolist() == pytest.approx(expected, rel=1e-4)
    assert ours[0, :2].tolist() == [0.0, 0.0]
    torch.manual_seed(0)
    counts = torch.zeros(6)
    for _ in range(300):
        counts[miner(embeds, labels)[2][0]] += 1
    assert counts[2:].div(300).tolist() == pytest.approx(expected, abs=0.08)


def test_distance_miner_falls_back_to_uniform_when_all_negatives_are_far():
    embeds = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    anchors, positives, negatives = batchminer.select("distance", options())(embeds, labels)
    check_tuples(anchors, positives, negatives, labels)
    assert len(anchors) == 4
