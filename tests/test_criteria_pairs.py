"""Pair- and tuple-based losses (contrastive, margin, quadruplet, snr, npair, angular, lifted, histogram, circle,
supcon) and the npair / lifted batchminers.

Every loss pytorch-metric-learning (PML) also has is compared with it on the same embeddings, labels, hyperparameters
and tuples (given to PML as a fixed indices_tuple), for the value and the gradient. Where our definition (Roth's or the
paper's) differs from PML's defaults, the test configures PML or transforms its input to match, and says what differs.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning.distances import DotProductSimilarity, LpDistance, SNRDistance
from pytorch_metric_learning.reducers import MeanReducer
from pytorch_metric_learning.regularizers import LpRegularizer, ZeroMeanRegularizer

import batchminer
import criteria
from tests.helpers import clustered_batch, loss_and_grad, options

RTOL = 1e-5
TUPLE_LOSSES = ["contrastive", "margin", "quadruplet", "snr"]
MASK_LOSSES = ["npair", "angular", "lifted"]
ALL_PAIRS_LOSSES = ["histogram", "circle", "supcon"]
OUR_LOSSES = TUPLE_LOSSES + MASK_LOSSES + ALL_PAIRS_LOSSES


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    # These tensors are tiny: with cores shared between processes, intra-op threads only add contention (20x slower).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class FixedTuples:
    """A batchminer that returns given tuples, under the name of the miner whose output structure they have."""

    def __init__(self, registry_name, tuples):
        self.registry_name = registry_name
        self.tuples = tuples

    def __call__(self, batch, labels):
        return self.tuples


def mined(name, embeds, labels, seed=0):
    torch.manual_seed(seed)
    return batchminer.select(name, options())(embeds, labels)


def build(loss_name, *flags, miner=None, num_classes=8):
    return criteria.select(loss_name, options(*flags), num_classes=num_classes, embed_dim=16, batchminer=miner)


def assert_matches(ours, reference, embeds, labels):
    value, grad = loss_and_grad(ours, embeds, labels)
    ref_value, ref_grad = loss_and_grad(reference, embeds, labels)
    assert value.item() > 0
    torch.testing.assert_close(value, ref_value, rtol=RTOL, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=RTOL, atol=1e-10)


def raw_batch(seed, scale=1.5, **kwargs):
    """Unnormalised embeddings (losses that do not normalise must not rely on unit norm)."""
    embeds, labels = clustered_batch(seed=seed, **kwargs)
    generator = torch.Generator().manual_seed(seed)
    return embeds * (scale + torch.rand(len(labels), 1, generator=generator, dtype=embeds.dtype)), labels


# ---------------------------------------------------------------------------------------------- tuple-based losses

@pytest.mark.parametrize("pos_margin, neg_margin", [(0.0, 1.0), (0.3, 1.6)])
def test_contrastive_matches_pml(pos_margin, neg_margin):
    # PML's default reducer (AvgNonZero) averages only non-zero pair losses; Roth averages all mined pairs: MeanReducer.
    embeds, labels = raw_batch(seed=0, scale=0.5, spread=1.0)
    tuples = mined("random", embeds, labels)
    ours = build("contrastive", "--loss_contrastive_pos_margin", str(pos_margin), "--loss_contrastive_neg_margin",
                 str(neg_margin), miner=FixedTuples("random", tuples))
    pml = pml_losses.ContrastiveLoss(pos_margin=pos_margin, neg_margin=neg_margin, reducer=MeanReducer(),
                                     distance=LpDistance(normalize_embeddings=False))
    assert_matches(ours, lambda x, y: pml(x, y, tuples), embeds, labels)


@pytest.mark.parametrize("nu", [0.0, 0.1])
def test_margin_matches_pml_including_the_learned_betas(nu):
    embeds, labels = clustered_batch(seed=1, spread=1.0)
    tuples = mined("random", embeds, labels)
    ours = build("margin", "--loss_margin_nu", str(nu), miner=FixedTuples("distance", tuples))
    pml = pml_losses.MarginLoss(margin=0.2, nu=nu, beta=1.2, learn_beta=True, num_classes=8,
                                distance=LpDistance(normalize_embeddings=False))
    class_betas = torch.linspace(0.9, 1.3, 8)
    with torch.no_grad():
        ours.beta.copy_(class_betas)
        pml.beta.copy_(class_betas)
    assert_matches(ours, lambda x, y: pml(x, y, tuples), embeds, labels)
    torch.testing.assert_close(ours.beta.grad, pml.beta.grad, rtol=RTOL, atol=1e-10)
    assert ours.beta.grad.abs().sum() > 0


def test_margin_with_constant_beta_matches_pml_and_has_no_parameters():
    embeds, labels = clustered_batch(seed=2, spread=1.0)
    tuples = mined("random", embeds, labels)
    ours = build("margin", "--loss_margin_beta_constant", "--loss_margin_beta", "1.1",
                 miner=FixedTuples("distance", tuples))
    pml = pml_losses.MarginLoss(margin=0.2, beta=1.1, distance=LpDistance(normalize_embeddings=False))
    assert_matches(ours, lambda x, y: pml(x, y, tuples), embeds, labels)
    assert list(ours.parameters()) == [] and ours.param_groups(1e-3) == []


def test_margin_betas_get_their_own_learning_rate_without_weight_decay():
    loss = build("margin", "--loss_margin_beta_lr", "0.01", miner=FixedTuples("distance", None), num_classes=5)
    [group] = loss.param_groups(base_lr=1e-5)
    assert group["params"] == [loss.beta] and loss.beta.shape == (5,)
    assert group["lr"] == 0.01 and group["weight_decay"] == 0.0 and group["name"] == "loss_margin_beta"


def test_margin_without_active_pairs_is_zero():
    embeds = torch.tensor([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1])
    # d(a,p) = 0.5 < beta - margin = 1.0 and d(a,n) = 3 > beta + margin = 1.4: nothing active.
    loss = build("margin", miner=FixedTuples("distance", tuple(torch.tensor([i]) for i in (0, 1, 2))),
                 num_classes=2)(embeds, labels)
    loss.backward()
    assert loss.item() == 0.0 and embeds.grad.abs().sum() == 0


def test_margin_divides_by_active_terms_not_by_triplets_with_an_active_term():
    # beta 1.2 (constant), margin 0.2. Triplet (0,1,2): d(a,p) = 1.5 -> pos 0.5, d(a,n) = 0.5 -> neg 0.9, both active.
    # Triplet (0,3,2): d(a,p) = 0.2 -> pos 0, neg 0.9 active. Terms: 3 active (authors, PML, ours) -> 2.3 / 3; Roth's
    # bool OR counts the 2 triplets with any active term -> 2.3 / 2.
    embeds = torch.tensor([[0.0, 0.0], [1.5, 0.0], [0.0, 0.5], [0.2, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 0])
    tuples = (torch.tensor([0, 0]), torch.tensor([1, 3]), torch.tensor([2, 2]))
    loss = build("margin", "--loss_margin_beta_constant", miner=FixedTuples("distance", tuples), num_classes=2)
    assert loss(embeds, labels).item() == pytest.approx((0.5 + 0.9 + 0.9) / 3, rel=1e-12)


def quadruplet_hand_batch():
    # Classes 0, 0, 1, 2. For (0, 1, 2) the only item of a class other than a's (0) and n's (1) is 3; for (1, 0, 3) it
    # is 2: the fourth items are determined.
    embeds = torch.tensor([[0.0, 0.0], [0.3, 0.0], [0.0, 0.4], [1.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 2])
    tuples = (torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([2, 3]))
    return embeds, labels, tuples


def test_quadruplet_hand_computed():
    embeds, labels, tuples = quadruplet_hand_batch()
    loss = build("quadruplet", "--loss_quadruplet_margin_alpha_2", "1.0", miner=FixedTuples("distance", tuples),
                 num_classes=3)
    # Triplet terms: (0,1,2): 0.3 - 0.4 + 0.2 = 0.1; (1,0,3): 0.3 - 0.7 + 0.2 < 0 -> 0; mean 0.05.
    # Quadruplet terms: d(2,3) = sqrt(1 + 0.16) for both; 0.3 - sqrt(1.16) + 1.0 each; mean the same.
    expected = 0.05 + (1.3 - math.sqrt(1.16))
    assert loss(embeds, labels).item() == pytest.approx(expected, rel=1e-12)
    assert torch.autograd.gradcheck(lambda x: loss(x, labels), embeds.clone().requires_grad_(True))


def test_quadruplet_with_two_classes_reduces_to_the_triplet_loss():
    embeds, labels = clustered_batch(n_classes=2, seed=3, spread=1.0)
    tuples = mined("random", embeds, labels)
    quadruplet = build("quadruplet", miner=FixedTuples("distance", tuples), num_classes=2)
    # The quadruplet loss hinges plain Euclidean distances (Roth), so it reduces to the triplet loss's euclidean form.
    triplet = build("triplet", "--loss_triplet_distance", "euclidean", miner=FixedTuples("distance", tuples),
                    num_classes=2)
    torch.testing.assert_close(quadruplet(embeds, labels), triplet(embeds, labels))


def test_quadruplet_fourth_items_are_of_a_third_class_and_all_drawn():
    labels = torch.tensor([0, 0, 1, 1, 2, 3, 3])
    anchors, negatives = torch.tensor([0, 2, 4]), torch.tensor([2, 4, 5])
    torch.manual_seed(0)
    drawn = [criteria.REGISTRY.get("quadruplet").draw_fourth(labels, anchors, negatives) for _ in range(200)]
    has_fourth = drawn[0][0]
    fourth = torch.stack([f for _, f in drawn])
    assert has_fourth.tolist() == [True, True, True]
    # Anchor class 0 / negative class 1 -> classes 2, 3: items {4, 5, 6}; 1/2 -> {0, 1, 5, 6}; 2/3 -> {0, 1, 2, 3}.
    assert [set(fourth[:, t].tolist()) for t in range(3)] == [{4, 5, 6}, {0, 1, 5, 6}, {0, 1, 2, 3}]


@pytest.mark.parametrize("miner_name, reg_weight", [("random", 0.005), ("distance", 0.0)])
def test_snr_matches_pml_triplet_loss_on_snr_distances(miner_name, reg_weight):
    # PML's SignalToNoiseRatioContrastiveLoss is the pair (contrastive) form; Roth's `snr` is the triplet form, which is
    # PML's TripletMarginLoss with SNRDistance (its default AvgNonZero reducer is Roth's sum / #non-zero) plus the
    # ZeroMeanRegularizer. PML regularises every batch item, Roth the anchors of the tuples: here every item is an
    # anchor exactly once, so both are the batch mean. With the distance miner Roth drops the regulariser.
    embeds, labels = raw_batch(seed=4, spread=1.0)
    tuples = mined("random", embeds, labels)
    assert tuples[0].tolist() == list(range(len(labels)))
    ours = build("snr", miner=FixedTuples(miner_name, tuples))
    pml = pml_losses.TripletMarginLoss(margin=0.2, distance=SNRDistance(normalize_embeddings=False),
                                       embedding_regularizer=ZeroMeanRegularizer(), embedding_reg_weight=reg_weight)
    assert_matches(ours, lambda x, y: pml(x, y, tuples), embeds, labels)


# ------------------------------------------------------------------------------------------- losses on mined masks

def l2_term(weight=0.005):
    """Roth's l2 term, weight * mean_i ||x_i||, as PML keyword arguments: LpRegularizer (p=2, power=1, mean)."""
    return {"embedding_regularizer": LpRegularizer(), "embedding_reg_weight": weight}


