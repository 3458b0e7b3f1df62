"""Trace replay as a job meets it: cyclic, a drop is the kill, the wait at submission counted, a pinned start."""
import itertools
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from spotsim.cli import main
from spotsim.errors import ScenarioError, TraceError
from spotsim.events import EventLog
from spotsim.interrupts import NoInterrupts, TraceReplay, build_pattern
from spotsim.interrupts.trace_io import CountSeries
from spotsim.model import simulate

from .conftest import DATA, ROOT, scenario, shared_trace

GAP = 60.0
TINY = str(DATA / "tiny_trace.json")
TINY_TICKS = json.loads((DATA / "tiny_trace.json").read_text())["data"]
V100 = "aws-spot-traces/availability/1-node/aws-02-15-2023/us-east-1a_v100_1.json"


def ticks(values, notice_s=0.0, min_nodes=1, start_s=None):
    return TraceReplay(CountSeries.from_ticks(values, GAP), min_nodes, notice_s=notice_s, start_s=start_s)


def lifetimes(pattern, offset_s, n):
    return list(itertools.islice(pattern.replay(offset_s), n))


def one_cycle(pattern, offset_s, cycle=2):
    """The lifetimes killed in trace cycle `cycle` (absolute trace time), all whole ones."""
    period = pattern.series.end_s
    out = []
    for life in pattern.replay(offset_s):
        kill = life.kill_at + offset_s
        if kill >= (cycle + 1) * period:
            return out
        if kill >= cycle * period:
            out.append(life)


def cyclic_preemptions(values, min_nodes=1):
    """Drops per cycle, counted on the tick list itself: a fall in live count from a running job."""
    return sum(1 for i in range(len(values)) if values[i] < values[i - 1] and values[i - 1] >= min_nodes)


# -- 9: a rate of 0 never preempts, a trace included ---------------------------------------
def test_trace_at_rate_zero_never_preempts():
    """interrupts.rate_per_h: 0 with a trace never preempts, as with every other pattern; no rate is the trace's own."""
    zero = scenario("interrupts.pattern=trace", f"interrupts.trace={TINY}", "interrupts.rate_per_h=0",
                    "job.epochs=20")
    assert isinstance(build_pattern(zero.interrupts), NoInterrupts)
    assert simulate(zero, 1).preemptions == 0
    own = scenario("interrupts.pattern=trace", f"interrupts.trace={TINY}", "job.epochs=20")
    assert own.interrupts.rate_per_h is None
    assert build_pattern(own.interrupts).mean_interval_s == pytest.approx((5 + 3 + 8 + 3) * GAP / 4)
    assert simulate(own, 1).preemptions > 0


# -- 10a: the replay is cyclic: every rotation replays the same lifetimes -----------------------
def test_rotations_of_one_cyclic_trace_preempt_alike(tmp_path):
    """[0,1,1,1] and [1,1,1,0] are one cycle: each preempts once per cycle after 3 ticks up, then 1 down."""
    for values in ([0, 1, 1, 1], [1, 1, 1, 0], [1, 0, 1, 1], [1, 1, 0, 1]):
        path = tmp_path / "rotation.json"
        path.write_text(json.dumps({"metadata": {"gap_seconds": GAP}, "data": values}))
        p = TraceReplay.from_file(path)
        assert p.cyclic_drops() == 1 and p.mean_interval_s == 3 * GAP
        got = list(itertools.islice(p.preemptions(np.random.default_rng(5)), 10))
        assert [(x.uptime_s, x.wait_s) for x in got[1:]] == [(3 * GAP, GAP)] * 9


counts_traces = st.integers(1, 3).flatmap(lambda m: st.tuples(
    st.lists(st.integers(0, 4), min_size=1, max_size=30).filter(lambda v: max(v) >= m), st.just(m)))
binary_traces = st.tuples(st.lists(st.integers(0, 1), min_size=1, max_size=30).filter(any), st.just(1))


@settings(max_examples=150, deadline=None)
@given(trace=st.one_of(binary_traces, counts_traces), notice=st.floats(0, GAP - 1),
       rotation=st.integers(0, 1000), offset=st.integers(0, 1000))
