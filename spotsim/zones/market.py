"""Spot capacity over several zones: one timeline per zone, the zone policy choosing between them.

Every zone replays its own trace (interrupts/trace.py) from one submission
offset, so all zones share one trace clock and correlated outages stay
correlated: trace time = offset + seconds since submission. The offset is
drawn once per run from the interrupt stream, as a single trace's is
(uniform over the shortest trace), or is interrupts.trace_start_s. Each
zone's timeline is a SpotMarket (market.py) of that zone's lifetimes, its
outages being the capacity waits (capacity.wait plays no part with zones).

ZoneMarket has SpotMarket's interface (at, available, wait_s, advance,
killed_at), so the run's loops (lifetime.py) stay as they are: at a decision
the zone policy (zone_policies.py) picks the zone and the period returned is
that zone's, carrying its index. "Spot available" (wait_s == 0) means some
zone the policy would take has capacity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

from ..errors import ScenarioError
from ..interrupts.base import InterruptPattern, Preemption
from ..interrupts.trace import TraceReplay
from ..market import SpotMarket
from .ledger import ZoneLedger, move_table
from .spec import resolved_zones
from .zone_policies import ZONE_POLICIES


@dataclass(frozen=True)
class ZonePatterns(InterruptPattern):
    """The zones' trace replays: what a run with zones is given in place of an interrupt pattern."""

    zones: tuple
    """Resolved zones (spec.resolved_zones), in the scenario's order."""
    replays: tuple[TraceReplay, ...]
    policy: str
    start_s: float | None = None
    """Trace seconds at the submission (None: uniform per run over the shortest trace)."""
    name = "zones"

    @cached_property
    def mean_interval_s(self) -> float:
        """Uptime per preemption the job can expect: its zone's with stay (or one zone), else pooled
        over the zones (total uptime over total preemptions of one cycle each), what a job moving
        between them meets on average. Computed once (a sum over every zone's cycle)."""
        if self.policy == "stay" or len(self.replays) == 1:
            return self.replays[0].mean_interval_s
        kills = sum(r.cyclic_drops() for r in self.replays)
        if kills == 0:
            return math.inf
        up = sum(r.mean_interval_s * r.cyclic_drops() for r in self.replays if r.cyclic_drops())
        return up / kills

    def start_offset(self, rng) -> float:
        """Seconds into the traces at which a run's job is submitted (TraceReplay.start_offset's draw)."""
        if self.start_s is not None:
            return float(self.start_s)
        return float(rng.uniform(0.0, min(r.series.end_s for r in self.replays)))

    def preemptions(self, rng):
        raise NotImplementedError("zones have one timeline each: use ZoneMarket")


def zone_patterns(s) -> ZonePatterns:
    """The ZonePatterns of scenario `s` (which has zones), cached per zones and replay settings."""
    return _zone_patterns(resolved_zones(s), s.interrupts.trace_min_nodes, s.vm.notice_s,
                          s.interrupts.trace_start_s, s.policy.zones)


@lru_cache(maxsize=32)
def _zone_patterns(zones, min_nodes: int, notice_s: float, start_s, policy: str) -> ZonePatterns:
    replays = tuple(TraceReplay.from_file(z.trace, z.trace_convention, min_nodes, notice_s=notice_s)
                    for z in zones)
    ticks = {r.series.tick_s for r in replays}
    if len(ticks) > 1:
        raise ScenarioError("zones", [z.name for z in zones],
                            f"the zones' traces have different ticks ({', '.join(f'{t:g} s' for t in ticks)}): "
                            f"zones replay on one clock, so give traces of one tick")
    return ZonePatterns(zones, replays, policy, start_s)


def _trace_wait(pre: Preemption) -> float:
    """A zone's capacity comes back when its trace says."""
    return pre.wait_s