def ntxent_on_dot_products(l2_weight):
    """PML's NTXentLoss at temperature 1 on raw dot products: per positive pair, log(1 + sum_n exp(a.n - a.p))."""
    return pml_losses.NTXentLoss(temperature=1.0, distance=DotProductSimilarity(normalize_embeddings=False),
                                 **l2_term(l2_weight))


def sohn_npair_tuples(labels):
    """One anchor and positive per class (the first two items) and, as negatives, the other classes' positives."""
    first_of_class = torch.ones_like(labels, dtype=torch.bool)
    first_of_class[1:] = labels[1:] != labels[:-1]
    anchors = first_of_class.nonzero().squeeze(1)
    positives = anchors + 1
    negatives = torch.zeros(len(anchors), len(labels), dtype=torch.bool)
    negatives[:, positives] = True
    negatives[torch.arange(len(anchors)), positives] = False
    return anchors, positives, negatives


def test_npair_matches_pml_on_sohn_tuples():
    # PML's NPairsLoss builds Sohn's N pairs (one pair per class, the other pairs' positives as negatives); fed those
    # tuples, our loss equals it. Three items per class make these negatives a strict subset of the other-class items.
    embeds, labels = raw_batch(seed=5, per_class=3)
    tuples = sohn_npair_tuples(labels)
    ours = build("npair", miner=FixedTuples("npair", tuples))
    pml = pml_losses.NPairsLoss(distance=DotProductSimilarity(normalize_embeddings=False), **l2_term())
    assert_matches(ours, lambda x, y: pml(x, y, (tuples[0], tuples[1], tuples[0][:0], tuples[0][:0])), embeds, labels)