def test_every_rotation_replays_the_same_lifetimes(trace, notice, rotation, offset):
    """Any rotation, submitted at any tick: per cycle the same preemptions, uptimes and waits (closed forms).

    Every lifetime (a partial first one too) then outlives the window, so no grant is delayed past the trace's.
    """
    values, m = trace
    r = rotation % len(values)
    rotated = values[r:] + values[:r]
    base, turned = ticks(values, notice, m), ticks(rotated, notice, m)
    n = cyclic_preemptions(values, m)
    assert base.cyclic_drops() == turned.cyclic_drops() == n
    assert base.drops() == sum(1 for i in range(1, len(values)) if values[i] < values[i - 1] >= m)
    if n == 0:
        assert math.isinf(base.mean_interval_s) and math.isinf(next(turned.replay(0.0)).uptime_s)
        return
    a, b = one_cycle(base, offset % len(values) * GAP), one_cycle(turned, 0.0)
    assert len(a) == len(b) == n
    assert sorted(x.uptime_s for x in a) == pytest.approx(sorted(x.uptime_s for x in b))
    assert sorted(x.wait_s for x in a) == pytest.approx(sorted(x.wait_s for x in b))
    up_ticks = sum(1 for v in values if v >= m)
    assert sum(x.uptime_s for x in a) == pytest.approx(up_ticks * GAP - n * notice)
    assert sum(x.wait_s for x in a) == pytest.approx((len(values) - up_ticks) * GAP)
    assert base.mean_interval_s == pytest.approx(sum(x.uptime_s for x in a) / n)
    assert base.mean_rate_per_h == pytest.approx(3600.0 / base.mean_interval_s)


# -- 10d: a drop is the kill; the notice comes vm.notice_s before it -----------------------
@settings(max_examples=100, deadline=None)
@given(trace=st.one_of(binary_traces, counts_traces), notice=st.floats(0, 5 * GAP), offset=st.floats(0, 0.999))
def test_replay_keeps_the_trace_clock(trace, notice, offset):
    """Each lifetime: granted with capacity, killed at a drop (or when a longer window ends), notice before it."""
    values, m = trace
    p = ticks(values, notice, m)
    if p.cyclic_drops() == 0:
        return
    period = len(values) * GAP
    start = offset * period
    drops = {i for i in range(len(values)) if values[i] < values[i - 1] and values[i - 1] >= m}
    prev = None
    for life in lifetimes(p, start, 3 * len(values)):
        grant, kill = life.grant_at + start, life.kill_at + start
        assert values[int(math.floor(grant / GAP + 1e-9)) % len(values)] >= m  # capacity is there at the grant
        assert life.kill_at - life.notice_at == pytest.approx(notice)
        assert life.uptime_s == pytest.approx(max(life.notice_at - life.grant_at, 0.0))
        if life.uptime_s > 0:  # lived longer than the window: killed at the trace's drop
            assert round(kill / GAP) % len(values) in drops and kill == pytest.approx(round(kill / GAP) * GAP)
        if prev is not None:
            assert life.grant_at == pytest.approx(prev.kill_at + prev.wait_s)
            assert life.wait_before_s == 0.0
        prev = life


def test_drop_is_the_kill_notice_comes_before_it():
    """Tiny trace, 30 s notice: notices 30 s before each 1->0 drop; a lifetime shorter than the window is all notice."""
    p = ticks(TINY_TICKS, notice_s=30.0, start_s=60.0)
    got = lifetimes(p, 60.0, 4)
    # Submitted at the start of tick 1: up until the drop at tick 6, back at 8, drop at 11, back at 12, drop at 20.
    assert [x.kill_at + 60 for x in got] == [6 * GAP, 11 * GAP, 20 * GAP, 26 * GAP]
    assert [x.uptime_s for x in got] == [5 * GAP - 30, 3 * GAP - 30, 8 * GAP - 30, 3 * GAP - 30]
    short = lifetimes(ticks([1, 0, 1, 1, 1, 1, 1, 0], notice_s=100.0), 0.0, 3)
    assert [(x.uptime_s, x.kill_at, x.wait_s) for x in short[:2]] == [(0.0, 100.0, 20.0), (200.0, 7 * GAP, GAP)]
    drift = lifetimes(ticks([1, 0, 1, 1, 1, 1, 1, 0], notice_s=150.0), 0.0, 2)
    # The window (150 s) outlasts the lifetime and the outage (120 s): the next VM is granted when it ends.
    assert [(x.grant_at, x.uptime_s, x.kill_at) for x in drift] == [(0.0, 0.0, 150.0), (150.0, 120.0, 7 * GAP)]


