"""Seeded random streams: one independent generator per source of randomness.

A run's seed (an int, or a tuple such as (cell_seed, replication)) and a
stream name are hashed (BLAKE2b) into that stream's own seed, so that drawing
more of one stream (say, capacity waits) never shifts another (preemption
times): strategies compared at one seed see the same preemptions (common
random numbers). The preemption and job streams are numpy Generators (batch
draws); the notice and capacity streams draw a few scalars per preemption and
use Python's `random.Random`, which is far cheaper to create.
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


def run_streams(seed) -> tuple[np.random.Generator, np.random.Generator, random.Random, random.Random]:
    """(interrupts, job, notice, capacity) generators derived from `seed` only."""
    return (np.random.Generator(np.random.PCG64(stream_seed(seed, "interrupts"))),
            np.random.Generator(np.random.PCG64(stream_seed(seed, "job"))),
            random.Random(stream_seed(seed, "notice")),
            random.Random(stream_seed(seed, "capacity")))
