"""What an interrupt pattern is: a sampler of VM uptimes ended by preemption.

Shared by the simulator's preempter and real mode's injector. A pattern draws,
lifetime after lifetime, how long a freshly granted VM runs before its
preemption notice (`uptime_s`), and where it models capacity, how long capacity
then stays away (`wait_s`, else None). Patterns are parameterised by their mean
rate, so "preemptions per hour of VM uptime" means the same across patterns.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import ClassVar, Iterator, NamedTuple

import numpy as np


class Preemption(NamedTuple):
    uptime_s: float
    """VM uptime from grant to the preemption notice (inf: never preempted)."""
    wait_s: float | None
    """Time capacity stays away after the VM is off, if the pattern models it."""
    wait_before_s: float = 0.0
    """Time capacity is away before this lifetime's grant (a trace job submitted while
    capacity is away waits for it; counted as capacity wait, in the makespan, not billed)."""


class InterruptPattern:
    """Base class: subclasses set `name` and implement `uptimes` and `mean_interval_s`."""

    name: ClassVar[str] = ""
    replaces_capacity_waits: ClassVar[bool] = False
    """Whether the waits this pattern yields replace the scenario's capacity model (a replayed
    run's measured waits); other patterns' waits count only with capacity.wait "trace"."""

    @property
    def mean_interval_s(self) -> float:
        """Mean uptime between preemptions (inf when the pattern never preempts)."""
        raise NotImplementedError

    @property
    def mean_rate_per_h(self) -> float:
        """Mean preemptions per hour of uptime (0 when the pattern never preempts)."""
        m = self.mean_interval_s
        return 0.0 if math.isinf(m) else 3600.0 / m

    def uptimes(self, rng: np.random.Generator) -> Iterator[float]:
        """An endless stream of uptimes (seconds), drawn with `rng` only."""
        raise NotImplementedError

    def preemptions(self, rng: np.random.Generator) -> Iterator[Preemption]:
        """An endless stream of preemptions; patterns that model capacity override this."""
        return Uptimes(self.uptimes(rng))


class Uptimes:
    """The preemptions of a pattern that models no capacity: Preemption(u, None) for each uptime u.

    `uptimes` is the stream of bare uptimes, for a reader that needs nothing more
    (market.SpotMarket: a Preemption object per lifetime costs more than the rest of its period).
    """

    __slots__ = ("uptimes",)

    def __init__(self, uptimes: Iterator[float]):
        self.uptimes = iter(uptimes)

    def __iter__(self) -> "Uptimes":
        return self

    def __next__(self) -> Preemption:
        return Preemption(next(self.uptimes), None)


@dataclass(frozen=True)
class RatePattern(InterruptPattern):
    """A pattern parameterised by its long-run rate (preemptions per hour of uptime)."""

    rate_per_h: float

    @property
    def mean_interval_s(self) -> float:
        return 3600.0 / self.rate_per_h


def batched(draw, batch: int = 64, checked: bool = True) -> Iterator[float]:
    """The values of `draw(batch)` (a numpy sampler) one by one, refilling as needed.

    Drawing in batches keeps the per-value cost low (and a flat iterator, no
    generator frame per value); the values are refused if negative or NaN (a
    checked sampler, as in Ciw) unless `checked` is False, for a sampler that
    cannot draw either (an exponential of a finite, non-negative mean).
    """
    if not checked:
        return itertools.chain.from_iterable(_batches(draw, batch))
    return itertools.chain.from_iterable(_checked_batches(draw, batch))


def _batches(draw, batch: int) -> Iterator[list[float]]:
    while True:
        yield draw(batch).tolist()


def _checked_batches(draw, batch: int) -> Iterator[list[float]]:
    smallest = np.minimum.reduce  # values.min() without the method's own overhead (per run: its first batch)
    while True:
        values = draw(batch)
        if not smallest(values) >= 0:  # NaN fails too (the minimum propagates it)
            raise ValueError("sampler produced a negative or NaN time")
        yield values.tolist()
