"""`regular`: a preemption after exactly 1/rate of uptime, every lifetime."""
import itertools
from dataclasses import dataclass

from .base import InterruptPattern


@dataclass(frozen=True)
class Regular(InterruptPattern):
    rate_per_h: float
    name = "regular"

    @property
    def mean_interval_s(self) -> float:
        return 3600.0 / self.rate_per_h

    def uptimes(self, rng):
        return itertools.repeat(self.mean_interval_s)
