"""`trace`: replay a real Spot trace (availability ticks or node events).

The job runs on every live instance: each drop in the live count is a
preemption, and the job can run again once at least `min_nodes` are live; the
time until then is the capacity wait. For 1-node traces this is the README's
rule: a 1->0 transition is a preemption and the run of 0s after it the wait.

A drop is the kill: `data[i]` counts the instances alive in tick i, so after a
1->0 drop the VM is gone. The notice comes `notice_s` before the kill, so a
lifetime that was live L seconds yields an uptime (grant to notice) of
max(L - notice_s, 0); the notice window then ends at the drop, and the
simulator's clock stays the trace's clock. (Only when a lifetime and the outage
after it are together shorter than the window does the next grant come later
than the trace's: when the window ends.)

The trace is one cycle of an endless replay: the drop at the wrap-around (last
tick up, first tick down) counts like any other, so every rotation of a trace
replays the same lifetimes. The job is submitted `start_s` seconds into the
trace (default: uniform random per replication); submitted while capacity is
away, it waits for it, and that wait is reported as the first preemption's
`wait_before_s`. `scale` divides uptimes (not waits), to sweep a trace's shape
over rates.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Iterator, NamedTuple

from ..errors import TraceError
from .base import InterruptPattern, Preemption
from .trace_io import CountSeries, load_trace


class TraceLifetime(NamedTuple):
    """One replayed VM lifetime, times in trace seconds since the submission."""

    grant_at: float
    notice_at: float
    kill_at: float
    uptime_s: float
    """Grant to notice, divided by the pattern's scale."""
    wait_s: float
    """Kill to the next grant (capacity away)."""
    wait_before_s: float
    """Capacity away before this grant (only the first lifetime after submission has any)."""


class _Cycle(NamedTuple):
    """The lifetimes of one trace cycle, sorted by grant: grant g[j] < kill k[j] <= g[j] + period."""

    grants: tuple[float, ...]
    kills: tuple[float, ...]


