"""Interrupt patterns: sample means against configured rates, burstiness, trace replay."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotsim.errors import TraceError
from spotsim.interrupts import Bursty, Poisson, Regular, TraceReplay, Weibull, build_pattern
from spotsim.interrupts.base import batched
from spotsim.interrupts.trace_io import load_trace

from .conftest import DATA, scenario, shared_trace

N = 40_000


def draw(pattern, n=N, seed=3):
    return np.fromiter(itertools.islice(pattern.uptimes(np.random.default_rng(seed)), n), float, n)


@pytest.mark.parametrize("pattern", [Poisson(3.0), Weibull(2.0, 0.7), Weibull(5.0, 1.5)],
                         ids=["poisson", "weibull-0.7", "weibull-1.5"])
def test_renewal_sample_mean_matches_configured_rate(pattern):
    """Renewal patterns: sample mean within 4 known standard errors of 1/rate."""
    x = draw(pattern)
    se = math.sqrt(pattern.variance_s2 / len(x))
    assert abs(x.mean() - pattern.mean_interval_s) < 4 * se
    assert pattern.mean_interval_s == pytest.approx(3600.0 / pattern.rate_per_h)


def test_poisson_variance_is_exponential():
    """Poisson uptimes have coefficient of variation 1 (within 3%)."""
    x = draw(Poisson(6.0))
    assert x.std() / x.mean() == pytest.approx(1.0, abs=0.03)


def test_regular_is_exact():
    """Regular preemptions come after exactly 1/rate of uptime."""
    x = draw(Regular(4.0), n=10)
    assert np.all(x == 900.0)


def test_bursty_long_run_rate_and_overdispersion():
    """Bursty (MMPP-2): long-run mean matches the rate within 4 batch-means SEs, and CV > 1."""
    p = Bursty(3.0)
    x = draw(p, n=200_000)
    batches = x.reshape(100, -1).mean(axis=1)  # intervals are correlated: use batch means
    se = batches.std(ddof=1) / math.sqrt(len(batches))
    assert abs(x.mean() - p.mean_interval_s) < 4 * se
    assert x.std() / x.mean() > 1.2


def test_bursty_ratio_one_is_poisson():
    """With burst ratio 1 the MMPP has one rate: CV 1 within 3%."""
    x = draw(Bursty(3.0, burst_ratio=1.0))
    assert x.std() / x.mean() == pytest.approx(1.0, abs=0.03)


def _bursty_one_draw_at_a_time(p, rng):
    """Bursty.uptimes as first written: one rng.exponential call per draw (the reference)."""
    rates = (p.calm_rate_per_s, p.calm_rate_per_s * p.burst_ratio)
    stay = (p.calm_mean_s, p.burst_mean_s)
    state = 1 if rng.random() < p.burst_fraction else 0
    left = rng.exponential(stay[state])
    elapsed = 0.0
    while True:
        gap = rng.exponential(1.0 / rates[state])
        if gap < left:
            left -= gap
            yield elapsed + gap
            elapsed = 0.0
        else:
            elapsed += left
            state = 1 - state
            left = rng.exponential(stay[state])


@pytest.mark.parametrize("p", [Bursty(3.0), Bursty(40.0, 25.0, 0.3, 60.0), Bursty(0.5, 1.0)])
def test_bursty_batched_draws_are_the_one_at_a_time_draws(p):
    """Bursty draws its exponentials in batches (speed): the uptimes are those of one draw at a time, bit
    for bit (so sweeps keep their numbers)."""
    for seed in range(5):
        got = list(itertools.islice(p.uptimes(np.random.default_rng(seed)), 3000))
        ref = list(itertools.islice(_bursty_one_draw_at_a_time(p, np.random.default_rng(seed)), 3000))
        assert got == ref


def test_poisson_preemptions_and_bare_uptimes_agree():
    """A pattern without capacity waits gives Preemption(u, None) objects, and its bare uptimes to a market
    that reads only those (interrupts.base.Uptimes): the same values either way."""
    a = Poisson(5.0).preemptions(np.random.default_rng(1))
    b = Poisson(5.0).preemptions(np.random.default_rng(1)).uptimes
    pres = list(itertools.islice(a, 200))
    assert all(pre.wait_s is None and pre.wait_before_s == 0.0 for pre in pres)
    assert [pre.uptime_s for pre in pres] == list(itertools.islice(b, 200))


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_a_sampler_giving_a_negative_or_nan_time_is_refused(bad):
    from spotsim.interrupts.base import batched
    values = batched(lambda n: np.where(np.arange(n) == 5, bad, 1.0))
    with pytest.raises(ValueError, match="negative or NaN"):
        next(values)


def test_weibull_shape_below_one_is_heavy_tailed():
    """Weibull k < 1 gives CV > 1, as in real Spot traces (FACTS.md: CV 1.4-4.4)."""
    x = draw(Weibull(1.0, 0.6))
    assert x.std() / x.mean() > 1.4


def test_patterns_are_deterministic_per_seed():
    """The same seed gives the same uptimes; another seed does not."""
    for p in (Poisson(2.0), Bursty(2.0), Weibull(2.0, 0.8)):
        assert np.array_equal(draw(p, 50, seed=1), draw(p, 50, seed=1))
        assert not np.array_equal(draw(p, 50, seed=1), draw(p, 50, seed=2))


# -- traces ---------------------------------------------------------------------------------
def tiny():
    return TraceReplay.from_file(DATA / "tiny_trace.json")


def test_tiny_trace_replay_from_start():
    """Replaying from offset 0: the trace's three 1->0 transitions, uptimes and 0-runs as waits."""
    events = list(itertools.islice(tiny().replay(0.0), 3))
    # data: 0,1x5,0x2,1x3,0,1x8,0x3,1x3 at 60 s ticks; starts in a 0 tick: waits for capacity.
    assert [(e.uptime_s, e.wait_s) for e in events] == [(300.0, 120.0), (180.0, 60.0), (480.0, 180.0)]
    assert [e.notice_at for e in events] == [360.0, 660.0, 1200.0]
    assert [e.wait_before_s for e in events] == [60.0, 0.0, 0.0]


