"""Deadline policies: spot_only, on_demand, greedy, uniform_progress (simulated lifetime by lifetime)."""
import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.cli import main
from spotsim.config import PATTERN_NAMES, STRATEGY_NAMES
from spotsim.errors import ScenarioError
from spotsim.events import EventLog
from spotsim.model import simulate

from .conftest import scenario
from .test_model_properties import scenarios

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEADLINE_POLICIES = ("greedy", "uniform_progress")


def with_deadline(s, factor: float, policy: str, seed=0, **more):
    """`s` with a deadline of `factor` x its on-demand makespan and `policy`."""
    od = simulate(s.with_values({"policy.name": "on_demand"}), seed).ondemand_makespan_h * 3600.0
    return s.with_values({"job.deadline_h": od * factor / 3600.0, "policy.name": policy, **more})


def same_run(a, b) -> bool:
    da, db = a.as_dict(), b.as_dict()
    if da.pop("lost_per_preemption_h") != pytest.approx(db.pop("lost_per_preemption_h"), rel=1e-12, abs=1e-12):
        return False
    return da == pytest.approx(db, rel=1e-12, abs=1e-12, nan_ok=True)


@st.composite
def any_scenario(draw):
    strategy = draw(st.sampled_from(STRATEGY_NAMES))
    pattern = draw(st.sampled_from(PATTERN_NAMES))
    s, seed = draw(scenarios(strategy, pattern))
    return s.with_values({"job.epoch_jitter": 0.0}), seed


@SETTINGS
@given(case=any_scenario(), policy=st.sampled_from(DEADLINE_POLICIES))
def test_with_a_deadline_long_enough_policies_are_spot_only(case, policy):
    """Slack that never runs out: greedy and uniform_progress take Spot whenever spot_only does. For
    uniform_progress "long enough" means the line to the deadline stays within its hysteresis band
    while spot_only runs (a job without checkpoints keeps no progress at all)."""
    s, seed = case
    s = s.with_values({"policy.hysteresis_s": 60.0})
    spot = simulate(s, seed)
    od = spot.ondemand_makespan_h
    factor = max(1000.0, 2.0 * spot.makespan_h * 3600.0 / 60.0)
    far = with_deadline(s, factor, policy, seed)
    assert same_run(simulate(far.with_values({"policy.name": "spot_only"}), seed), spot.__class__(
        **{**spot.as_dict(), "lost_per_preemption_h": spot.lost_per_preemption_h,
           "met_deadline": 1.0 if spot.finished else 0.0,
           "deadline_slack_h": far.job.deadline_h - spot.makespan_h}))
    spot = simulate(far.with_values({"policy.name": "spot_only"}), seed)
    assert od > 0
    assert same_run(simulate(far, seed), spot)


@SETTINGS
@given(case=any_scenario(), policy=st.sampled_from(DEADLINE_POLICIES + ("on_demand",)))
def test_with_the_ondemand_makespan_as_deadline_policies_are_on_demand(case, policy):
    """No slack at all: every policy runs one on-demand VM from the start, the baseline itself."""
    s, seed = case
    tight = with_deadline(s, 1.0, policy, seed)
    r = simulate(tight, seed)
    od = simulate(tight.with_values({"policy.name": "on_demand"}), seed)
    assert same_run(r, od)
    assert r.cost_usd == pytest.approx(r.ondemand_cost_usd, rel=1e-12)
    assert r.makespan_h == pytest.approx(r.ondemand_makespan_h, rel=1e-12)
    assert (r.spot_h, r.switches, r.preemptions, r.met_deadline) == (0.0, 0, 0, 1.0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=any_scenario(), policy=st.sampled_from(DEADLINE_POLICIES), factor=st.floats(1.0, 3.0),
       margin=st.sampled_from([0.0, 0.0, 60.0]))
def test_policies_meet_every_deadline_all_on_demand_would_meet(case, policy, factor, margin):
    """Whatever the preemptions, notices, lost work and capacity waits: the deadline is met, and the
    accounts add up (time categories to the makespan, Spot and on-demand hours to the billed hours)."""
    s, seed = case
    s = with_deadline(s, factor, policy, seed, **{"policy.margin_s": margin})
    log = EventLog(keep=True)
    r = simulate(s, seed, events=log)
    assert r.finished and r.met_deadline == 1.0
    assert r.deadline_slack_h >= -1e-9
    parts = r.startup_h + r.work_h + r.restart_h + r.checkpoint_h + r.notice_idle_h + r.wait_h
    assert parts == pytest.approx(r.makespan_h, abs=1e-9)
    assert r.spot_h + r.ondemand_h == pytest.approx(r.billed_h, abs=1e-12)
    assert r.cost_usd == pytest.approx((r.spot_h * s.prices.spot_per_h + r.ondemand_h * s.prices.ondemand_per_h),
                                       rel=1e-9, abs=1e-12)
    starts = [e for e in log.records if e["event"] == "vm_start"]
    markets = [e["market"] for e in starts]
    assert r.switches == sum(1 for a, b in zip(markets, markets[1:]) if a != b)
    if policy == "greedy":  # on-demand is for good
        assert markets.count("ondemand") <= 1 and (not markets or "ondemand" not in markets[:-1])


