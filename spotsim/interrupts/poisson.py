"""`poisson`: memoryless preemptions, exponential uptimes with mean 1/rate."""
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
        return batched(lambda n: rng.exponential(mean, n))
