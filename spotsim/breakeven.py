"""Break-even rates: where a noisy cost (or time) curve crosses on-demand, with a CI.

Pure functions over arrays; no simulation here. The sweep gives, per preemption
rate (ascending), the replications' *excess*: Spot cost minus on-demand cost
(metric `cost`), or Spot makespan minus on-demand makespan x slack (metric
`time`). Excess grows with the rate; the break-even rate is where its
expectation reaches zero.

Method (documented in the README too):

- per rate, the mean excess and its pointwise 95% Student-t confidence band;
- the break-even rate is the first upward zero crossing of the mean, found by
  linear interpolation in log(rate) between the two bracketing rates;
- its CI runs from the first crossing of the band's upper edge (the lowest
  rate the data cannot tell from the break-even) to the first crossing of the
  lower edge (the lowest rate at which Spot is losing at 95% confidence):
  the interval found by inverting the pointwise test at each rate;
- `below_range`: the mean is already >= 0 at the lowest rate (`ci_high` then
  holds that rate, an upper bound); `above_range`: it never reaches 0 within
  the rates simulated (`ci_low` holds the highest rate with data, a lower
  bound). A rate whose mean is unknown (NaN: runs abandoned, see sweep.py)
  ends the curve there.

The sweep expands the bracket (`next_rate`) while a curve has not crossed,
doubling the rate up to EXPANSION_CAP_PER_H.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

FOUND, ABOVE, BELOW = "found", "above_range", "below_range"
EXPANSION_CAP_PER_H = 1024.0
"""Bracket expansion doubles the highest rate up to this many preemptions per hour
(one every ~3.5 s of uptime: far past any VM's start-up, so any job is hopeless)."""


@dataclass(frozen=True)
class Crossing:
    """A break-even rate (per hour) with its CI and status; NaN where not defined."""

    rate: float
    ci_low: float
    ci_high: float
    status: str


def band(samples, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of one rate's excess samples; NaN if any sample is NaN.

    One replication gives a zero-width band (no spread to estimate).
    """
    x = np.asarray(samples, dtype=float)
    n = x.size
    if n == 0 or np.isnan(x).any():
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if n < 2:
        return m, m, m
    half = _t_quantile(0.5 + confidence / 2, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return m, m - half, m + half


@lru_cache(maxsize=256)
def _t_quantile(q: float, dof: int) -> float:
    return float(stats.t.ppf(q, dof))


def _first_crossing(log_r: np.ndarray, y: np.ndarray) -> float | None:
    """Log-rate of the first upward zero crossing of y, by linear interpolation.

    None when y stays below zero; log_r[0] when y starts at or above zero.
    """
    idx = np.flatnonzero(y >= 0)
    if idx.size == 0:
        return None
    i = int(idx[0])
    if i == 0:
        return float(log_r[0])
    y0, y1 = float(y[i - 1]), float(y[i])
    t = y0 / (y0 - y1)  # y0 < 0 <= y1, so 0 < t <= 1
    return float(log_r[i - 1] + t * (log_r[i] - log_r[i - 1]))


def find_breakeven(rates, mean, lo, hi) -> Crossing:
    """Break-even rate of an excess curve given per-rate mean and CI band edges.

    `rates` ascending and > 0. Values after the first NaN mean are ignored.
    """
    r = np.asarray(rates, dtype=float)
    m, lo, hi = (np.asarray(a, dtype=float) for a in (mean, lo, hi))
    if r.size and np.any(np.diff(r) <= 0):
        raise ValueError("rates must be strictly increasing")
    nan = np.flatnonzero(np.isnan(m))
    k = int(nan[0]) if nan.size else r.size
    r, m, lo, hi = r[:k], m[:k], lo[:k], hi[:k]
    if r.size == 0:
        return Crossing(math.nan, math.nan, math.nan, ABOVE)
    log_r = np.log(r)
    if m[0] >= 0:
        return Crossing(math.nan, math.nan, float(r[0]), BELOW)
    at = _first_crossing(log_r, m)
    if at is None:
        return Crossing(math.nan, float(r[-1]), math.nan, ABOVE)
    low = _first_crossing(log_r, hi)
    high = _first_crossing(log_r, lo)
    return Crossing(math.exp(at), math.exp(low if low is not None else at),
                    math.exp(high) if high is not None else math.nan, FOUND)


def needs_more(crossing: Crossing) -> bool:
    """Whether simulating a higher rate could settle this curve: no crossing yet, or
    a crossing whose upper CI edge is still open."""
    if crossing.status == ABOVE:
        return not math.isnan(crossing.ci_low)
    return crossing.status == FOUND and math.isnan(crossing.ci_high)


def next_rate(rate: float, cap: float = EXPANSION_CAP_PER_H) -> float | None:
    """The next bracket-expansion rate: double, clamped to the cap; None past the cap."""
    if rate >= cap:
        return None
    return min(2.0 * rate, cap)
