"""simulate_many (a sweep chunk's runs, their streams seeded and noise drawn in one pass) gives
exactly simulate's results, run by run, for any scenario and any seeds."""
from __future__ import annotations

import dataclasses
import gc
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.config import load_scenario
from spotsim.job import Job, batch_draws
from spotsim.model import simulate, simulate_many
from spotsim.rng import RunStreams
from spotsim.strategies import build_strategy
from tests.conftest import DATA
from tests.test_model_properties import PATTERN_NAMES, STRATEGY_NAMES, scenarios

ROOT = Path(__file__).resolve().parent.parent


def _fields(r):
    return repr([(f.name, getattr(r, f.name)) for f in dataclasses.fields(r)])


SEEDS = st.lists(st.one_of(st.integers(0, 2**40), st.tuples(st.integers(0, 2**31), st.integers(0, 10_000))),
                 min_size=0, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=st.sampled_from(STRATEGY_NAMES), pattern=st.sampled_from(PATTERN_NAMES),
       noise=st.sampled_from([0.0, 0.004, 0.05]), draws=st.sampled_from(["sequence", "keyed"]), seeds=SEEDS)
def test_simulate_many_gives_each_seeds_simulate(data, strategy, pattern, noise, draws, seeds):
    """Bit for bit, with the scenario's baseline worked out by the batch's first run or kept from before
    (noise 0.05 clips accuracies at 0; milestone's saves follow the noise, drawn or keyed)."""
    s, _ = data.draw(scenarios(strategy, pattern))
    s = s.with_values({"accuracy.noise_sd": noise, "accuracy.noise_draws": draws})
    many = simulate_many(s, seeds)
    assert [_fields(r) for r in many] == [_fields(simulate(s, seed)) for seed in seeds]
    again = simulate_many(s, seeds)  # the scenario's setup (and any baseline it keeps) made by the first call
    assert [_fields(r) for r in again] == [_fields(r) for r in many]


@pytest.mark.parametrize("policy", ["greedy", "uniform_progress", "omniscient"])
def test_simulate_many_gives_simulates_results_under_a_deadline_policy(policy):
    s = load_scenario([ROOT / "scenarios/study/base.yaml"], ["interrupts.rate_per_h=4", "interrupts.pattern=poisson"])
    od_h = simulate(s, 0).ondemand_makespan_h
    s = s.with_values({"job.deadline_h": 1.5 * od_h, "policy.name": policy})
    seeds = [(3, i) for i in range(4)]
    assert [_fields(r) for r in simulate_many(s, seeds)] == [_fields(simulate(s, seed)) for seed in seeds]


def test_simulate_many_gives_simulates_results_with_zones():
    zones = [{"name": f"z{i}", "trace": str(DATA / "tiny_trace.json"), "region": f"r{i}"} for i in range(2)]
    s = load_scenario([], [f"zones={json.dumps(zones)}", "policy.zones=failover"])
    seeds = [(5, i) for i in range(3)]
    assert [_fields(r) for r in simulate_many(s, seeds)] == [_fields(simulate(s, seed)) for seed in seeds]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seeds=st.lists(st.integers(0, 2**31), min_size=1, max_size=8),
       jitter=st.sampled_from([0.0, 0.3]), noise=st.sampled_from([0.0, 0.004, 0.2]))