def test_spot_only_reports_the_deadline_without_acting_on_it():
    """spot_only runs as without a deadline and says whether it met it."""
    s = scenario("interrupts.rate_per_h=12")
    free = simulate(s, 3)
    dl = with_deadline(s, 1.05, "spot_only")
    r = simulate(dl, 3)
    assert r.makespan_h == free.makespan_h and r.cost_usd == free.cost_usd
    assert r.met_deadline == float(r.makespan_h <= dl.job.deadline_h)
    assert r.deadline_slack_h == pytest.approx(dl.job.deadline_h - r.makespan_h)
    assert math.isnan(free.met_deadline) and math.isnan(free.deadline_slack_h)


def test_checkpoint_aware_greedy_meets_deadlines_a_no_loss_greedy_misses():
    """The emergency save (60 s) does not fit GCP's 30 s notice: counting unsaved progress as safe (Can't
    Be Late's assumption) misses deadlines; counting only what a preemption keeps meets them all."""
    base = ("checkpoint.write_s=60", "interrupts.rate_per_h=6")
    s = scenario(*base)
    met = {}
    for naive in (False, True):
        run = with_deadline(s, 1.1, "greedy", **{"policy.assume_no_loss": naive})
        met[naive] = [simulate(run, (1, i)).met_deadline for i in range(60)]
    assert all(m == 1.0 for m in met[False])
    assert sum(met[True]) <= 0.95 * len(met[True])  # about 12% missed with these seeds


def test_uniform_progress_leaves_on_demand_for_spot_when_ahead():
    """Behind the line it runs on-demand, and back on Spot once ahead: some run switches twice or more,
    while greedy never comes back from on-demand."""
    s = scenario("capacity.wait=exponential", "capacity.wait_s=1800", "interrupts.rate_per_h=2",
                 "job.epochs=400")
    up = [simulate(with_deadline(s, 1.6, "uniform_progress"), (2, i)) for i in range(30)]
    gr = [simulate(with_deadline(s, 1.6, "greedy"), (2, i)) for i in range(30)]
    assert max(r.switches for r in up) >= 2
    assert max(r.switches for r in gr) <= 1
    assert all(r.met_deadline == 1.0 for r in up + gr)


def test_a_gang_runs_on_spot_only_when_enough_nodes_are_up(tmp_path):
    """trace_min_nodes with a deadline: every Spot lifetime starts while at least N nodes are live."""
    counts = [4, 4, 2, 3, 4, 4, 4, 1, 0, 3, 4, 4, 4, 4, 2, 4, 4, 4, 4, 4] * 3
    gap = 300
    path = tmp_path / "gang.json"
    path.write_text(json.dumps({"metadata": {"gap_seconds": gap}, "data": counts}))
    s = scenario("interrupts.pattern=trace", f"interrupts.trace={path}", "interrupts.trace_min_nodes=4",
                 "interrupts.trace_start_s=0", "capacity.wait=trace", "vm.notice_s=0", "job.epochs=60")
    log = EventLog(keep=True)
    r = simulate(with_deadline(s, 1.5, "greedy"), 0, events=log)
    spot_starts = [e["t"] for e in log.records if e["event"] == "vm_start" and e["market"] == "spot"]
    assert spot_starts and r.met_deadline == 1.0
    for t in spot_starts:
        assert counts[int(t // gap) % len(counts)] >= 4


def test_a_deadline_shorter_than_the_ondemand_makespan_is_refused():
    s = scenario("job.deadline_h=1", "policy.name=greedy")
    with pytest.raises(ScenarioError, match=r"job.deadline_h.*on-demand makespan \(1.15278 h\)"):
        simulate(s, 0)


@pytest.mark.parametrize("sets,expected", [
    (("job.deadline_h=1", "policy.name=greedy"), "job.deadline_h = 1.0: is shorter than the job's on-demand"),
    (("policy.name=greedy",), "policy 'greedy' decides against a deadline: set job.deadline_h"),
    (("policy.name=cheapest", "job.deadline_h=3"), "policy.name = 'cheapest' (from --set): must be one of"),
])
def test_bad_policy_input_is_one_line(sets, expected):
    args = ["run", "scenarios/default.yaml"]
    for x in sets:
        args += ["--set", x]
    r = CliRunner().invoke(main, args)
    assert r.exit_code != 0
    assert expected in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_run_json_reports_the_deadline_metrics():
    r = CliRunner().invoke(main, ["run", "scenarios/default.yaml", "--json", "-n", "8", "--set", "job.deadline_h=1.5",
                                  "--set", "policy.name=greedy"])
    out = json.loads(r.output)
    assert out["met_deadline"]["mean"] == 1.0
    for k in ("spot_h", "ondemand_h", "switches", "cost_ratio", "deadline_slack_h", "cost_usd", "makespan_h"):
        v = out[k]
        assert v["p5"] <= v["p50"] <= v["p95"]
    assert out["cost_ratio"]["mean"] == pytest.approx(out["cost_usd"]["mean"] / out["ondemand_cost_usd"]["mean"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=any_scenario(), policy=st.sampled_from(DEADLINE_POLICIES), factor=st.floats(1.0, 1.5))
def test_without_preemptions_a_deadline_policy_costs_no_more_than_on_demand(case, policy, factor):
    """Spot that is never taken away: a policy starts it only for a window whose work pays for its
    start-up, restore, save and billing minimum at the on-demand price, so it never ends up dearer
    than all on-demand, however tight the deadline."""
    s, seed = case
    s = s.with_values({"interrupts.pattern": "regular", "interrupts.rate_per_h": 1e-9, "interrupts.trace": None,
                       "capacity.wait": "none"})
    r = simulate(with_deadline(s, factor, policy, seed), seed)
    assert r.met_deadline == 1.0
    assert r.cost_usd <= r.ondemand_cost_usd * (1 + 1e-9) + 1e-12
