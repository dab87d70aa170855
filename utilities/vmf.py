"""Von Mises-Fisher maths for the EL-nivMF loss (Kirchhof et al., ECCV 2022) and its ablations.

The vMF density on the unit sphere S^{p-1} in R^p (p >= 2) with mean direction mu (|mu| = 1) and concentration
kappa > 0 is C_p(kappa) exp(kappa mu^T x), with

    log C_p(kappa) = v log kappa - (p/2) log(2 pi) - log I_v(kappa),      v = p/2 - 1,
    A_p(kappa)     = E[mu^T x] = I_{p/2}(kappa) / I_{p/2-1}(kappa),
    d/dkappa log C_p(kappa) = -A_p(kappa),      d/dkappa A_p(kappa) = Var[mu^T x] = 1 - A_p^2 - (p-1) A_p / kappa,

where I_v is the modified Bessel function of the first kind.

Bessel function. log I_v(kappa) is summed from the power series
    I_v(k) = sum_{m>=0} t_m,   log t_m = (2m + v) log(k/2) - lgamma(m + 1) - lgamma(m + v + 1),
in log space (logsumexp) and in float64, so nothing over- or underflows however large or small I_v is (log I_511(0.1)
is about -4200, log I_0.5(1e4) about 1e4). The terms are log-concave in m, peak near
m* = (sqrt(v^2 + k^2) - v) / 2 and have a spread sigma, sigma^2 = m* (m* + v) / (2 m* + v) (the inverse curvature of
log t_m at the peak). Only the window m* +- (12 sigma + 16) is summed: the terms outside it are below e^-70 of the
largest, and the window is ~1500 terms wide at k = 1e4 instead of the ~6000 from m = 0. The window's first term is
computed with lgamma, the others from it by a running sum of log t_m - log t_{m-1} = 2 log(k/2) - log(m (m + v)) (one
log per term instead of two lgammas), in column blocks to bound memory. The logs involved are at most ~1e5, so log I_v
has an absolute error of about 1e-11 and, against mpmath over v in [0, 511] and k in [1e-4, 1e4], a relative error
below ~1e-14 (the scale floored at 1 where log I_v crosses zero).

Gradients. log_vmf_normaliser and mean_resultant_length are autograd Functions whose backward uses the closed forms
above (the series is not differentiated); the A_p' formula subtracts terms of order (p-1)/kappa to get one of order
(p-1)/kappa^2 and so loses relative precision at large kappa (1e-3 at kappa = 1e4, p = 3; 2e-6 at p = 1024), which is
harmless for a gradient. log_bessel_iv is differentiable by autograd
through the series.

Sampling (Wood, 1994). For x ~ vMF(mu, kappa) the component w = mu^T x has density proportional to
exp(kappa w) (1 - w^2)^((p-3)/2) on [-1, 1]; given w, x is mu w plus sqrt(1 - w^2) times a uniform unit vector
orthogonal to mu. w is drawn by rejection:
    b = (p-1) / (2 kappa + sqrt(4 kappa^2 + (p-1)^2)),   x0 = (1 - b) / (1 + b),
    c = kappa x0 + (p-1) log(1 - x0^2),
    z ~ Beta((p-1)/2, (p-1)/2),   w = (1 - (1+b) z) / (1 - (1-b) z),   u ~ U(0, 1),
    accept when kappa w + (p-1) log(1 - x0 w) - c >= log u.
The exact b is used for every kappa: it makes x0 the maximiser of the acceptance exponent, so that c bounds it. The
EL-nivMF paper's code (after s-vae) blends into b = (p-1)/(4 kappa) for kappa > 10, the limit for kappa >> p only: at
p = 128, kappa = 20 that b is 1.59, every proposal is accepted and the mean of mu^T x is -0.23 instead of A_p = 0.15.
The exponent is evaluated as kappa ((1 - x0) - (1 - w)) + (p-1) (log(1 - x0 w) - log(1 - x0^2)) with
1 - w = 2 b z / (1 - (1-b) z), 1 - x0 = 2 b / (1 + b) and 1 - x0^2 = 4 b / (1 + b)^2, free of cancellation at large
kappa; likewise sqrt(1 - w^2) = 2 sqrt(b z (1 - z)) / (1 - (1-b) z) needs no clamping. Proposals are drawn in rounds
for all entries still rejected. The tangent direction is a normalised Gaussian in R^{p-1}, x' = [w, sqrt(1-w^2) v],
and an orthogonal map Q with Q e1 = mu takes x' to x: Q = -s H with the Householder reflection H = I - 2 u u^T / u^T u,
u = e1 + s mu and s = sign(mu_1) (+1 at 0), so that u^T u = 2 + 2 |mu_1| >= 2 never divides by a small number.

Reparameterisation (Davidson et al., 2018, s-vae). The accepted z, u and tangent directions are constants; w and
sqrt(1 - w^2) are recomputed from them as functions of kappa (through b), and x depends on mu through Q. The
gradient with respect to kappa is thus the pathwise part only, without the correction term for the rejection step.
"""
import math