def test_batch_draws_equal_each_jobs_own(data, seeds, jitter, noise):
    """Epoch times, accuracies (clipped) and milestone's saves per epoch equal a Job drawing alone."""
    s, _ = data.draw(scenarios("milestone", "poisson"))
    s = s.with_values({"job.epoch_jitter": jitter, "accuracy.noise_sd": noise})
    strategy = build_strategy(s.checkpoint, 2.0)
    draws = batch_draws(s, RunStreams.batch(seeds), strategy)
    for seed, (times, accs, saves) in zip(seeds, draws):
        alone = Job(s, RunStreams(seed), strategy)
        batched = Job(s, RunStreams(seed), strategy, draws=(times, accs, saves))
        n = s.job.epochs
        assert [times.at(e) for e in range(n)] == [alone.epoch_times.at(e) for e in range(n)]
        assert accs.values().tolist() == alone.accuracies.values().tolist()
        assert np.all((accs.values() >= 0.0) & (accs.values() <= 1.0))
        cnt, last = batched.epoch_saves()
        cnt1, last1 = alone.epoch_saves()
        assert [(cnt(k), last(k)) for k in range(n + 1)] == [(cnt1(k), last1(k)) for k in range(n + 1)]
        assert [accs.best_before(e) for e in range(n + 1)] == [alone.accuracies.best_before(e) for e in range(n + 1)]


def test_long_jobs_are_drawn_a_few_runs_at_a_time(monkeypatch):
    """A batch holds at most BATCH_EPOCHS epochs of per-epoch arrays (runs x epochs), one run where a job is
    longer, and gives the same results in those smaller batches."""
    import spotsim.model as model

    sizes = []
    real = model.batch_draws

    def recording(s, runs, strategy):
        sizes.append(len(runs))
        return real(s, runs, strategy)

    monkeypatch.setattr(model, "batch_draws", recording)
    monkeypatch.setattr(model, "BATCH_EPOCHS", 250)
    s = load_scenario([ROOT / "scenarios/study/base.yaml"], ["interrupts.rate_per_h=4", "checkpoint.strategy=milestone"])
    seeds = [(9, i) for i in range(7)]
    assert s.job.epochs == 100
    assert [_fields(r) for r in simulate_many(s, seeds)] == [_fields(simulate(s, seed)) for seed in seeds]
    assert sizes == [2, 2, 2, 1]
    sizes.clear()
    monkeypatch.setattr(model, "BATCH_EPOCHS", 10)
    simulate_many(s, seeds[:3])
    assert sizes == [1, 1, 1]
    sizes.clear()
    quiet = s.with_values({"accuracy.noise_sd": 0.0, "checkpoint.strategy": "fixed"})  # no per-epoch arrays
    simulate_many(quiet, seeds)
    assert sizes == [7]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=st.sampled_from(STRATEGY_NAMES), pattern=st.sampled_from(PATTERN_NAMES),
       asyn=st.booleans())
def test_runs_make_no_reference_cycles_so_pausing_the_collector_keeps_nothing(data, strategy, pattern, asyn):
    """simulate_many pauses the cyclic collector for its batch: sound only because a run leaves no cycle
    behind (everything it made is freed by reference counting), and the collector is left as it was."""
    s, seed = data.draw(scenarios(strategy, pattern))
    s = s.with_values({"checkpoint.async_write": asyn})
    simulate_many(s, [seed])  # caches and first-use state out of the way
    gc.collect(0)
    gc.disable()
    try:
        results = simulate_many(s, [seed, seed + 1, seed + 2])
        del results
        assert gc.collect(0) == 0  # the youngest generation: everything made since the collector paused
    finally:
        gc.enable()
    simulate_many(s, [seed])
    assert gc.isenabled()
    gc.disable()
    try:
        simulate_many(s, [seed])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_long_list_of_seeds_is_simulated_a_batch_at_a_time(monkeypatch):
    """Streams are made for at most BATCH_RUNS runs at once, whatever the number of seeds."""
    import spotsim.model as model

    sizes = []
    real = model.batch_draws
    monkeypatch.setattr(model, "batch_draws", lambda s, runs, strategy: sizes.append(len(runs)) or real(s, runs, strategy))
    monkeypatch.setattr(model, "BATCH_RUNS", 4)
    s = load_scenario([ROOT / "scenarios/study/base.yaml"], ["interrupts.rate_per_h=4"])
    seeds = [(6, i) for i in range(10)]
    assert [_fields(r) for r in simulate_many(s, seeds)] == [_fields(simulate(s, seed)) for seed in seeds]
    assert sizes == [4, 4, 2]
