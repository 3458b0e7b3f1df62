"""Fit the simulator's interrupt patterns to observed VM uptimes, with a goodness of fit each.

Uptimes are the seconds from a VM's grant to its preemption, in the order they
happened; right-censored uptimes (a VM still alive when the trace ended) add
exposure to every likelihood but are not in the KS statistic. The models are
exactly those of `spotsim.interrupts`: `poisson` (exponential uptimes),
`weibull` (renewal, shape k, scale set so the mean is 3600/rate) and `bursty`
(a stationary MMPP-2 running in VM uptime), so a fit's `params` can go
straight into a scenario's `interrupts` section.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import optimize, special, stats

from .errors import TraceError

Z95 = stats.norm.ppf(0.975)
CHI2_1_95 = stats.chi2.ppf(0.95, 1)
MIN_WEIBULL = 2
"""Complete uptimes a weibull fit of the shape needs (and they must not all be equal)."""
MIN_BURSTY = 20
"""Complete uptimes a bursty fit needs: four parameters and their correlations."""
F_MAX = 0.999
"""Largest burst fraction a bursty fit may return (the scenario refuses f = 1)."""


@dataclass(frozen=True)
class PatternFit:
    """One interrupt pattern fitted to uptimes by maximum likelihood.

    `params` uses the scenario's keys, `ci95` holds a 95% interval per param
    (how each is computed is said in the fit function's docstring),
    `log_likelihood` is in seconds (densities of complete uptimes, survival of
    censored ones) so fits compare across patterns, and `ks` is the
    Kolmogorov-Smirnov statistic of the `n` complete uptimes against `cdf`.
    """

    pattern: str
    params: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    log_likelihood: float
    ks: float
    n: int

    def cdf(self, t_s) -> np.ndarray:
        """The fitted pattern's uptime CDF at `t_s` seconds (bursty: between preemptions, stationary)."""
        return uptime_cdf(self.pattern, self.params, t_s)


def uptime_cdf(pattern: str, params: dict[str, float], t_s) -> np.ndarray:
    """P(uptime <= t_s) under `pattern` with scenario-keyed `params`."""
    t = np.maximum(np.asarray(t_s, dtype=float), 0.0)
    mean_s = 3600.0 / params["rate_per_h"]
    if pattern == "poisson":
        return -np.expm1(-t / mean_s)
    if pattern == "weibull":
        k = params["weibull_shape"]
        scale = mean_s / math.gamma(1.0 + 1.0 / k)
        return -np.expm1(-((t / scale) ** k))
    if pattern == "bursty":
        m = _Mmpp.from_params(params)
        return 1.0 - m.survival(t)
    raise KeyError(f"no uptime CDF for pattern {pattern!r}; known: poisson, weibull, bursty")


def fit_patterns(uptimes_s, censored_s=()) -> list[PatternFit]:
    """Fit poisson, weibull and bursty; best (smallest KS) first.

    A pattern the data cannot support (weibull: fewer than 2 distinct positive
    uptimes; bursty: fewer than 20) is left out; poisson is always there.
    Ties keep the simpler pattern first.
    """
    u, c = _clean(uptimes_s, censored_s)
    fits = []
    for fit in (fit_poisson, fit_weibull, fit_bursty):
        try:
            fits.append(fit(u, c))
        except TraceError:
            if fit is fit_poisson:
                raise
    return sorted(fits, key=lambda f: f.ks)


def fit_poisson(uptimes_s, censored_s=()) -> PatternFit:
    """Poisson: rate = preemptions / total uptime (censored included).

    CI: exact chi-square. Without censoring 2 rate T ~ chi2(2n) is a pivot
    (interval [chi2(2n, .025), chi2(2n, .975)] / 2T); with censoring the count
    over a fixed exposure gives Garwood's interval (upper end on 2n + 2 degrees).
    """
    u, c = _clean(uptimes_s, censored_s)
    n, total = len(u), float(u.sum() + c.sum())
    if total <= 0:
        raise TraceError(f"all {n} uptimes are 0 s: the rate would be infinite; check the trace's time unit")
    rate_s = n / total
    lo, hi = _exponential_rate_ci(n, total, censored=len(c) > 0)
    loglik = n * math.log(rate_s) - rate_s * total
    params = {"rate_per_h": 3600.0 * rate_s}
    return _finish("poisson", params, {"rate_per_h": (3600.0 * lo, 3600.0 * hi)}, loglik, u)


def fit_weibull(uptimes_s, censored_s=(), shape: float | None = None) -> PatternFit:
    """Weibull renewal uptimes by maximum likelihood with right-censoring.

    The shape solves the standard profile equation
    1/k + mean(log t_complete) = sum(t^k log t) / sum(t^k) (all t); the scale
    follows in closed form. CIs are profile-likelihood intervals (likelihood
    within chi2(1, .95) / 2 of its maximum) for the shape and for the mean
    uptime (hence the rate). With `shape` given, k is held there and the rate's
    interval is exact: t^k is exponential, so the Poisson chi-square applies
    (k = 1 gives exactly the Poisson fit). A fitted shape stays within
    [0.01, e^12]: beyond, the uptimes are absurdly spread or all but equal.
    """
    u, c = _clean(uptimes_s, censored_s)
    n = len(u)
    if n < MIN_WEIBULL and shape is None:
        raise TraceError(f"a weibull fit needs at least {MIN_WEIBULL} complete uptimes; got {n}")
    if np.any(u == 0):
        raise TraceError(f"a weibull fit needs positive uptimes; {int(np.sum(u == 0))} of {n} are 0 s")
    w = _WeibullLik(np.log(u), np.log(c))
    if shape is not None:
        if not shape > 0:
            raise TraceError(f"weibull shape must be > 0; got {shape!r}")
        k = float(shape)
        total = float(np.exp(special.logsumexp(k * w.log_all)))
        lo, hi = _exponential_rate_ci(n, total, censored=len(c) > 0)  # of 1/scale^k
        to_rate = lambda inv_theta: 3600.0 * inv_theta ** (1.0 / k) / math.gamma(1.0 + 1.0 / k)
        log_scale = (math.log(total) - math.log(n)) / k
        rate = 3600.0 / math.exp(log_scale + special.gammaln(1.0 + 1.0 / k))
        ci = {"rate_per_h": (to_rate(lo), to_rate(hi)), "weibull_shape": (k, k)}
        loglik = w.loglik(k, log_scale)
    else:
        if np.all(u == u[0]) and not np.any(c > u[0]):
            raise TraceError(f"a weibull fit needs uptimes that differ; all {n} are {u[0]:g} s")
        # The score falls with k; past the bounds (k < 0.01: a mean > 1e150 times the median)
        # the shape stays on the bound.
        lo, hi = _LOG_SHAPE
        log_k = lo if w.score(lo) < 0 else hi if w.score(hi) > 0 else optimize.brentq(w.score, lo, hi, xtol=1e-12)
        k = math.exp(log_k)
        log_scale = w.log_scale(k)
        rate = 3600.0 / math.exp(log_scale + special.gammaln(1.0 + 1.0 / k))
        loglik = w.loglik(k, log_scale)
        k_lo, k_hi = _profile_interval(lambda x: w.profile_shape(math.exp(x)), log_k, loglik)
        log_mean = log_scale + special.gammaln(1.0 + 1.0 / k)
        m_lo, m_hi = _profile_interval(lambda x: w.profile_mean(x, log_k), log_mean, loglik)
        ci = {"rate_per_h": (3600.0 * math.exp(-m_hi), 3600.0 * math.exp(-m_lo)),
              "weibull_shape": (math.exp(k_lo), math.exp(k_hi))}
    return _finish("weibull", {"rate_per_h": rate, "weibull_shape": k}, ci, loglik, u)


def fit_bursty(uptimes_s, censored_s=()) -> PatternFit:
    """Bursty (stationary MMPP-2) by maximum likelihood of the uptime sequence.

    L = pi P(t_1) ... P(t_n) 1 with P(t) = expm((Q - Lambda) t) Lambda (closed
    form for 2x2), pi the chain's stationary law for the first uptime (as the
    sampler starts) and each censored c a tail term pi_event expm((Q - Lambda) c) 1
    from the law at preemption epochs (their place in the sequence is unknown).
    Optimised by L-BFGS-B from the 3 best of 48 starts over (log rate, log(ratio - 1),
    logit(f / 0.999), log burst mean). CIs: Wald intervals from the observed
    Fisher information (numerical Hessian) in those coordinates, mapped back,
    so they stay in range; a parameter the data do not identify (information
    not positive, or the fit on a search bound) gets its whole range.
    """
    u, c = _clean(uptimes_s, censored_s)
    n = len(u)
    if n < MIN_BURSTY:
        raise TraceError(f"a bursty fit needs at least {MIN_BURSTY} complete uptimes; got {n}")
    unit = float(u.sum() + c.sum()) / n  # work in units of the mean uptime: rates near 1
    if unit <= 0:
        raise TraceError(f"all {n} uptimes are 0 s: the rate would be infinite; check the trace's time unit")
    us, cs = u / unit, c / unit
    nll = lambda x: -_Mmpp.from_x(x).loglik(us, cs)
    res = min((optimize.minimize(nll, x0, method="L-BFGS-B", bounds=_X_BOUNDS) for x0 in _starts(nll)),
              key=lambda r: r.fun)
    x = res.x
    loglik = -float(res.fun) - n * math.log(unit)
    lo, hi = _wald(nll, x)
    ends = [_x_values(lo), _x_values(hi)]
    names = ("rate_per_h", "burst_ratio", "burst_fraction", "burst_mean_s")
    scale = (3600.0 / unit, 1.0, 1.0, unit)
    best = _x_values(x)
    params = {k: v * s for k, v, s in zip(names, best, scale)}
    ci = {k: (a * s, b * s) for k, a, b, s in zip(names, *ends, scale)}
    return _finish("bursty", params, ci, loglik, u)


def _clean(uptimes_s, censored_s) -> tuple[np.ndarray, np.ndarray]:
    """Uptimes and censored uptimes as float arrays, refused when unusable."""
    arrays = []
    for label, values in (("uptime", uptimes_s), ("censored uptime", censored_s)):
        try:
            a = np.asarray(values, dtype=float).ravel()
        except (TypeError, ValueError):
            raise TraceError(f"{label}s must be numbers of seconds; got {values!r:.60}") from None
        bad = np.flatnonzero(~(np.isfinite(a) & (a >= 0)))
        if bad.size:
            raise TraceError(f"{label}s must be finite and >= 0 s; {bad.size} are not "
                             f"(first: {a[bad[0]]!r} at position {bad[0]})")
        arrays.append(a)
    u, c = arrays
    if u.size == 0:
        raise TraceError(f"no complete uptimes ({c.size} censored): a fit needs at least one preemption")
    return u, c[c > 0]  # surviving 0 s is certain: no information


def _exponential_rate_ci(n: int, total: float, censored: bool) -> tuple[float, float]:
    """Exact 95% interval of an exponential rate from n events over `total` exposure."""
    lo = stats.chi2.ppf(0.025, 2 * n) / (2 * total)
    hi = stats.chi2.ppf(0.975, 2 * n + 2 * censored) / (2 * total)
    return float(lo), float(hi)


def _finish(pattern, params, ci, loglik, u) -> PatternFit:
    params = {k: float(v) for k, v in params.items()}
    ci = {k: (float(a), float(b)) for k, (a, b) in ci.items()}
    x = np.sort(u)
    f = uptime_cdf(pattern, params, x)
    i = np.arange(1, len(x) + 1)
    ks = float(max(np.max(i / len(x) - f), np.max(f - (i - 1) / len(x))))
    return PatternFit(pattern, params, ci, float(loglik), ks, len(u))


def _profile_interval(profile: Callable[[float], float], x_hat: float, l_max: float,
                      step: float = 0.25, limit: float = 12.0) -> tuple[float, float]:
    """Ends of {x : profile(x) >= l_max - chi2(1, .95)/2}, searched outward from x_hat (±inf if open)."""
    target = lambda x: profile(x) - (l_max - CHI2_1_95 / 2)
    ends = []
    for sign in (-1.0, 1.0):
        inner, d = x_hat, step
        while d <= limit and target(x_hat + sign * d) > 0:
            inner, d = x_hat + sign * d, 2 * d
        if d > limit:
            ends.append(sign * math.inf)
            continue
        ends.append(optimize.brentq(target, inner, x_hat + sign * d, xtol=1e-6))
    return ends[0], ends[1]


class _WeibullLik:
    """Weibull log-likelihood in logs of the complete and censored uptimes (overflow-free)."""

    def __init__(self, log_u: np.ndarray, log_c: np.ndarray):
        self.log_u, self.log_all = log_u, np.concatenate([log_u, log_c])
        self.n, self.sum_log_u = len(log_u), float(log_u.sum())

    def loglik(self, k: float, log_scale: float) -> float:
        z = k * (self.log_all - log_scale)
        return (self.n * math.log(k) - self.n * k * log_scale + (k - 1) * self.sum_log_u
                - math.exp(min(special.logsumexp(z), 700.0)))  # capped: far-off shapes stay finite

    def log_scale(self, k: float) -> float:
        """The scale's MLE at shape k, as a log."""
        return (special.logsumexp(k * self.log_all) - math.log(self.n)) / k

    def score(self, log_k: float) -> float:
        """The profile equation in k (decreasing; its root is the shape's MLE)."""
        k = math.exp(log_k)
        weights = special.softmax(k * self.log_all)
        return 1.0 / k + self.sum_log_u / self.n - float(weights @ self.log_all)

    def profile_shape(self, k: float) -> float:
        return self.loglik(k, self.log_scale(k))

    def profile_mean(self, log_mean: float, log_k_hat: float) -> float:
        """Maximum over the shape of the log-likelihood with the mean uptime held at exp(log_mean)."""
        f = lambda x: -self.loglik(math.exp(x), log_mean - special.gammaln(1.0 + 1.0 / math.exp(x)))
        res = optimize.minimize_scalar(f, bounds=(log_k_hat - 3.0, log_k_hat + 3.0), method="bounded",
                                       options={"xatol": 1e-7})
        return -float(res.fun)


_LOG_SHAPE = (math.log(0.01), 12.0)
_X_BOUNDS = [(-4.0, 4.0), (-8.0, math.log(1e4)), (-12.0, 12.0), (math.log(1e-4), math.log(1e4))]


class _Mmpp:
    """An MMPP-2 in units of the mean uptime: calm (0) and burst (1) states, as in interrupts/bursty.py."""

    def __init__(self, rate, ratio, fraction, burst_mean):
        self.rate, self.ratio, self.fraction, self.burst_mean = rate, ratio, fraction, burst_mean
        f = fraction
        self.lam0 = rate / (1.0 - f + f * ratio)
        self.lam1 = ratio * self.lam0
        self.q01, self.q10 = f / (burst_mean * (1.0 - f)), 1.0 / burst_mean
        self.pi = np.array([1.0 - f, f])
        self.pi_event = np.array([1.0 - f, f * ratio]) / (1.0 - f + f * ratio)
        a, d = -(self.q01 + self.lam0), -(self.q10 + self.lam1)
        self.mid, self.half = (a + d) / 2, (a - d) / 2
        self.delta = math.sqrt(self.half ** 2 + self.q01 * self.q10)

    @classmethod
    def from_x(cls, x) -> "_Mmpp":
        return cls(*_x_values(x))

    @classmethod
    def from_params(cls, params) -> "_Mmpp":
        return cls(params["rate_per_h"] / 3600.0, params["burst_ratio"], params["burst_fraction"],
                   params["burst_mean_s"])

    def expm(self, t: np.ndarray):
        """expm((Q - Lambda) t) = exp((mid + delta) t) * (e00, e01, e10, e11), the factor as a log."""
        t = np.asarray(t, dtype=float)
        decay = -np.expm1(-2.0 * self.delta * t)
        cosh = 1.0 - decay / 2.0  # (1 + exp(-2 delta t)) / 2
        sinh = decay / (2.0 * self.delta) if self.delta > 0 else t
        e00 = np.maximum(cosh + sinh * self.half, 0.0)
        e11 = np.maximum(cosh - sinh * self.half, 0.0)
        return (self.mid + self.delta) * t, (e00, sinh * self.q01, sinh * self.q10, e11)

    def survival(self, t: np.ndarray) -> np.ndarray:
        """P(time between preemptions > t): pi_event expm((Q - Lambda) t) 1."""
        log_f, (e00, e01, e10, e11) = self.expm(t)
        p0, p1 = self.pi_event
        return np.exp(log_f) * (p0 * (e00 + e01) + p1 * (e10 + e11))

    def loglik(self, u: np.ndarray, c: np.ndarray) -> float:
        """log of pi P(u_1) ... P(u_n) 1, plus each censored c's log survival from pi_event."""
        log_f, (a, b, cc, d) = self.expm(u)
        a, b, cc, d = a * self.lam0, b * self.lam1, cc * self.lam0, d * self.lam1  # times Lambda
        total = float(log_f.sum())
        while len(a) > 1:  # multiply neighbours pairwise, in order, rescaling each product
            if len(a) % 2:
                one, zero = np.ones(1), np.zeros(1)
                a, b, cc, d = (np.concatenate([x, e]) for x, e in zip((a, b, cc, d), (one, zero, zero, one)))
            a1, b1, c1, d1 = a[0::2], b[0::2], cc[0::2], d[0::2]
            a2, b2, c2, d2 = a[1::2], b[1::2], cc[1::2], d[1::2]
            a, b, cc, d = a1 * a2 + b1 * c2, a1 * b2 + b1 * d2, c1 * a2 + d1 * c2, c1 * b2 + d1 * d2
            s = np.maximum(np.maximum(a, b), np.maximum(cc, d))
            if np.any(s <= 0):
                return -math.inf
            total += float(np.log(s).sum())
            a, b, cc, d = a / s, b / s, cc / s, d / s
        p0, p1 = self.pi
        end = p0 * (a[0] + b[0]) + p1 * (cc[0] + d[0])
        if len(c):
            with np.errstate(divide="ignore"):
                total += float(np.log(self.survival(c)).sum())
        return total + math.log(end) if end > 0 else -math.inf


def _x_values(x) -> tuple[float, float, float, float]:
    """(rate, ratio, fraction, burst mean) from the search coordinates (infinite ends map to the range's ends)."""
    with np.errstate(over="ignore"):
        return (float(np.exp(x[0])), 1.0 + float(np.exp(x[1])), F_MAX * float(special.expit(x[2])),
                float(np.exp(x[3])))


def _starts(nll, keep: int = 3) -> list[np.ndarray]:
    """The `keep` best of a small grid of starting points (rate at the Poisson MLE: 1 per mean uptime)."""
    grid = [np.array([0.0, math.log(r - 1), special.logit(f / F_MAX), math.log(b)])
            for r in (1.5, 3.0, 20.0, 100.0) for f in (0.05, 0.3, 0.7) for b in (0.01, 0.1, 1.0, 10.0)]
    values = [nll(x) for x in grid]
    return [grid[i] for i in np.argsort(values)[:keep]]


def _wald(nll, x: np.ndarray, h: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """95% Wald ends in the search coordinates from a central-difference Hessian of `nll` at `x`."""
    k = len(x)
    f0 = nll(x)
    hess = np.empty((k, k))
    e = np.eye(k) * h
    for i in range(k):
        hess[i, i] = (nll(x + e[i]) - 2 * f0 + nll(x - e[i])) / h ** 2
        for j in range(i):
            hess[i, j] = hess[j, i] = (nll(x + e[i] + e[j]) - nll(x + e[i] - e[j])
                                       - nll(x - e[i] + e[j]) + nll(x - e[i] - e[j])) / (4 * h ** 2)
    lows, highs = np.array([b[0] for b in _X_BOUNDS]), np.array([b[1] for b in _X_BOUNDS])
    on_bound = (x - lows < 10 * h) | (highs - x < 10 * h)
    try:
        var = np.diag(np.linalg.inv(hess)) if np.all(np.isfinite(hess)) else np.full(k, np.nan)
    except np.linalg.LinAlgError:
        var = np.full(k, np.nan)
    whole = on_bound | ~(var > 0) | ~np.isfinite(var)
    se = np.sqrt(np.where(whole, 1.0, var))
    return np.where(whole, -np.inf, x - Z95 * se), np.where(whole, np.inf, x + Z95 * se)
