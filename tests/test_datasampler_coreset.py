"""greedy_coreset, d2_coreset and disthist_batchmatch on hand-made embeddings whose choice is known."""
import numpy as np
import pytest
import scipy.stats
import torch

import batchminer
import criteria
import datasampler
from tests.helpers import options
from tests.tiny_training import TinyModel, synthetic_features
from utilities.errors import ConfigError

NAMES = ["greedy_coreset", "d2_coreset", "disthist_batchmatch"]


def sampler(name, labels, embeddings, *flags, epoch=0):
    s = datasampler.select(name, options("--data_sampler", name, *flags), labels)
    s.set_epoch(epoch)
    s.set_embeddings(embeddings)
    return s


def random_set(seed=0, n_classes=15, per_class=4, dim=8):
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((n_classes * per_class, dim)).astype(np.float32)
    return np.repeat(np.arange(n_classes), per_class), embeddings


def clustered_set():
    """Four tight, far-apart clusters of 5 classes x 2 images; class c lies in cluster c // 5."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(20), 2)
    centres = 10.0 * np.eye(8)[:4]
    return labels, (centres[labels // 5] + 0.1 * rng.standard_normal((40, 8))).astype(np.float32)


@pytest.mark.parametrize("flags", [(), ("--sampler_greedy_coreset_softened",)])
def test_greedy_coreset_picks_one_point_per_cluster_then_fills_classes(flags):
    labels, embeddings = clustered_set()
    for epoch in range(5):
        for batch in sampler("greedy_coreset", labels, embeddings, "--bs", "8", *flags, epoch=epoch):
            # The first bs / samples_per_class images are the coreset, in order; each brings one more of its class.
            assert sorted(labels[batch[:4]] // 5) == [0, 1, 2, 3]
            assert (labels[batch[4:]] == labels[batch[:4]]).all()


def test_d2_coreset_draws_with_density_times_powered_summed_squared_distance():
    # One image per class and a pool of the whole set: batch[0] is the first pick, batch[1] the D^2 draw.
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    labels = np.arange(4)
    d2 = sampler("d2_coreset", labels, points, "--bs", "4", "--sampler_d2_coreset_lambda", "2")
    pairs = []
    for epoch in range(3000):
        d2.set_epoch(epoch)
        pairs.append(next(iter(d2))[:2])
    pairs = np.array(pairs)
    density = scipy.stats.multivariate_normal(points.mean(axis=0), np.cov(points.T)).pdf(points)
    assert (np.bincount(pairs[:, 0], minlength=4) > 500).all()  # the nearest point to a Gaussian draw varies
    for first in range(4):
        weights = density * ((points - points[first]) ** 2).sum(axis=1) ** 2
        seconds = pairs[pairs[:, 0] == first, 1]
        observed = np.bincount(seconds, minlength=4) / len(seconds)
        assert observed == pytest.approx(weights / weights.sum(), abs=0.06)


def test_disthist_batchmatch_prefers_the_batch_whose_statistics_match_the_pool():
    # Class 0 sits at (-1, 0), classes 1 and 2 at (1, 0). The pool is about 1/3 at -1: a batch of class 0 and class
    # 1 or 2 matches its mean, spread and distance histogram far better than one from a single location.
    labels = np.repeat(np.arange(3), 2)
    embeddings = np.array([[-1.0, 0.0]] * 2 + [[1.0, 0.0]] * 4)
    for epoch in range(20):
        (batch,) = sampler("disthist_batchmatch", labels, embeddings, "--bs", "4",
                           "--sampler_disthist_batchmatch_ncomps", "40", epoch=epoch)
        assert (labels[batch] == 0).sum() == 2


def test_disthist_cost_is_roths_formula():
    rng = np.random.default_rng(1)
    points = rng.standard_normal((40, 5))
    candidates = np.stack([rng.choice(40, 12, replace=False) for _ in range(6)])
    s = datasampler.select("disthist_batchmatch", options("--bs", "12", "--samples_per_class", "2"),
                           np.repeat(np.arange(20), 2))

    def distance_values(x):
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        return d[np.triu_indices(len(x), 1)]

    pool_values = distance_values(points)
    value_range = (pool_values.min(), pool_values.max())
    pool_hist = np.histogram(pool_values, bins=50, range=value_range)[0] / len(pool_values)
    expected = []
    for cand in candidates:
        hist, _ = np.histogram(distance_values(points[cand]), bins=50, range=value_range)
        hist = hist / hist.sum()
        wasserstein = (scipy.stats.wasserstein_distance(pool_hist, hist)
                       + scipy.stats.wasserstein_distance(hist, pool_hist))
        expected.append(np.linalg.norm(points.mean(0) - points[cand].mean(0))
                        + np.linalg.norm(points.std(0) - points[cand].std(0)) + 75 * wasserstein)
    assert s.costs(points, candidates) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_batches_are_class_structured_and_a_pure_function_of_seed_epoch_and_embeddings(name):
    labels, embeddings = random_set()
    first = list(sampler(name, labels, embeddings, "--bs", "8", epoch=2))
    assert len(first) == len(labels) // 8
    for batch in first:
        assert len(batch) == 8 and all(0 <= i < len(labels) for i in batch)
        assert (np.unique(labels[batch], return_counts=True)[1] % 2 == 0).all()
    assert first == list(sampler(name, labels, embeddings.copy(), "--bs", "8", epoch=2))
    assert first != list(sampler(name, labels, embeddings, "--bs", "8", epoch=3))
    assert first != list(sampler(name, labels, embeddings, "--bs", "8", "--seed", "1", epoch=2))
    assert first != list(sampler(name, labels, random_set(seed=1)[1], "--bs", "8", epoch=2))
    assert first != list(sampler(name, labels, embeddings, "--bs", "8",
                                 f"--sampler_{name}_lowproj_dim", "3", epoch=2))


@pytest.mark.parametrize("name", NAMES)
def test_state_round_trip_and_embedding_requirement(name):
    labels, embeddings = random_set()
    original = sampler(name, labels, embeddings, "--bs", "8", epoch=3)
    fresh = datasampler.select(name, options("--bs", "8"), labels)
    assert fresh.REQUIRES_EMBEDDINGS
    with pytest.raises(RuntimeError, match="set_embeddings"):
        list(fresh)
    fresh.load_state_dict(original.state_dict())
    fresh.set_embeddings(embeddings)
    assert list(fresh) == list(original)


@pytest.mark.parametrize("name", NAMES)
def test_bad_settings_are_refused(name):
    labels = random_set()[0]
    with pytest.raises(ConfigError, match="multiple of --samples_per_class"):
        datasampler.select(name, options("--bs", "9"), labels)
    with pytest.raises(ConfigError, match=f"--sampler_{name}_bigbs \\(4\\) must be at least --bs \\(8\\)"):
        datasampler.select(name, options("--bs", "8", f"--sampler_{name}_bigbs", "4"), labels)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_training_on_embedding_chosen_batches_lowers_the_loss(name):
    # The training loop's protocol: set_epoch, then set_embeddings with the current model's training-set embeddings.
    torch.manual_seed(0)
    features, labels = synthetic_features(16, 12, seed=0)
    opt = options("--bs", "32", "--samples_per_class", "4", "--sampler_" + name + "_bigbs", "128")
    model = TinyModel()
    miner = batchminer.select("semihard", opt)
    loss_fn = criteria.select("triplet", opt, num_classes=16, embed_dim=16, batchminer=miner)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    s = datasampler.select(name, opt, labels.numpy())
    losses = []
    for epoch in range(10):
        s.set_epoch(epoch)
        with torch.no_grad():
            s.set_embeddings(model(features)["embeds"].numpy())
        for batch in s:
            loss = loss_fn(model(features[batch])["embeds"], labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert np.mean(losses[-6:]) < 0.7 * np.mean(losses[:6])