class ZoneMarket:
    """The periods a run meets over its zones (SpotMarket's interface; see the module docstring)."""

    def __init__(self, patterns: ZonePatterns, offset_s: float, notice_s: float, ledger: ZoneLedger,
                 remaining_s):
        self.zones = patterns.zones
        self.n = len(self.zones)
        self.offset_s = offset_s
        self._replays, self._notice_s = patterns.replays, notice_s
        self._timelines: list[SpotMarket | None] = [None] * self.n
        self.choose = ZONE_POLICIES[patterns.policy]
        self.ledger = ledger
        self._remaining_s = remaining_s

    def timeline(self, i: int) -> SpotMarket:
        """Zone i's timeline, made on first use (a replay has no random draws, so when makes no
        difference; `stay` never walks the other zones' traces)."""
        tl = self._timelines[i]
        if tl is None:
            replay = self._replays[i].replay(self.offset_s)
            tl = self._timelines[i] = SpotMarket(
                (Preemption(x.uptime_s, x.wait_s, x.wait_before_s) for x in replay), _trace_wait,
                self._notice_s, True, zone=i)
        return tl

    # -- what the zone policies read ------------------------------------------------------
    def open(self, i: int, t: float) -> bool:
        """Zone i has capacity at `t`."""
        return self.timeline(i).available(t)

    def price(self, i: int, t: float) -> float:
        """Zone i's Spot $/h at `t` (seconds since submission)."""
        return self.zones[i].prices.at(self.offset_s + t)

    def wait(self, i: int, t: float) -> float:
        """Seconds from `t` until zone i has capacity."""
        return self.timeline(i).wait_s(t)

    def move(self, i: int):
        """The move a Spot lifetime starting in zone i now would make (None: none)."""
        return self.ledger.move_to(i)

    def remaining_h(self) -> float:
        """The job's remaining work from its durable checkpoint, in hours."""
        return self._remaining_s() / 3600.0

    # -- SpotMarket's interface ---------------------------------------------------------
    def at(self, t: float):
        """The period current at `t` in the zone the policy picks then."""
        return self.timeline(self.choose(self, t)).at(t)

    def available(self, t: float) -> bool:
        return self.at(t).available(t)

    def wait_s(self, t: float) -> float:
        """Seconds from `t` until some zone the policy would take has capacity (0 if one has now)."""
        return self.timeline(self.choose(self, t)).wait_s(t)

    def advance(self):
        """The zone of the lifetime running moves to its next period."""
        return self.timeline(self.ledger.zone).advance()

    def killed_at(self, t: float, period=None) -> None:
        """The job saw its zone's kill (of `period`, default that zone's current one) at `t`."""
        zone = self.ledger.zone if period is None else period.zone
        self.timeline(zone).killed_at(t, period)

    def periods_until(self, horizon: float) -> tuple[list[tuple[float, float]], ...]:
        """(grant, kill) of every period that starts before `horizon`, one list per zone in list order
        (for a policy that sees the future; unlike SpotMarket's, one list per zone)."""
        return tuple(self.timeline(i).periods_until(horizon) for i in range(self.n))

    def price_ratio(self, t: float) -> float:
        """Spot price of the zone the policy picks at `t` over the on-demand price where the checkpoint
        is (what a deadline policy weighs Spot against)."""
        z = self.zones[self.ledger.checkpoint]
        return self.price(self.choose(self, t), t) / z.ondemand_per_h


def zone_market(patterns: ZonePatterns, s, streams, job, remaining) -> ZoneMarket:
    """The zone market of one run (its offset drawn from the interrupt stream) and its ledger
    (ZoneMarket.ledger), which the run's totals keep."""
    offset = patterns.start_offset(streams.interrupts)
    ledger = ZoneLedger(patterns.zones, move_table(patterns.zones, s.checkpoint.size_gb, s.moves), offset, job)

    def remaining_s() -> float:
        d = job.durable
        return remaining.remaining_s(*d) if d is not None else remaining.remaining_s(0, 0.0)

    job.totals.zones = ledger
    return ZoneMarket(patterns, offset, s.vm.notice_s, ledger, remaining_s)