def test_simulated_kills_are_spaced_as_the_trace_drops():
    """Random start, the trace's capacity: the simulator's kills are spaced exactly as the trace's drops (no drift)."""
    s = scenario("interrupts.pattern=trace", f"interrupts.trace={TINY}", "capacity.wait=trace", "vm.notice_s=30",
                 "vm.startup_s=10", "job.epochs=60", "job.epoch_s=30")
    drop_gaps = [5 * GAP, 9 * GAP, 6 * GAP, 6 * GAP]  # drops at ticks 6, 11, 20, 26 (the wrap-around), cyclically
    for seed in range(3):
        log = EventLog(keep=True)
        simulate(s, seed, events=log)
        kills = [r["t"] for r in log.records if r["event"] == "kill"]
        gaps = np.diff(kills[1:]).tolist()  # the first lifetime, cut by the submission, may end later than its drop
        assert len(gaps) >= 4
        assert any(gaps == pytest.approx(((drop_gaps[r:] + drop_gaps[:r]) * 10)[:len(gaps)]) for r in range(4))


def test_simulated_kills_fall_on_the_trace_drops():
    """In the simulator, with the trace's capacity, every VM is killed at a drop of the trace and noticed notice_s before."""
    s = scenario("interrupts.pattern=trace", f"interrupts.trace={TINY}", "interrupts.trace_start_s=60",
                 "capacity.wait=trace", "vm.notice_s=30", "vm.startup_s=10", "job.epochs=60", "job.epoch_s=30")
    log = EventLog(keep=True)
    simulate(s, 3, events=log)
    kills = [r["t"] + 60 for r in log.records if r["event"] == "kill"]
    notices = [r["t"] + 60 for r in log.records if r["event"] == "preempt_notice" and r["direction"] == "sent"]
    drops = [i * GAP for i in range(1, 200) if TINY_TICKS[i % 26] == 0 and TINY_TICKS[(i - 1) % 26] == 1]
    assert len(kills) >= 5
    assert kills == pytest.approx(drops[:len(kills)])
    assert [k - n for k, n in zip(kills, notices)] == pytest.approx([30.0] * len(kills))


def test_rate_scales_uptimes_to_notice():
    """A rescaled trace keeps the notice-before-kill rule: its uptimes (to the notice) average 1/rate."""
    p = TraceReplay.from_file(TINY, rate_per_h=10.0, notice_s=30.0)
    cycle = one_cycle(p, 0.0)
    assert np.mean([x.uptime_s for x in cycle]) == pytest.approx(360.0) == pytest.approx(p.mean_interval_s)
    with pytest.raises(TraceError, match="shorter than the 500 s notice"):
        TraceReplay.from_file(TINY, notice_s=500.0)  # the longest lifetime is 8 ticks, 480 s


# -- 10b: a job submitted while capacity is away waits, and the wait is reported -------------
def test_start_inside_an_outage_reports_the_wait():
    """Submitted 10 s into the 2-tick outage at tick 6: the first preemption carries wait_before_s = 110 s, the rest 0."""
    p = ticks(TINY_TICKS, start_s=6 * GAP + 10)
    got = list(itertools.islice(p.preemptions(np.random.default_rng(0)), 3))
    assert [x.wait_before_s for x in got] == [110.0, 0.0, 0.0]
    assert got[0].uptime_s == 3 * GAP
    inside = next(ticks(TINY_TICKS, start_s=GAP + 25).preemptions(None))
    assert (inside.wait_before_s, inside.uptime_s) == (0.0, 5 * GAP - 25)


def test_random_start_waits_as_a_submitted_job_does():
    """Uniform starts: P(wait) is the down share (7/26) and the mean wait sum(d^2)/(2 period), within 4 SE."""
    p = TraceReplay.from_file(TINY)
    w = np.array([next(p.preemptions(np.random.default_rng(seed))).wait_before_s for seed in range(4000)])
    share = 7 / 26
    assert abs((w > 0).mean() - share) < 4 * math.sqrt(share * (1 - share) / len(w))
    expected = GAP * (1 + 4 + 1 + 9) / (2 * 26)  # outages of 1, 2, 1 and 3 ticks
    assert abs(w.mean() - expected) < 4 * w.std() / math.sqrt(len(w))


