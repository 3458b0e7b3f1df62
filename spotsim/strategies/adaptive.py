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
        """The EMA of observed uptimes, starting from the prior.

        Uptimes only ever grow at the end, so the estimate of the list seen last is carried
        forward over the new ones (the same additions in the same order: the same value), not
        recomputed from the prior: O(1) a call rather than O(preemptions so far). The memo holds the
        list it was computed from and is read only for that list, so runs may share one strategy.
        """
        seen = self.__dict__.get("_seen")
        if seen is None:  # [list, its length then, the estimate then]: updated in place, call after call
            seen = [None, 0, 0.0]
            object.__setattr__(self, "_seen", seen)
        n = len(uptimes_s)
        if seen[0] is uptimes_s and seen[1] <= n:
            start, m = seen[1], seen[2]
            if start == n:
                return m
        else:
            start, m = 0, self.prior_mtbf_s
        a = self.ema_alpha
        for i in range(start, n):
            m = a * uptimes_s[i] + (1.0 - a) * m
        seen[0], seen[1], seen[2] = uptimes_s, n, m
        return m

    def interval_s(self, state: TrainingState) -> float:
        write_s = state.checkpoint_write_s or self.write_s
        young = math.sqrt(2.0 * write_s * self.mtbf_estimate_s(state.uptimes_s))
        at_least = young if young > self.min_interval_s else self.min_interval_s  # max(min_interval_s, young)
        return at_least if at_least < self.max_interval_s else self.max_interval_s  # min(max_interval_s, ...)
