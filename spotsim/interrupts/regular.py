"""`regular`: a preemption after exactly 1/rate of uptime, every lifetime."""
import itertools
from dataclasses import dataclass

from .base import RatePattern


@dataclass(frozen=True)
class Regular(RatePattern):
    name = "regular"

    def uptimes(self, rng):
        return itertools.repeat(self.mean_interval_s)