def direct_makespan(values, gap, start, work_s, notice_s, startup_s):
    """A submitted job's makespan read off the tick list: it trains from each grant plus start-up until notice_s
    before the drop.

    Assumes notice_s < gap (as on the AWS traces: 195 s ticks, 120 s notice), so that each VM is off by the drop.
    """
    n = len(values)
    t, left = start, work_s
    while True:
        i = int(t // gap)
        if values[i % n] == 0:
            t = (i + 1) * gap  # capacity away: wait for it
            continue
        j = i + 1
        while values[j % n] != 0:
            j += 1
        useful = max(j * gap - t - notice_s - startup_s, 0.0)
        if left <= useful:
            return t + startup_s + left - start
        left -= useful
        t = j * gap


def v100_job(*sets):
    return scenario("cloud=aws", "gpu=V100", "interrupts.pattern=trace", f"interrupts.trace={shared_trace(V100)}",
                    "capacity.wait=trace", "checkpoint.strategy=none", "checkpoint.write_s=3", "vm.startup_s=1",
                    "checkpoint.restore_s=0", "job.step_s=0", "job.eval_s=0", "job.epochs=12", "job.epoch_s=3600",
                    *sets)


def test_makespan_on_a_real_trace_is_what_a_submitted_job_meets():
    """AWS us-east-1a V100, 12 h of work, 1 s start-up, emergency saves that fit: random starts give the mean of
    the direct reading of the trace within 4 SE (waits at submission included), and each pinned run equals it."""
    s = v100_job()  # limit_ratio 100 below: no run stops early (the longest makespan here is ~27x on-demand)
    doc = json.loads(shared_trace(V100).read_text())
    values, gap = doc["data"], float(doc["metadata"]["gap_seconds"])
    period = len(values) * gap
    rng = np.random.default_rng(8)
    n = 2000  # makespan sd ~77 h: 4 SE ~ 9 h, below the 11.4 h mean wait at submission this trace has
    sim = np.array([simulate(s, seed, limit_ratio=100).makespan_h for seed in range(n)])
    stratified = (np.arange(n) + rng.uniform(0, 1, n)) / n * period  # one uniform start per stratum: unbiased
    direct = np.array([direct_makespan(values, gap, u, 12 * 3600.0, 120.0, 1.0) / 3600 for u in stratified])
    se = math.sqrt(sim.var(ddof=1) / n + direct.var(ddof=1) / n)  # the iid SE bounds the stratified one
    assert abs(sim.mean() - direct.mean()) < 4 * se
    starts = rng.uniform(0, period, 12).tolist() + [next(i for i, v in enumerate(values) if v == 0) * gap + 7.0]
    for start in starts:
        pinned = s.with_values({"interrupts.trace_start_s": start})
        got = simulate(pinned, 0, limit_ratio=100).makespan_h * 3600
        assert got == pytest.approx(direct_makespan(values, gap, start, 12 * 3600.0, 120.0, 1.0), rel=1e-9, abs=1e-6)


# -- 10c: a run pinned to a moment of the trace --------------------------------------------
def notice_times(s, seed):
    log = EventLog(keep=True)
    simulate(s, seed, events=log)
    return [r["t"] for r in log.records if r["event"] == "preempt_notice" and r["direction"] == "sent"][:6]


def test_pinned_start_gives_every_strategy_and_seed_the_same_preemptions():
    """With trace_start_s pinned, fixed and milestone at different seeds see the same notices; unpinned seeds differ."""
    common = ("interrupts.pattern=trace", f"interrupts.trace={TINY}", "capacity.wait=trace", "vm.notice_s=30",
              "job.epochs=60", "job.epoch_s=30")
    pinned = ("interrupts.trace_start_s=400",)
    a = notice_times(scenario(*common, *pinned, "checkpoint.strategy=fixed"), 1)
    b = notice_times(scenario(*common, *pinned, "checkpoint.strategy=milestone"), 2)
    assert len(a) == 6 and a == b
    assert a[0] == 11 * GAP - 30 - 400  # waits 80 s for capacity (back at 480 s); notice 30 s before the drop at 660 s
    free = [notice_times(scenario(*common, "checkpoint.strategy=fixed"), seed) for seed in (1, 2, 3)]
    assert len({tuple(x) for x in free}) > 1


@pytest.mark.parametrize("value,phrase", [(-1, ">= 0"), ("soon", "number of seconds"), (1560, "below its length (1560 s)"),
                                          (1e9, "below its length")])
def test_bad_trace_start_is_refused(value, phrase):
    """A negative, non-numeric or past-the-end start is refused in one line naming interrupts.trace_start_s."""
    sets = ["interrupts.pattern=trace", f"interrupts.trace={TINY}", f"interrupts.trace_start_s={value}"]
    with pytest.raises(ScenarioError, match="interrupts.trace_start_s") as exc:
        scenario(*sets)
    assert phrase in str(exc.value)
    r = CliRunner().invoke(main, ["run", str(ROOT / "scenarios/default.yaml")] + [a for x in sets for a in ("--set", x)])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1 and "interrupts.trace_start_s" in r.output
