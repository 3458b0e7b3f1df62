"""Asynchronous saves, warm-up and torch.compile in the simulator (issue 11).

- Off, they change nothing: a frozen table of the simulator's metrics from before they existed.
- Time categories still partition the makespan, for every strategy x pattern.
- Asynchronous saves: the training time each save blocks has a closed form without preemptions; a
  write that fits the notice loses nothing a blocking save would have kept; the durable position at
  a kill is the last *completed* write.
- Warm-up and compilation: paid by every lifetime, compilation cached once a checkpoint exists.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.config import load_scenario
from spotsim.events import EventLog
from spotsim.interrupts.replay import Replay
from spotsim.model import simulate

FROZEN = Path(__file__).parent / "data" / "frozen_runs.json"
STRATEGIES = ["fixed", "adaptive", "milestone", "none", "young_daly"]
PATTERNS = ["regular", "poisson", "bursty", "weibull"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(a, b) -> bool:
    """Equal: integers exactly, floats to rounding (the per-run rewrite of issue 12 adds in another
    order; tests/test_frozen_runs.py holds it to the same tolerance)."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("off", [[], ["job.warmup_s=0", "job.compile_s=0", "checkpoint.async_write=false",
                                      "checkpoint.stall_s=0.3", "job.compile_cached_fraction=0.2"]])
def test_off_the_results_are_those_of_the_simulator_before(off):
    """Same seeds, same numbers (floats to rounding), as the frozen table written by the code before issue 11
    (96 runs: 5 strategies x 5 patterns, and notices, jitter, time-based saves, capacity waits, policies)."""
    table = json.loads(FROZEN.read_text())["rows"]
    assert len(table) == 96
    for row in table:
        r = simulate(load_scenario(sets=row["sets"] + off), row["seed"])
        for k, expected in row["metrics"].items():
            assert _same(getattr(r, k), expected), (row["sets"], row["seed"], k, getattr(r, k), expected)
        assert r.warmup_h == 0 and r.compile_h == 0


def _parts_h(r) -> float:
    return (r.startup_h + r.work_h + r.restart_h + r.checkpoint_h + r.notice_idle_h + r.wait_h + r.warmup_h
            + r.compile_h)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_time_categories_sum_to_the_makespan(strategy, pattern):
    """Start-ups, work, restarts, compilation, warm-up, blocked saves, idle notice and waits = makespan,
    with warm-up, compilation and asynchronous saves on (slow writes, so notices find them in flight)."""
    for seed in range(6):
        for asyn in (False, True):
            s = load_scenario(sets=[f"checkpoint.strategy={strategy}", f"interrupts.pattern={pattern}",
                                    "interrupts.rate_per_h=12", "job.epochs=25", "job.warmup_s=9",
                                    "job.compile_s=40", "job.compile_cached_fraction=0.25",
                                    f"checkpoint.async_write={str(asyn).lower()}", "checkpoint.stall_s=0.4",
                                    "checkpoint.write_s=25", "checkpoint.emergency_write_s=6"])
            r = simulate(s, seed)
            assert r.finished
            assert _parts_h(r) == pytest.approx(r.makespan_h, rel=1e-9, abs=1e-9), (strategy, pattern, seed, asyn)
            assert r.warmup_h > 0 and r.compile_h > 0


@SETTINGS
@given(strategy=st.sampled_from(STRATEGIES), pattern=st.sampled_from(PATTERNS + ["none"]),
       rate=st.floats(0.5, 40), seed=st.integers(0, 10_000), asyn=st.booleans(),
       write=st.floats(0, 120), stall=st.floats(0, 5), warm=st.floats(0, 60), comp=st.floats(0, 300),
       frac=st.floats(0, 1), on_notice=st.sampled_from(["save_and_exit", "train_then_save"]),
       reliability=st.sampled_from([1.0, 0.6]), emergency=st.booleans())
