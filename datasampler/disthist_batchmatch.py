"""Distance-histogram batch matching (Roth et al.'s `disthist_batchmatch` sampler).

Every batch, as in Roth's code:
  1. a class-balanced reference pool: bigbs / samples_per_class classes drawn uniformly with replacement, each with
     samples_per_class of its images drawn uniformly with replacement (`--sampler_disthist_batchmatch_bigbs`, 512),
     optionally through a fresh random projection (`--sampler_disthist_batchmatch_lowproj_dim`, as in greedy_coreset);
  2. `--sampler_disthist_batchmatch_ncomps` (10) candidate batches from the pool: bs / samples_per_class times, a
     class drawn uniformly among the pool's distinct classes, then samples_per_class of its pool entries without
     replacement;
  3. the candidate of least cost is the batch:
        cost = ||mu_pool - mu_cand|| + ||sigma_pool - sigma_cand|| + 75 * 2 * W1(h_pool, h_cand)
     with mu, sigma the per-dimension mean and (population) standard deviation of the embeddings, and h the
     normalised 50-bin histogram of pairwise Euclidean distances (i < j) over the pool's [min, max] distance range
     (numpy.histogram's binning; entries outside the range are dropped). W1 is scipy.stats.wasserstein_distance applied
     to the two histograms' 50 bin *heights* as samples, exactly as Roth calls it (it compares the distributions of
     bin heights, not the mass over bin positions), and he adds it once in each direction, hence the factor 2.
The reference is this random pool, not the full training set; Roth's definition. Training-loop integration and
determinism as in greedy_coreset.
"""
import numpy as np

from datasampler import REGISTRY
from datasampler.greedy_coreset import EmbeddingSampler, add_pool_arguments, squared_distances
from utilities.argtypes import positive_int

BINS = 50
HISTOGRAM_WEIGHT = 75.0


def histograms(values, low, high):
    """Row-wise normalised histograms of values (R, M) over BINS equal bins of [low, high], as numpy.histogram bins."""
    if low == high:  # numpy.histogram widens an empty range the same way
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, BINS + 1)
    bins = np.minimum(np.searchsorted(edges, values, side="right") - 1, BINS - 1)
    inside = (values >= low) & (values <= high)
    rows = np.broadcast_to(np.arange(len(values))[:, None], values.shape)
    counts = np.bincount((rows * BINS + bins)[inside], minlength=len(values) * BINS).reshape(len(values), BINS)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def height_wasserstein(reference, candidates):
    """1-D Wasserstein distance between the reference's bin heights and each candidate's, all as BINS samples."""
    return np.abs(np.sort(candidates, axis=1) - np.sort(reference)).mean(axis=1)


@REGISTRY.register("disthist_batchmatch")
class DistHistBatchmatchSampler(EmbeddingSampler):
    @staticmethod
    def add_arguments(group):
        add_pool_arguments(group, "disthist_batchmatch")
        group.add_argument("--sampler_disthist_batchmatch_ncomps", default=10, type=positive_int,
                           help="Candidate batches compared per batch; the best match is used.")

    def __init__(self, opt, labels):
        super().__init__(opt, labels, opt.sampler_disthist_batchmatch_bigbs,
                         opt.sampler_disthist_batchmatch_lowproj_dim)
        self.ncomps = opt.sampler_disthist_batchmatch_ncomps

    def candidates(self, rng, pool_labels):
        """(ncomps, bs) pool positions: per candidate, random pool classes with samples_per_class entries each."""
        distinct = np.unique(pool_labels)
        classes = distinct[rng.integers(len(distinct), size=(self.ncomps, self.picks))]
        # Uniform keys with non-members pushed past 1: the smallest samples_per_class keys are a uniform subset of
        # the class's pool entries, drawn without replacement.
        keys = rng.random((self.ncomps, self.picks, len(pool_labels)))
        keys[pool_labels != classes[..., None]] += 2.0
        return np.argsort(keys, axis=-1)[..., :self.samples_per_class].reshape(self.ncomps, -1)

    def costs(self, points, candidates):
        """Roth's matching cost of each candidate (rows of pool positions) against the whole pool `points`."""
        distances = np.sqrt(squared_distances(points))
        upper = np.triu_indices(len(points), 1)
        pool_values = distances[upper]
        low, high = pool_values.min(), pool_values.max()
        pool_histogram = histograms(pool_values[None], low, high)[0]
        cand_upper = np.triu_indices(candidates.shape[1], 1)
        cand_values = distances[candidates[:, cand_upper[0]], candidates[:, cand_upper[1]]]
        cand_histograms = histograms(cand_values, low, high)
        cand_points = points[candidates]
        return (np.linalg.norm(points.mean(axis=0) - cand_points.mean(axis=1), axis=1)
                + np.linalg.norm(points.std(axis=0) - cand_points.std(axis=1), axis=1)
                + HISTOGRAM_WEIGHT * 2.0 * height_wasserstein(pool_histogram, cand_histograms))

    def draw_batch(self, rng, embeddings):
        pool_classes = rng.integers(len(self.class_size), size=self.bigbs // self.samples_per_class)
        pool = self.class_samples(rng, pool_classes, self.samples_per_class).ravel()
        pool_labels = np.repeat(pool_classes, self.samples_per_class)
        points = self.project(rng, embeddings[pool])
        candidates = self.candidates(rng, pool_labels)
        return pool[candidates[np.argmin(self.costs(points, candidates))]]