def test_trace_mean_interval_is_available_time_per_preemption():
    """A trace's mean interval: its available time over its preemptions per replay cycle."""
    p = tiny()
    assert p.drops() == 3
    assert p.cyclic_drops() == 4  # it ends available and starts preempted: the wrap-around drops too
    assert p.mean_interval_s == pytest.approx((5 + 3 + 8 + 3) * 60.0 / 4)


def test_inverted_convention_reads_one_as_preempted(tmp_path):
    """convention='preempted' reads 1 as preempted: the inverted file replays identically."""
    import json
    doc = json.loads((DATA / "tiny_trace.json").read_text())
    doc["data"] = [1 - v for v in doc["data"]]
    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps(doc))
    a = list(itertools.islice(tiny().replay(0.0), 5))
    b = list(itertools.islice(TraceReplay.from_file(inv, convention="preempted").replay(0.0), 5))
    assert a == b


def test_event_csv_trace_counts_drops():
    """Node-event CSV: every drop in live nodes preempts a job that uses them all."""
    p = TraceReplay.from_file(DATA / "tiny_events.csv")
    assert p.drops() == 3
    events = list(itertools.islice(p.replay(0.0), 3))
    assert [e.notice_at for e in events] == [600.0, 1200.0, 2400.0]
    assert [e.wait_s for e in events] == [0.0, 0.0, 0.0]  # a node is always left to restart on
    gang = TraceReplay.from_file(DATA / "tiny_events.csv", min_nodes=2)
    first = next(gang.replay(0.0))
    assert (first.notice_at, first.uptime_s, first.wait_s) == (600.0, 600.0, 300.0)  # 1 node from 600 s to 900 s


def test_scaled_trace_has_the_configured_rate():
    """A trace given a rate is rescaled so its uptimes average 1/rate (over many cycles)."""
    p = TraceReplay.from_file(DATA / "tiny_trace.json", rate_per_h=10.0)
    x = draw(p, n=3000)
    assert x.mean() == pytest.approx(360.0, rel=0.02)