def test_time_categories_sum_to_the_makespan_property(strategy, pattern, rate, seed, asyn, write, stall, warm, comp,
                                                      frac, on_notice, reliability, emergency):
    s = load_scenario(sets=[f"checkpoint.strategy={strategy}", f"interrupts.pattern={pattern}",
                            f"interrupts.rate_per_h={0 if pattern == 'none' else rate}", "job.epochs=12",
                            f"job.warmup_s={warm}", f"job.compile_s={comp}", f"job.compile_cached_fraction={frac}",
                            f"checkpoint.async_write={str(asyn).lower()}", f"checkpoint.stall_s={stall}",
                            f"checkpoint.write_s={write}", f"checkpoint.on_notice={on_notice}",
                            f"vm.notice_reliability={reliability}", f"checkpoint.emergency={str(emergency).lower()}"])
    r = simulate(s, seed)
    assert _parts_h(r) == pytest.approx(r.makespan_h, rel=1e-9, abs=1e-9)
    assert r.billed_h >= 0 and r.lost_h >= 0


# -- asynchronous saves: closed form without preemptions ---------------------------------------------
def _blocked_closed_form(epochs: int, every: int, epoch_s: float, eval_s: float, stall: float, write: float) -> float:
    """Seconds asynchronous saves every `every` epochs block an uninterrupted job: each save stalls, the
    ones after the first also wait for the write before them when training between saves is shorter
    than a write, and the job's end waits for its last write."""
    n = epochs // every
    if n == 0:
        return 0.0
    gap = every * (epoch_s + eval_s)
    after_last = (epochs - n * every) * (epoch_s + eval_s)
    return n * stall + (n - 1) * max(0.0, write - gap) + max(0.0, write - after_last)


@SETTINGS
@given(epochs=st.integers(1, 60), every=st.integers(1, 10), epoch_s=st.floats(1, 300), eval_s=st.floats(0, 30),
       stall=st.floats(0, 5), write=st.floats(0, 600), startup=st.floats(0, 200), warm=st.floats(0, 50),
       comp=st.floats(0, 200))
def test_async_saving_per_checkpoint_has_a_closed_form(epochs, every, epoch_s, eval_s, stall, write, startup, warm,
                                                       comp):
    """Without preemptions the makespan is start-up + compile + warm-up + epochs + what saves block; a
    blocking save blocks its whole write, so the saving per checkpoint is write - stall when writes fit
    between saves (closed form above, the job's last write included)."""
    common = [f"job.epochs={epochs}", f"job.epoch_s={epoch_s}", f"job.eval_s={eval_s}", "checkpoint.strategy=fixed",
              f"checkpoint.every_epochs={every}", f"checkpoint.write_s={write}", f"checkpoint.stall_s={stall}",
              "interrupts.pattern=none", "interrupts.rate_per_h=0", f"vm.startup_s={startup}",
              f"job.warmup_s={warm}", f"job.compile_s={comp}"]
    sync = simulate(load_scenario(sets=common), 0)
    asyn = simulate(load_scenario(sets=common + ["checkpoint.async=true"]), 0)
    work = epochs * (epoch_s + eval_s)
    n = epochs // every
    blocked = _blocked_closed_form(epochs, every, epoch_s, eval_s, stall, write)
    assert asyn.checkpoint_h * 3600 == pytest.approx(blocked, rel=1e-9, abs=1e-6)
    assert asyn.makespan_h * 3600 == pytest.approx(startup + comp + warm + work + blocked, rel=1e-9, abs=1e-6)
    assert sync.makespan_h * 3600 == pytest.approx(startup + comp + warm + work + n * write, rel=1e-9, abs=1e-6)
    assert asyn.checkpoints == sync.checkpoints == n
    # The on-demand baseline is the same job: a run without preemptions takes exactly its time.
    assert asyn.ondemand_makespan_h == pytest.approx(asyn.makespan_h, rel=1e-12)
    if n and write <= every * (epoch_s + eval_s) and write <= (epochs - n * every) * (epoch_s + eval_s):
        saving = (sync.makespan_h - asyn.makespan_h) * 3600 / n
        assert saving == pytest.approx(write - stall, rel=1e-9, abs=1e-6)


