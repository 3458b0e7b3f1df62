"""Fit the simulator's interrupt patterns to observed VM uptimes, with a goodness of fit each.

Uptimes are the seconds from a VM's grant to its preemption, in the order they
happened; right-censored uptimes (a VM still alive when the trace ended) add
exposure to every likelihood but are not in the KS statistic. The models are
exactly those of `spotsim.interrupts`: `poisson` (exponential uptimes),
`weibull` (renewal, shape k, scale set so the mean is 3600/rate) and `bursty`
(a stationary MMPP-2 running in VM uptime), so a fit's `params` can go
straight into a scenario's `interrupts` section.

Tick traces (`tick_s` given). A tick trace samples the live count once per
tick g, and a VM's true grant and preemption fall at uniformly random phases
of that grid. A true uptime T is then seen by N = floor((T + s) / g) samples,
s ~ U[0, g), so P(N <= k) = E_s F_T((k + 1) g - s)
= (1/g) * integral_{k g}^{(k+1) g} F_T(u) du: the model's CDF averaged over
the tick after k g. trace_stats measures an uptime as its number of live
samples times g, so the smallest one seen is 1 tick; an uptime no sample
sees (N = 0) hides inside a wait, so what is observed is N given N >= 1:
P(observed <= k g) = 1 - J_k / J_0, J_k = integral_{k g}^{(k+1) g} S_T(u) du
with S_T = 1 - F_T (`tick_cdf`), in closed form for all three patterns
(poisson: geometric ticks; weibull: the incomplete gamma function; bursty:
matrix exponentials). It assumes waits of a tick or more (two lifetimes
never merge into one run of live samples). With a tick, each fit's KS is the
discrete one against this law, and each pattern is fitted by the likelihood
of the observed tick counts: P(N = k | N >= 1) per uptime for poisson and
weibull (censored: P(N >= k | N >= 1)), and for bursty the sequence
likelihood with the unseen uptimes summed out (fit_bursty). Its fitted rate
is the true one, unseen uptimes included, so it can exceed the trace's rate
of seen preemptions; how far rests on the pattern's shape below one tick,
which the trace does not see.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import linalg, optimize, special, stats

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
    (how each is computed is said in the fit function's docstring), and `ks`
    is the Kolmogorov-Smirnov statistic of the `n` complete uptimes against
    `cdf`, or with `tick_s` set against `tick_cdf` (the discrete KS of whole
    ticks, see the module docstring). `log_likelihood` is in seconds
    (densities of complete uptimes, survival of censored ones), or with
    `tick_s` of the observed tick counts (probabilities), so fits of the same
    data compare across patterns.
    """

    pattern: str
    params: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    log_likelihood: float
    ks: float
    n: int
    tick_s: float | None = None
    """The trace's tick when the fit and its KS account for it (None: uptimes in seconds)."""

    def cdf(self, t_s) -> np.ndarray:
        """The fitted pattern's uptime CDF at `t_s` seconds (bursty: between preemptions, stationary)."""
        return uptime_cdf(self.pattern, self.params, t_s)

    def tick_cdf(self, k_ticks) -> np.ndarray:
        """P(observed uptime <= k ticks) in a trace with this fit's tick (refused without one)."""
        if self.tick_s is None:
            raise TraceError(f"the {self.pattern} fit has no tick: it was fitted to uptimes in seconds")
        return tick_cdf(self.pattern, self.params, k_ticks, self.tick_s)


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


def tick_cdf(pattern: str, params: dict[str, float], k_ticks, tick_s: float) -> np.ndarray:
    """P(observed uptime <= k ticks) in a trace with `tick_s` ticks: 1 - J_k / J_0 (module docstring).

    0 below 1 tick (an uptime no sample sees is never observed); k is rounded down.
    """
    k = np.floor(np.asarray(k_ticks, dtype=float))
    j = _tick_survival(pattern, params, np.maximum(k, 0.0), float(tick_s))
    j0 = _tick_survival(pattern, params, np.zeros(1), float(tick_s))[0]
    return np.where(k < 1, 0.0, np.clip(1.0 - j / j0, 0.0, 1.0))


