"""`none`: the VM is never preempted (on-demand, or uninterrupted Spot)."""
import itertools
import math

from .base import InterruptPattern


class NoInterrupts(InterruptPattern):
    name = "none"

    @property
    def mean_interval_s(self) -> float:
        return math.inf

    def uptimes(self, rng):
        return itertools.repeat(math.inf)
