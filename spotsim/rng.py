"""Seeded random streams: one independent generator per purpose.

A run's seed (an int, or a tuple such as (cell_seed, replication)) and a
stream name are hashed (BLAKE2b) into that stream's own seed, so that drawing
more or less of one stream never shifts another: strategies compared at one
seed see the same preemptions, the same delivered notices and the same step
positions (common random numbers hold by construction).

Purposes: the job's noise (epoch times, accuracy noise), the interrupts
(preemption times, a trace's random start), notice delivery (does the notice
reach the job), the notice step (how much of the step in flight remains) and
capacity waits. The two numpy streams cost ~13 us each to create, so every
stream is created on first use; the scalar streams use Python's
`random.Random`, cheaper to create.
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

    __slots__ = ("seed", "_job", "_interrupts", "_delivery", "_step", "_capacity")

    def __init__(self, seed):
        self.seed = seed
        self._job = self._interrupts = self._delivery = self._step = self._capacity = None

    @property
    def job(self) -> np.random.Generator:
        """Epoch times and accuracy noise."""
        if self._job is None:
            # "draws": the name this stream had when it also served the interrupts, so that
            # epoch times and accuracies of a seed stay what they were.
            self._job = np.random.Generator(np.random.PCG64(stream_seed(self.seed, "draws")))
        return self._job

    @property
    def interrupts(self) -> np.random.Generator:
        """Preemption times (and a trace's random start)."""
        if self._interrupts is None:
            self._interrupts = np.random.Generator(np.random.PCG64(stream_seed(self.seed, "interrupts")))
        return self._interrupts

    @property
    def notice_delivery(self) -> random.Random:
        """Whether each notice reaches the job: one draw per preemption."""
        if self._delivery is None:
            self._delivery = random.Random(stream_seed(self.seed, "notice_delivery"))
        return self._delivery

    @property
    def notice_step(self) -> random.Random:
        """Where in its step each notice finds the job: one draw per preemption."""
        if self._step is None:
            self._step = random.Random(stream_seed(self.seed, "notice_step"))
        return self._step

    @property
    def capacity(self) -> random.Random:
        """Random capacity waits."""
        if self._capacity is None:
            self._capacity = random.Random(stream_seed(self.seed, "capacity"))
        return self._capacity
