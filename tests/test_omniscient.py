"""The omniscient schedule is the floor: on the same seed (the same Spot periods) no policy that meets the
deadline costs less; and it is refused where it cannot see the future or has no window."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.errors import SpotsimError
from spotsim.interrupts.replay import Replay
from spotsim.measured import MeasuredRun
from spotsim.model import simulate

from .conftest import scenario
from .test_model_properties import scenarios
from .test_policies import any_scenario, with_deadline

POLICIES = ("spot_only", "greedy", "uniform_progress", "on_demand")
TOL = 1e-9
"""Relative tolerance: rounding of sums only. The optimum's model rounds work and changeovers down to whole
quanta and bills no minimum or increment (both set to 0 below), so it needs no slack of its own."""
NO_ROUNDING = {"billing.minimum_s": 0.0, "billing.increment_s": 0.0}
# OMNISCIENT_EXAMPLES raises the number of scenarios tried (a deeper search by hand).
EXAMPLES = int(os.environ.get("OMNISCIENT_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def trace_scenario(draw):
    """A scenario on tests/data/tiny_trace.json: its capacity (waits from the trace), a pinned start."""
    s, seed = draw(scenarios(draw(st.sampled_from(["fixed", "none", "milestone"])), "trace"))
    start = draw(st.sampled_from([0.0, 60.0, 330.0, 700.0, 1500.0]))
    return s.with_values({"job.epoch_jitter": 0.0, "capacity.wait": "trace", "interrupts.trace_start_s": start}), seed


def assert_floor(s, seed, factor):
    """omniscient <= every policy that met the deadline, same seed; and it meets the deadline itself."""
    s = with_deadline(s.with_values(NO_ROUNDING), factor, "omniscient", seed)
    floor = simulate(s, seed)
    assert floor.met_deadline == 1.0
    for policy in POLICIES:
        r = simulate(s.with_values({"policy.name": policy}), seed)
        if r.met_deadline == 1.0:
            assert floor.cost_usd <= r.cost_usd * (1 + TOL), (policy, floor.cost_usd, r.cost_usd)


@SETTINGS
@given(case=any_scenario(), factor=st.floats(1.0, 3.0))
def test_no_policy_that_meets_the_deadline_is_cheaper(case, factor):
    """Every strategy and pattern, deadlines from the on-demand makespan to 3x it."""
    assert_floor(*case, factor)


@SETTINGS
@given(case=trace_scenario(), factor=st.floats(1.0, 3.0))
def test_no_policy_is_cheaper_on_a_replayed_trace(case, factor):
    """The tiny trace with its own capacity waits and tick (60 s): periods start and end on its ticks."""
    assert_floor(*case, factor)


@pytest.mark.parametrize("seed", range(4))
def test_the_default_job_is_the_floor_with_frequent_preemptions(seed):
    """The L4 job at 6 preemptions/h with 1.5x the on-demand makespan: the floor holds, and each preemption
    a Spot schedule rides through costs a changeover, so the floor is above Spot prices for the work alone."""
    s = scenario("interrupts.rate_per_h=6")
    assert_floor(s, seed, 1.5)
    floor = simulate(with_deadline(s, 1.5, "omniscient", seed), seed)
    assert floor.cost_ratio > s.prices.spot_per_h / s.prices.ondemand_per_h * 1.01


def test_refused_for_a_replayed_measured_run():
    """A replay only has the lifetimes it lived, not the future of capacity: one clear error."""
    s = scenario("job.deadline_h=3", "policy.name=omniscient")
    with pytest.raises(SpotsimError, match="'omniscient' needs the future of Spot capacity.*spot_only"):
        simulate(s, 0, pattern=Replay((600.0, 900.0)))
    with pytest.raises(SpotsimError, match="'omniscient' needs the future of Spot capacity"):
        simulate(s, 0, measured=MeasuredRun())


def test_refused_without_a_deadline():
    """No deadline, no window to optimise over: refused when the scenario is read, naming job.deadline_h."""
    with pytest.raises(SpotsimError, match="'omniscient' decides against a deadline: set job.deadline_h"):
        simulate(scenario("policy.name=omniscient"), 0)
