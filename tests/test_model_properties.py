"""Invariants of the simulator over random scenarios, for every strategy x pattern (hypothesis)."""
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spotsim.config import PATTERN_NAMES, STRATEGY_NAMES, load_scenario
from spotsim.events import EventLog
from spotsim.model import LIMIT_RATIO, simulate

from .conftest import DATA

TRACE = str(DATA / "tiny_trace.json")
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenarios(draw, strategy, pattern):
    """A random but well-formed scenario with the given strategy and pattern."""
    sets = {
        "job.epochs": draw(st.integers(1, 25)),
        "job.epoch_s": draw(st.floats(5.0, 200.0)),
        "job.epoch_jitter": draw(st.sampled_from([0.0, 0.0, 0.3])),
        "job.eval_s": draw(st.floats(0.0, 20.0)),
        "job.step_s": draw(st.floats(0.0, 2.0)),
        "checkpoint.strategy": strategy,
        "checkpoint.write_s": draw(st.floats(0.0, 60.0)),
        "checkpoint.restore_s": draw(st.floats(0.0, 60.0)),
        "checkpoint.emergency": draw(st.booleans()),
        "checkpoint.emergency_write_s": draw(st.floats(0.0, 60.0)),
        "checkpoint.on_notice": draw(st.sampled_from(["save_and_exit", "train_then_save"])),
        "vm.notice_reliability": draw(st.sampled_from([1.0, 1.0, 0.5, 0.0])),
        "interrupts.pattern": pattern,
        "vm.startup_s": draw(st.floats(0.0, 150.0)),
        "vm.notice_s": draw(st.sampled_from([0.0, 30.0, 120.0])),
        "capacity.wait": draw(st.sampled_from(["none", "fixed", "exponential"] + (["trace"] if pattern == "trace" else []))),
        "capacity.wait_s": draw(st.floats(0.0, 600.0)),
        "billing.minimum_s": draw(st.sampled_from([0.0, 60.0])),
        "billing.increment_s": draw(st.sampled_from([0.0, 1.0, 60.0])),
    }
    if strategy == "fixed":
        if draw(st.booleans()):
            sets["checkpoint.every_epochs"] = draw(st.integers(1, 5))
        else:
            sets["checkpoint.every_s"] = draw(st.floats(10.0, 600.0))
            sets["checkpoint.every_epochs"] = None
    if pattern == "none":
        sets["interrupts.rate_per_h"] = 0
    elif pattern == "trace":
        sets["interrupts.trace"] = TRACE
        sets["interrupts.rate_per_h"] = draw(st.sampled_from([None, 2.0]))
    else:
        sets["interrupts.rate_per_h"] = draw(st.floats(0.2, 6.0))
    seed = draw(st.integers(0, 2**31))
    return load_scenario([], [f"{k}={'null' if v is None else v}" for k, v in sets.items()]), seed


ALL = [(s, p) for s in STRATEGY_NAMES for p in PATTERN_NAMES]


@pytest.mark.parametrize("strategy,pattern", ALL)
@SETTINGS
@given(data=st.data())
def test_run_invariants(strategy, pattern, data):
    """Makespan >= work; time adds up; billed <= makespan plus rounding; lost >= 0; epochs done; deterministic."""
    s, seed = data.draw(scenarios(strategy, pattern))
    log = EventLog(keep=True)
    r = simulate(s, seed, events=log)
    required_h = r.work_h - r.lost_h
    assert r.lost_h >= -1e-12
    assert r.makespan_h >= required_h - 1e-9
    if s.job.epoch_jitter == 0 and r.finished:
        assert required_h == pytest.approx(s.job.epochs * (s.job.epoch_s + s.job.eval_s) / 3600.0)
    parts = r.startup_h + r.work_h + r.restart_h + r.checkpoint_h + r.notice_idle_h + r.wait_h
    assert parts == pytest.approx(r.makespan_h, abs=1e-9)
    rounding_h = (r.preemptions + 1) * max(s.billing.minimum_s, s.billing.increment_s) / 3600.0
    assert r.billed_h <= r.makespan_h - r.wait_h + rounding_h + 1e-9
    if r.finished:
        assert r.epochs_done == s.job.epochs
    else:  # stopped early only when hopeless: past LIMIT_RATIO x on-demand in cost and time, or far past in time
        assert r.makespan_h > LIMIT_RATIO * r.ondemand_makespan_h
        assert (r.cost_usd > LIMIT_RATIO * r.ondemand_cost_usd * 0.999
                or r.makespan_h > 2 * LIMIT_RATIO * r.ondemand_makespan_h)
    again = simulate(s, seed)
    assert again == r
    # The event log is in time order and tells the same story as the totals.
    ts = [e["t"] for e in log.records]
    assert all(b >= a - 1e-6 for a, b in zip(ts, ts[1:]))
    count = lambda **kw: sum(1 for e in log.records if all(e.get(k) == v for k, v in kw.items()))
    assert count(event="preempt_notice", direction="sent") == r.preemptions
    assert count(event="checkpoint", kind="periodic", ok=True) == r.checkpoints
    assert count(event="checkpoint", kind="emergency", ok=True) == r.emergency_ok
    assert count(event="checkpoint", kind="emergency", ok=False) == r.emergency_failed


