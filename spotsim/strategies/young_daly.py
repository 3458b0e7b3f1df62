"""`young_daly`: Daly's optimal interval from the planning rate and write time.

The planning rate is the configured interrupts.rate_per_h, else the pattern's
own mean rate (a trace replayed at its own rate): model.planning_rate_per_h.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..costs import daly_optimal_interval
from .base import CheckpointStrategy, TrainingState


@dataclass(frozen=True)
class YoungDaly(CheckpointStrategy):
    write_s: float
    rate_per_h: float
    name = "young_daly"

    def interval_s(self, state: TrainingState) -> float | None:
        if self.rate_per_h <= 0:
            return None  # no preemptions expected: never pay for a checkpoint
        write_s = state.checkpoint_write_s or self.write_s
        return daly_optimal_interval(write_s, 3600.0 / self.rate_per_h)
