"""RunStreams' fast creation of the streams gives exactly the generators stream_seed defines."""
import hashlib
import random

import numpy as np
import pytest

from spotsim import rng
from spotsim.rng import RunStreams, stream_seed

SEEDS = [0, 1, 7, 2**31, 2**63 + 5, (1, 0), (1, 1), (2026, 17), (0, 0), [3, 4], (5, 6, 7)]
SEEDS += [(11, i) for i in range(200)]


def _reference_digest(seed, name: str) -> bytes:
    """stream_seed's digest as it was first written: the repr of ((ints...), name)."""
    entropy = tuple(int(x) for x in seed) if isinstance(seed, (tuple, list)) else (int(seed),)
    return hashlib.blake2b(repr((entropy, name)).encode(), digest_size=16).digest()


@pytest.mark.parametrize("name", ["draws", "interrupts", "notice_step", "capacity"])
def test_stream_seed_hashes_the_seed_and_name(name):
    """stream_seed is the little-endian int of BLAKE2b(repr((entropy, name)))."""
    for seed in SEEDS:
        assert stream_seed(seed, name) == int.from_bytes(_reference_digest(seed, name), "little")


def test_numpy_streams_equal_pcg64_of_the_stream_seed():
    """The job and interrupt streams are PCG64(stream_seed): same state, same draws."""
    for seed in SEEDS:
        streams = RunStreams(seed)
        for got, name in ((streams.job, "draws"), (streams.interrupts, "interrupts")):
            want = np.random.Generator(np.random.PCG64(stream_seed(seed, name)))
            assert got.bit_generator.state == want.bit_generator.state
            assert got.normal(0.0, 1.0, 5).tolist() == want.normal(0.0, 1.0, 5).tolist()
            assert got.exponential(3.0, 70).tolist() == want.exponential(3.0, 70).tolist()


def test_pcg_seed_equals_seed_sequence_for_any_digest():
    """The Python generate_state equals numpy's, for digests with zero high words too (where an int
    seed has fewer than four 32-bit words)."""
    r = random.Random(3)
    digests = [r.getrandbits(128).to_bytes(16, "little") for _ in range(2000)]
    digests += [r.getrandbits(bits).to_bytes(16, "little") for bits in (0, 1, 31, 32, 33, 64, 95, 96, 97)]
    for d in digests:
        want = np.random.SeedSequence(int.from_bytes(d, "little")).generate_state(4, np.uint64).tolist()
        assert rng._PcgSeed(d).generate_state(4, np.uint64).tolist() == want


def test_pcg_seed_refuses_other_requests():
    """Only PCG64's request is answered; anything else would be a different sequence."""
    with pytest.raises(ValueError):
        rng._PcgSeed(bytes(16)).generate_state(8)


def test_scalar_streams_equal_random_of_the_stream_seed():
    """The notice and capacity streams are random.Random(stream_seed)."""
    for seed in SEEDS:
        streams = RunStreams(seed)
        for got, name in ((streams.notice_step, "notice_step"), (streams.notice_delivery, "notice_delivery"),
                          (streams.capacity, "capacity")):
            want = random.Random(stream_seed(seed, name))
            assert got.getstate() == want.getstate()
            assert [got.random() for _ in range(3)] == [want.random() for _ in range(3)]
            assert got.expovariate(0.5) == want.expovariate(0.5)


def test_scalar_streams_pickle():
    """A scalar stream survives pickling as random.Random does, state and all."""
    import pickle
    stream = RunStreams((1, 2)).notice_step
    stream.random()
    copy = pickle.loads(pickle.dumps(stream))
    assert copy.getstate() == stream.getstate() and copy.random() == stream.random()


def test_pcg_words_of_a_batch_equal_seed_sequence_for_any_digest():
    """The one-pass seeding of a batch (arrays of 32-bit words) equals numpy's SeedSequence per digest."""
    r = random.Random(4)
    digests = [r.getrandbits(128).to_bytes(16, "little") for _ in range(3000)]
    digests += [r.getrandbits(bits).to_bytes(16, "little") for bits in (0, 1, 31, 32, 33, 64, 95, 96, 97)]
    words = rng._pcg_words(digests)
    assert words.shape == (len(digests), 4) and words.dtype == np.uint64
    for d, row in zip(digests, words):
        assert row.tolist() == np.random.SeedSequence(int.from_bytes(d, "little")).generate_state(4, np.uint64).tolist()


@pytest.mark.parametrize("names", [("draws", "interrupts"), ("interrupts",), ("draws",), ()])
def test_a_batch_of_streams_equals_each_runs_own(names):
    """RunStreams.batch makes the streams it is asked for as RunStreams(seed) would, and leaves the others
    to be made on first use, as usual."""
    seeds = SEEDS[:40]
    for seed, batched in zip(seeds, RunStreams.batch(seeds, names)):
        alone = RunStreams(seed)
        made = {"draws": batched._job, "interrupts": batched._interrupts}
        for name in ("draws", "interrupts"):
            assert (made[name] is not None) == (name in names)
        assert batched.job.bit_generator.state == alone.job.bit_generator.state
        assert batched.interrupts.bit_generator.state == alone.interrupts.bit_generator.state
        assert batched.notice_step.getstate() == alone.notice_step.getstate()
        assert batched.job.normal(0.0, 1.0, 4).tolist() == alone.job.normal(0.0, 1.0, 4).tolist()
    assert RunStreams.batch([]) == []
