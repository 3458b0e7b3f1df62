"""`poisson`: memoryless preemptions, exponential uptimes with mean 1/rate."""
from dataclasses import dataclass

from .base import InterruptPattern, batched


@dataclass(frozen=True)
class Poisson(InterruptPattern):
    rate_per_h: float
    name = "poisson"

    @property
    def mean_interval_s(self) -> float:
        return 3600.0 / self.rate_per_h

    @property
    def variance_s2(self) -> float:
        return self.mean_interval_s ** 2

    def uptimes(self, rng):
        mean = self.mean_interval_s
        return batched(lambda n: rng.exponential(mean, n))
