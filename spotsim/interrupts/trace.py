"""`trace`: replay a real Spot trace (availability ticks or node events).

The job runs on every live instance: each drop in the live count is a
preemption, and the job can run again once at least `min_nodes` are live; the
time until then is the capacity wait. For 1-node traces this is the README's
rule: a 1->0 transition is a preemption and the run of 0s after it the wait.
The trace is replayed cyclically from a random offset per replication; an
offset that falls while capacity is away starts at the next available moment.
`scale` divides uptimes (not waits), to sweep a trace's shape over rates.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Iterator

from ..errors import TraceError
from .base import InterruptPattern, Preemption
from .trace_io import CountSeries, load_trace


@dataclass(frozen=True)
class TraceReplay(InterruptPattern):
    series: CountSeries
    min_nodes: int = 1
    scale: float = 1.0
    name = "trace"

    @classmethod
    def from_file(cls, path, convention="available", min_nodes=1, rate_per_h=None):
        series = load_trace(path, convention)
        pattern = cls(series, min_nodes)
        if not any(c >= min_nodes for c in series.counts):
            raise TraceError(f"{path}: capacity is never available (never {min_nodes} live instance(s))")
        if rate_per_h:
            own = pattern.mean_interval_s
            if math.isinf(own):
                raise TraceError(f"{path}: the trace has no preemption, so it cannot be scaled to {rate_per_h}/h")
            pattern = cls(series, min_nodes, scale=own / (3600.0 / rate_per_h))
        return pattern

    # -- statistics of one pass over the trace --------------------------------
    def drops(self) -> int:
        """Preemptions in one pass over the trace (not counting the wrap-around)."""
        c = self.series.counts
        return sum(1 for a, b in zip(c, c[1:]) if b < a and a >= self.min_nodes)

    def _segments(self):
        s, c, end = self.series.starts, self.series.counts, self.series.end_s
        ends = s[1:] + (end,)
        return s, c, ends

    def cyclic_drops(self) -> int:
        """Preemptions per cycle of the replay: those of one pass plus a drop at the wrap-around."""
        c = self.series.counts
        wrap = 1 if self.drops() > 0 and c[0] < c[-1] and c[-1] >= self.min_nodes else 0
        return self.drops() + wrap

    @property
    def mean_interval_s(self) -> float:
        """Available (up) time per preemption over one replay cycle, divided by `scale`."""
        s, c, ends = self._segments()
        up = sum(e - a for a, e, n in zip(s, ends, c) if n >= self.min_nodes)
        n = self.cyclic_drops()
        return math.inf if n == 0 else up / n / self.scale

    # -- replay -----------------------------------------------------------------
    def replay(self, offset_s: float = 0.0) -> Iterator[tuple[float, float, float]]:
        """Yield (notice time in trace seconds since offset, uptime_s, wait_s), cyclically."""
        starts, counts, ends = self._segments()
        n = len(starts)
        period = self.series.end_s
        has_drop = self.drops() > 0
        i = max(0, bisect_right(starts, offset_s % period if period > 0 else 0.0) - 1)
        clock = 0.0  # trace seconds elapsed since the offset
        into = (offset_s % period) - starts[i] if period > 0 else 0.0
        # Skip forward to the first moment with capacity.
        while counts[i] < self.min_nodes:
            clock += ends[i] - starts[i] - into
            into = 0.0
            i = (i + 1) % n
        if not has_drop:
            while True:
                yield (math.inf, math.inf, 0.0)
        while True:
            up = ends[i] - starts[i] - into
            into = 0.0
            cur = counts[i]
            j = (i + 1) % n
            while counts[j] >= cur:  # no drop: the job keeps running
                up += ends[j] - starts[j]
                cur = counts[j]
                j = (j + 1) % n
            clock += up
            notice_at = clock
            wait = 0.0
            while counts[j] < self.min_nodes:
                wait += ends[j] - starts[j]
                j = (j + 1) % n
            clock += wait
            yield (notice_at, up / self.scale, wait)
            i = j

    def preemptions(self, rng) -> Iterator[Preemption]:
        offset = float(rng.uniform(0.0, self.series.end_s)) if self.series.end_s > 0 else 0.0
        for _, up, wait in self.replay(offset):
            yield Preemption(up, wait)

    def uptimes(self, rng):
        for p in self.preemptions(rng):
            yield p.uptime_s
