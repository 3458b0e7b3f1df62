"""Seeded random streams: one independent generator per purpose.

A run's seed (an int, or a tuple such as (cell_seed, replication)) and a
stream name are hashed (BLAKE2b) into that stream's own seed, so that drawing
more or less of one stream never shifts another: strategies compared at one
seed see the same preemptions, the same delivered notices and the same step
positions (common random numbers hold by construction).

Purposes: the job's noise (epoch times, accuracy noise), the interrupts
(preemption times, a trace's random start), notice delivery (does the notice
reach the job), the notice step (how much of the step in flight remains) and
capacity waits. Every stream is created on first use; the scalar streams use
Python's `random.Random`, cheaper to create than a numpy generator. Keyed
accuracy noise takes a key of its own (RunStreams.key), not a stream.

Creating the streams is a large share of a short run's cost, so RunStreams
takes a faster route to exactly the generators `stream_seed` defines (the
reference: np.random.PCG64(stream_seed(...)) and random.Random(stream_seed(...));
tests/test_rng.py holds the two routes to the same states and draws).
"""
from __future__ import annotations

import _random
import hashlib
import random

import numpy as np
from numpy.random.bit_generator import ISeedSequence


def stream_seed(seed, name: str) -> int:
    """A 128-bit seed for stream `name` of run `seed`."""
    return int.from_bytes(_digest(_entropy_repr(seed), name), "little")


def _entropy_repr(seed) -> str:
    """The seed as the text every stream's digest hashes (computed once per run)."""
    return repr(tuple(map(int, seed)) if isinstance(seed, (tuple, list)) else (int(seed),))


def _digest(entropy: str, name: str) -> bytes:
    """The 16-byte BLAKE2b digest of stream `name`: that of repr((entropy, name))."""
    return hashlib.blake2b(f"({entropy}, {name!r})".encode(), digest_size=16).digest()


_M32 = 0xFFFFFFFF


def _state_constants() -> tuple:
    """SeedSequence.generate_state's hash constants (numpy's INIT_B and MULT_B), which do not depend
    on the entropy: per 64-bit output word, (pool index, xor, multiplier) of its low and of its high
    32-bit half."""
    halves, h = [], 0x8B51F9DD
    for i in range(8):
        nxt = (h * 0x58F38DED) & _M32
        halves.append((i & 3, h, nxt))
        h = nxt
    return tuple(halves[k] + halves[k + 1] for k in range(0, 8, 2))


_STATE_CONSTANTS = _state_constants()


class _PcgSeed(ISeedSequence):
    """The seed sequence PCG64 reads its state from: numpy's SeedSequence of the digest, with its
    generate_state(4, uint64) done in Python (numpy's runs under np.errstate and a few small
    array operations, about half of a PCG64's creation; the algorithm is numpy's, word for word)."""

    __slots__ = ("words",)

    def __init__(self, digest: bytes):
        # SeedSequence splits an int seed into little-endian 32-bit words, which the digest's
        # bytes already are (zero high words, which the int would not have, give the same pool:
        # SeedSequence pads a short entropy with zeros).
        pool = np.random.SeedSequence(np.frombuffer(digest, dtype=np.uint32)).pool.tolist()
        words = []
        for i, x, m, j, x2, m2 in _STATE_CONSTANTS:
            lo = ((pool[i] ^ x) * m) & _M32
            hi = ((pool[j] ^ x2) * m2) & _M32
            words.append((lo ^ (lo >> 16)) | (hi ^ (hi >> 16)) << 32)
        self.words = words

    def generate_state(self, n_words, dtype=np.uint32):
        """The 4 uint64 words PCG64 asks for (nothing else is asked of this sequence)."""
        if n_words != 4 or (dtype is not np.uint64 and np.dtype(dtype) != np.uint64):
            raise ValueError("a PCG64 seed: 4 uint64 words only")
        return np.array(self.words, dtype=np.uint64)


_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715


def _mix_constants() -> tuple:
    """SeedSequence.mix_entropy's hash constants, which do not depend on the entropy: the 16 values
    its hashmix multiplies by, in the order it uses them (4 for the entropy words, 12 for the mixing)."""
    consts, h = [], _INIT_A
    for _ in range(16):
        h = (h * _MULT_A) & _M32
        consts.append(h)
    return tuple(consts)


_MIX_CONSTANTS = _mix_constants()


def _pcg_words(digests: list[bytes]) -> np.ndarray:
    """The 4 uint64 words PCG64 reads from SeedSequence(digest) for each digest, as rows of an
    (n, 4) array: numpy's mix_entropy and generate_state, word for word, on arrays of 32-bit words
    (one pass for a sweep's batch of runs rather than a SeedSequence per stream)."""
    entropy = np.frombuffer(b"".join(digests), dtype=np.uint32).reshape(len(digests), 4)
    with np.errstate(over="ignore"):
        consts = iter(np.array(_MIX_CONSTANTS, dtype=np.uint32))
        hash_xor = np.uint32(_INIT_A)

        def hashmix(value: np.ndarray) -> np.ndarray:
            nonlocal hash_xor
            mult = next(consts)
            value = (value ^ hash_xor) * mult
            hash_xor = mult
            return value ^ (value >> np.uint32(16))

        def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
            return result ^ (result >> np.uint32(16))

        pool = [hashmix(entropy[:, i]) for i in range(4)]
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        halves = []
        for i, x, m, j, x2, m2 in _STATE_CONSTANTS:
            for k, xor, mult in ((i, x, m), (j, x2, m2)):
                value = (pool[k] ^ np.uint32(xor)) * np.uint32(mult)
                halves.append(value ^ (value >> np.uint32(16)))
    return np.ascontiguousarray(np.stack(halves, axis=1)).view(np.uint64)


