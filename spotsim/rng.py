"""Seeded random streams: one independent generator per source of randomness.

A run's seed (an int, or a tuple such as (cell_seed, replication)) and a
stream name are hashed (BLAKE2b) into that stream's own seed, so that drawing
more of one stream (say, capacity waits) never shifts another (preemption
times): strategies compared at one seed see the same preemptions (common
random numbers). The job's draws (epoch times, accuracy noise) and the
preemptions share one numpy Generator (creating one costs as much as a
hundred draws): the job draws a fixed number of values, set by the scenario
alone, before the first preemption is drawn, so preemption times still do
not depend on the strategy. The notice and capacity streams draw a few
scalars per preemption and use Python's `random.Random`, cheaper to create.
"""
from __future__ import annotations

import hashlib
import random

import numpy as np


def stream_seed(seed, name: str) -> int:
    """A 128-bit seed for stream `name` of run `seed`."""
    entropy = tuple(int(x) for x in seed) if isinstance(seed, (tuple, list)) else (int(seed),)
    digest = hashlib.blake2b(repr((entropy, name)).encode(), digest_size=16).digest()
    return int.from_bytes(digest, "little")


class RunStreams:
    """The random streams of one run, each created on first use (creation is not free)."""

    __slots__ = ("seed", "_draws", "_notice", "_capacity")

    def __init__(self, seed):
        self.seed = seed
        self._draws = self._notice = self._capacity = None

    @property
    def job(self) -> np.random.Generator:
        """Epoch times and accuracy noise: drawn first, a number fixed by the scenario."""
        if self._draws is None:
            self._draws = np.random.Generator(np.random.PCG64(stream_seed(self.seed, "draws")))
        return self._draws

    @property
    def interrupts(self) -> np.random.Generator:
        """Preemptions (and a trace's random offset): drawn after the job's draws."""
        return self.job

    @property
    def notice(self) -> random.Random:
        if self._notice is None:
            self._notice = random.Random(stream_seed(self.seed, "notice"))
        return self._notice

    @property
    def capacity(self) -> random.Random:
        if self._capacity is None:
            self._capacity = random.Random(stream_seed(self.seed, "capacity"))
        return self._capacity
