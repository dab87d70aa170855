"""D^2-sampled coreset batches (Roth et al.'s `d2_coreset` sampler).

Pool, optional projection and class fillers as in `greedy_coreset` (`--sampler_d2_coreset_bigbs` 512,
`--sampler_d2_coreset_lowproj_dim` -1). The bs / samples_per_class coreset points of the pool {x_i} are drawn as
in Roth's code:
  - fit a Gaussian N(mu, Sigma) to the pool (sample mean, unbiased covariance);
  - the first point is the pool point nearest to one draw from that Gaussian;
  - every next point is drawn among the unchosen ones with probability proportional to
        N(x_i; mu, Sigma) * (sum over chosen s of ||x_i - x_s||^2) ^ lambda        (`--sampler_d2_coreset_lambda`, 1)
    i.e. D^2 sampling on the *summed* (not nearest) squared distance to the chosen set, damped towards the
    Gaussian's bulk so that outliers are not favoured.
The density uses the pseudo-inverse of Sigma, so a pool with fewer points than dimensions (singular Sigma) works;
Roth's code fails there. Constant factors of the density cancel in the normalisation and are left out. When every
unchosen point has zero weight (all coincide with chosen ones), the next point is uniform among them.
"""
import numpy as np

from datasampler import REGISTRY
from datasampler.greedy_coreset import CoresetSampler, add_pool_arguments, squared_distances
from utilities.argtypes import nonnegative_float


@REGISTRY.register("d2_coreset")
class D2CoresetSampler(CoresetSampler):
    @staticmethod
    def add_arguments(group):
        add_pool_arguments(group, "d2_coreset")
        group.add_argument("--sampler_d2_coreset_lambda", default=1.0, type=nonnegative_float,
                           help="Exponent on the summed squared distance to the chosen points.")

    def __init__(self, opt, labels):
        super().__init__(opt, labels, opt.sampler_d2_coreset_bigbs, opt.sampler_d2_coreset_lowproj_dim)
        self.lam = opt.sampler_d2_coreset_lambda

    def coreset(self, rng, points):
        mean = points.mean(axis=0)
        cov = np.atleast_2d(np.cov(points, rowvar=False))
        # eigh tolerates the singular covariance of a small pool; tiny negative eigenvalues are rounding, not errors.
        start = rng.multivariate_normal(mean, cov, method="eigh", check_valid="ignore")
        centred = points - mean
        mahalanobis = np.einsum("ij,jk,ik->i", centred, np.linalg.pinv(cov, hermitian=True), centred)
        density = np.exp(-0.5 * (mahalanobis - mahalanobis.min()))
        distances = squared_distances(points)

        chosen = np.zeros(len(points), dtype=bool)
        order = [np.argmin(((points - start) ** 2).sum(axis=1))]
        summed = distances[order[0]].copy()
        # Each draw depends on the previous ones, so the picks are sequential; each is vectorised over the pool.
        for _ in range(1, self.picks):
            chosen[order[-1]] = True
            weights = np.where(chosen, 0.0, density * summed ** self.lam)
            if weights.sum() == 0:
                weights = (~chosen).astype(float)
            order.append(rng.choice(len(points), p=weights / weights.sum()))
            summed += distances[order[-1]]
        return np.array(order)