def _tick_survival(pattern: str, params: dict[str, float], k: np.ndarray, g: float) -> np.ndarray:
    """J_k = integral of the uptime survival over [k g, (k + 1) g], in seconds."""
    mean_s = 3600.0 / params["rate_per_h"]
    if pattern == "poisson":
        return mean_s * np.exp(-k * g / mean_s) * -math.expm1(-g / mean_s)
    if pattern == "weibull":
        w = _WeibullTicks.grid(params["weibull_shape"], math.log(mean_s), np.concatenate([k, k + 1]), g)
        return mean_s * w.between(k, k + 1)
    if pattern == "bursty":
        return _Mmpp.from_params(params).tick_survival(k, g)
    raise KeyError(f"no uptime CDF for pattern {pattern!r}; known: poisson, weibull, bursty")


def fit_patterns(uptimes_s, censored_s=(), tick_s: float | None = None) -> list[PatternFit]:
    """Fit poisson, weibull and bursty; best (smallest KS) first.

    A pattern the data cannot support (weibull: fewer than 2 distinct positive
    uptimes; bursty: fewer than 20) is left out; poisson is always there.
    Ties keep the simpler pattern first. With `tick_s` (the uptimes are whole
    ticks of a tick trace) the KS and the poisson and weibull fits are
    tick-aware (module docstring).
    """
    u, c = _clean(uptimes_s, censored_s)
    if tick_s is not None:
        _ticks(u, c, tick_s)  # refused here once, not per fit
    fits = []
    for fit in (fit_poisson, fit_weibull, fit_bursty):
        try:
            fits.append(fit(u, c, tick_s=tick_s))
        except TraceError:
            if fit is fit_poisson:
                raise
    return sorted(fits, key=lambda f: f.ks)


def fit_poisson(uptimes_s, censored_s=(), tick_s: float | None = None) -> PatternFit:
    """Poisson: rate = preemptions / total uptime (censored included).

    CI: exact chi-square. Without censoring 2 rate T ~ chi2(2n) is a pivot
    (interval [chi2(2n, .025), chi2(2n, .975)] / 2T); with censoring the count
    over a fixed exposure gives Garwood's interval (upper end on 2n + 2 degrees).

    With `tick_s` = g the observed ticks are geometric: P(N = k | N >= 1) =
    p q^(k-1), q = exp(-rate g). Each tick after a VM's first is a Bernoulli
    trial that ends it with probability p, so n preemptions in n + S trials
    (S = the ticks past each uptime's first, censored ones included) give
    p = n / (n + S) and Clopper-Pearson's exact interval of p (upper end on
    Beta(n, S), the negative binomial's, without censoring), mapped to
    rate = -ln(1 - p) / g. All uptimes of 1 tick (S = 0) bound no rate: refused.
    """
    u, c = _clean(uptimes_s, censored_s)
    if tick_s is not None:
        return _fit_poisson_ticks(u, c, tick_s)
    n, total = len(u), float(u.sum() + c.sum())
    if total <= 0:
        raise TraceError(f"all {n} uptimes are 0 s: the rate would be infinite; check the trace's time unit")
    rate_s = n / total
    lo, hi = _exponential_rate_ci(n, total, censored=len(c) > 0)
    loglik = n * math.log(rate_s) - rate_s * total
    params = {"rate_per_h": 3600.0 * rate_s}
    return _finish("poisson", params, {"rate_per_h": (3600.0 * lo, 3600.0 * hi)}, loglik, u)


