"""Greedy k-center coreset batches (Roth et al.'s `greedy_coreset` sampler), plus the machinery shared by the samplers
that choose batches from embeddings of the training set (`d2_coreset`, `disthist_batchmatch`).

Every batch, as in Roth's code:
  1. a candidate pool of min(bigbs, N) distinct training images is drawn uniformly (`--sampler_greedy_coreset_bigbs`,
     512), optionally through a fresh random linear projection to `--sampler_greedy_coreset_lowproj_dim` dimensions
     (weights uniform in +-1/sqrt(D), a bias-free nn.Linear's initialisation; off by default);
  2. bs / samples_per_class pool points are chosen by greedy k-center on squared Euclidean distances: the first
     uniformly at random, every next one the point whose distance to its nearest chosen point is largest (or, with
     `--sampler_greedy_coreset_softened`, a uniform choice among the points at or above the 97th percentile of that
     distance);
  3. each chosen image brings samples_per_class - 1 more images of its class, drawn uniformly with replacement (possibly
     itself). The batch is the chosen images in order, then their class fillers; two chosen images of one class give
     that class 2 x samples_per_class images.

Differences from Roth's code, all deliberate: his batches index the chosen pool positions into a second, independent
random draw (a bug), here they index the pool they were chosen from; his pool cannot exceed the training set (it
fails), here it is capped at N; a point is never chosen twice even among identical embeddings. Roth embeds the training
set once and refreshes entries with training-batch embeddings; here the training loop re-embeds the whole set (test
transform) at each epoch start, as his `--data_idx_full_prec` option does. Batches are a pure function of
(seed, epoch, embeddings), so a resumed run draws the same ones.
"""
import numpy as np

from datasampler import REGISTRY, EpochSeededSampler, check_batch_shape
from utilities.argtypes import positive_int, positive_int_or_minus_one
from utilities.errors import ConfigError


def squared_distances(points):
    sq = (points * points).sum(axis=1)
    return np.clip(sq[:, None] + sq[None, :] - 2.0 * points @ points.T, 0.0, None)


def add_pool_arguments(group, name):
    """The candidate-pool flags every embedding sampler shares, namespaced --sampler_<name>_*."""
    group.add_argument(f"--sampler_{name}_bigbs", default=512, type=positive_int,
                       help="Images in the random pool each batch is chosen from (at least --bs).")
    group.add_argument(f"--sampler_{name}_lowproj_dim", default=-1, type=positive_int_or_minus_one,
                       help="Project the pool's embeddings to this many dimensions by a random linear map first; "
                            "-1 keeps them.")


class EmbeddingSampler(EpochSeededSampler):
    """Batches chosen from the training set's embeddings; subclasses implement `draw_batch`."""
    REQUIRES_EMBEDDINGS = True

    def __init__(self, opt, labels, bigbs, lowproj_dim):
        super().__init__(labels, opt.bs, opt.seed)
        check_batch_shape(opt.bs, opt.samples_per_class)
        if bigbs < opt.bs:
            raise ConfigError(f"--sampler_{self.registry_name}_bigbs ({bigbs}) must be at least --bs ({opt.bs}).")
        self.samples_per_class = opt.samples_per_class
        self.picks = opt.bs // opt.samples_per_class
        self.bigbs = bigbs
        self.lowproj_dim = lowproj_dim
        _, self.class_of = np.unique(labels, return_inverse=True)
        self.class_size = np.bincount(self.class_of)
        self.by_class = np.argsort(self.class_of, kind="stable")
        self.class_start = np.concatenate([[0], np.cumsum(self.class_size)[:-1]])
        self.embeddings = None

    def class_samples(self, rng, classes, n):
        """(len(classes), n) images, uniform with replacement within each given class."""
        offsets = (rng.random((len(classes), n)) * self.class_size[classes][:, None]).astype(np.int64)
        return self.by_class[self.class_start[classes][:, None] + offsets]

    def project(self, rng, points):
        if self.lowproj_dim <= 0:
            return points
        bound = 1.0 / np.sqrt(points.shape[1])
        return points @ rng.uniform(-bound, bound, (points.shape[1], self.lowproj_dim))

    def __iter__(self):
        if self.embeddings is None or len(self.embeddings) != len(self.labels):
            raise RuntimeError(f"Sampler '{self.registry_name}' needs set_embeddings() with one row per training image "
                               "before each epoch.")
        # float64 keeps BLAS's thread-count-dependent rounding far below the distance gaps that decide rankings.
        embeddings = np.asarray(self.embeddings, dtype=np.float64)
        rng = self.rng()
        for _ in range(len(self)):
            yield self.draw_batch(rng, embeddings).tolist()


class CoresetSampler(EmbeddingSampler):
    """Pool -> coreset of bs / samples_per_class points -> class fillers; subclasses implement `coreset`."""

    def draw_batch(self, rng, embeddings):
        pool = rng.choice(len(embeddings), min(self.bigbs, len(embeddings)), replace=False)
        chosen = pool[self.coreset(rng, self.project(rng, embeddings[pool]))]
        fillers = self.class_samples(rng, self.class_of[chosen], self.samples_per_class - 1)
        return np.concatenate([chosen, fillers.ravel()])


@REGISTRY.register("greedy_coreset")
class GreedyCoresetSampler(CoresetSampler):
    @staticmethod
    def add_arguments(group):
        add_pool_arguments(group, "greedy_coreset")
        group.add_argument("--sampler_greedy_coreset_softened", action="store_true",
                           help="Choose each next point uniformly among those at or above the 97th percentile of "
                                "distance to the chosen set, instead of the farthest.")

    def __init__(self, opt, labels):
        super().__init__(opt, labels, opt.sampler_greedy_coreset_bigbs, opt.sampler_greedy_coreset_lowproj_dim)
        self.softened = opt.sampler_greedy_coreset_softened

    def coreset(self, rng, points):
        distances = squared_distances(points)
        chosen = np.zeros(len(points), dtype=bool)
        order = [rng.integers(len(points))]
        nearest = distances[order[0]].copy()
        # Greedy k-center is sequential by definition; each step is vectorised over the pool.
        for _ in range(1, self.picks):
            chosen[order[-1]] = True
            if self.softened:
                far = (nearest >= np.percentile(nearest, 97)) & ~chosen
                order.append(rng.choice(np.flatnonzero(far)))
            else:
                order.append(np.argmax(np.where(chosen, -1.0, nearest)))
            nearest = np.minimum(nearest, distances[order[-1]])
        return np.array(order)