# -- asynchronous saves under preemptions --------------------------------------------------------------
@SETTINGS
@given(strategy=st.sampled_from(STRATEGIES), pattern=st.sampled_from(PATTERNS), rate=st.floats(1, 30),
       seed=st.integers(0, 10_000), write=st.floats(0, 10), stall=st.floats(0, 2), emergency_write=st.floats(0, 10),
       step=st.floats(0, 2))
def test_async_loses_nothing_when_the_write_fits_the_notice(strategy, pattern, rate, seed, write, stall,
                                                            emergency_write, step):
    """With emergency saves and a notice that always arrives, a blocking save loses no work when a step,
    a write and the emergency save fit the notice; asynchronous saves then lose nothing either: a
    write in flight is waited for, then the emergency save keeps the rest."""
    sets = [f"checkpoint.strategy={strategy}", f"interrupts.pattern={pattern}", f"interrupts.rate_per_h={rate}",
            "job.epochs=15", f"job.step_s={step}", f"checkpoint.write_s={write}", f"checkpoint.stall_s={stall}",
            f"checkpoint.emergency_write_s={emergency_write}", "vm.notice_s=30"]
    assert step + stall + write + emergency_write <= 30
    sync = simulate(load_scenario(sets=sets), seed)
    asyn = simulate(load_scenario(sets=sets + ["checkpoint.async=true"]), seed)
    assert sync.lost_h == 0
    assert asyn.lost_h == 0 and asyn.checkpoints_failed == 0 and asyn.emergency_failed == 0
    assert asyn.finished and asyn.epochs_done == 15


def _events(scenario, seed, tmp_path) -> list[dict]:
    path = tmp_path / f"events-{seed}.jsonl"
    path.unlink(missing_ok=True)
    log = EventLog(path, source="sim")
    simulate(scenario, seed, events=log)
    log.close()
    return [json.loads(line) for line in path.read_text().splitlines()]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(strategy=st.sampled_from(["fixed", "adaptive", "young_daly"]), pattern=st.sampled_from(PATTERNS),
       rate=st.floats(2, 30), seed=st.integers(0, 10_000), write=st.floats(0, 90), stall=st.floats(0, 3))
def test_the_durable_position_at_a_kill_is_the_last_completed_write(tmp_path, strategy, pattern, rate, seed, write,
                                                                   stall):
    """Without emergency saves, each lifetime resumes from the newest checkpoint whose write *ended*
    (an ok checkpoint event, logged when the write ends) before the lifetime before it was killed:
    a write still in flight at the kill is lost and never resumed from."""
    s = load_scenario(sets=[f"checkpoint.strategy={strategy}", f"interrupts.pattern={pattern}",
                            f"interrupts.rate_per_h={rate}", "job.epochs=20", "checkpoint.emergency=false",
                            "checkpoint.async=true", f"checkpoint.write_s={write}", f"checkpoint.stall_s={stall}",
                            "checkpoint.every_s=120", "checkpoint.every_epochs=null" if strategy == "fixed" else
                            "checkpoint.every_epochs=5", "checkpoint.min_interval_s=30"])
    events = _events(s, seed, tmp_path)
    last_ok = None
    failed = 0
    for e in events:
        if e["event"] == "checkpoint":
            assert e["kind"] == "periodic" and e["async_write"] is True
            if e["ok"]:
                last_ok = e["epoch"]
            else:
                failed += 1
        elif e["event"] == "resume":
            assert last_ok is not None and e["from_epoch"] == pytest.approx(last_ok, abs=1e-9)
        elif e["event"] == "vm_start" and e["lifetime"] > 1 and last_ok is None:
            # no write had ended: the next lifetime starts from scratch (no resume event)
            pass
    r = simulate(s, seed)
    assert r.checkpoints_failed == failed


