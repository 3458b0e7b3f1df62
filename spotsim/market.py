"""Spot capacity as the job meets it: periods of availability, whether the job uses them or not.

The interrupt pattern's preemptions, taken in order, make a timeline: period
k is granted at `grant`, its notice comes `uptime_s` later and the cloud
kills it `notice_s` after the notice; capacity is then away for the wait
(the pattern's own, or the scenario's capacity model) before period k+1 is
granted. A job on Spot throughout (policy spot_only) takes every period at
its grant, which is the simulator's model before policies existed; a job
that leaves Spot for on-demand and comes back finds the period of that
moment, with whatever uptime it has left. A replayed trace is such a
timeline already (trace.py); for drawn patterns the timeline is what the
draws make, so a policy that looks ahead (the hindsight optimum) sees the
same periods the others live through.

Periods are made lazily, one draw at a time, in the order the simulator
always drew them (the interrupt stream for the uptime, then the capacity
stream for the wait after it), so spot_only runs keep their draws.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

from .interrupts.base import Preemption, Uptimes


class Period:
    """One period of Spot capacity (seconds since submission)."""

    __slots__ = ("grant", "uptime_s", "pre", "anchor", "lead_s", "notice", "kill", "zone")

    def __init__(self, grant: float, uptime_s: float, pre: Preemption | None, anchor: float, lead_s: float,
                 notice_s: float, zone: int = 0):
        self.grant = grant
        self.uptime_s = uptime_s
        """Grant to notice (inf: never preempted)."""
        self.pre = pre
        """The preemption this period was made from (None where the market reads bare uptimes)."""
        self.anchor = anchor
        """The moment the wait before this grant began (the previous kill, or the submission)."""
        self.lead_s = lead_s
        """grant - anchor, kept as drawn so that a job waiting from the anchor waits exactly this."""
        self.notice = grant + uptime_s
        self.kill = self.notice + notice_s
        self.zone = zone
        """The index of the zone this capacity is in (0 without zones; zones/market.py)."""

    def available(self, t: float) -> bool:
        """A VM can be granted at `t`: from the grant until the notice (at the grant itself even if the
        notice comes then: a trace's lifetime shorter than the notice window is still granted)."""
        return self.grant <= t and (t < self.notice or t == self.grant)

    def uptime_from(self, t: float) -> float:
        """Uptime to the notice of a VM granted at `t` in this period."""
        return self.uptime_s if t == self.grant else max(self.notice - t, 0.0)


class SpotMarket:
    """The periods of Spot capacity a run meets, made lazily from `preemptions`.

    `wait_after(pre)` gives how long capacity stays away after the kill of the
    period made from `pre` (drawing from the capacity stream where the scenario
    says so); `pattern_waits` says whether the pattern's `wait_before_s` counts.
    Where it does not and the pattern models no waits (`preemptions` is an
    interrupts.base.Uptimes), the market reads the bare uptimes, and `pre` is None
    (a speed-up: a Preemption object per period costs more than the rest of it).
    `zone`: the index of the zone whose capacity this is, carried by its periods
    (one SpotMarket per zone; zones/market.py chooses between them).
    """

    def __init__(self, preemptions: Iterator[Preemption], wait_after: Callable[[Preemption], float],
                 notice_s: float, pattern_waits: bool, zone: int = 0):
        self._preemptions = preemptions
        self._uptimes = preemptions.uptimes if isinstance(preemptions, Uptimes) and not pattern_waits else None
        """The bare uptimes, where nothing but the uptime of a preemption is read (else None)."""
        self._wait_after = wait_after
        self.notice_s = notice_s
        self.pattern_waits = pattern_waits
        self.zone = zone
        self.current = self._make(0.0, 0.0)

    def _make(self, anchor: float, wait: float) -> Period:
        if self._uptimes is not None:  # Preemption(u, None) without the object (wait_before_s unread)
            lead = wait + 0.0
            return Period(anchor + lead, next(self._uptimes), None, anchor, lead, self.notice_s, self.zone)
        pre = next(self._preemptions)
        lead = wait + (pre.wait_before_s if self.pattern_waits else 0.0)
        return Period(anchor + lead, pre.uptime_s, pre, anchor, lead, self.notice_s, self.zone)

    def advance(self) -> Period:
        """Move to the next period (after the current one's kill)."""
        p = self.current
        wait = self._wait_after(p.pre)
        if self._uptimes is not None:  # _make's first case, inlined (a run's commonest call)
            lead = wait + 0.0
            p = self.current = Period(p.kill + lead, next(self._uptimes), None, p.kill, lead, self.notice_s, self.zone)
            return p
        self.current = self._make(p.kill, wait)
        return self.current

    def killed_at(self, t: float, period: Period | None = None) -> None:
        """The job saw the kill of `period` (default: the current one) at `t` (the clock's own reading of
        it): the next period's wait starts there. If the market has already moved past it (a policy's
        review between the notice and the kill asked for the wait after it), the next period was made
        from the kill as drawn, and is left as it is."""
        (self.current if period is None else period).kill = t

    def at(self, t: float) -> Period:
        """The period current at `t`: the one whose kill is still ahead (or the next one granted)."""
        p = self.current
        if p.kill > t:  # the commonest call: no loop
            return p
        while p.kill <= t and math.isfinite(p.kill):
            p = self.advance()
        return p

    def available(self, t: float) -> bool:
        return self.at(t).available(t)

    def wait_s(self, t: float) -> float:
        """Seconds from `t` to the next moment a VM can be granted (0 if now)."""
        p = self.at(t)
        if p.available(t):
            return 0.0
        if t >= p.notice:  # being preempted: the next period
            p = self.advance()
        return p.lead_s if t == p.anchor else max(p.grant - t, 0.0)

    def periods_until(self, horizon: float) -> list[tuple[float, float]]:
        """(grant, kill) of every period that starts before `horizon`, from the current one on
        (makes them; used by a policy that sees the future)."""
        out = []
        p = self.current
        while p.grant < horizon:
            out.append((p.grant, p.kill))
            if not math.isfinite(p.kill):
                break
            p = self.advance()
        return out
