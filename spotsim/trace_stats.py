"""Preemption statistics of a real Spot trace, read as one observed window of time.

The rule for what a preemption is matches the replay's (interrupts/trace.py):
the job runs while at least `min_nodes` instances are live, and every drop in
the live count while it runs (the count before the drop >= min_nodes) is a
preemption. The VM lifetime (uptime) runs from a grant to the next preemption;
a grant is the count reaching min_nodes, or a drop that still leaves
min_nodes live (the job restarts at once on those: a capacity wait of 0). The
capacity wait runs from a preemption to the next grant. For a 1-node trace: a
1->0 transition is a preemption and the run of 0s after it is the wait.

Unlike the replay, the trace is not a cycle: nothing is assumed before its
start or after its end. An interval whose both ends are seen is *complete*; one
cut by either end of the window is *censored* at its observed length (a lower
bound on the true one):
- a lifetime running at the end is right-censored; one already running at t=0
  is left-truncated: its observed part counts as exposure (available hours)
  and as a censored uptime, never as a complete one, even when it ends in a
  preemption (that preemption still counts in the rate);
- a wait cut by the end, or one under way at t=0 (the trace starts
  unavailable), is censored likewise.
Distributions (uptimes, waits) are of complete intervals; censored uptimes go
to the fits as lower bounds. The rate is preemptions per available hour (time
with >= min_nodes live), with an exact (Garwood, chi-square) 95% Poisson CI.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import TraceError
from .interrupts.trace_io import CountSeries

QUANTILES = (10, 25, 50, 75, 90)


class Interval(NamedTuple):
    """A lifetime or a wait in trace seconds; `complete` when both ends fall inside the window."""

    start_s: float
    end_s: float
    complete: bool

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def intervals(series: CountSeries, min_nodes: int = 1) -> tuple[list[Interval], list[Interval], int]:
    """The lifetimes and capacity waits of an observed window, in order, and the preemptions in it."""
    if min_nodes < 1:
        raise TraceError(f"--min-nodes must be at least 1, not {min_nodes}")
    starts, counts, end = series.starts, series.counts, series.end_s
    lifetimes: list[Interval] = []
    waits: list[Interval] = []
    preemptions = 0
    running = counts[0] >= min_nodes
    since, seen = 0.0, False  # the open interval's start, and whether that start is inside the window
    for k in range(1, len(counts)):
        t, before, now = starts[k], counts[k - 1], counts[k]
        if now < before and before >= min_nodes:  # a preemption (a kill)
            preemptions += 1
            lifetimes.append(Interval(since, t, seen))
            if now >= min_nodes:
                waits.append(Interval(t, t, True))  # enough still live: the job restarts at once
            running, since, seen = now >= min_nodes, t, True
        elif not running and now >= min_nodes:  # capacity back: a grant
            waits.append(Interval(since, t, seen))
            running, since, seen = True, t, True
    (lifetimes if running else waits).append(Interval(since, end, False))
    return lifetimes, waits, preemptions


def poisson_ci95(events: int, exposure_h: float) -> tuple[float, float]:
    """Exact (Garwood) 95% CI of a Poisson rate: `events` seen over `exposure_h` hours."""
    from scipy.stats import chi2  # scipy.stats takes ~0.7 s to import: only when a trace's rate is asked for
    lo = 0.0 if events == 0 else chi2.ppf(0.025, 2 * events) / 2.0 / exposure_h
    hi = chi2.ppf(0.975, 2 * events + 2) / 2.0 / exposure_h
    return float(lo), float(hi)


def summary_h(durations_s) -> dict:
    """Count, mean, median, CV (sample sd / mean) and quantiles (numpy's linear) of durations, in hours."""
    x = np.asarray(durations_s, dtype=float) / 3600.0
    if x.size == 0:
        return {"count": 0, "mean_h": None, "median_h": None, "cv": None,
                "quantiles_h": {str(q): None for q in QUANTILES}}
    mean = float(x.mean())
    cv = float(x.std(ddof=1) / mean) if x.size > 1 and mean > 0 else None
    return {"count": int(x.size), "mean_h": mean, "median_h": float(np.median(x)), "cv": cv,
            "quantiles_h": {str(q): float(v) for q, v in zip(QUANTILES, np.percentile(x, QUANTILES))}}


@dataclass(frozen=True)
class TraceStats:
    """What one trace says about preemptions at `min_nodes` live instances."""

    source: str
    name: str
    min_nodes: int
    span_s: float
    tick_s: float | None
    lifetimes: tuple[Interval, ...]
    waits: tuple[Interval, ...]
    preemptions: int
    fits: tuple = ()
    """PatternFit objects, best (smallest KS) first, tick-aware for a tick trace; empty when fits_note says why."""
    fits_note: str | None = None
    convention: str = "available"

    @property
    def available_s(self) -> float:
        return float(sum(life.duration_s for life in self.lifetimes))

    @property
    def availability(self) -> float:
        """Share of the window with at least min_nodes live."""
        return self.available_s / self.span_s

    @property
    def complete_uptimes_s(self) -> list[float]:
        return [life.duration_s for life in self.lifetimes if life.complete]

    @property
    def censored_uptimes_s(self) -> list[float]:
        return [life.duration_s for life in self.lifetimes if not life.complete]

    @property
    def complete_waits_s(self) -> list[float]:
        return [w.duration_s for w in self.waits if w.complete]

    @property
    def rate_per_h(self) -> float:
        return self.preemptions / (self.available_s / 3600.0)

    @property
    def rate_ci95(self) -> tuple[float, float]:
        return poisson_ci95(self.preemptions, self.available_s / 3600.0)

    @property
    def mean_wait_s(self) -> float | None:
        waits = self.complete_waits_s
        return float(np.mean(waits)) if waits else None

    def to_dict(self) -> dict:
        """Plain values for JSON (hours, shares, fits with their parameters)."""
        uptime = summary_h(self.complete_uptimes_s)
        uptime["censored"] = len(self.censored_uptimes_s)
        wait = summary_h(self.complete_waits_s)
        wait["censored"] = sum(1 for w in self.waits if not w.complete)
        best = self.fits[0].pattern if self.fits else None
        return {
            "source": self.source, "name": self.name, "convention": self.convention,
            "min_nodes": self.min_nodes, "span_h": self.span_s / 3600.0, "tick_s": self.tick_s,
            "preemptions": self.preemptions, "available_h": self.available_s / 3600.0,
            "availability": self.availability,
            "rate_per_h": {"value": self.rate_per_h, "ci95": list(self.rate_ci95)},
            "uptime": uptime, "wait": wait,
            "best_pattern": best,
            "fits": [{"pattern": f.pattern, "params": dict(f.params),
                      "ci95": {k: list(v) for k, v in f.ci95.items()},
                      "log_likelihood": f.log_likelihood, "ks": f.ks, "ks_tick_s": f.tick_s, "n": f.n,
                      "best": f.pattern == best} for f in self.fits],
            "fits_note": self.fits_note,
            "uptimes_h": [[life.duration_s / 3600.0, life.complete] for life in self.lifetimes],
            "waits_h": [[w.duration_s / 3600.0, w.complete] for w in self.waits],
        }


def trace_name(source: str) -> str:
    """A short name for a trace file: its folder and stem, e.g. aws-02-15-2023/us-east-1a_v100_1."""
    p = Path(source)
    return f"{p.parent.name}/{p.stem}" if p.parent.name else p.stem


def trace_stats(series: CountSeries, min_nodes: int = 1, *, fit: bool = True,
                convention: str = "available") -> TraceStats:
    """The statistics of one trace, with fitted patterns unless `fit` is false."""
    if not series.end_s > 0:
        raise TraceError(f"{series.source}: the trace spans no time (all its events at one moment)")
    lifetimes, waits, preemptions = intervals(series, min_nodes)
    if not lifetimes:
        raise TraceError(f"{series.source}: capacity is never available (never {min_nodes} live "
                         f"instance(s)): no uptime to measure; check --min-nodes and --convention")
    stats = TraceStats(series.source, trace_name(series.source), min_nodes, series.end_s, series.tick_s,
                       tuple(lifetimes), tuple(waits), preemptions, convention=convention)
    if not fit:
        return stats
    fits, note = fit_uptimes(stats.complete_uptimes_s, stats.censored_uptimes_s, series.tick_s)
    return replace(stats, fits=fits, fits_note=note)


def fit_uptimes(complete_s, censored_s, tick_s: float | None = None) -> tuple[tuple, str | None]:
    """Fitted patterns (best first), or none and the reason; tick-aware for a tick trace's `tick_s`."""
    if not complete_s:
        return (), "no complete uptime (no preemption after a grant seen in the trace): nothing to fit"
    from .pattern_fit import fit_patterns  # the fits' own module; imported when needed

    try:
        return tuple(fit_patterns(complete_s, censored_s, tick_s)), None
    except TraceError as exc:
        return (), str(exc)
