"""The hindsight optimum: exact against brute force on tiny windows, closed forms, bounds, its own bookkeeping."""
import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.hindsight import Costs, Window, default_quantum, hindsight_optimum

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
V100 = "traces/aws-spot-traces/availability/1-node/aws-02-15-2023/us-east-1a_v100_1.json"
SPOT, OD = 0.9731, 3.06   # p3.2xlarge $/h (FACTS.md)
TICK = 60.0


def brute_force(periods, horizon, costs, tick, quantum):
    """The model's optimum by trying, tick by tick, every mode, every period a Spot lifetime can be in, every
    quantum of the tick it can start at and every on-demand amount (plain loops over explicit lifetimes)."""
    m = round(tick / quantum)
    need = math.floor(costs.work_s / quantum)
    if need <= 0:
        return 0.0
    n = math.ceil(horizon / tick)
    free_s = costs.free_if_preempted_within_s
    start = [t * tick for t in range(n)]
    end = [min((t + 1) * tick, horizon) for t in range(n)]
    usable = [any(min(k, end[t]) > max(g, start[t]) for g, k in periods) for t in range(n)]
    billed = [sum(max(0.0, min(k, start[t] + tick) - max(g, start[t])) for g, k in periods) if usable[t] else 0.0
              for t in range(n)]

    def overlaps(period, t):
        return min(period[1], end[t]) > max(period[0], start[t])

    def spans_after(period, t):      # the period spans the instant between ticks t and t+1
        return t < n - 1 and period[0] < (t + 1) * tick < period[1]

    def free(period, t):             # killed within free_s of the latest start in tick t
        return free_s > 0 and period[1] < end[t] + free_s

    sp, od = costs.spot_per_h / 3600, costs.ondemand_per_h / 3600
    best = [math.inf]

    def changeover(p):
        return math.floor(((costs.startup_s + costs.restore_s) if p > 0 else costs.startup_s) / quantum)

    def go(t, p, life, cost):
        # life: the lifetime alive at tick t's start, ("od", debt) or ("spot"|"free", period, debt), or None.
        if cost >= best[0] or t == n or p + (n - t) * m < need:
            return
        go(t + 1, p, None, cost)                                       # idle
        # On-demand: k quanta of the tick, new or carried on.
        for new in (False, True):
            if not new and (life is None or life[0] != "od"):
                continue
            d = changeover(p) if new else life[1]
            for k in ([m] if d >= m else range(d, m + 1)):
                paid = min(d, k)
                if p + k - paid >= need:
                    best[0] = min(best[0], cost + od * (paid + need - p) * quantum)
                else:
                    go(t + 1, p + k - paid, ("od", d - paid), cost + od * k * quantum)
        # Spot or free: the lifetime alive at the tick's start (all m quanta) or a new one in a period that
        # overlaps the tick, holding its last j quanta; it lives on only while its own period does.
        options = []
        if life is not None and life[0] != "od":
            options.append((life[0], life[1], life[2], m))
        for period in periods:
            if overlaps(period, t):
                for j in range(1, m + 1):
                    options.append(("spot", period, changeover(p), j))
                    if free(period, t):
                        options.append(("free", period, changeover(p), j))
        for market, period, d, j in options:
            paid = min(d, j)
            if p + j - paid >= need:
                used = paid + need - p
                best[0] = min(best[0], cost + (sp * min(used * quantum, billed[t]) if market == "spot" else 0.0))
                continue
            price = sp * min(billed[t], j * quantum) if market == "spot" else 0.0
            nxt = (market, period, d - paid) if spans_after(period, t) else None
            go(t + 1, p + j - paid, nxt, cost + price)

    go(0, 0, None, 0.0)
    return best[0]