class _PcgWords(ISeedSequence):
    """A seed sequence that answers PCG64 with words already generated (_pcg_words' row)."""

    __slots__ = ("words",)

    def __init__(self, words: np.ndarray):
        self.words = words

    def generate_state(self, n_words, dtype=np.uint32):
        if n_words != 4 or (dtype is not np.uint64 and np.dtype(dtype) != np.uint64):
            raise ValueError("a PCG64 seed: 4 uint64 words only")
        return self.words


def _numpy_stream(digest: bytes) -> np.random.Generator:
    """np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little"))), made faster."""
    return np.random.Generator(np.random.PCG64(_PcgSeed(digest)))


class _Twister(random.Random):
    """random.Random(seed), seeded by the C generator's own seed(): Random's __init__ and seed() in
    Python check the seed's type and set what this sets, for a Python frame or two more."""

    def __init__(self, seed: int | None = None):  # None: as random.Random() (unpickling calls it so)
        _random.Random.seed(self, seed)
        self.gauss_next = None


def _scalar_stream(digest: bytes) -> random.Random:
    """random.Random(int.from_bytes(digest, "little"))."""
    return _Twister(int.from_bytes(digest, "little"))


_SCALAR_SLOTS = {"notice_delivery": "_delivery", "notice_step": "_step", "capacity": "_capacity"}
"""RunStreams' slot of each scalar stream, by its name."""


class RunStreams:
    """The random streams of one run, each created on first use (creation is not free)."""

    __slots__ = ("seed", "_entropy", "_job", "_interrupts", "_delivery", "_step", "_capacity")

    def __init__(self, seed):
        self.seed = seed
        self._entropy = None
        self._job = self._interrupts = self._delivery = self._step = self._capacity = None

    def _digest(self, name: str) -> bytes:
        """The digest behind stream_seed(self.seed, name)."""
        if self._entropy is None:
            self._entropy = _entropy_repr(self.seed)
        return _digest(self._entropy, name)

    @classmethod
    def batch(cls, seeds, names=("draws", "interrupts"), scalar_names=()) -> list["RunStreams"]:
        """RunStreams of each seed with the numpy streams `names` ("draws": the job's, "interrupts")
        and the scalar streams `scalar_names` ("notice_delivery", "notice_step", "capacity") already
        made, the numpy ones seeded in one pass (_pcg_words): the same generators, made for a batch of
        runs at a fraction of the cost of one at a time (the others are made on first use, as usual)."""
        runs = [cls(seed) for seed in seeds]
        if not runs:
            return runs
        digests = []
        for run in runs:
            run._entropy = entropy = _entropy_repr(run.seed)
            digests.extend(_digest(entropy, name) for name in names)
            for name in scalar_names:
                setattr(run, _SCALAR_SLOTS[name], _scalar_stream(_digest(entropy, name)))
        if not names:
            return runs
        words = _pcg_words(digests)
        generator, pcg = np.random.Generator, np.random.PCG64
        k = 0
        for run in runs:
            for name in names:
                stream = generator(pcg(_PcgWords(words[k])))
                k += 1
                if name == "draws":
                    run._job = stream
                else:
                    run._interrupts = stream
        return runs

    def key(self, name: str) -> int:
        """A 64-bit key of this run for `name` (the low half of stream_seed(seed, name)): for values that
        are a function of the seed and an index rather than draws in turn (keyed accuracy noise)."""
        return int.from_bytes(self._digest(name)[:8], "little")

    @property
    def job(self) -> np.random.Generator:
        """Epoch times and accuracy noise."""
        if self._job is None:
            # "draws": the name this stream had when it also served the interrupts, so that
            # epoch times and accuracies of a seed stay what they were.
            self._job = _numpy_stream(self._digest("draws"))
        return self._job

    @property
    def interrupts(self) -> np.random.Generator:
        """Preemption times (and a trace's random start)."""
        if self._interrupts is None:
            self._interrupts = _numpy_stream(self._digest("interrupts"))
        return self._interrupts

    @property
    def notice_delivery(self) -> random.Random:
        """Whether each notice reaches the job: one draw per preemption."""
        if self._delivery is None:
            self._delivery = _scalar_stream(self._digest("notice_delivery"))
        return self._delivery

    @property
    def notice_step(self) -> random.Random:
        """Where in its step each notice finds the job: one draw per preemption."""
        if self._step is None:
            self._step = _scalar_stream(self._digest("notice_step"))
        return self._step

    @property
    def capacity(self) -> random.Random:
        """Random capacity waits."""
        if self._capacity is None:
            self._capacity = _scalar_stream(self._digest("capacity"))
        return self._capacity
