"""`weibull`: renewal uptimes with Weibull shape k, scaled to the configured mean.

k < 1 gives the heavy tails (coefficient of variation > 1) seen in real Spot
traces: uptime CV 1.4-4.4 on AWS V100 (../shared/FACTS.md). k = 1 is Poisson.
"""
import math
from dataclasses import dataclass

from .base import RatePattern, batched


@dataclass(frozen=True)
class Weibull(RatePattern):
    shape: float = 0.7
    name = "weibull"

    @property
    def scale_s(self) -> float:
        return self.mean_interval_s / math.gamma(1.0 + 1.0 / self.shape)

    @property
    def variance_s2(self) -> float:
        k, lam = self.shape, self.scale_s
        return lam ** 2 * (math.gamma(1 + 2 / k) - math.gamma(1 + 1 / k) ** 2)

    def uptimes(self, rng):
        scale, k = self.scale_s, self.shape
        return batched(lambda n: scale * rng.weibull(k, n))