@dataclass(frozen=True)
class TraceReplay(InterruptPattern):
    series: CountSeries
    min_nodes: int = 1
    scale: float = 1.0
    notice_s: float = 0.0
    """The notice window: the notice comes this long before each drop (the kill)."""
    start_s: float | None = None
    """Seconds into the trace at which the job is submitted (None: uniform random per replication)."""
    name = "trace"

    def __post_init__(self):
        if not self.series.end_s > 0:
            raise TraceError(f"{self.series.source}: the trace spans no time (all its events at one moment)")
        if not any(c >= self.min_nodes for c in self.series.counts):
            raise TraceError(f"{self.series.source}: capacity is never available "
                             f"(never {self.min_nodes} live instance(s))")
        if self.start_s is not None and not 0.0 <= self.start_s < self.series.end_s:
            raise TraceError(f"{self.series.source}: a start of {self.start_s!r} s is outside the trace "
                             f"(0 to {self.series.end_s:g} s)")

    @classmethod
    def from_file(cls, path, convention="available", min_nodes=1, rate_per_h=None, notice_s=0.0,
                  start_s=None):
        """The replay of a trace file; `rate_per_h` (None: the trace's own) rescales its uptimes.

        Cached per file (and its modification time) and arguments: a run that builds its pattern
        does not walk the trace again (its cycle and mean uptime are computed once)."""
        p = Path(path)
        mtime = p.stat().st_mtime_ns if p.is_file() else None
        return _replay_of(cls, str(p), mtime, convention, min_nodes, rate_per_h, notice_s, start_s)

    @classmethod
    def _build(cls, path, convention, min_nodes, rate_per_h, notice_s, start_s):
        pattern = cls(load_trace(path, convention), min_nodes, notice_s=notice_s, start_s=start_s)
        own = pattern.mean_interval_s
        if own == 0:
            raise TraceError(f"{path}: every lifetime in the trace is shorter than the {notice_s:g} s notice "
                             f"window, so a job could never train")
        if rate_per_h is not None:
            if not rate_per_h > 0:
                raise TraceError(f"{path}: a trace is rescaled to a rate > 0, not {rate_per_h!r} "
                                 f"(a rate of 0 means never preempted: pattern none)")
            if math.isinf(own):
                raise TraceError(f"{path}: the trace has no preemption, so it cannot be scaled to {rate_per_h}/h")
            pattern = cls(pattern.series, min_nodes, own / (3600.0 / rate_per_h), notice_s, start_s)
        return pattern

    # -- one cycle of the trace ---------------------------------------------------
    def _drop_at(self, k: int) -> bool:
        """A preemption at the start of segment k (k = 0: the wrap-around)."""
        c = self.series.counts
        return c[k] < c[k - 1] and c[k - 1] >= self.min_nodes

    def drops(self) -> int:
        """Preemptions in one pass over the trace (not counting the wrap-around)."""
        return sum(1 for k in range(1, len(self.series.counts)) if self._drop_at(k))

    def cyclic_drops(self) -> int:
        """Preemptions per cycle of the replay: those of one pass plus a drop at the wrap-around."""
        return len(self._cycle.kills)

    @cached_property
    def _cycle(self) -> _Cycle:
        starts, counts, period = self.series.starts, self.series.counts, self.series.end_s
        n = len(counts)
        grants, kills = [], []
        for k in range(n):  # at a boundary, a kill comes before the grant that may follow it
            if self._drop_at(k):
                kills.append(starts[k])
            if counts[k] >= self.min_nodes and (counts[k - 1] < self.min_nodes or self._drop_at(k)):
                grants.append(starts[k])
        if not kills:
            return _Cycle((), ())
        # Pair each grant with the next kill after it (cyclically).
        paired = []
        for g in grants:
            i = bisect_right(kills, g)
            paired.append((g, kills[i] if i < len(kills) else kills[0] + period))
        return _Cycle(tuple(g for g, _ in paired), tuple(k for _, k in paired))

    @cached_property
    def mean_interval_s(self) -> float:
        """Mean uptime (grant to notice) per preemption over one replay cycle, divided by `scale`."""
        cycle = self._cycle
        if not cycle.kills:
            return math.inf
        up = sum(max(k - g - self.notice_s, 0.0) for g, k in zip(cycle.grants, cycle.kills))
        return up / len(cycle.kills) / self.scale

    # -- replay -------------------------------------------------------------------
    def _locate(self, pos: float) -> tuple[int, int, bool]:
        """Where trace time `pos` falls: (cycle c, lifetime j, inside it) with its kill at c period + k[j].

        Inside lifetime j the VM is granted at `pos` itself; in the outage before it, at its grant.
        """
        period = self.series.end_s
        g, k = self._cycle.grants, self._cycle.kills
        c = math.floor(pos / period)
        local = pos - c * period
        j = bisect_right(g, local) - 1
        if j < 0:  # before this cycle's first grant: in the previous cycle's last lifetime or outage
            c, j, local = c - 1, len(g) - 1, local + period
        if local < k[j] - 1e-9 * (period + abs(pos)):  # not a sliver left by rounding just before a drop
            return c, j, True
        return (c + 1, 0, False) if j == len(g) - 1 else (c, j + 1, False)

    def replay(self, offset_s: float = 0.0) -> Iterator[TraceLifetime]:
        """The lifetimes met by a job submitted `offset_s` seconds into the trace, endlessly."""
        period = self.series.end_s
        pos = float(offset_s) % period
        if not self._cycle.kills:  # a constant count, with capacity: never preempted
            while True:
                yield TraceLifetime(0.0, math.inf, math.inf, math.inf, 0.0, 0.0)
        g, k, n = self._cycle.grants, self._cycle.kills, len(self._cycle.grants)
        c, j, inside = self._locate(pos)
        grant = pos if inside else c * period + g[j]
        before = grant - pos
        while True:
            kill = c * period + k[j]
            notice = max(kill - self.notice_s, grant)
            off = max(kill, grant + self.notice_s)  # the window ends at the drop, or later if it is longer
            c, j = (c + 1, 0) if j == n - 1 else (c, j + 1)
            next_grant = c * period + g[j]
            if off > next_grant:  # the window outlasts the outage: capacity is taken where the VM is off
                c, j, inside = self._locate(off)
                next_grant = off if inside else c * period + g[j]
            yield TraceLifetime(grant - pos, notice - pos, off - pos,
                           max(kill - grant - self.notice_s, 0.0) / self.scale, next_grant - off, before)
            grant, before = next_grant, 0.0

    def start_offset(self, rng) -> float:
        """Seconds into the trace at which a replication's job is submitted."""
        if self.start_s is not None:
            return float(self.start_s)
        return float(rng.uniform(0.0, self.series.end_s))

    def preemptions(self, rng) -> Iterator[Preemption]:
        for life in self.replay(self.start_offset(rng)):
            yield Preemption(life.uptime_s, life.wait_s, life.wait_before_s)

    def uptimes(self, rng):
        for p in self.preemptions(rng):
            yield p.uptime_s


@lru_cache(maxsize=64)
def _replay_of(cls, path: str, mtime_ns, convention, min_nodes, rate_per_h, notice_s, start_s) -> "TraceReplay":
    """TraceReplay.from_file's cache (`mtime_ns` keys a file that changed; None: a missing file, refused)."""
    return cls._build(path, convention, min_nodes, rate_per_h, notice_s, start_s)
