"""`replay`: the preemptions of one measured run, in order (for validation).

Not a YAML pattern: calibration builds it from a run's event log and hands it
to `simulate(..., pattern=Replay(...))`. After the measured preemptions the VM
is never preempted again. Its waits, where given, replace the scenario's
capacity waits. The run's own epoch times, accuracies and start-ups are the
job's, not the pattern's: they go to `simulate` as a `measured.MeasuredRun`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .base import InterruptPattern, Preemption


@dataclass(frozen=True)
class Replay(InterruptPattern):
    uptimes_s: tuple[float, ...]
    """VM uptime from grant to each preemption notice, lifetime by lifetime."""
    waits_s: tuple[float, ...] = ()
    """Time from each VM being off to the next grant (empty: use the scenario's capacity)."""
    name = "replay"
    replaces_capacity_waits = True

    def __post_init__(self):
        if any(not (u >= 0) for u in self.uptimes_s) or any(not (w >= 0) for w in self.waits_s):
            raise ValueError("replayed uptimes and waits must be >= 0")
        if self.waits_s and len(self.waits_s) != len(self.uptimes_s):
            raise ValueError("give one wait per replayed preemption, or none")

    @property
    def mean_interval_s(self) -> float:
        return sum(self.uptimes_s) / len(self.uptimes_s) if self.uptimes_s else math.inf

    def preemptions(self, rng=None):
        for i, u in enumerate(self.uptimes_s):
            yield Preemption(u, self.waits_s[i] if self.waits_s else None)
        while True:
            yield Preemption(math.inf, None)

    def uptimes(self, rng=None):
        for p in self.preemptions(rng):
            yield p.uptime_s
