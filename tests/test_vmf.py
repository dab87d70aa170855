"""utilities/vmf.py against scipy, mpmath, closed forms, finite differences and Monte Carlo."""
import math

import mpmath
import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch

from utilities.vmf import log_bessel_iv, log_vmf_normaliser, mean_resultant_length, sample_vmf

DIMS = (3, 64, 128, 384, 512, 1024)
KAPPAS = np.logspace(-1, 4, 51)
F64 = torch.float64


def relative_error(ours, reference):
    # log C_p crosses zero for large p (C_p(0) is 1 / area of the sphere), so the scale is floored at 1 there
    return np.abs(ours - reference) / np.maximum(np.abs(reference), 1.0)


def log_c_reference(log_iv, kappa, p):
    return (p / 2 - 1) * np.log(kappa) - p / 2 * math.log(2 * math.pi) - log_iv


@pytest.mark.parametrize("p", DIMS)
def test_log_normaliser_matches_scipy(p):
    v = p / 2 - 1
    ours = log_vmf_normaliser(torch.tensor(KAPPAS, dtype=F64), p).numpy()
    assert np.isfinite(ours).all()
    scaled = scipy.special.ive(v, KAPPAS)
    representable = scaled > 1e-290  # ive underflows (log I_511(0.1) ~ -4200); those points are checked with mpmath
    assert representable.sum() >= 10
    reference = log_c_reference(np.log(scaled[representable]) + KAPPAS[representable], KAPPAS[representable], p)
    assert relative_error(ours[representable], reference).max() < 1e-6


@pytest.mark.parametrize("p", DIMS)
def test_log_bessel_matches_mpmath_everywhere(p):
    v = p / 2 - 1
    kappas = KAPPAS[::5]
    with mpmath.workdps(40):
        reference = np.array([float(mpmath.log(mpmath.besseli(v, k))) for k in kappas])
    ours = log_bessel_iv(v, torch.tensor(kappas, dtype=F64)).numpy()
    assert relative_error(ours, reference).max() < 1e-12


def test_log_normaliser_closed_form_p3():
    kappa = torch.tensor(KAPPAS, dtype=F64)
    log_sinh = kappa + torch.log1p(-torch.exp(-2 * kappa)) - math.log(2)
    closed_form = kappa.log() - math.log(4 * math.pi) - log_sinh
    assert relative_error(log_vmf_normaliser(kappa, 3).numpy(), closed_form.numpy()).max() < 1e-12


def test_log_bessel_broadcasts_orders_and_keeps_dtype():
    kappa = torch.tensor([[3.0], [30.0], [2000.0]], dtype=torch.float32)
    orders = torch.tensor([0.5, 20.0, 100.0], dtype=F64)
    ours = log_bessel_iv(orders, kappa)
    assert ours.shape == (3, 3) and ours.dtype == torch.float32
    reference = np.log(scipy.special.ive(orders.numpy(), kappa.double().numpy())) + kappa.double().numpy()
    assert np.allclose(ours.double().numpy(), reference, rtol=1e-6)
    with pytest.raises(ValueError):
        log_bessel_iv(-1.0, kappa)


def test_float32_normaliser_is_finite_and_close():
    kappa = torch.tensor(KAPPAS, dtype=torch.float32)
    for p in DIMS:
        ours = log_vmf_normaliser(kappa, p)
        assert ours.dtype == torch.float32 and torch.isfinite(ours).all()
        exact = log_vmf_normaliser(kappa.double(), p)
        assert relative_error(ours.double().numpy(), exact.numpy()).max() < 1e-6


