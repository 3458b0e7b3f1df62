"""`bursty`: a two-state Markov-modulated Poisson process (MMPP-2).

The market alternates between calm and burst periods (exponential durations;
bursts last `burst_mean_s` on average and take a fraction `burst_fraction` of
uptime). In a burst preemptions come `burst_ratio` times as fast as when calm.
The calm rate is set so that the long-run mean rate equals the configured one:
rate = (1 - f) r_calm + f r_burst, r_burst = ratio * r_calm. Defaults (ratio
10, f 0.1, bursts of 15 min) echo the correlated, clustered preemptions of real
traces (>92% of co-interruptions within 3 minutes, ../shared/FACTS.md).
The modulating chain runs in VM uptime and carries over between lifetimes.
"""
from dataclasses import dataclass

from .base import RatePattern, batched


@dataclass(frozen=True)
class Bursty(RatePattern):
    burst_ratio: float = 10.0
    burst_fraction: float = 0.1
    burst_mean_s: float = 900.0
    name = "bursty"

    @property
    def calm_rate_per_s(self) -> float:
        f = self.burst_fraction
        return self.rate_per_h / 3600.0 / (1.0 - f + f * self.burst_ratio)

    @property
    def calm_mean_s(self) -> float:
        f = self.burst_fraction
        return self.burst_mean_s * (1.0 - f) / f

    def uptimes(self, rng):
        rates = (self.calm_rate_per_s, self.calm_rate_per_s * self.burst_ratio)
        stay = (self.calm_mean_s, self.burst_mean_s)
        mean_gap = (1.0 / rates[0], 1.0 / rates[1])
        # Start in the stationary distribution of the modulating chain.
        state = 1 if rng.random() < self.burst_fraction else 0
        # rng.exponential(scale) is scale * rng.standard_exponential(): the same values drawn in batches
        # (tests/test_interrupts.py holds the two to the same uptimes).
        unit = batched(rng.standard_exponential)
        left = stay[state] * next(unit)
        elapsed = 0.0
        while True:
            gap = mean_gap[state] * next(unit)
            if gap < left:
                left -= gap
                yield elapsed + gap
                elapsed = 0.0
            else:
                elapsed += left
                state = 1 - state
                left = stay[state] * next(unit)
