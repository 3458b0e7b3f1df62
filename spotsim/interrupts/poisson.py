"""`poisson`: memoryless preemptions, exponential uptimes with mean 1/rate."""
import math
from dataclasses import dataclass

from .base import RatePattern, batched


@dataclass(frozen=True)
class Poisson(RatePattern):
    name = "poisson"

    @property
    def variance_s2(self) -> float:
        return self.mean_interval_s ** 2

    def uptimes(self, rng):
        mean = self.mean_interval_s
        # scale x a standard exponential (finite, >= 0): >= 0 and never NaN where 0 <= scale < inf
        return batched(lambda n: rng.exponential(mean, n), checked=not 0.0 <= mean < math.inf)