def as_pml_pairs(anchors, positives, negatives):
    """Our mask-structured tuples as PML's (anchor, positive, anchor, negative) pair indices."""
    row, negative = negatives.nonzero(as_tuple=True)
    return anchors, positives, anchors[row], negative


def test_npair_with_the_npair_miner_matches_pml_ntxent_with_dot_products():
    # The npair miner takes every other-class item as a negative (Roth), which NPairsLoss cannot express. The N-pair
    # term log(1 + sum_n exp(a.n - a.p)) is PML's NTXentLoss on dot products at temperature 1 given those pairs.
    embeds, labels = raw_batch(seed=6, per_class=3)
    tuples = mined("npair", embeds, labels)
    ours = build("npair", "--loss_npair_l2", "0.02", miner=FixedTuples("npair", tuples))
    pml = ntxent_on_dot_products(0.02)
    assert_matches(ours, lambda x, y: pml(x, y, as_pml_pairs(*tuples)), embeds, labels)


@pytest.mark.parametrize("alpha", [45.0, 36.0])
def test_angular_matches_pml_angular_plus_npair(alpha):
    # Roth: npair (raw embeddings) + 2 * angular (normalised anchors, positives and negatives) + l2 term. PML's
    # AngularLoss takes every other-class item as negative (as the npair miner) but normalises only anchors and
    # positives, so it gets normalised embeddings (normalising twice changes neither value nor gradient).
    embeds, labels = raw_batch(seed=7, per_class=3)
    tuples = mined("npair", embeds, labels)
    ours = build("angular", "--loss_angular_alpha", str(alpha), miner=FixedTuples("npair", tuples))
    npair = ntxent_on_dot_products(0.005)
    angular = pml_losses.AngularLoss(alpha=alpha)
    pairs = as_pml_pairs(*tuples)
    assert_matches(ours, lambda x, y: npair(x, y, pairs) + 2 * angular(F.normalize(x, dim=1), y, pairs),
                   embeds, labels)


