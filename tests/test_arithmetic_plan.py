"""The arithmetic plan (spotsim/arithmetic_plan.py) against the listed one (plan.plan_stretch).

The listed plan walks the epochs phase by phase, the arithmetic one answers
from prefix sums and counts; for every strategy, from any state a job can be
in, they must describe the same phases: the same duration, the same phase at
any offset (kind, state at its end, bounds), the same phases in order, to
floating-point rounding. Plus: a run's cost in memory does not grow with its
epochs where nothing is drawn per epoch, and a job too long for per-epoch
arrays is refused in one line.
"""
from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spotsim.arithmetic_plan import ArithmeticStretch
from spotsim.config import load_scenario
from spotsim.errors import ScenarioError
from spotsim.job import Job
from spotsim.model import simulate, simulate_many
from spotsim.plan import Phase, plan_stretch
from spotsim.rng import RunStreams
from spotsim.strategies import build_strategy

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
APPROX = dict(rel=1e-9, abs=1e-7)


def _grid(x: float) -> float:
    """On a 1/16 s grid: sums are exact in floating point, so an exact tie (a save due at an epoch's
    end) is a tie for both plans; off the grid, rounding may resolve a tie either way."""
    return round(x * 16) / 16


@st.composite
def jobs(draw):
    """A job of any strategy, in a state a run can leave it in (after a restore, or mid-plan); times on
    a 1/16 s grid (see _grid) except drawn epoch times and adaptive's and young_daly's intervals."""
    strategy = draw(st.sampled_from(["fixed_epochs", "fixed_s", "adaptive", "milestone", "none", "young_daly"]))
    sets = [f"job.epochs={draw(st.integers(1, 40))}",
            f"job.epoch_s={_grid(draw(st.sampled_from([38.0, 7.0, draw(st.floats(0.5, 300.0))])))}",
            f"job.epoch_jitter={draw(st.sampled_from([0.0, 0.0, 0.25]))}",
            f"job.eval_s={_grid(draw(st.sampled_from([0.0, 2.0, draw(st.floats(0.0, 30.0))])))}",
            f"checkpoint.write_s={_grid(draw(st.sampled_from([0.0, 3.0, draw(st.floats(0.0, 90.0))])))}",
            f"accuracy.noise_sd={draw(st.sampled_from([0.0, 0.004, 0.05]))}"]
    if strategy == "fixed_epochs":
        sets += ["checkpoint.strategy=fixed", f"checkpoint.every_epochs={draw(st.integers(1, 7))}"]
    elif strategy == "fixed_s":
        sets += ["checkpoint.strategy=fixed", "checkpoint.every_epochs=null",
                 f"checkpoint.every_s={_grid(draw(st.sampled_from([60.0, 100.0, draw(st.floats(1.0, 500.0))])))}"]
    else:
        sets.append(f"checkpoint.strategy={strategy}")
    if strategy == "adaptive":
        sets += [f"checkpoint.min_interval_s={draw(st.floats(0.5, 100.0))}", "checkpoint.max_interval_s=900"]
    s = load_scenario(sets=sets)
    rate = draw(st.sampled_from([0.0, 3.0, 40.0]))
    job = Job(s, RunStreams(draw(st.integers(0, 10_000))), build_strategy(s.checkpoint, rate))
    st_ = job.state
    st_.epoch = draw(st.integers(0, job.epochs - 1))
    job.into = min(_grid(draw(st.sampled_from([0.0, 0.0, 1.0])) * draw(st.floats(0.0, 1.0))
                         * job.epoch_times.at(st_.epoch)), job.epoch_times.at(st_.epoch))
    st_.checkpoint_write_s = draw(st.sampled_from([0.0, job.write_s, 1.5]))
    st_.uptimes_s = draw(st.lists(st.floats(10.0, 20_000.0), max_size=3))
    st_.last_val_acc = job.last_acc(st_.epoch)
    interval = job.strategy.interval_s(st_)
    if interval is not None:
        st_.train_s_since_checkpoint = _grid(draw(st.floats(0.0, 0.99)) * max(interval, 1.0) * draw(st.sampled_from([0, 1])))
    return job


def _same_phase(a: Phase | None, b: Phase | None) -> None:
    assert (a is None) == (b is None), (a, b)
    if a is None:
        return
    assert (a.kind, a.epoch, a.saves) == (b.kind, b.epoch, b.saves), (a, b)
    assert a.into == pytest.approx(b.into, **APPROX) and a.since == pytest.approx(b.since, **APPROX)
    assert a.work == pytest.approx(b.work, **APPROX), (a, b)