@st.composite
def tiny_case(draw, free=None):
    quantum = draw(st.sampled_from([20.0, 30.0, 60.0]))
    ticks = draw(st.integers(3, 6 if quantum == 20.0 else 7))
    horizon = ticks * TICK - draw(st.sampled_from([0.0, 10.0, 35.0]))
    # A 15 s grid puts kills and grants on tick boundaries often, where carrying a lifetime over is decided;
    # each stretch between two points is a period or a gap, so periods often touch (no capacity wait).
    points = sorted(set(draw(st.lists(st.integers(0, int((horizon + TICK) / 15)), max_size=10))))
    up = draw(st.lists(st.booleans(), min_size=len(points), max_size=len(points)))
    periods = tuple((15.0 * a, 15.0 * b) for a, b, on in zip(points, points[1:], up) if on)
    spot = draw(st.floats(0.1, 3.0))
    free_s = draw(st.sampled_from([0.0, 30.0, 100.0, 400.0])) if free is None else free
    costs = Costs(work_s=draw(st.integers(1, 9)) * quantum + draw(st.floats(0, quantum * 0.99)),
                  startup_s=draw(st.sampled_from([0.0, 10.0, 25.0, 45.0, 70.0, 130.0])),
                  restore_s=draw(st.sampled_from([0.0, 5.0, 30.0])),
                  spot_per_h=spot, ondemand_per_h=spot + draw(st.floats(0.1, 3.0)), free_if_preempted_within_s=free_s)
    return Window(periods, horizon), costs, quantum