import torch

_BESSEL_BLOCK = 1 << 22  # terms per block of the series: 32 MiB of float64 per intermediate


def log_bessel_iv(v, kappa):
    """log I_v(kappa) for orders v >= 0 (a float or a tensor broadcastable with kappa) and kappa > 0.

    Computed in float64 on kappa's device and returned in kappa's dtype, with the broadcast shape of v and kappa."""
    kappa64 = kappa.to(torch.float64)
    v = torch.as_tensor(v, dtype=torch.float64, device=kappa.device)
    if bool((v < 0).any()):
        raise ValueError("log_bessel_iv needs orders v >= 0")
    v, kappa64 = torch.broadcast_tensors(v, kappa64)
    shape = v.shape
    v, log_half_kappa = v.reshape(-1, 1), (kappa64 / 2).log().reshape(-1, 1)

    with torch.no_grad():  # the window only picks which terms to sum; it carries no gradient
        peak = (torch.hypot(v, kappa64.reshape(-1, 1)) - v) / 2
        spread = (peak * (peak + v) / (2 * peak + v)).sqrt()
        half_width = math.ceil(12 * spread.max().item()) + 16 if v.numel() else 0
        first = (peak.floor() - half_width).clamp_min(0)

    # log t_m from the window's first term by the ratio t_m / t_{m-1} = (k/2)^2 / (m (m + v)): one log per term
    # instead of two lgammas, accumulated in column blocks
    log_first = (2 * first + v) * log_half_kappa - torch.lgamma(first + 1) - torch.lgamma(first + v + 1)
    width, block = 2 * half_width + 1, max(1, _BESSEL_BLOCK // max(1, v.shape[0]))
    partial_sums, previous = [log_first], log_first
    for start in range(1, width, block):
        m = first + torch.arange(start, min(start + block, width), dtype=torch.float64, device=kappa.device)
        log_terms = previous + torch.cumsum(2 * log_half_kappa - (m * (m + v)).log(), dim=1)
        partial_sums.append(torch.logsumexp(log_terms, dim=1, keepdim=True))
        previous = log_terms[:, -1:]
    return torch.logsumexp(torch.cat(partial_sums, dim=1), dim=1).reshape(shape).to(kappa.dtype)


def _log_bessel_pair(kappa64, p):
    """(log I_{p/2-1}(kappa), A_p(kappa)) in float64, both orders summed in one call."""
    orders = torch.tensor([p / 2 - 1, p / 2], dtype=torch.float64, device=kappa64.device)
    log_iv = log_bessel_iv(orders, kappa64.unsqueeze(-1))
    return log_iv[..., 0], (log_iv[..., 1] - log_iv[..., 0]).exp()


def _check_dim(p):
    if int(p) != p or p < 2:
        raise ValueError(f"the vMF needs an integer dimension p >= 2, got {p}")


class _LogVmfNormaliser(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kappa, p):
        kappa64 = kappa.to(torch.float64)
        log_iv, ratio = _log_bessel_pair(kappa64, p)
        ctx.save_for_backward(ratio)
        return ((p / 2 - 1) * kappa64.log() - p / 2 * math.log(2 * math.pi) - log_iv).to(kappa.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        ratio, = ctx.saved_tensors
        return -(grad * ratio).to(grad.dtype), None


class _MeanResultantLength(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kappa, p):
        kappa64 = kappa.to(torch.float64)
        ratio = _log_bessel_pair(kappa64, p)[1]
        ctx.save_for_backward(kappa64, ratio)
        ctx.p = p
        return ratio.to(kappa.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        kappa64, ratio = ctx.saved_tensors
        variance = (1 - ratio) * (1 + ratio) - (ctx.p - 1) * ratio / kappa64
        return (grad * variance).to(grad.dtype), None


def log_vmf_normaliser(kappa, p):
    """log C_p(kappa) of the vMF on S^{p-1} in R^p, elementwise for a tensor kappa > 0; d/dkappa = -A_p(kappa)."""
    _check_dim(p)
    return _LogVmfNormaliser.apply(kappa, p)


def mean_resultant_length(kappa, p):
    """A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa) = E[mu^T x], elementwise for a tensor kappa > 0."""
    _check_dim(p)
    return _MeanResultantLength.apply(kappa, p)


def _envelope(kappa, p):
    """Wood's b (exact for every kappa) from kappa in float64."""
    return (p - 1) / (2 * kappa + (4 * kappa ** 2 + (p - 1) ** 2).sqrt())


def _draw_beta_proposals(kappa, p, generator):
    """One accepted z ~ Beta((p-1)/2, (p-1)/2) of Wood's scheme per entry of the flat float64 tensor kappa."""
    b = _envelope(kappa, p)
    log_bound = (4 * b).log() - 2 * torch.log1p(b)  # log(1 - x0^2)
    z = torch.empty_like(kappa)
    pending = torch.arange(kappa.numel(), device=kappa.device)
    while pending.numel():
        bp, kp = b[pending], kappa[pending]
        gammas = torch._standard_gamma(  # Beta as a ratio of Gammas: torch.distributions takes no generator
            torch.full((2, pending.numel()), (p - 1) / 2, dtype=torch.float64, device=kappa.device),
            generator=generator)
        proposal = gammas[0] / gammas.sum(0)
        one_minus_w = 2 * bp * proposal / (1 - (1 - bp) * proposal)
        one_minus_x0 = 2 * bp / (1 + bp)
        log_ratio = (kp * (one_minus_x0 - one_minus_w)
                     + (p - 1) * ((one_minus_x0 + (1 - one_minus_x0) * one_minus_w).log() - log_bound[pending]))
        log_u = torch.rand(pending.numel(), dtype=torch.float64, device=kappa.device, generator=generator).log()
        accepted = log_ratio >= log_u
        z[pending[accepted]] = proposal[accepted]
        pending = pending[~accepted]
    return z


def sample_vmf(mu, kappa, n, generator=None):
    """n reparameterised samples of vMF(mu, kappa) for a batch: (n, ..., p) in the promoted dtype of mu and kappa.

    mu: (..., p) unit mean directions, p >= 2; kappa: (...) or (..., 1) concentrations > 0 (broadcastable with mu's
    batch shape); generator: an optional torch.Generator on mu's device. Gradients reach mu and kappa (the pathwise
    part for kappa, see the module docstring)."""
    p = mu.shape[-1]
    _check_dim(p)
    dtype = torch.promote_types(mu.dtype, kappa.dtype)
    if kappa.dim() == mu.dim() and kappa.shape[-1] == 1:
        kappa = kappa.squeeze(-1)
    batch = torch.broadcast_shapes(mu.shape[:-1], kappa.shape)
    mu64 = mu.to(torch.float64)
    kappa64 = kappa.to(torch.float64).expand(n, *batch)

    with torch.no_grad():
        z = _draw_beta_proposals(kappa64.reshape(-1), p, generator).reshape(kappa64.shape)
        tangent = torch.randn(*kappa64.shape, p - 1, dtype=torch.float64, device=mu.device, generator=generator)
        tangent = tangent / tangent.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)

    b = _envelope(kappa64, p)
    denominator = 1 - (1 - b) * z
    w = 1 - 2 * b * z / denominator
    sin = 2 * b.sqrt() * (z * (1 - z)).sqrt() / denominator  # sqrt(1 - w^2), b split off so its gradient stays finite
    x = torch.cat([w.unsqueeze(-1), sin.unsqueeze(-1) * tangent], dim=-1)

    sign = torch.ones_like(mu64[..., :1]).copysign(mu64.detach()[..., :1])
    u = torch.cat([sign * mu64[..., :1] + 1, sign * mu64[..., 1:]], dim=-1)  # e1 + s mu
    x = -sign * (x - 2 * u * (u * x).sum(-1, keepdim=True) / (u * u).sum(-1, keepdim=True))
    return x.to(dtype)