@SETTINGS
@given(job=jobs(), fractions=st.lists(st.floats(0.0, 1.2), min_size=1, max_size=6))
def test_the_arithmetic_plan_is_the_listed_plan(job, fractions):
    """Same duration; at offsets anywhere in the stretch (and at every phase end exactly), the same
    completed phase and the same phase in progress; the same phases in order."""
    try:
        fast = ArithmeticStretch(job, 0.0)
    except ValueError:  # a time-based save already due: the arithmetic plan declines, the listed one plans it
        assume(False)
    listed = plan_stretch(job, job.epochs, float("inf"), 0.0)
    assert fast.duration_s == pytest.approx(listed.duration_s, **APPROX)
    phases = list(fast.phases_between(None, (job.epochs,)))
    assert len(phases) == len(listed.phases)
    for (end, phase), lend, lphase in zip(phases, listed.ends, listed.phases):
        assert end == pytest.approx(lend, **APPROX)
        _same_phase(phase, lphase)
    offsets = [f * listed.duration_s for f in fractions]
    # just inside each of a few phases (exact ends are ties that rounding may resolve either way)
    offsets += [e - 1e-3 for e in listed.ends[:: max(1, len(listed.ends) // 5)] if e > 1e-3]
    for x in offsets:
        a, b = fast.locate(x), listed.locate(x)
        if x < 1e-6 or any(abs(x - e) < 1e-6 for e in listed.ends):
            continue  # at a phase boundary to rounding: either side is right
        _same_phase(a.done, b.done)
        _same_phase(a.current, b.current)
        if b.current is not None:
            assert a.cur_start == pytest.approx(b.cur_start, **APPROX)
            assert a.cur_end == pytest.approx(b.cur_end, **APPROX)
        if a.done is not None and a.done.saves > 0:
            listed_saves = [p for p, e in zip(listed.phases, listed.ends) if p.kind == 2 and e <= x]
            epoch, into, work = fast.newest_save(a.done)
            assert (epoch, into, work) == pytest.approx(
                (listed_saves[-1].epoch, listed_saves[-1].into, listed_saves[-1].work), **APPROX)


@SETTINGS
@given(job=jobs(), cut=st.floats(0.0, 1.0))
def test_committing_in_parts_equals_committing_once(job, cut):
    """A stretch committed at an offset, then to its end, leaves the job as one commit to the end does."""
    try:
        ArithmeticStretch(job, 0.0)
    except ValueError:
        assume(False)
    once, twice = job.fresh(), job.fresh()
    for j in (once, twice):
        j.state.epoch, j.into = job.state.epoch, job.into
        j.state.train_s_since_checkpoint = job.state.train_s_since_checkpoint
        j.state.checkpoint_write_s, j.state.uptimes_s = job.state.checkpoint_write_s, list(job.state.uptimes_s)
    a = ArithmeticStretch(once, 0.0)
    once.commit(a, a.locate_end())
    b = ArithmeticStretch(twice, 0.0)
    twice.commit(b, b.locate(cut * b.duration_s))
    twice.commit(b, b.locate_end())
    assert twice.state.epoch == once.state.epoch == job.epochs
    assert twice.totals.checkpoints == once.totals.checkpoints
    assert twice.totals.work_s == pytest.approx(once.totals.work_s, **APPROX)
    assert twice.durable == once.durable or (twice.durable is not None and twice.durable.epoch == once.durable.epoch
                                             and twice.durable.into == pytest.approx(once.durable.into, **APPROX))
    assert twice.work_at_durable == pytest.approx(once.work_at_durable, **APPROX)


@pytest.mark.parametrize("noise", ["accuracy.noise_sd=0", "accuracy.noise_draws=keyed"])
def test_a_long_job_without_per_epoch_draws_runs_in_constant_memory(noise):
    """10^8 equal epochs (fixed and adaptive saves), noiseless or with keyed accuracy noise: a run
    finishes, allocating a few MB at most (one float per epoch would be 800 MB), alone and in a batch."""
    for strategy in (["checkpoint.every_epochs=1000000"], ["checkpoint.strategy=adaptive"]):
        s = load_scenario(["scenarios/study/base.yaml"],
                          ["job.epochs=100000000", "job.epoch_s=0.0001", "job.eval_s=0", noise,
                           "interrupts.rate_per_h=4"] + strategy)
        simulate(s, 0)  # imports (scipy.special for keyed noise) and caches out of the measurement
        tracemalloc.start()
        try:
            r = simulate(s, 1)
            batch = simulate_many(s, [2, 3, 4])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        for run in [r, *batch]:
            assert run.finished and run.epochs_done == 100_000_000 and run.preemptions > 0
        assert peak < 5e6, peak


def test_a_job_too_long_for_per_epoch_arrays_is_refused_in_one_line():
    """With accuracy noise (drawn per epoch), 10^8 epochs would need GBs: refused, naming the limit."""
    s = load_scenario(["scenarios/study/base.yaml"], ["job.epochs=100000000", "job.epoch_s=0.0001"])
    with pytest.raises(ScenarioError) as exc:
        simulate(s, 1)
    msg = str(exc.value)
    assert "\n" not in msg and "job.epochs" in msg and "10,000,000" in msg and "noise_draws=keyed" in msg


@pytest.mark.parametrize("sets", [
    ["checkpoint.strategy=milestone", "accuracy.noise_sd=0.02", "job.epoch_jitter=0.3"],
    ["checkpoint.strategy=fixed", "checkpoint.every_epochs=7", "job.epoch_jitter=0.5"],
    ["checkpoint.strategy=adaptive", "job.epoch_jitter=0.2"],
    ["checkpoint.strategy=fixed", "checkpoint.every_epochs=null", "checkpoint.every_s=50", "job.epoch_jitter=0.4"],
], ids=["milestone", "fixed_epochs", "adaptive", "fixed_s"])
def test_long_irregular_jobs_locate_like_the_listed_plan(sets):
    """5,000 epochs of drawn lengths (the search's first guess is then far off): the phase at 300 offsets
    across the job is the listed plan's."""
    import random
    s = load_scenario(sets=["job.epochs=5000", "job.epoch_s=10", "job.eval_s=0.5", "checkpoint.write_s=2"] + sets)
    job = Job(s, RunStreams(7), build_strategy(s.checkpoint, 4.0))
    fast, listed = ArithmeticStretch(job, 0.0), plan_stretch(job, job.epochs, float("inf"), 0.0)
    assert fast.duration_s == pytest.approx(listed.duration_s, **APPROX)
    rng = random.Random(3)
    for _ in range(300):
        x = rng.uniform(0.0, listed.duration_s)
        a, b = fast.locate(x), listed.locate(x)
        _same_phase(a.done, b.done)
        _same_phase(a.current, b.current)