@pytest.mark.parametrize("strategy,pattern", [(s, p) for s, p in ALL if p != "none"])
@SETTINGS
@given(data=st.data())
def test_no_lost_work_when_every_emergency_save_fits(strategy, pattern, data):
    """With emergency saves that always fit the notice window, no work is ever lost."""
    s, seed = data.draw(scenarios(strategy, pattern))
    s = s.with_values({"vm.notice_s": 120.0, "checkpoint.emergency": True, "vm.notice_reliability": 1.0,
                       "checkpoint.write_s": min(s.checkpoint.write_s, 60.0),
                       "checkpoint.emergency_write_s": min(s.checkpoint.emergency_s, 60.0),
                       "job.step_s": min(s.job.step_s, 2.0)})
    r = simulate(s, seed)
    assert r.lost_h == 0.0 and r.emergency_failed == 0


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
@SETTINGS
@given(data=st.data())
def test_no_preemptions_costs_spot_price_times_ondemand_time(strategy, data):
    """Without preemptions Spot cost = Spot price x on-demand billed time, and makespans agree."""
    s, seed = data.draw(scenarios(strategy, "none"))
    r = simulate(s, seed)
    od_billed_h = r.ondemand_cost_usd / s.prices.ondemand_per_h
    assert r.cost_usd == pytest.approx(s.prices.spot_per_h * od_billed_h)
    assert r.makespan_h == pytest.approx(r.ondemand_makespan_h)
    assert r.preemptions == 0 and r.lost_h == 0


@pytest.mark.parametrize("pattern", [p for p in PATTERN_NAMES if p != "none"])
@SETTINGS
@given(data=st.data())
def test_fixed_interval_bounds_lost_work_per_preemption(pattern, data):
    """Emergency off: a fixed interval never loses more than one interval plus one epoch per preemption."""
    s, seed = data.draw(scenarios("fixed", pattern))
    s = s.with_values({"checkpoint.emergency": False, "job.epoch_jitter": 0.0})
    r = simulate(s, seed)
    epoch_h = (s.job.epoch_s + s.job.eval_s) / 3600.0
    if s.checkpoint.every_epochs is not None:
        interval_h = s.checkpoint.every_epochs * epoch_h
    else:  # seconds of training, plus the validations that fall inside them
        evals = math.floor(s.checkpoint.every_s / s.job.epoch_s) + 1
        interval_h = (s.checkpoint.every_s + evals * s.job.eval_s) / 3600.0
    for lost in r.lost_per_preemption_h:
        assert lost <= interval_h + epoch_h + 1e-9


@pytest.mark.parametrize("strategy,pattern", [("fixed", "poisson"), ("adaptive", "bursty"), ("milestone", "trace"),
                                              ("young_daly", "weibull"), ("none", "regular")])
@SETTINGS
@given(data=st.data())
def test_planning_granularity_does_not_change_results(strategy, pattern, data):
    """Chunk size and the planning horizon are speed-ups only: results are identical without them."""
    import spotsim.lifetime as lifetime
    s, seed = data.draw(scenarios(strategy, pattern))
    fast = simulate(s, seed)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(lifetime, "CHUNK_EPOCHS", 1)
        m.setattr(lifetime, "USE_HORIZON", False)
        slow = simulate(s, seed)
    a, b = fast.as_dict(), slow.as_dict()
    assert a.pop("lost_per_preemption_h") == pytest.approx(b.pop("lost_per_preemption_h"), abs=1e-9)
    assert a == pytest.approx(b, rel=1e-9, abs=1e-9, nan_ok=True)  # the same phases, summed in other groupings


def test_free_first_hour_billing_still_ends_hopeless_runs():
    """AWS's free interrupted first hour keeps cost near zero: a hopeless run still stops, on time."""
    s = load_scenario([], ["cloud=aws", "gpu=V100", "interrupts.pattern=regular", "interrupts.rate_per_h=60",
                           "job.epochs=20"])
    r = simulate(s, 0)
    assert not r.finished and r.cost_usd == 0.0
    assert r.makespan_h > 2 * LIMIT_RATIO * r.ondemand_makespan_h
