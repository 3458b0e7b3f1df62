"""Break-even rates: where a noisy cost (or time) curve crosses on-demand, with an honest CI.

Pure functions over arrays; no simulation here. The sweep gives, per preemption
rate (ascending), the replications' *excess*: Spot cost minus the same run's
on-demand cost (metric `cost`), or Spot makespan minus on-demand makespan x
slack (metric `time`). Excess grows with the rate; the break-even rate is
where its expectation reaches zero. Every rate is simulated with the same
replication seeds (common random numbers, sweep.py), so the curve is smooth
in the rate and any rate added later is paired with the others.

Method (documented in the README too):

- per rate, the mean excess and its pointwise 95% Student-t confidence band;
- the break-even rate is the first upward zero crossing of the mean, found by
  linear interpolation in log(rate) between the two bracketing rates;
- its CI runs from the first crossing of the band's upper edge (the lowest
  rate the data cannot tell from the break-even) to the first crossing of the
  lower edge (the lowest rate at which Spot is losing at 95% confidence),
  the interval found by inverting the pointwise test at each rate, *widened
  to hold the whole bracket*: between two simulated rates nothing is known,
  so a deterministic curve (a zero-width band) gets the bracket as its CI;
  and widened to at least REFINE_FLOOR (1%) on each side of the point: with
  regular preemptions the excess is a staircase (one more preemption every
  ~0.5% in rate at the L4 job's break-even) that can cross zero several times
  within a percent, so no crossing is claimed more precisely than that;
- interpolation is exact only for a curve linear in log(rate). The excess is
  convex (set-up time grows like e^(rate x set-up)), so a chord across a wide
  gap lands below the root. `refinement_rates` therefore asks for rates inside
  each gap that holds a crossing (of the mean or of either band edge) until
  every such gap is narrower than the statistical CI (or 2 x REFINE_FLOOR for
  a deterministic curve): the chord's error shrinks with the square of the gap,
  so it becomes negligible against the CI, and the answer stops depending on
  the grid;
- `below_range`: the mean is already >= 0 at the lowest rate (`ci_high` then
  holds that rate, an upper bound); `above_range`: it never reaches 0 within
  the rates simulated (`ci_low` holds the highest rate with data, a lower
  bound). A rate whose mean is unknown (NaN: runs abandoned, see sweep.py)
  ends the curve there. `censored` (set by the sweep): a run below the
  crossing is still stopped early after re-simulation without the sweep's
  early stop; its cost is a lower bound, so the rate is an upper bound.

The sweep expands the bracket (`next_rate`) while a curve has not crossed,
doubling the rate up to EXPANSION_CAP_PER_H, then refines it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .results import t_quantile

FOUND, ABOVE, BELOW, CENSORED = "found", "above_range", "below_range", "censored"
EXPANSION_CAP_PER_H = 1024.0
"""Bracket expansion doubles the highest rate up to this many preemptions per hour
(one every ~3.5 s of uptime: far past any VM's start-up, so any job is hopeless)."""
REFINE_MAX_STEPS = 8
"""Refinement rounds at most; a curve still too coarse after them is reported as such."""
REFINE_FLOOR = math.log(1.01)
"""No CI is narrower than 1% on each side of its point, so a gap narrower than 2% in
rate counts as narrow even when the band has no width (deterministic curves)."""


@dataclass(frozen=True)
class Crossing:
    """A break-even rate (per hour) with its CI and status; NaN where not defined.

    `bracket_low`, `bracket_high`: the simulated rates around the mean's crossing.
    """

    rate: float
    ci_low: float
    ci_high: float
    status: str
    bracket_low: float = math.nan
    bracket_high: float = math.nan


class _Cross(NamedTuple):
    """A zero crossing at log-rate `x`, in the gap ending at rate index `index` (0: before the first rate)."""

    x: float
    index: int


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
    half = t_quantile(0.5 + confidence / 2, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return m, m - half, m + half


def _first_crossing(log_r: np.ndarray, y: np.ndarray) -> _Cross | None:
    """The first upward zero crossing of y, by linear interpolation in log(rate).

    None when y stays below zero; index 0 (at the first rate) when y starts at or above zero.
    """
    idx = np.flatnonzero(y >= 0)
    if idx.size == 0:
        return None
    i = int(idx[0])
    if i == 0:
        return _Cross(float(log_r[0]), 0)
    y0, y1 = float(y[i - 1]), float(y[i])
    t = y0 / (y0 - y1)  # y0 < 0 <= y1, so 0 < t <= 1
    return _Cross(float(log_r[i - 1] + t * (log_r[i] - log_r[i - 1])), i)


def _curve(rates, mean, lo, hi):
    """Arrays of a curve, cut at the first unknown (NaN) mean."""
    r = np.asarray(rates, dtype=float)
    m, lo, hi = (np.asarray(a, dtype=float) for a in (mean, lo, hi))
    if r.size and np.any(np.diff(r) <= 0):
        raise ValueError("rates must be strictly increasing")
    nan = np.flatnonzero(np.isnan(m))
    k = int(nan[0]) if nan.size else r.size
    return r[:k], m[:k], lo[:k], hi[:k]


def _crossings(rates, mean, lo, hi):
    """(log rates, mean crossing, upper-edge crossing, lower-edge crossing) of a curve that crosses;
    None where the curve does not cross after its first rate."""
    r, m, lo, hi = _curve(rates, mean, lo, hi)
    if r.size == 0 or m[0] >= 0:
        return None
    with np.errstate(divide="ignore"):  # a rate of 0 (an advisor bucket's low end) sits at -inf
        log_r = np.log(r)
    mid = _first_crossing(log_r, m)
    if mid is None:
        return None
    return log_r, mid, _first_crossing(log_r, hi), _first_crossing(log_r, lo)


def find_breakeven(rates, mean, lo, hi) -> Crossing:
    """Break-even rate of an excess curve given per-rate mean and CI band edges.

    `rates` ascending and > 0. Values after the first NaN mean are ignored.
    """
    r, m, _, _ = _curve(rates, mean, lo, hi)
    if r.size == 0:
        return Crossing(math.nan, math.nan, math.nan, ABOVE)
    if m[0] >= 0:
        return Crossing(math.nan, math.nan, float(r[0]), BELOW)
    found = _crossings(rates, mean, lo, hi)
    if found is None:
        return Crossing(math.nan, float(r[-1]), math.nan, ABOVE)
    log_r, mid, up, down = found
    below, above = float(r[mid.index - 1]), float(r[mid.index])
    # The upper edge is >= the mean, so it crosses first: `up` is never None here.
    low = min(math.exp(up.x), below, math.exp(mid.x - REFINE_FLOOR))
    high = max(math.exp(down.x), above, math.exp(mid.x + REFINE_FLOOR)) if down is not None else math.nan
    return Crossing(math.exp(mid.x), low, high, FOUND, below, above)


def refinement_rates(rates, mean, lo, hi, floor: float = REFINE_FLOOR) -> list[float]:
    """Rates to simulate next so that the crossings of the mean and of both band edges
    each lie in a gap narrower than the CI; [] when they do (or nothing can be refined).

    The CI's log-width w (from the band edges' crossings; 2 x `floor`, the narrowest
    CI reported, if narrower) sets the target. For each crossing at x in a wider gap [a, b] (log rates), propose
    x - w/2 and x + w/2 (so a good interpolation is bracketed in one round) and, if
    the gap is wider than 2w (or neither fits in it), its middle (so it at least
    halves, whatever the curve).
    """
    found = _crossings(rates, mean, lo, hi)
    if found is None:
        return []
    log_r, mid, up, down = found
    if down is None:
        return []  # the CI is open above: bracket expansion's job, not refinement's
    tol = max(down.x - up.x, 2.0 * floor)
    margin = tol / 8.0
    picked: list[float] = []
    for c in (up, mid, down):
        if c.index == 0:
            continue
        a, b = float(log_r[c.index - 1]), float(log_r[c.index])
        if b - a <= tol:
            continue
        zoom = [x for x in (c.x - tol / 2.0, c.x + tol / 2.0) if a + margin < x < b - margin]
        if b - a > 2.0 * tol or not zoom:
            zoom.append(0.5 * (a + b))
        for x in zoom:
            if all(abs(x - y) > margin for y in picked):
                picked.append(x)
    return sorted(math.exp(x) for x in picked)


def last_rate_below(rates, mean, lo, hi) -> float:
    """The highest rate below the mean's first crossing (0 when the curve starts at or
    above zero; the highest rate with data when it never crosses).

    A run stopped early has a cost that is only a lower bound; at these rates the
    mean is still below zero, so such runs could hide an earlier crossing and must
    be re-simulated. At or above the crossing a lower bound only confirms it.
    """
    r, m, _, _ = _curve(rates, mean, lo, hi)
    if r.size == 0 or m[0] >= 0:
        return 0.0
    found = _crossings(rates, mean, lo, hi)
    if found is None:
        return float(r[-1])
    return float(r[found[1].index - 1])


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
