"""Spectral decay rho_spectrum@k, Roth et al. 2020 ("Revisiting Training Strategies and Generalization Performance
in Deep Metric Learning", Sec. 5).

Let s_1 >= s_2 >= ... >= s_n be the singular values of the [N, D] embedding matrix as given (not centred;
n = min(N, D); query and gallery together in query/gallery evaluation). For k != 0 drop the |k| - 1 largest,
s = (s_|k|, ..., s_n), and compare its normalised version p = s / sum(s) with the uniform distribution u = 1/len(s):
    rho_spectrum@k = KL(u || p) = sum_i u_i log(u_i / p_i)    for k > 0 (the paper's rho; @1 is the full spectrum)
    rho_spectrum@k = KL(p || u) = sum_i p_i log(p_i / u_i)    for k < 0
natural log; 0 for a perfectly flat spectrum, larger for a faster decay; KL(u || p) is inf when some s_i is 0
(e.g. N < D, or collapsed dimensions). Differences from Roth et al.'s code: his CPU path uses sklearn's randomised
TruncatedSVD with D - 1 components (approximate, and the smallest singular value is never seen), his GPU path an
exact SVD; here the singular values are exact (eigenvalues of the D x D Gram matrix in float64). His
rho_spectrum@0, the normalised spectrum itself, is a vector and not offered here.
"""
import numpy as np
from scipy.stats import entropy

from metrics import REGISTRY
from metrics.base import SpectrumMetric


@REGISTRY.register("rho_spectrum")
class RhoSpectrum(SpectrumMetric):
    usage = "rho_spectrum@<nonzero int>"
    space = "euclidean"

    def param_problem(self, param):
        return None if isinstance(param, int) and param != 0 else "needs a nonzero integer parameter"

    def compute(self, singular_values):
        spectrum = singular_values[abs(self.param) - 1:]
        if len(spectrum) == 0 or spectrum.sum() <= 0:
            return float("nan")
        p = spectrum / spectrum.sum()
        uniform = np.full(len(spectrum), 1 / len(spectrum))
        return float(entropy(uniform, p) if self.param > 0 else entropy(p, uniform))
