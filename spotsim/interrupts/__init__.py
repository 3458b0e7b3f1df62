"""Interrupt patterns, registered by name; one small module each."""
from __future__ import annotations

from .base import InterruptPattern, Preemption
from .bursty import Bursty
from .none import NoInterrupts
from .poisson import Poisson
from .regular import Regular
from .replay import Replay
from .trace import TraceReplay
from .weibull import Weibull

PATTERNS = {cls.name: cls for cls in (NoInterrupts, Regular, Poisson, Bursty, Weibull, TraceReplay)}


def build_pattern(interrupts, notice_s: float = 0.0) -> InterruptPattern:
    """The pattern a scenario's `interrupts` section describes.

    A rate of 0 never preempts, whatever the pattern (a trace included); a trace
    with no rate replays at its own rate. `notice_s` (the scenario's vm.notice_s)
    places a trace's notices that long before its drops, which are the kills.
    """
    name, rate = interrupts.pattern, interrupts.rate_per_h
    if name == "none" or rate == 0 or (rate is None and name != "trace"):
        return NoInterrupts()
    if name == "regular":
        return Regular(rate)
    if name == "poisson":
        return Poisson(rate)
    if name == "bursty":
        return Bursty(rate, interrupts.burst_ratio, interrupts.burst_fraction, interrupts.burst_mean_s)
    if name == "weibull":
        return Weibull(rate, interrupts.weibull_shape)
    if name == "trace":
        return TraceReplay.from_file(interrupts.trace, interrupts.trace_convention, interrupts.trace_min_nodes,
                                     rate_per_h=rate, notice_s=notice_s, start_s=interrupts.trace_start_s)
    raise KeyError(f"unknown interrupt pattern {name!r}; known: {', '.join(PATTERNS)}")


__all__ = ["PATTERNS", "InterruptPattern", "Preemption", "Replay", "TraceReplay", "build_pattern"]