def _fit_poisson_ticks(u: np.ndarray, c: np.ndarray, tick_s: float) -> PatternFit:
    ku, kc = _ticks(u, c, tick_s)
    n, extra = len(ku), int((ku - 1).sum() + (kc - 1).sum())
    if extra == 0:
        raise TraceError(f"all {n} uptimes are 1 tick ({tick_s:g} s) and none lasted longer: a tick-aware "
                         f"fit cannot bound the rate (any rate above ~1 per tick fits)")
    p = n / (n + extra)
    p_lo = stats.beta.ppf(0.025, n, extra + 1)
    p_hi = stats.beta.ppf(0.975, n + (len(kc) > 0), extra)
    to_rate = lambda x: -3600.0 * math.log1p(-x) / tick_s
    loglik = n * math.log(p) + extra * math.log1p(-p)
    ci = {"rate_per_h": (to_rate(p_lo), to_rate(p_hi))}
    return _finish("poisson", {"rate_per_h": to_rate(p)}, ci, loglik, u, tick_s)


def fit_weibull(uptimes_s, censored_s=(), shape: float | None = None, tick_s: float | None = None) -> PatternFit:
    """Weibull renewal uptimes by maximum likelihood with right-censoring.

    The shape solves the standard profile equation
    1/k + mean(log t_complete) = sum(t^k log t) / sum(t^k) (all t); the scale
    follows in closed form. CIs are profile-likelihood intervals (likelihood
    within chi2(1, .95) / 2 of its maximum) for the shape and for the mean
    uptime (hence the rate). With `shape` given, k is held there and the rate's
    interval is exact: t^k is exponential, so the Poisson chi-square applies
    (k = 1 gives exactly the Poisson fit). A fitted shape stays within
    [0.01, e^12]: beyond, the uptimes are absurdly spread or all but equal.

    With `tick_s` the likelihood is the interval one of the tick counts
    (module docstring), maximised over (log shape, log median) by Nelder-Mead
    from the fit in seconds and from k = 1; the CIs are its profile-likelihood
    intervals as above (with `shape` held, the rate's is the likelihood
    interval, not exact).
    """
    u, c = _clean(uptimes_s, censored_s)
    if tick_s is not None:
        _ticks(u, c, tick_s)
    n = len(u)
    if n < MIN_WEIBULL and shape is None:
        raise TraceError(f"a weibull fit needs at least {MIN_WEIBULL} complete uptimes; got {n}")
    if np.any(u == 0):
        raise TraceError(f"a weibull fit needs positive uptimes; {int(np.sum(u == 0))} of {n} are 0 s")
    if shape is not None and not shape > 0:
        raise TraceError(f"weibull shape must be > 0; got {shape!r}")
    if shape is None and np.all(u == u[0]) and not np.any(c > u[0]):
        raise TraceError(f"a weibull fit needs uptimes that differ; all {n} are {u[0]:g} s")
    if tick_s is not None:
        return _fit_weibull_ticks(u, c, shape, tick_s)
    w = _WeibullLik(np.log(u), np.log(c))
    if shape is not None:
        k = float(shape)
        total = float(np.exp(special.logsumexp(k * w.log_all)))
        lo, hi = _exponential_rate_ci(n, total, censored=len(c) > 0)  # of 1/scale^k
        to_rate = lambda inv_theta: 3600.0 * inv_theta ** (1.0 / k) / math.gamma(1.0 + 1.0 / k)
        log_scale = (math.log(total) - math.log(n)) / k
        rate = 3600.0 / math.exp(log_scale + special.gammaln(1.0 + 1.0 / k))
        ci = {"rate_per_h": (to_rate(lo), to_rate(hi)), "weibull_shape": (k, k)}
        loglik = w.loglik(k, log_scale)
    else:
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