def test_lifted_matches_pml_generalized_lifted_structure_loss():
    # Roth's `lifted` is the generalised lifted structure loss (PML GeneralizedLiftedStructureLoss), not Song et al.'s
    # (PML LiftedStructureLoss). PML averages over every batch item; with every class holding two or more items every
    # item is an anchor of the lifted miner, so both average over the same rows. Tight, far-apart classes leave about
    # two thirds of the anchors at zero loss (the hinge).
    embeds, labels = raw_batch(seed=8, scale=4.0, spread=0.1)
    ours = build("lifted", miner=batchminer.select("lifted", options()))
    pml = pml_losses.GeneralizedLiftedStructureLoss(neg_margin=1.0, pos_margin=0.0,
                                                    distance=LpDistance(normalize_embeddings=False), **l2_term())
    assert_matches(ours, pml, embeds, labels)


# ------------------------------------------------------------------------------------------ losses on all pairs

@pytest.mark.parametrize("nodes", [65, 11])
def test_histogram_matches_pml(nodes):
    # --loss_histogram_nbins counts histogram nodes (Roth); PML's n_bins counts intervals, one fewer.
    embeds, labels = raw_batch(seed=9, spread=1.2)
    ours = build("histogram", "--loss_histogram_nbins", str(nodes))
    assert_matches(ours, pml_losses.HistogramLoss(n_bins=nodes - 1), embeds, labels)


def test_histogram_hand_computed_at_the_ends_of_the_support():
    # Pos pair (0,1) has similarity 1 (the last node; PML indexes past its histogram there); neg pairs have 0 (node 32
    # of 65) or 1. First batch: no negative pair is as similar as the positive one: 0. Second: both tie with it at 1: 1.
    labels = torch.tensor([0, 0, 1])
    loss = build("histogram")
    assert loss(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), labels).item() == 0.0
    assert loss(torch.tensor([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0]]), labels).item() == pytest.approx(1.0)


@pytest.mark.parametrize("m, gamma", [(0.25, 256.0), (0.4, 80.0)])
def test_circle_matches_pml(m, gamma):
    # Both average over anchors with a positive and a negative (PML: over non-zero losses, the same here).
    embeds, labels = raw_batch(seed=10, spread=1.2)
    labels[-1] = 99  # a class with a single item: an anchor without positives
    ours = build("circle", "--loss_circle_m", str(m), "--loss_circle_gamma", str(gamma))
    assert_matches(ours, pml_losses.CircleLoss(m=m, gamma=gamma), embeds, labels)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_supcon_matches_pml(temperature):
    # Both average over anchors with a positive. PML also returns 0 for a batch without negatives; the paper's loss,
    # followed here, is defined there too.
    embeds, labels = raw_batch(seed=11, spread=1.2)
    labels[-1] = 99
    ours = build("supcon", "--loss_supcon_temperature", str(temperature))
    assert_matches(ours, pml_losses.SupConLoss(temperature=temperature), embeds, labels)