@pytest.mark.parametrize("p, kappa", [(3, 0.1), (3, 7.0), (64, 30.0), (128, 5.0), (512, 500.0), (1024, 9000.0)])
def test_gradients_match_finite_differences(p, kappa):
    k = torch.tensor(kappa, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(log_vmf_normaliser(k, p), k)
    h = 1e-5 * kappa
    with torch.no_grad():
        central = (log_vmf_normaliser(k + h, p) - log_vmf_normaliser(k - h, p)) / (2 * h)
        ratio = mean_resultant_length(k, p)
    assert torch.isclose(grad, central, rtol=1e-6)
    assert torch.isclose(grad, -ratio, rtol=1e-12)

    (ratio_grad,) = torch.autograd.grad(mean_resultant_length(k, p), k)
    with torch.no_grad():
        central = (mean_resultant_length(k + h, p) - mean_resultant_length(k - h, p)) / (2 * h)
    assert ratio_grad > 0 and torch.isclose(ratio_grad, central, rtol=1e-4)


@pytest.mark.parametrize("p", DIMS)
def test_mean_resultant_length_matches_scipy(p):
    ours = mean_resultant_length(torch.tensor(KAPPAS, dtype=F64), p).numpy()
    numerator, denominator = scipy.special.ive(p / 2, KAPPAS), scipy.special.ive(p / 2 - 1, KAPPAS)
    representable = numerator > 1e-290
    assert ((ours > 0) & (ours < 1)).all()
    assert np.allclose(ours[representable], numerator[representable] / denominator[representable], rtol=1e-10)


def random_directions(batch, p, generator, dtype=F64):
    return torch.nn.functional.normalize(torch.randn(batch, p, dtype=dtype, generator=generator), dim=-1)


@pytest.mark.parametrize("p, kappas", [(2, [1.0]), (3, [2.0]), (128, [5.0, 20.0, 50.0, 100.0, 1000.0]),
                                       (512, [50.0, 500.0]), (1024, [1e4])])
def test_sample_mean_cosine_matches_mean_resultant_length(p, kappas):
    generator = torch.Generator().manual_seed(p)
    mu = random_directions(len(kappas), p, generator)
    mu[0] = -mu[0].abs()  # both signs of mu_1 (the two Householder branches)
    kappa = torch.tensor(kappas, dtype=F64)
    n = 4000
    x = sample_vmf(mu, kappa, n, generator=generator)
    assert x.shape == (n, len(kappas), p) and x.dtype == F64
    assert ((x.norm(dim=-1) - 1).abs() < 1e-12).all()
    cosine = (x * mu).sum(-1)
    standard_error = cosine.std(dim=0) / math.sqrt(n)
    assert ((cosine.mean(0) - mean_resultant_length(kappa, p)).abs() < 3 * standard_error).all()


def test_sample_cosine_distribution_p3():
    # on S^2, w = mu^T x has density kappa e^{kappa w} / (2 sinh kappa) on [-1, 1]
    kappa = 2.0
    w = sample_vmf(torch.tensor([0.0, 0.0, 1.0], dtype=F64), torch.tensor(kappa, dtype=F64), 4000,
                   generator=torch.Generator().manual_seed(0))[:, 2]
    cdf = lambda t: np.expm1(kappa * (t + 1)) / np.expm1(2 * kappa)  # noqa: E731
    assert scipy.stats.kstest(w.numpy(), cdf).pvalue > 0.01


def test_sample_mean_direction_aligns_with_mu():
    generator = torch.Generator().manual_seed(1)
    p = 128
    mu = torch.cat([torch.eye(p, dtype=F64)[:1], -torch.eye(p, dtype=F64)[:1], random_directions(4, p, generator)])
    kappa = torch.full((6, 1), 50.0, dtype=F64)  # the (..., 1) form
    mean = sample_vmf(mu, kappa, 2000, generator=generator).mean(0)
    assert (torch.nn.functional.cosine_similarity(mean, mu, dim=-1) > 0.99).all()


def test_gradients_reach_mu_and_kappa():
    generator = torch.Generator().manual_seed(2)
    p = 64
    raw = torch.randn(3, p, dtype=F64, generator=generator, requires_grad=True)
    kappa = torch.tensor([3.0, 30.0, 300.0], dtype=F64, requires_grad=True)
    mu = torch.nn.functional.normalize(raw, dim=-1)
    x = sample_vmf(mu, kappa, 2000, generator=generator)
    target = random_directions(3, p, generator)
    (x * target).sum().backward()
    assert torch.isfinite(raw.grad).all() and raw.grad.abs().sum() > 0
    assert torch.isfinite(kappa.grad).all() and (kappa.grad != 0).all()

    # the pathwise estimate of d E[mu^T x] / d kappa: larger kappa concentrates the samples around mu
    kappa.grad = None
    (sample_vmf(mu.detach(), kappa, 2000, generator=generator) * mu.detach()).sum(-1).mean(0).sum().backward()
    assert (kappa.grad > 0).all()


def test_float32_and_reproducibility():
    mu = random_directions(5, 32, torch.Generator().manual_seed(3), dtype=torch.float32)
    kappa = torch.linspace(1.0, 1000.0, 5)
    first = sample_vmf(mu, kappa, 100, generator=torch.Generator().manual_seed(4))
    assert first.dtype == torch.float32 and torch.isfinite(first).all()
    assert ((first.norm(dim=-1) - 1).abs() < 1e-5).all()
    assert torch.equal(first, sample_vmf(mu, kappa, 100, generator=torch.Generator().manual_seed(4)))
    assert not torch.equal(first, sample_vmf(mu, kappa, 100, generator=torch.Generator().manual_seed(5)))


def wood_cosines(b, kappa, p, n, generator):
    """Accepted proposals of one round of Wood's (1994) rejection step in its original form (the one the paper's code
    uses) for a given b: with the right b the accepted subset is an i.i.d. sample of mu^T x."""
    root = math.sqrt(4 * kappa ** 2 + (p - 1) ** 2)
    a = (p - 1 + 2 * kappa + root) / 4
    d = 4 * a * b / (1 + b) - (p - 1) * math.log(p - 1)
    gammas = torch._standard_gamma(torch.full((2, n), (p - 1) / 2, dtype=F64), generator=generator)
    z = gammas[0] / gammas.sum(0)  # Beta((p-1)/2, (p-1)/2)
    t = 2 * a * b / (1 - (1 - b) * z)
    accept = (p - 1) * t.log() - t + d >= torch.rand(n, dtype=F64, generator=generator).log()
    return ((1 - (1 + b) * z) / (1 - (1 - b) * z))[accept]


def test_exact_envelope_needed_where_paper_code_approximates_it():
    # the paper's code uses b = (p-1) / (4 kappa) for kappa > 11 (blended in from 10): at p = 128, kappa = 20 that is
    # b = 1.59 > 1, the bound no longer holds, every proposal is accepted and the mean cosine is -0.23, not A_p = 0.15
    p, kappa, n = 128, 20.0, 20000
    generator = torch.Generator().manual_seed(0)
    target = mean_resultant_length(torch.tensor(kappa, dtype=F64), p).item()

    def z_score(w):
        return (w.mean().item() - target) / (w.std().item() / math.sqrt(w.numel()))

    exact_b = (p - 1) / (2 * kappa + math.sqrt(4 * kappa ** 2 + (p - 1) ** 2))
    assert abs(z_score(wood_cosines(exact_b, kappa, p, n, generator))) < 3
    approximate = wood_cosines((p - 1) / (4 * kappa), kappa, p, n, generator)
    assert approximate.numel() == n and approximate.mean() < 0 < target

    mu = torch.eye(p, dtype=F64)[0]
    ours = sample_vmf(mu, torch.tensor(kappa, dtype=F64), 4000, generator=generator)[:, 0]
    assert abs(z_score(ours)) < 3