def _fit_weibull_ticks(u: np.ndarray, c: np.ndarray, shape: float | None, tick_s: float) -> PatternFit:
    ku, kc = _ticks(u, c, tick_s)
    lik = _WeibullTicks(ku, kc, tick_s)
    # Searched over (log shape, log median): the data pin the median whatever the shape.
    scale_of = lambda log_k, log_median: log_median - _LOG_LN2 / math.exp(log_k)
    mean_of = lambda log_k, log_scale: log_scale + special.gammaln(1.0 + 1.0 / math.exp(log_k))
    near = lambda y: (y - 6.0, y + 6.0)
    start = fit_weibull(u, c, shape=shape)  # in seconds: a start near the tick-aware optimum
    k0 = start.params["weibull_shape"]
    median0 = math.log(3600.0 / start.params["rate_per_h"]) - special.gammaln(1.0 + 1.0 / k0) + _LOG_LN2 / k0
    if shape is not None:
        log_k = math.log(shape)
        res = optimize.minimize_scalar(lambda y: -lik.loglik(log_k, scale_of(log_k, y)), bounds=near(median0),
                                       method="bounded", options={"xatol": 1e-9})
        log_scale, loglik = scale_of(log_k, float(res.x)), -float(res.fun)
        shift = mean_of(log_k, 0.0)
        m_lo, m_hi = _profile_interval(lambda x: lik.loglik(log_k, x - shift), log_scale + shift, loglik)
        k_lo = k_hi = log_k
    else:
        nll = lambda x: -lik.loglik(x[0], scale_of(*x))
        bounds = [_LOG_SHAPE, near(median0)]
        res = min((optimize.minimize(nll, x0, method="Nelder-Mead", bounds=bounds,
                                     options={"xatol": 1e-8, "fatol": 1e-10})
                   for x0 in ([math.log(k0), median0], [0.0, math.log(float(np.median(u)))])),
                  key=lambda r: r.fun)
        (log_k, log_median), loglik = res.x, -float(res.fun)
        log_scale = scale_of(log_k, log_median)
        k_lo, k_hi = _profile_interval(lambda x: lik.profile_shape(x, near(log_median), scale_of), log_k, loglik)
        m_lo, m_hi = _profile_interval(lambda x: lik.profile_mean(x, log_k), mean_of(log_k, log_scale), loglik)
    ci = {"rate_per_h": (3600.0 * math.exp(-m_hi), 3600.0 * math.exp(-m_lo)),
          "weibull_shape": (math.exp(k_lo), math.exp(k_hi))}
    rate = 3600.0 * math.exp(-mean_of(log_k, log_scale))
    return _finish("weibull", {"rate_per_h": rate, "weibull_shape": math.exp(log_k)}, ci, loglik, u, tick_s)