# ------------------------------------------------------------------------------------------ shared behaviour

@pytest.mark.parametrize("loss_name", OUR_LOSSES)
def test_batch_without_positive_pairs_gives_a_finite_loss_and_gradient(loss_name):
    default_miner = criteria.REGISTRY.get(loss_name).DEFAULT_BATCHMINER
    miner = batchminer.select(default_miner, options()) if default_miner else None
    embeds = F.normalize(torch.randn(6, 16, generator=torch.Generator().manual_seed(0)), dim=1).requires_grad_(True)
    loss = build(loss_name, miner=miner)(embeds, torch.arange(6))
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(embeds.grad).all()
    if loss_name not in MASK_LOSSES:  # those add an l2 term on the embeddings
        assert loss.item() == 0.0


def test_each_loss_takes_the_batchminers_it_can_read():
    for name in TUPLE_LOSSES:
        assert criteria.REGISTRY.get(name).ALLOWED_BATCHMINERS == criteria.REGISTRY.get("triplet").ALLOWED_BATCHMINERS
    expected = {"npair": ("npair",), "angular": ("npair",), "lifted": ("lifted",), "histogram": (), "circle": (),
                "supcon": ()}
    for name, allowed in expected.items():
        assert criteria.REGISTRY.get(name).ALLOWED_BATCHMINERS == allowed
    for name in OUR_LOSSES:
        loss_class = criteria.REGISTRY.get(name)
        assert loss_class.REQUIRES_BATCHMINER == bool(loss_class.DEFAULT_BATCHMINER)
        if loss_class.DEFAULT_BATCHMINER:
            assert loss_class.DEFAULT_BATCHMINER in loss_class.ALLOWED_BATCHMINERS
    from utilities.errors import ConfigError
    with pytest.raises(ConfigError, match="cannot use batchminer 'random'"):
        build("npair", miner=batchminer.select("random", options()))
    with pytest.raises(ConfigError, match="cannot use batchminer 'lifted'"):
        build("contrastive", miner=batchminer.select("lifted", options()))
    with pytest.raises(ConfigError, match="cannot use batchminer 'npair'"):
        build("supcon", miner=batchminer.select("npair", options()))


# ------------------------------------------------------------------------------------------ npair / lifted miners

def test_npair_miner_draws_one_positive_uniformly_and_takes_every_other_class_item_as_negative():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])  # class 2 has a single item: it is no anchor
    miner = batchminer.select("npair", options())
    torch.manual_seed(0)
    draws = [miner(torch.zeros(6, 2), labels) for _ in range(2000)]
    anchors, _, negatives = draws[0]
    assert anchors.tolist() == [0, 1, 2, 3, 4]
    assert torch.equal(negatives, labels[anchors, None] != labels[None, :])
    positives = torch.stack([p for _, p, _ in draws])
    assert (labels[positives] == labels[anchors]).all() and (positives != anchors).all()
    assert (positives[:, 0] == 1).float().mean().item() == pytest.approx(0.5, abs=0.04)


def test_lifted_miner_gives_all_positives_and_negatives_of_each_anchor():
    labels = torch.tensor([0, 1, 0, 1, 2])
    anchors, positives, negatives = batchminer.select("lifted", options())(torch.zeros(5, 2), labels)
    assert anchors.tolist() == [0, 1, 2, 3]
    assert positives.int().tolist() == [[0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [1, 0, 0, 0, 0], [0, 1, 0, 0, 0]]
    assert negatives.int().tolist() == [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1], [0, 1, 0, 1, 1], [1, 0, 1, 0, 1]]


def test_miners_of_a_batch_of_one_class_give_no_anchor():
    labels = torch.zeros(4, dtype=torch.long)
    for name in ["npair", "lifted"]:
        anchors, positives, negatives = batchminer.select(name, options())(torch.zeros(4, 2), labels)
        assert len(anchors) == len(positives) == len(negatives) == 0


# ------------------------------------------------------------------------------------------ they learn

@pytest.mark.parametrize("loss_name", OUR_LOSSES)
@pytest.mark.slow
def test_short_training_lowers_the_loss_and_raises_recall(loss_name):
    from tests.tiny_training import train_and_evaluate
    first, last, before, after = train_and_evaluate(loss_name)
    assert last < first
    assert after > before + 0.2
