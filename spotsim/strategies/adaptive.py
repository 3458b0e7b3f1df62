"""`adaptive`: Young's interval from an EMA of the observed time between preemptions.

Before the first preemption the MTBF estimate is the prior (default one hour:
the middle of the 0.10-1.39 preemptions per available hour measured on AWS
V100 Spot, ../shared/FACTS.md "Measured preemption behaviour"). Each observed
uptime u updates the estimate as m <- alpha * u + (1 - alpha) * m.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .base import CheckpointStrategy, TrainingState


@dataclass(frozen=True)
class AdaptiveInterval(CheckpointStrategy):
    prior_mtbf_s: float = 3600.0
    ema_alpha: float = 0.3
    min_interval_s: float = 60.0
    max_interval_s: float = 3600.0
    write_s: float = 0.0
    """Write time to use when the state has no measured one yet."""
    name = "adaptive"

    def mtbf_estimate_s(self, uptimes_s) -> float:
        """The EMA of observed uptimes, starting from the prior."""
        m = self.prior_mtbf_s
        for u in uptimes_s:
            m = self.ema_alpha * u + (1.0 - self.ema_alpha) * m
        return m

    def interval_s(self, state: TrainingState) -> float:
        write_s = state.checkpoint_write_s or self.write_s
        young = math.sqrt(2.0 * write_s * self.mtbf_estimate_s(state.uptimes_s))
        return min(self.max_interval_s, max(self.min_interval_s, young))