def fit_bursty(uptimes_s, censored_s=(), tick_s: float | None = None) -> PatternFit:
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

    With `tick_s` = g the likelihood is that of the observed tick counts
    under the module's observation model, each lifetime with its own uniform
    phase: an uptime seen as k ticks contributes
    (I - D_0)^-1 D_k, D_k = integral P(N = k | T = t) expm(M t) Lambda dt
    (M = Q - Lambda), which is (1/g) expm(M (k - 1) g) A^2 Lambda for k >= 1
    (A = integral_0^g expm(M t) dt: the tent of N = k is two boxes convolved)
    and (1/g) integral_0^g (g - t) expm(M t) dt Lambda for the unseen k = 0,
    summed out over any number of them; A and that integral come from one
    6x6 matrix exponential (Van Loan). A censored c ticks contributes
    pi_event (I - D_0)^-1 (1/g) expm(M (c - 1) g) A 1 = P(N >= c). The cost
    per evaluation is that of the likelihood in seconds; with burst_ratio 1
    it is poisson's tick likelihood.
    """
    u, c = _clean(uptimes_s, censored_s)
    ku = kc = None
    if tick_s is not None:
        ku, kc = _ticks(u, c, tick_s)
    n = len(u)
    if n < MIN_BURSTY:
        raise TraceError(f"a bursty fit needs at least {MIN_BURSTY} complete uptimes; got {n}")
    unit = float(u.sum() + c.sum()) / n  # work in units of the mean uptime: rates near 1
    if unit <= 0:
        raise TraceError(f"all {n} uptimes are 0 s: the rate would be infinite; check the trace's time unit")
    us, cs = u / unit, c / unit
    if tick_s is None:
        nll = lambda x: -_Mmpp.from_x(x).loglik(us, cs)
    else:
        nll = lambda x: -_Mmpp.from_x(x).tick_loglik(ku, kc, tick_s / unit)
    res = min((optimize.minimize(nll, x0, method="L-BFGS-B", bounds=_X_BOUNDS) for x0 in _starts(nll)),
              key=lambda r: r.fun)
    x = res.x
    loglik = -float(res.fun) - (n * math.log(unit) if tick_s is None else 0.0)
    lo, hi = _wald(nll, x)
    ends = [_x_values(lo), _x_values(hi)]
    names = ("rate_per_h", "burst_ratio", "burst_fraction", "burst_mean_s")
    scale = (3600.0 / unit, 1.0, 1.0, unit)
    best = _x_values(x)
    params = {k: v * s for k, v, s in zip(names, best, scale)}
    ci = {k: (a * s, b * s) for k, a, b, s in zip(names, *ends, scale)}
    return _finish("bursty", params, ci, loglik, u, tick_s)


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


def _ticks(u: np.ndarray, c: np.ndarray, tick_s) -> tuple[np.ndarray, np.ndarray]:
    """Complete and censored uptimes as whole ticks (>= 1), refused when they are not."""
    if not (isinstance(tick_s, (int, float)) and math.isfinite(tick_s) and tick_s > 0):
        raise TraceError(f"the tick must be a positive number of seconds; got {tick_s!r}")
    out = []
    for label, x in (("uptime", u), ("censored uptime", c)):
        k = np.rint(x / tick_s)
        bad = np.flatnonzero((np.abs(x / tick_s - k) > 1e-6 * np.maximum(k, 1.0)) | (k < 1))
        if bad.size:
            raise TraceError(f"{label}s of a tick trace are whole ticks of {tick_s:g} s, at least 1; "
                             f"{bad.size} are not (first: {x[bad[0]]:g} s); give no tick for other data")
        out.append(k)
    return out[0], out[1]


def _tick_ks(pattern: str, params: dict[str, float], k_obs: np.ndarray, tick_s: float) -> float:
    """sup over whole ticks of |empirical - tick_cdf|: both step at whole ticks, the empirical CDF only
    at observed ones, so the sup is at an observed count or at the tick just before one."""
    values, counts = np.unique(k_obs, return_counts=True)
    at = np.cumsum(counts) / k_obs.size
    before = np.concatenate(([0.0], at[:-1]))
    f = tick_cdf(pattern, params, np.concatenate([values, values - 1]), tick_s)
    return float(max(np.max(np.abs(at - f[:values.size])), np.max(np.abs(before - f[values.size:]))))


def _exponential_rate_ci(n: int, total: float, censored: bool) -> tuple[float, float]:
    """Exact 95% interval of an exponential rate from n events over `total` exposure."""
    lo = stats.chi2.ppf(0.025, 2 * n) / (2 * total)
    hi = stats.chi2.ppf(0.975, 2 * n + 2 * censored) / (2 * total)
    return float(lo), float(hi)


def _finish(pattern, params, ci, loglik, u, tick_s: float | None = None) -> PatternFit:
    params = {k: float(v) for k, v in params.items()}
    ci = {k: (float(a), float(b)) for k, (a, b) in ci.items()}
    if tick_s is not None:
        ks = _tick_ks(pattern, params, np.rint(u / tick_s), tick_s)
        return PatternFit(pattern, params, ci, float(loglik), ks, len(u), float(tick_s))
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
        elif target(inner) <= 0:  # an estimate short of the maximum: the interval stops at it
            ends.append(inner)
        else:
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


class _WeibullTicks:
    """Weibull interval log-likelihood of whole tick counts (complete k >= 1, censored c >= 1).

    With x(t) = (t / scale)^k and a = 1/k, integral_0^t S = mean * P(a, x(t)) (regularised lower
    incomplete gamma), so J_j / mean is a difference of P, and the pmf a second difference; each is
    taken in P or in Q = 1 - P, whichever is smaller there, to keep the digits of tail terms.
    """

    def __init__(self, k_u: np.ndarray, k_c: np.ndarray, tick_s: float):
        self.u, self.u_n = np.unique(k_u, return_counts=True)
        self.c, self.c_n = np.unique(k_c[k_c > 1], return_counts=True)  # surviving 1 tick: certain
        self.tick_s = tick_s
        self.points = np.unique(np.concatenate([[0.0, 1.0], self.u - 1, self.u, self.u + 1, self.c - 1, self.c]))

    @classmethod
    def grid(cls, k: float, log_mean: float, points: np.ndarray, tick_s: float) -> "_WeibullTicks":
        """P and Q at `points` ticks for shape k and the given mean (for tick_cdf)."""
        w = cls(np.ones(1), np.zeros(0), tick_s)
        w.points = np.unique(points)
        w.set(math.log(k), log_mean - special.gammaln(1.0 + 1.0 / k))
        return w

    def set(self, log_k: float, log_scale: float) -> None:
        k = math.exp(log_k)
        with np.errstate(divide="ignore", over="ignore"):
            x = np.exp(k * (np.log(self.points * self.tick_s) - log_scale))
        self.p, self.q = special.gammainc(1.0 / k, x), special.gammaincc(1.0 / k, x)

    def _at(self, ticks) -> tuple[np.ndarray, np.ndarray]:
        i = np.searchsorted(self.points, ticks)
        return self.p[i], self.q[i]

    def between(self, lo, hi) -> np.ndarray:
        """J over [lo g, hi g] / mean: P(hi) - P(lo), or Q(lo) - Q(hi) where Q is the smaller."""
        (p0, q0), (p1, q1) = self._at(lo), self._at(hi)
        return np.where(p0 < 0.5, p1 - p0, q0 - q1)

    def loglik(self, log_k: float, log_scale: float) -> float:
        """Sum of log P(N = k | N >= 1) and log P(N >= c | N >= 1); _IMPOSSIBLE where no tick sees an uptime."""
        self.set(log_k, log_scale)
        j0 = self.between(np.zeros(1), np.ones(1))[0]
        if not j0 > 0:
            return _IMPOSSIBLE
        (pa, qa), (pb, qb), (pc, qc) = self._at(self.u - 1), self._at(self.u), self._at(self.u + 1)
        second = np.where(pb < 0.5, -(pa - 2 * pb + pc), qa - 2 * qb + qc)  # (J_{k-1} - J_k) / mean
        total = float(self.u_n @ np.log(np.maximum(second / j0, 1e-300)))
        if self.c.size:
            total += float(self.c_n @ np.log(np.maximum(self.between(self.c - 1, self.c) / j0, 1e-300)))
        return total

    def profile_shape(self, log_k: float, median_bounds, scale_of) -> float:
        """Maximum over the median (hence the scale) of the log-likelihood at shape exp(log_k)."""
        res = optimize.minimize_scalar(lambda y: -self.loglik(log_k, scale_of(log_k, y)), bounds=median_bounds,
                                       method="bounded", options={"xatol": 1e-7})
        return -float(res.fun)

    def profile_mean(self, log_mean: float, log_k_hat: float) -> float:
        """Maximum over the shape of the log-likelihood with the mean uptime held at exp(log_mean)."""
        lo, hi = max(log_k_hat - 3.0, _LOG_SHAPE[0]), min(log_k_hat + 3.0, _LOG_SHAPE[1])
        f = lambda x: -self.loglik(x, log_mean - special.gammaln(1.0 + 1.0 / math.exp(x)))
        res = optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
        return -float(res.fun)


_IMPOSSIBLE = -1e12
"""A tick log-likelihood where the observed data cannot happen (finite, so the optimisers can step back)."""
_LOG_LN2 = math.log(math.log(2.0))
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

    def tick_survival(self, k: np.ndarray, g: float) -> np.ndarray:
        """J_k = integral over [k g, (k + 1) g] of the survival = pi_event (-M)^-1 expm(M k g) (I - expm(M g)) 1,
        M = Q - Lambda."""
        det = self.lam0 * self.q10 + self.lam1 * self.q01 + self.lam0 * self.lam1
        p0, p1 = self.pi_event
        w0 = (p0 * (self.q10 + self.lam1) + p1 * self.q10) / det
        w1 = (p0 * self.q01 + p1 * (self.q01 + self.lam0)) / det
        log_f, (e00, e01, e10, e11) = self.expm(np.array([g]))
        v0, v1 = 1.0 - math.exp(log_f[0]) * (e00[0] + e01[0]), 1.0 - math.exp(log_f[0]) * (e10[0] + e11[0])
        log_f, (e00, e01, e10, e11) = self.expm(np.asarray(k, dtype=float) * g)
        return np.exp(log_f) * (w0 * (e00 * v0 + e01 * v1) + w1 * (e10 * v0 + e11 * v1))

    def survival(self, t: np.ndarray) -> np.ndarray:
        """P(time between preemptions > t): pi_event expm((Q - Lambda) t) 1."""
        log_f, (e00, e01, e10, e11) = self.expm(t)
        p0, p1 = self.pi_event
        return np.exp(log_f) * (p0 * (e00 + e01) + p1 * (e10 + e11))

    def loglik(self, u: np.ndarray, c: np.ndarray) -> float:
        """log of pi P(u_1) ... P(u_n) 1, plus each censored c's log survival from pi_event."""
        lam = np.diag([self.lam0, self.lam1])
        total = self._chain(u, lam, self.pi, np.ones(2))
        if len(c):
            with np.errstate(divide="ignore"):
                total += float(np.log(self.survival(c)).sum())
        return total

    def tick_loglik(self, k_u: np.ndarray, k_c: np.ndarray, g: float) -> float:
        """log P(observed tick counts k_1 ... k_n) with invisible uptimes (N = 0) summed out, plus each
        censored c's log P(N >= c) from pi_event (module and fit_bursty docstrings)."""
        m = np.array([[-(self.q01 + self.lam0), self.q01], [self.q10, -(self.q10 + self.lam1)]])
        lam = np.diag([self.lam0, self.lam1])
        big = np.zeros((6, 6))
        big[:2, :2], big[:2, 2:4], big[2:4, 4:] = m * g, np.eye(2) * g, np.eye(2) * g
        ex = linalg.expm(big)  # Van Loan: [E(g), int_0^g E, int_0^g (g - t) E(t) dt] in the top rows
        a, w = ex[:2, 2:4], ex[:2, 4:]
        unseen = w @ lam / g  # D_0: the chain's moves over uptimes no tick sees
        try:
            b = np.linalg.inv(np.eye(2) - unseen) / g
        except np.linalg.LinAlgError:
            return -math.inf
        total = self._chain((k_u - 1.0) * g, a @ a @ lam @ b, self.pi @ b, g * (np.eye(2) - unseen) @ np.ones(2))
        if len(k_c):
            z, y = self.pi_event @ b, a @ np.ones(2)
            log_f, (e00, e01, e10, e11) = self.expm((k_c - 1.0) * g)
            tail = z[0] * (e00 * y[0] + e01 * y[1]) + z[1] * (e10 * y[0] + e11 * y[1])
            with np.errstate(divide="ignore"):
                total += float(log_f.sum() + np.log(tail).sum())
        return total

    def _chain(self, t: np.ndarray, right: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
        """log of start expm(M t_1) right ... expm(M t_n) right end (right, start, end >= 0)."""
        log_f, (a, b, cc, d) = self.expm(t)
        (r00, r01), (r10, r11) = right
        a, b, cc, d = a * r00 + b * r10, a * r01 + b * r11, cc * r00 + d * r10, cc * r01 + d * r11
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
        (p0, p1), (v0, v1) = start, end
        last = p0 * (a[0] * v0 + b[0] * v1) + p1 * (cc[0] * v0 + d[0] * v1)
        return total + math.log(last) if last > 0 else -math.inf


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
