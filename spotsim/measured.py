"""What a measured run brings to its replay: its own epoch times, accuracies and start-ups.

Calibration replays a real (or simulated) run through the simulator; the run's
own measurements replace the scenario's values for the job and for its
on-demand baseline alike, so that a replay without preemptions takes exactly
its baseline's time. The preemptions themselves (uptimes, waits) are an
interrupt pattern (`interrupts.replay.Replay`).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeasuredRun:
    epoch_times_s: tuple[float, ...] = ()
    """Training seconds of each epoch, in order (empty: the scenario's epoch_s and jitter)."""
    val_accs: tuple[float, ...] = ()
    """Validation accuracy after each epoch, in order (empty: the scenario's accuracy curve)."""
    startups_s: tuple[float | None, ...] = ()
    """Start-up of each lifetime, grant to training code (None or missing: the scenario's vm.startup_s)."""
    warmups_s: tuple[float | None, ...] = ()
    """Warm-up of each lifetime's first steps (None or missing: the scenario's job.warmup_s)."""
    compiles_s: tuple[float | None, ...] = ()
    """Compilation of each lifetime (None or missing: the scenario's, from job.compile_s)."""

    def __post_init__(self):
        if (any(not (x >= 0) for x in self.epoch_times_s)
                or any(x is not None and not (x >= 0)
                       for x in (*self.startups_s, *self.warmups_s, *self.compiles_s))):
            raise ValueError("measured epoch times, start-ups, warm-ups and compile times must be >= 0")

    def epoch_times(self, epochs: int) -> list[float] | None:
        """The measured epoch times if there is one per epoch, else None."""
        return list(self.epoch_times_s) if len(self.epoch_times_s) == epochs else None

    def accuracies(self, epochs: int) -> list[float] | None:
        """The measured accuracies if there is one per epoch, else None."""
        return list(self.val_accs) if len(self.val_accs) == epochs else None

    def startup_of(self, lifetime: int, default: float) -> float:
        """The measured start-up of `lifetime` (counted from 1), else `default`."""
        return _of(self.startups_s, lifetime, default)

    def warmup_of(self, lifetime: int, default: float) -> float:
        """The measured warm-up of `lifetime` (counted from 1), else `default`."""
        return _of(self.warmups_s, lifetime, default)

    def compile_of(self, lifetime: int, default: float) -> float:
        """The measured compilation of `lifetime` (counted from 1), else `default`."""
        return _of(self.compiles_s, lifetime, default)


def _of(values: tuple, lifetime: int, default: float) -> float:
    if 0 < lifetime <= len(values) and values[lifetime - 1] is not None:
        return values[lifetime - 1]
    return default