# HINDSIGHT_EXAMPLES raises the number of windows tried (a deeper search by hand).
@settings(max_examples=int(os.environ.get("HINDSIGHT_EXAMPLES", "100")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(tiny_case())
def test_equals_brute_force_on_tiny_windows(case):
    """The DP's cost is the minimum over every schedule the model allows (partial on-demand, changeovers over ticks)."""
    window, costs, quantum = case
    got = hindsight_optimum(window, costs, TICK, quantum)
    want = brute_force(window.periods, window.horizon_s, costs, TICK, quantum)
    assert got.feasible == math.isfinite(want)
    if got.feasible:
        assert got.cost_usd == pytest.approx(want, rel=1e-9, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(tiny_case())
def test_bookkeeping(case):
    """Cost is the billed seconds at their prices; lifetimes are ordered, disjoint, inside [0, horizon]."""
    window, costs, quantum = case
    s = hindsight_optimum(window, costs, TICK, quantum)
    if not s.feasible:
        assert math.isinf(s.cost_usd) and s.segments == ()
        return
    assert s.cost_usd == pytest.approx(s.spot_s * costs.spot_per_h / 3600 + s.ondemand_s * costs.ondemand_per_h / 3600,
                                       rel=1e-9, abs=1e-12)
    assert s.lifetimes == len(s.segments) >= 1
    assert s.switches == sum(a[2] != b[2] for a, b in zip(s.segments, s.segments[1:]))
    for (a0, a1, _), (b0, _, _) in zip(s.segments, s.segments[1:]):
        assert a1 <= b0
    assert all(0 <= a <= b <= window.horizon_s for a, b, _ in s.segments)
    assert s.segments[-1][1] == s.finish_s <= window.horizon_s
    assert s.spot_s >= 0 and s.ondemand_s >= 0


def test_default_quantum_is_a_whole_fraction_of_about_15_s():
    """195 s ticks give 15 s quanta (13 a tick); 60 s give 15 s; 100 s give 14.29 s (7 a tick)."""
    assert default_quantum(195.0) == 15.0
    assert default_quantum(60.0) == 15.0
    assert default_quantum(100.0) == pytest.approx(100 / 7)
    with pytest.raises(ValueError):
        hindsight_optimum(Window((), 100.0), Costs(50, 0, 0, 1, 2), 60.0, quantum_s=25.0)


# -- closed forms ----------------------------------------------------------------------------
COSTS = Costs(work_s=10 * 3600.0, startup_s=90.0, restore_s=5.0, spot_per_h=SPOT, ondemand_per_h=OD)


def test_no_spot_is_one_on_demand_lifetime():
    """No Spot: on-demand for work + start-up (in whole quanta), no switch, one lifetime from submission."""
    s = hindsight_optimum(Window((), 12 * 3600.0), COSTS, 195.0)
    billed = (math.floor(COSTS.work_s / 15) + math.floor(90 / 15)) * 15
    assert s.feasible and s.ondemand_s == billed and s.spot_s == 0
    assert s.cost_usd == pytest.approx(OD * billed / 3600)
    assert (s.switches, s.lifetimes, s.segments) == (0, 1, ((0.0, billed, "ondemand"),))
    assert s.finish_s == billed


def test_spot_all_window_is_one_spot_lifetime():
    """Spot over the whole window: Spot for work + start-up, one lifetime."""
    s = hindsight_optimum(Window(((0.0, 20 * 3600.0),), 12 * 3600.0), COSTS, 195.0)
    assert s.feasible and s.spot_s == COSTS.work_s + 90 and s.ondemand_s == 0
    assert s.cost_usd == pytest.approx(SPOT * (COSTS.work_s + 90) / 3600)
    assert (s.switches, s.lifetimes) == (0, 1) and s.segments[0][2] == "spot"


def test_equal_prices_cost_the_same_either_way():
    """At equal prices, Spot everywhere costs what on-demand alone does."""
    same = Costs(work_s=COSTS.work_s, startup_s=90, restore_s=5, spot_per_h=OD, ondemand_per_h=OD)
    with_spot = hindsight_optimum(Window(((0.0, 20 * 3600.0),), 12 * 3600.0), same, 195.0)
    without = hindsight_optimum(Window((), 12 * 3600.0), same, 195.0)
    assert with_spot.cost_usd == pytest.approx(without.cost_usd) == pytest.approx(OD * (COSTS.work_s + 90) / 3600)


def test_ties_go_to_the_earlier_finish():
    """At equal prices on-demand now and Spot later cost the same; the schedule finishes first."""
    same = Costs(work_s=1800, startup_s=90, restore_s=5, spot_per_h=OD, ondemand_per_h=OD)
    s = hindsight_optimum(Window(((18 * 195.0, 1e5),), 3 * 3600.0), same, 195.0)
    assert s.cost_usd == pytest.approx(OD * 1890 / 3600)
    assert s.finish_s == 1890 and s.segments == ((0.0, 1890.0, "ondemand"),)


def test_free_spot_costs_nothing():
    """AWS's rule: a Spot lifetime whose period ends within the hour of its start is free, work included."""
    costs = Costs(work_s=1800, startup_s=90, restore_s=5, spot_per_h=SPOT, ondemand_per_h=OD,
                  free_if_preempted_within_s=3600)
    s = hindsight_optimum(Window(((0.0, 2400.0),), 3 * 3600.0), costs, 195.0)
    assert s.cost_usd == 0 and s.spot_s == 0 and s.lifetimes == 1


def test_changeover_longer_than_a_tick_spans_ticks():
    """A 700 s changeover on 60 s ticks (46 quanta, 11.5 ticks) is billed in full before any progress."""
    costs = Costs(work_s=600, startup_s=700, restore_s=0, spot_per_h=SPOT, ondemand_per_h=OD)
    s = hindsight_optimum(Window((), 3600.0), costs, 60.0)
    assert s.ondemand_s == 1290 and s.finish_s == 1290 and s.lifetimes == 1
    assert hindsight_optimum(Window((), 1320.0), costs, 60.0).feasible
    assert not hindsight_optimum(Window((), 1260.0), costs, 60.0).feasible


def test_spot_carries_over_only_inside_one_period():
    """Periods touching or with a gap at a tick boundary need a second changeover; one period spanning it does not.

    Start-up plus work fill the two ticks exactly, so a second changeover leaves on-demand alone to finish.
    """
    costs = Costs(work_s=300, startup_s=90, restore_s=5, spot_per_h=SPOT, ondemand_per_h=OD)   # 20 + 6 quanta
    one = hindsight_optimum(Window(((0.0, 500.0),), 390.0), costs, 195.0)
    assert one.feasible and one.spot_s == 390 and one.lifetimes == 1
    for periods in (((0.0, 195.0), (195.0, 500.0)), ((0.0, 190.0), (200.0, 500.0))):
        split = hindsight_optimum(Window(periods, 390.0), costs, 195.0)
        assert split.spot_s == 0 and split.cost_usd == pytest.approx(OD * 390 / 3600)
    assert hindsight_optimum(Window(((0.0, 195.0), (195.0, 500.0)), 391.0), costs, 195.0).spot_s > 0
    # A lifetime new in the first tick may be in its later period, the one that spans the boundary.
    late = hindsight_optimum(Window(((0.0, 100.0), (100.0, 500.0)), 390.0), costs, 195.0)
    assert (late.spot_s, late.lifetimes) == (390, 1)


def test_a_kill_inside_a_tick_ends_the_lifetime_alive_at_its_start():
    """The lifetime alive at 195 s is in the period killed at 250 s: it cannot carry past 390 s although
    the next period is granted at the kill and spans 390 s. Start-up and work fill the three ticks, so
    a second changeover leaves on-demand alone; one period through 585 s keeps Spot. Alike on 60 s ticks:
    the kill at 90 s costs a second lifetime and its 2 quanta of start-up (12 quanta billed, not 10)."""
    costs = Costs(work_s=495, startup_s=90, restore_s=5, spot_per_h=SPOT, ondemand_per_h=OD)   # 33 + 6 quanta
    touching = hindsight_optimum(Window(((0.0, 250.0), (250.0, 1000.0)), 585.0), costs, 195.0)
    assert touching.spot_s == 0 and touching.cost_usd == pytest.approx(OD * 585 / 3600)
    whole = hindsight_optimum(Window(((0.0, 1000.0),), 585.0), costs, 195.0)
    assert (whole.spot_s, whole.ondemand_s, whole.lifetimes) == (585, 0, 1)
    costs = Costs(work_s=120, startup_s=30, restore_s=0, spot_per_h=SPOT, ondemand_per_h=100 * SPOT)
    s = hindsight_optimum(Window(((0.0, 90.0), (90.0, 1000.0)), 180.0), costs, 60.0)
    assert (s.spot_s, s.ondemand_s, s.lifetimes, s.switches) == (180, 0, 2, 0)
    assert s.cost_usd == pytest.approx(SPOT * 180 / 3600)
    assert s.segments[0][1] <= 120.0 and s.finish_s == 180.0


@st.composite
def touching_periods(draw):
    """Periods one after the other with no gap (capacity back at each kill), each killed 7.5 s past a quantum
    inside a 60 s tick, the last never; a job; a horizon from tight to loose; on-demand 100x Spot's price."""
    steps = draw(st.lists(st.integers(1, 24), min_size=1, max_size=10))
    kills = list(itertools.accumulate(15.0 * k for k in steps))
    kills = [k + 7.5 for k in kills]
    grants = [0.0] + kills
    periods = tuple(zip(grants, kills + [1e9]))
    costs = Costs(work_s=draw(st.integers(1, 40)) * 15.0 + draw(st.floats(0, 14.9)),
                  startup_s=draw(st.sampled_from([0.0, 15.0, 30.0, 45.0, 90.0, 100.0])),
                  restore_s=draw(st.sampled_from([0.0, 5.0, 30.0])), spot_per_h=SPOT, ondemand_per_h=100 * SPOT)
    least = costs.work_s + costs.startup_s + 60.0
    horizon = least + draw(st.floats(0.0, 2.0)) * (kills[-1] + least)
    return Window(periods, horizon), costs, kills


@settings(max_examples=100, deadline=None)
@given(touching_periods())
def test_every_kill_a_spot_lifetime_meets_costs_a_changeover(case):
    """No Spot lifetime holds a tick across a kill (kills fall only in its first or last tick), so the
    bill is the work plus one changeover per lifetime, each counted in `lifetimes`: the first start-up
    alone, then start-up + restore (every tick is all Spot, so billed seconds are the quanta held)."""
    window, costs, kills = case
    s = hindsight_optimum(window, costs, 60.0, 15.0)
    assert s.feasible
    for begin, end, market in s.segments:
        if market == "spot":
            first, last = math.floor(begin / 60.0), math.ceil(end / 60.0) - 1
            assert not [k for k in kills if 60.0 * (first + 1) <= k <= 60.0 * last], (begin, end)
    need, c0, c1 = math.floor(costs.work_s / 15), math.floor(costs.startup_s / 15), \
        math.floor((costs.startup_s + costs.restore_s) / 15)
    assert s.spot_s + s.ondemand_s == 15.0 * (need + c0 + (s.lifetimes - 1) * c1)
    assert s.lifetimes == len(s.segments)
    assert s.switches == sum(a[2] != b[2] for a, b in zip(s.segments, s.segments[1:]))


def test_a_new_spot_lifetime_pays_its_first_tick_from_its_start():
    """A lifetime may start late in its first tick, holding (and paying for) only its last j quanta. One
    period to 70 s, 2 quanta of start-up, 5 of work by 120 s: starting at 15 s (2 quanta of start-up,
    1 of work), then the 10 s of Spot left in the second tick, costs 55 s; starting at 0 costs 70 s."""
    costs = Costs(work_s=75, startup_s=30, restore_s=0, spot_per_h=SPOT, ondemand_per_h=100 * SPOT)
    s = hindsight_optimum(Window(((0.0, 70.0),), 120.0), costs, 60.0)
    assert s.spot_s == 55 and s.cost_usd == pytest.approx(SPOT * 55 / 3600)
    assert s.lifetimes == 1 and s.segments[0][0] == 15.0


def test_restore_is_paid_by_lifetimes_after_the_first():
    """Spot for the first 5 ticks, then on-demand: the second lifetime pays start-up plus restore."""
    for restore, quanta in ((5.0, 6), (30.0, 8)):
        costs = Costs(work_s=3600, startup_s=90, restore_s=restore, spot_per_h=SPOT, ondemand_per_h=OD)
        s = hindsight_optimum(Window(((0.0, 975.0),), 4 * 3600.0), costs, 195.0)
        assert s.spot_s == 975 and s.ondemand_s == (240 - (5 * 13 - 6) + quanta) * 15
        assert (s.lifetimes, s.switches) == (2, 1)
        assert [k for *_, k in s.segments] == ["spot", "ondemand"]


@settings(max_examples=60, deadline=None)
@given(work_q=st.integers(1, 400), startup=st.floats(0, 400), horizon=st.floats(1, 9000))
def test_feasible_exactly_when_on_demand_fits_the_ticks(work_q, startup, horizon):
    """Feasible iff the ticks (the last in full) hold start-up plus work in quanta; shorter horizons are refused."""
    costs = Costs(work_s=work_q * 15.0, startup_s=startup, restore_s=5, spot_per_h=SPOT, ondemand_per_h=OD)
    fits = math.ceil(horizon / 195) * 13 >= work_q + math.floor(startup / 15)
    s = hindsight_optimum(Window(((0.0, horizon),), horizon), costs, 195.0)
    assert s.feasible == fits
    assert s.cost_usd == math.inf or fits


def test_horizon_shorter_than_startup_plus_work_is_infeasible():
    """A deadline a tick short of start-up plus work cannot be met, even with Spot throughout."""
    s = hindsight_optimum(Window(((0.0, 1e5),), 3600 + 90 - 195), Costs(3600, 90, 5, SPOT, OD), 195.0)
    assert not s.feasible and s.cost_usd == math.inf and s.segments == ()


# -- bounds as availability and deadline grow ------------------------------------------------
@st.composite
def window_and_more(draw):
    """Periods inside a 20-tick window and extra ones only in ticks the first set leaves empty."""
    horizon = draw(st.integers(8, 20)) * 195.0 - draw(st.sampled_from([0.0, 50.0]))
    cells = draw(st.lists(st.booleans(), min_size=80, max_size=80))
    base = runs(cells, 195.0 / 4)
    empty = [t for t in range(20) if not any(g < (t + 1) * 195 and k > t * 195 for g, k in base)]
    extra = []
    for t in empty:
        if draw(st.booleans()):
            a, b = sorted(draw(st.lists(st.integers(0, 195), min_size=2, max_size=2, unique=True)))
            extra.append((t * 195.0 + a, t * 195.0 + b))
    return horizon, base, tuple(sorted(base + tuple(extra)))


def runs(cells, width):
    """(grant, kill) of the runs of True cells."""
    out, start = [], None
    for i, on in enumerate(list(cells) + [False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            out.append((start * width, i * width))
            start = None
    return tuple(out)


MONO_COSTS = Costs(work_s=1500.0, startup_s=90.0, restore_s=5.0, spot_per_h=SPOT, ondemand_per_h=OD)


@settings(max_examples=60, deadline=None)
@given(window_and_more())
def test_more_spot_never_costs_more(case):
    """Spot in ticks that had none never raises the cost (free rule off: an added period can't merge away a kill)."""
    horizon, base, more = case
    a = hindsight_optimum(Window(base, horizon), MONO_COSTS, 195.0)
    b = hindsight_optimum(Window(more, horizon), MONO_COSTS, 195.0)
    assert b.cost_usd <= a.cost_usd * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(window_and_more(), st.floats(0, 2000), st.sampled_from([0.0, 3600.0]))
def test_later_deadline_never_costs_more(case, later, free_s):
    """A later deadline on the same periods never raises the cost, with or without the free rule."""
    horizon, base, _ = case
    costs = Costs(1500.0, 90.0, 5.0, SPOT, OD, free_s)
    a = hindsight_optimum(Window(base, horizon), costs, 195.0)
    b = hindsight_optimum(Window(base, horizon + later), costs, 195.0)
    assert b.cost_usd <= a.cost_usd * (1 + 1e-12)


# -- a real trace ----------------------------------------------------------------------------
def trace_periods(offset_ticks: int, horizon_s: float):
    path = SHARED / V100
    if not path.exists():
        pytest.skip(f"../shared/{V100} is absent (a clone of the project alone lacks ../shared)")
    data = json.loads(path.read_text())
    gap = data["metadata"]["gap_seconds"]
    cells = data["data"][offset_ticks:offset_ticks + math.ceil(horizon_s / gap) + 1]
    return runs([v >= 1 for v in cells], gap)


@pytest.mark.parametrize("free_s", [0.0, 3600.0])
def test_real_v100_trace_lies_between_all_spot_and_all_on_demand(free_s):
    """60 h to do 48 h on us-east-1a V100 capacity: feasible, dearer than Spot throughout, cheaper than on-demand."""
    horizon = 60 * 3600.0
    costs = Costs(48 * 3600.0, 90.0, 5.0, SPOT, OD, free_s)
    s = hindsight_optimum(Window(trace_periods(5000, horizon), horizon), costs, 195.0)
    assert s.feasible
    floor = 0.0 if free_s else SPOT * 48
    assert floor < s.cost_usd < OD * (48 * 3600 + 90) / 3600
    assert s.spot_s > 0 and s.ondemand_s > 0 and s.finish_s <= horizon
    assert np.isclose(s.cost_usd, s.spot_s * SPOT / 3600 + s.ondemand_s * OD / 3600)