@pytest.mark.parametrize("relative", [
    "aws-spot-traces/availability/1-node/aws-02-15-2023/us-east-1a_v100_1.json",
    "aws-spot-traces/preemption/1-node/aws-04-22-2023/us-west-2b_v100_1.json",
    "gcp-h100-availability/us-central1-b.json",
])
def test_replaying_real_trace_reproduces_its_preemptions(relative):
    """Replaying one pass of a real trace gives exactly its own number of 1->0 transitions."""
    path = shared_trace(relative)
    import json
    data = json.loads(path.read_text())
    gap = data["metadata"]["gap_seconds"]
    values = data["data"]
    transitions = sum(1 for a, b in zip(values, values[1:]) if a > 0 and b == 0)
    p = TraceReplay.from_file(path)
    end = len(values) * gap
    count = 0
    for life in p.replay(0.0):
        if life.notice_at >= end:
            break
        count += 1
    assert count == transitions == p.drops()


def test_parcae_cluster_trace_has_correlated_drops():
    """The 32-node p3 trace: 79 distinct removal times (FACTS/README), each a preemption of the gang."""
    p = TraceReplay.from_file(shared_trace("aws-p3-node-events/p3trace.csv"))
    assert p.drops() == 79


def test_trace_errors_are_clear(tmp_path):
    """Missing, malformed and never-available traces are refused with the file named."""
    with pytest.raises(TraceError, match="does not exist"):
        load_trace(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TraceError, match="bad.json"):
        load_trace(bad)
    dead = tmp_path / "dead.json"
    dead.write_text('{"metadata": {"gap_seconds": 60}, "data": [0, 0, 0]}')
    with pytest.raises(TraceError, match="never available"):
        TraceReplay.from_file(dead)
    csv = tmp_path / "e.csv"
    csv.write_text("0,add,node1\n10,explode,node1\n")
    with pytest.raises(TraceError, match="e.csv:2"):
        load_trace(csv)
    instant = tmp_path / "instant.csv"
    instant.write_text("5000,add,node1\n5000,add,node2\n")
    with pytest.raises(TraceError, match="spans no time"):
        TraceReplay.from_file(instant)


def test_build_pattern_from_scenario():
    """A scenario's interrupts section builds the matching pattern; rate 0 never preempts."""
    assert isinstance(build_pattern(scenario("interrupts.pattern=bursty").interrupts), Bursty)
    assert math.isinf(build_pattern(scenario("interrupts.rate_per_h=0").interrupts).mean_interval_s)
    t = scenario("interrupts.pattern=trace", f"interrupts.trace={DATA / 'tiny_trace.json'}")
    assert t.interrupts.rate_per_h is None
    assert build_pattern(t.interrupts).mean_interval_s == pytest.approx(285.0)


def test_replay_yields_measured_preemptions_then_none():
    """Replay gives the measured uptimes and waits in order, then never preempts."""
    from spotsim.interrupts import Replay
    from spotsim.model import simulate
    p = Replay((100.0, 250.0), (5.0, 7.0))
    got = list(itertools.islice(p.preemptions(None), 3))
    assert [(p.uptime_s, p.wait_s) for p in got[:2]] == [(100.0, 5.0), (250.0, 7.0)] and math.isinf(got[2].uptime_s)
    s = scenario("vm.startup_s=10", "vm.notice_s=30", "job.epochs=20", "job.epoch_s=30")
    r = simulate(s, 0, pattern=p)
    assert r.preemptions == 2 and r.wait_h * 3600 == pytest.approx(12.0)
    with pytest.raises(ValueError):
        Replay((1.0,), (1.0, 2.0))


@pytest.mark.parametrize("bad", [-1.0, math.nan])
def test_a_checked_sampler_refuses_negative_or_nan_times(bad):
    """batched() checks each batch (a custom sampler's bug stops the run with one message); Poisson's
    exponential of a finite non-negative mean cannot draw such a time, so it skips the check."""
    values = np.array([5.0, bad, 3.0])
    with pytest.raises(ValueError, match="negative or NaN"):
        next(batched(lambda n: values))
    unchecked = batched(lambda n: values, checked=False)
    assert [next(unchecked) for _ in range(2)][0] == 5.0


@settings(max_examples=50, deadline=None)
@given(rate=st.floats(1e-6, 1e4), seed=st.integers(0, 2**32))
def test_poisson_uptimes_are_never_negative_or_nan(rate, seed):
    uptimes = Poisson(rate).uptimes(np.random.default_rng(seed))
    drawn = [next(uptimes) for _ in range(200)]
    assert all(u >= 0.0 for u in drawn)