def test_a_write_in_flight_at_the_notice_is_waited_for_then_the_emergency_save(tmp_path):
    """A 20 s write whose notice comes 3 s after its copy: the job finishes its step, waits 17 s for
    the write (durable), then saves the 3 s it trained since (emergency, 5 s): 22 s of the 30 s window."""
    s = load_scenario(sets=["checkpoint.strategy=fixed", "checkpoint.every_epochs=1", "job.epochs=3",
                            "job.epoch_s=100", "job.eval_s=0", "job.step_s=0", "checkpoint.async=true",
                            "checkpoint.stall_s=1", "checkpoint.write_s=20", "checkpoint.emergency_write_s=5",
                            "interrupts.pattern=regular", "interrupts.rate_per_h=1", "vm.startup_s=0",
                            "checkpoint.restore_s=0", "billing.minimum_s=0"])
    pattern = Replay(uptimes_s=(104.0,), waits_s=(0.0,))
    log_path = tmp_path / "e.jsonl"
    log = EventLog(log_path, source="sim")
    r = simulate(s, 0, events=log, pattern=pattern)
    log.close()
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    ck = [(e["t"], e["kind"], e["ok"], e["epoch"]) for e in events if e["event"] == "checkpoint"]
    # snapshot at 100..101, notice at 104, write ends at 121, emergency 121..126
    assert ck[0] == (pytest.approx(121.0), "periodic", True, pytest.approx(1.0))
    assert ck[1] == (pytest.approx(126.0), "emergency", True, pytest.approx(1.03))
    assert r.lost_h == 0
    exit_ = next(e for e in events if e["event"] == "process_exit")
    assert exit_["t"] == pytest.approx(126.0) and exit_["code"] == 0


# -- warm-up and compilation --------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(strategy=st.sampled_from(STRATEGIES), pattern=st.sampled_from(PATTERNS), rate=st.floats(1, 20),
       seed=st.integers(0, 10_000), warm=st.floats(0.5, 60), comp=st.floats(1, 300), frac=st.floats(0, 1))
def test_every_lifetime_warms_up_and_compiles_cached_once_a_checkpoint_exists(tmp_path, strategy, pattern, rate, seed,
                                                                              warm, comp, frac):
    """Each lifetime that gets past its warm-up logs it: compile_s cold (the full compile_s) when it
    started without a checkpoint, cached (compile_s x compile_cached_fraction) when it restored one;
    the totals hold those plus what lifetimes cut during their warm-up spent."""
    s = load_scenario(sets=[f"checkpoint.strategy={strategy}", f"interrupts.pattern={pattern}",
                            f"interrupts.rate_per_h={rate}", "job.epochs=15", f"job.warmup_s={warm}",
                            f"job.compile_s={comp}", f"job.compile_cached_fraction={frac}"])
    events = _events(s, seed, tmp_path)
    resumed = set()
    logged_warm = logged_compile = 0.0
    lifetimes = 0
    for e in events:
        if e["event"] == "vm_start":
            lifetimes += 1
        elif e["event"] == "resume":
            resumed.add(e["lifetime"])
        elif e["event"] == "warmup":
            cached = e["lifetime"] in resumed
            assert e["cache"] == ("restored" if cached else "cold")
            assert e["compile_s"] == pytest.approx(comp * frac if cached else comp)
            assert e["warmup_s"] == pytest.approx(warm)
            logged_warm += e["warmup_s"]
            logged_compile += e["compile_s"]
    r = simulate(s, seed)
    unlogged = lifetimes - sum(1 for e in events if e["event"] == "warmup")
    assert logged_warm - 1e-6 <= r.warmup_h * 3600 <= logged_warm + unlogged * warm + 1e-6
    assert logged_compile - 1e-6 <= r.compile_h * 3600 <= logged_compile + unlogged * comp + 1e-6


