"""`replay`: the preemptions of one measured run, in order (for validation).

Not a YAML pattern: calibration builds it from a run's event log and hands it
to `simulate(..., pattern=Replay(...))`. After the measured preemptions the VM
is never preempted again. Its waits replace the scenario's capacity waits, and
its start-ups, where given, the scenario's vm.startup_s lifetime by lifetime, and its
epoch times, where given, the scenario's epoch_s epoch by epoch.
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
    startups_s: tuple[float | None, ...] = ()
    """Start-up of each lifetime, grant to training code (None or missing: the scenario's)."""
    epoch_times_s: tuple[float, ...] = ()
    """Training seconds of each epoch, in order (empty: the scenario's epoch_s and jitter)."""
    val_accs: tuple[float, ...] = ()
    """Validation accuracy after each epoch, in order (empty: the scenario's accuracy curve)."""
    name = "replay"
    provides_waits = True

    def __post_init__(self):
        if (any(not (u >= 0) for u in self.uptimes_s) or any(not (w >= 0) for w in self.waits_s)
                or any(x is not None and not (x >= 0) for x in self.startups_s)):
            raise ValueError("replayed uptimes, waits and start-ups must be >= 0")
        if self.waits_s and len(self.waits_s) != len(self.uptimes_s):
            raise ValueError("give one wait per replayed preemption, or none")

    def startup_of(self, lifetime: int, default: float) -> float:
        """The measured start-up of `lifetime` (counted from 1), else `default`."""
        if 0 < lifetime <= len(self.startups_s) and self.startups_s[lifetime - 1] is not None:
            return self.startups_s[lifetime - 1]
        return default

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
