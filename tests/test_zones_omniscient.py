"""`omniscient` with zones is the floor: on the same seed (the same zone timelines) no zone policy, with or
without a deadline policy, that meets the deadline costs less; one zone is the single-zone optimum."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.config import load_scenario
from spotsim.model import simulate

from .test_zones_sim import EXACT, GAP

TOL = 1e-9
"""Rounding of sums only: the optimum's model rounds work and changeovers down and bills no minimum (EXACT
bills by the second with no minimum)."""
POLICIES = [(name, zones) for name in ("spot_only", "greedy", "uniform_progress", "on_demand")
            for zones in ("stay", "failover", "cheapest")]


def _scenario(tmp_path, traces, regions, prices, size_gb, start_s, deadline_h):
    zones = []
    for i, (data, region, price) in enumerate(zip(traces, regions, prices)):
        path = tmp_path / f"z{i}.json"
        path.write_text(json.dumps({"metadata": {"gap_seconds": GAP}, "data": data}))
        zones.append({"name": f"z{i}", "trace": str(path), "region": region, "spot_per_h": price})
    return load_scenario(sets=[*EXACT, f"zones={json.dumps(zones)}", f"checkpoint.size_gb={size_gb}",
                               "moves.cross_region_gbps=0.05", f"interrupts.trace_start_s={start_s}",
                               "job.epochs=6", f"job.deadline_h={deadline_h}", "policy.name=omniscient"])


@st.composite
def zone_windows(draw):
    n = draw(st.integers(1, 3))
    traces = [draw(st.lists(st.sampled_from([0, 1, 1, 1]), min_size=8, max_size=40).filter(any)) for _ in range(n)]
    regions = [draw(st.sampled_from(["r1", "r2"])) for _ in range(n)]
    prices = [draw(st.sampled_from([0.4, 1.0, 2.0])) for _ in range(n)]
    start = draw(st.integers(0, len(traces[0]) - 1)) * GAP
    return traces, regions, prices, draw(st.sampled_from([0.0, 2.0])), start, draw(st.sampled_from([0.2, 0.5, 1.5]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=zone_windows())
def test_no_zone_policy_that_meets_the_deadline_is_cheaper(tmp_path, case):
    """Random tick traces (1-3 zones in one or two regions, prices, checkpoint sizes whose move takes
    minutes), deadlines from tight to loose: the optimum meets its deadline whenever all on-demand can
    and costs no more than any policy that meets it on the same zone timelines."""
    traces, regions, prices, size, start, deadline = case
    s = _scenario(tmp_path, traces, regions, prices, size, start, deadline)
    floor = simulate(s, 0)
    for name, zones in POLICIES:
        r = simulate(s.with_values({"policy.name": name, "policy.zones": zones}), 0)
        if r.met_deadline == 1.0:
            assert floor.met_deadline == 1.0, (name, zones)
            assert floor.cost_usd <= r.cost_usd * (1 + TOL), (name, zones, floor.cost_usd, r.cost_usd)


@pytest.mark.parametrize("start_s", [0.0, 5 * GAP, 17 * GAP])
def test_one_zone_is_the_single_zone_optimum(tmp_path, start_s):
    """A zones list of one zone gives the optimum of the same trace as interrupts.trace, to the cent."""
    data = [1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1]
    s = _scenario(tmp_path, [data], ["r1"], [1.0], 0.0, start_s, 0.5)
    one = load_scenario(sets=[*EXACT, f"interrupts.pattern=trace", f"interrupts.trace={tmp_path / 'z0.json'}",
                              "capacity.wait=trace", f"interrupts.trace_start_s={start_s}", "job.epochs=6",
                              "job.deadline_h=0.5", "policy.name=omniscient"])
    zoned, single = simulate(s, 3), simulate(one, 3)
    assert zoned.cost_usd == pytest.approx(single.cost_usd, rel=1e-12)
    assert zoned.makespan_h == pytest.approx(single.makespan_h, rel=1e-12)
    assert zoned.moves == 0 and dict(zoned.zone_h)["z0"] == pytest.approx(single.spot_h, rel=1e-12)


def test_the_optimum_moves_to_a_cheaper_region_when_it_pays(tmp_path):
    """Two always-available zones in two regions, the second 10x cheaper: the optimum uses the cheap one
    (with no checkpoint yet, nothing to move) and reports its Spot hours there."""
    s = _scenario(tmp_path, [[1] * 40, [1] * 40], ["r1", "r2"], [2.0, 0.2], 0.0, 0.0, 0.5)
    r = simulate(s, 0)
    hours = dict(r.zone_h)
    assert hours["z1"] > 0 and hours["z0"] == 0 and r.cost_usd == pytest.approx(hours["z1"] * 0.2, rel=1e-9)