def test_warm_up_and_compile_are_paid_by_the_on_demand_baseline_once():
    """On-demand runs one lifetime: one cold compile and one warm-up on top of the job."""
    base = ["interrupts.pattern=none", "interrupts.rate_per_h=0", "job.epochs=10"]
    plain = simulate(load_scenario(sets=base), 0)
    warm = simulate(load_scenario(sets=base + ["job.warmup_s=12", "job.compile_s=45",
                                               "job.compile_cached_fraction=0.1"]), 0)
    assert (warm.ondemand_makespan_h - plain.ondemand_makespan_h) * 3600 == pytest.approx(57.0)
    assert warm.makespan_h == pytest.approx(warm.ondemand_makespan_h)
    assert warm.compile_h * 3600 == pytest.approx(45.0) and warm.warmup_h * 3600 == pytest.approx(12.0)


def test_a_restored_compile_cache_makes_preempted_runs_cheaper():
    """Same seeds, more preemptions than the compile is long: the cache saves compile time in every
    restored lifetime, so the run ends sooner and costs less (common random numbers)."""
    base = ["interrupts.pattern=poisson", "interrupts.rate_per_h=6", "job.epochs=30", "job.compile_s=120"]
    for seed in range(5):
        cold = simulate(load_scenario(sets=base), seed)
        cached = simulate(load_scenario(sets=base + ["job.compile_cached_fraction=0.2"]), seed)
        if cold.preemptions:
            assert cached.compile_h < cold.compile_h
            assert cached.makespan_h < cold.makespan_h


def test_the_yaml_key_async_is_async_write():
    s = load_scenario(sets=["checkpoint.async=true", "checkpoint.stall_s=0.2"])
    assert s.checkpoint.async_write is True and s.checkpoint.blocking_s == 0.2
    from spotsim.errors import ScenarioError

    with pytest.raises(ScenarioError, match="another name for checkpoint.async_write"):
        load_scenario(sets=["checkpoint.async=true", "checkpoint.async_write=false"])


def test_vary_accepts_the_alias_async():
    """`spotsim sweep --vary checkpoint.async=false,true` sweeps checkpoint.async_write."""
    from spotsim.sweep import parse_vary

    assert parse_vary(["checkpoint.async=false,true"]) == [("checkpoint.async_write", (False, True))]


@SETTINGS
@given(strategy=st.sampled_from(STRATEGIES), pattern=st.sampled_from(PATTERNS), rate=st.floats(1, 30),
       seed=st.integers(0, 10_000), write=st.floats(0, 200), stall=st.floats(0, 3), emergency=st.booleans())
def test_async_results_do_not_depend_on_planning_granularity(strategy, pattern, rate, seed, write, stall, emergency):
    """A write in flight carries from one planned stretch to the next: planning one epoch at a time
    without the horizon gives the same results (to rounding) as the simulator's chunks."""
    import spotsim.lifetime as lifetime

    s = load_scenario(sets=[f"checkpoint.strategy={strategy}", f"interrupts.pattern={pattern}",
                            f"interrupts.rate_per_h={rate}", "job.epochs=20", "checkpoint.async=true",
                            f"checkpoint.write_s={write}", f"checkpoint.stall_s={stall}",
                            f"checkpoint.emergency={str(emergency).lower()}", "job.warmup_s=5", "job.compile_s=20"])
    fast = simulate(s, seed)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(lifetime, "CHUNK_EPOCHS", 1)
        m.setattr(lifetime, "USE_HORIZON", False)
        slow = simulate(s, seed)
    a, b = fast.as_dict(), slow.as_dict()
    assert a.pop("lost_per_preemption_h") == pytest.approx(b.pop("lost_per_preemption_h"), abs=1e-9)
    assert a == pytest.approx(b, rel=1e-9, abs=1e-9, nan_ok=True)
