"""The optimum over zones: exact against an exhaustive search on tiny instances, hindsight_optimum for one zone,
monotone in the zones allowed, moves only when they pay, closed forms, its own bookkeeping."""
import json
import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.hindsight import Costs, Window, hindsight_optimum
from spotsim.interrupts.trace import TraceReplay
from spotsim.interrupts.trace_io import CountSeries, load_trace
from spotsim.zones.optimum import ZoneCosts, ZonesError, ZonesWindow, trace_periods, zones_optimum

from .test_hindsight import runs, tiny_case

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
V100_DIR = SHARED / "traces" / "aws-spot-traces" / "availability" / "1-node" / "aws-02-15-2023"
V100_PRICES = SHARED / "traces" / "aws-v100-spot-prices" / "v100_spot_prices.json"
TICK = 60.0
# ZONES_EXAMPLES raises the number of instances tried (a deeper search by hand).
EXAMPLES = int(os.environ.get("ZONES_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_force(periods, horizon, costs: ZoneCosts, tick, quantum):
    """The model's optimum by trying, tick by tick, every choice: idle; on-demand (k quanta, in the checkpoint's
    region, any region before progress); Spot in any zone's period that overlaps the tick, starting at any
    quantum, billed or free, or the lifetime carried from the tick before. Memoised on (tick, progress,
    checkpoint region, lifetime alive): explicit lifetimes and regions, no shared code with the solver."""
    m = round(tick / quantum)
    need = math.floor(costs.work_s / quantum)
    if need <= 0:
        return 0.0
    n = math.ceil(horizon / tick)
    zones = len(periods)
    region = list(costs.region) if costs.region is not None else [0] * zones
    regions = sorted(set(region))
    move_s = costs.move_s if costs.move_s is not None else [[0.0] * (max(region) + 1)] * (max(region) + 1)
    move_usd = costs.move_usd if costs.move_usd is not None else move_s
    price = [[float(np.broadcast_to(np.asarray(p, float), (n,))[t]) if np.ndim(p) == 0 else float(p[t])
              for t in range(n)] for p in costs.spot_per_h]
    od = {r: min(costs.ondemand_per_h[z] for z in range(zones) if region[z] == r) / 3600 for r in regions}
    free_s = costs.free_if_preempted_within_s
    start = [t * tick for t in range(n)]
    end = [min((t + 1) * tick, horizon) for t in range(n)]

    def overlaps(period, t):
        return min(period[1], end[t]) > max(period[0], start[t])

    billed = [[sum(max(0.0, min(k, start[t] + tick) - max(g, start[t])) for g, k in periods[z])
               if any(overlaps(p, t) for p in periods[z]) else 0.0 for t in range(n)] for z in range(zones)]

    def spans_after(period, t):      # the period spans the instant between ticks t and t+1
        return t < n - 1 and period[0] < (t + 1) * tick < period[1]

    def free(period, t):             # killed within free_s of the latest start in tick t
        return free_s > 0 and period[1] < end[t] + free_s

    def changeover(p, extra_s):
        return math.floor(((costs.startup_s + costs.restore_s + extra_s) if p > 0 else costs.startup_s) / quantum)

    def region_after(p, reg, life_region, debt):
        """The checkpoint's region: none before progress; the lifetime's once its changeover is over."""
        if p == 0:
            return None
        return life_region if debt == 0 else reg

    @lru_cache(maxsize=None)
    def go(t, p, reg, life):
        # life: alive at tick t's start, ("od", region, debt) or ("spot"|"free", zone, period, debt), or None.
        if t == n or p + (n - t) * m < need:
            return math.inf
        best = go(t + 1, p, reg, None)                                   # idle
        ods = [(life[1], life[2])] if life is not None and life[0] == "od" else []
        ods += [(r, changeover(p, 0.0)) for r in (regions if p == 0 else [reg])]
        for r, d in ods:
            for k in ([m] if d >= m else range(d, m + 1)):
                paid = min(d, k)
                if p + k - paid >= need:
                    best = min(best, od[r] * (paid + need - p) * quantum)
                else:
                    p2 = p + k - paid
                    best = min(best, od[r] * k * quantum
                               + go(t + 1, p2, region_after(p2, reg, r, d - paid), ("od", r, d - paid)))
        options = []   # (market, zone, period, debt, quanta held, egress)
        if life is not None and life[0] != "od":
            options.append(life + (m, 0.0))
        for z in range(zones):
            moving = p > 0 and region[z] != reg
            d = changeover(p, move_s[reg][region[z]] if moving else 0.0)
            usd = move_usd[reg][region[z]] if moving else 0.0
            for i, period in enumerate(periods[z]):
                if overlaps(period, t):
                    for j in range(1, m + 1):
                        options.append(("spot", z, i, d, j, usd))
                        if free(period, t):
                            options.append(("free", z, i, d, j, usd))
        for market, z, i, d, j, usd in options:
            paid = min(d, j)
            sp = price[z][t] / 3600 if market == "spot" else 0.0
            if p + j - paid >= need:
                used = paid + need - p
                best = min(best, usd + sp * min(used * quantum, billed[z][t]))
                continue
            p2 = p + j - paid
            nxt = (market, z, i, d - paid) if spans_after(periods[z][i], t) else None
            best = min(best, usd + sp * min(billed[z][t], j * quantum)
                       + go(t + 1, p2, region_after(p2, reg, region[z], d - paid), nxt))
        return best

    return go(0, 0, None, None)


@st.composite
def tiny_zones(draw, zones=None, free=None, moving=False):
    """2-3 zones (or `zones`) of random periods on a 15 s grid, prices flat or per tick, regions, moves;
    `moving`: each zone its own region, dear on-demand, short changeovers and work for most of the window
    (where moves are worth making)."""
    quantum = draw(st.sampled_from([20.0, 30.0, 60.0]))
    ticks = draw(st.integers(3, 5 if quantum == 20.0 else 6))
    horizon = ticks * TICK - draw(st.sampled_from([0.0, 10.0, 35.0]))
    count = draw(st.integers(2, 3)) if zones is None else zones
    periods = []
    for _ in range(count):
        points = sorted(set(draw(st.lists(st.integers(0, int((horizon + TICK) / 15)), max_size=10))))
        up = draw(st.lists(st.integers(0, 2), min_size=len(points), max_size=len(points)))   # 2 in 3 up
        periods.append(tuple((15.0 * a, 15.0 * b) for a, b, on in zip(points, points[1:], up) if on))
    prices = []
    for _ in range(count):
        if draw(st.booleans()):
            prices.append(draw(st.floats(0.1, 3.0)))
        else:
            prices.append(np.array(draw(st.lists(st.floats(0.1, 3.0), min_size=ticks, max_size=ticks))))
    region = tuple(range(count)) if moving else tuple(
        draw(st.lists(st.integers(0, count - 1), min_size=count, max_size=count)))
    R = max(region) + 1
    move_s = [[0.0 if a == b else draw(st.sampled_from([0.0, 10.0, 25.0, 70.0])) for b in range(R)] for a in range(R)]
    move_usd = [[0.0 if a == b else draw(st.sampled_from([0.0, 0.0005, 0.003, 0.02])) for b in range(R)]
                for a in range(R)]
    free_s = draw(st.sampled_from([0.0, 30.0, 100.0, 400.0])) if free is None else free
    m = round(TICK / quantum)
    work_q = draw(st.integers(m * (ticks - 3), m * ticks - 1) if moving else st.integers(1, 9))
    costs = ZoneCosts(work_s=max(work_q, 1) * quantum + draw(st.floats(0, quantum * 0.99)),
                      startup_s=draw(st.sampled_from([0.0, 10.0, 25.0] if moving else [0.0, 10.0, 25.0, 45.0, 70.0,
                                                                                         130.0])),
                      restore_s=draw(st.sampled_from([0.0, 5.0, 30.0])), spot_per_h=tuple(prices),
                      ondemand_per_h=tuple(draw(st.floats(8.0 if moving else 1.0, 12.0)) for _ in range(count)),
                      region=region,
                      move_s=move_s, move_usd=move_usd, free_if_preempted_within_s=free_s)
    return ZonesWindow(tuple(periods), horizon), costs, quantum


@SETTINGS
@given(st.one_of(tiny_zones(), tiny_zones(moving=True)))
def test_equals_brute_force_on_tiny_instances(case):
    """The DP's cost is the minimum over every schedule the model allows, zones, regions and moves included."""
    window, costs, quantum = case
    got = zones_optimum(window, costs, TICK, quantum)
    want = brute_force(window.periods, window.horizon_s, costs, TICK, quantum)
    assert got.feasible == math.isfinite(want)
    if got.feasible:
        assert got.cost_usd == pytest.approx(want, rel=1e-9, abs=1e-12)


def check_bookkeeping(s, window, costs, quantum):
    """Cost is Spot + on-demand + egress dollars; lifetimes ordered and disjoint; moves add up."""
    if not s.feasible:
        assert math.isinf(s.cost_usd) and s.segments == ()
        return
    assert s.cost_usd == pytest.approx(sum(s.zone_spot_usd) + s.ondemand_usd + s.egress_usd, rel=1e-9, abs=1e-12)
    assert s.spot_s == pytest.approx(sum(s.zone_spot_s)) and len(s.zone_spot_s) == len(window.periods)
    assert s.lifetimes == len(s.segments) >= 1
    assert s.switches == sum(a[2] != b[2] for a, b in zip(s.segments, s.segments[1:]))
    for (_, a1, _, _), (b0, _, _, _) in zip(s.segments, s.segments[1:]):
        assert a1 <= b0
    assert all(0 <= a <= b <= window.horizon_s for a, b, _, _ in s.segments)
    assert s.segments[-1][1] == s.finish_s <= window.horizon_s
    assert 0 <= s.moves <= s.lifetimes - 1
    extra = [math.floor((costs.startup_s + costs.restore_s + x) / quantum)
             - math.floor((costs.startup_s + costs.restore_s) / quantum) for x in np.ravel(0.0 if costs.move_s is None else costs.move_s)]
    assert s.transfer_s / quantum == pytest.approx(round(s.transfer_s / quantum))
    assert s.transfer_s <= s.moves * max(extra) * quantum + 1e-9
    if s.moves == 0:
        assert s.egress_usd == 0 and s.transfer_s == 0


@SETTINGS
@given(tiny_zones())
def test_bookkeeping(case):
    """The schedule's parts add up to its cost, its lifetimes are in order, its moves to their transfers."""
    window, costs, quantum = case
    check_bookkeeping(zones_optimum(window, costs, TICK, quantum), window, costs, quantum)


# -- one zone is hindsight.py's optimum -----------------------------------------------------------
def one_zone(window: Window, costs: Costs) -> tuple[ZonesWindow, ZoneCosts]:
    return ZonesWindow((window.periods,), window.horizon_s), ZoneCosts(
        costs.work_s, costs.startup_s, costs.restore_s, (costs.spot_per_h,), (costs.ondemand_per_h,),
        free_if_preempted_within_s=costs.free_if_preempted_within_s)


@settings(max_examples=max(EXAMPLES, 100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_case())
def test_one_zone_is_the_hindsight_optimum(case):
    """One zone at a flat price: the same cost and finish as hindsight_optimum on the same window."""
    window, costs, quantum = case
    a = hindsight_optimum(window, costs, TICK, quantum)
    b = zones_optimum(*one_zone(window, costs), TICK, quantum)
    assert a.feasible == b.feasible
    if a.feasible:
        assert b.cost_usd == pytest.approx(a.cost_usd, rel=1e-9, abs=1e-12)
        assert b.finish_s == pytest.approx(a.finish_s, abs=1e-9)
        assert (b.moves, b.egress_usd) == (0, 0.0)


@st.composite
def medium_window(draw):
    """20 ticks of 195 s with periods on a 48.75 s grid, a job of 0.3-1 of the window, the free rule or not."""
    horizon = draw(st.integers(8, 20)) * 195.0 - draw(st.sampled_from([0.0, 50.0]))
    periods = runs(draw(st.lists(st.booleans(), min_size=80, max_size=80)), 195.0 / 4)
    costs = Costs(work_s=draw(st.floats(0.3, 1.0)) * horizon, startup_s=90.0, restore_s=draw(st.sampled_from([5, 60])),
                  spot_per_h=0.9731, ondemand_per_h=3.06, free_if_preempted_within_s=draw(st.sampled_from([0, 3600])))
    return Window(periods, horizon), costs


@settings(max_examples=30, deadline=None)
@given(medium_window())
def test_one_zone_is_the_hindsight_optimum_on_195_s_ticks(case):
    """Alike on longer windows with 13 quanta a tick."""
    window, costs = case
    a = hindsight_optimum(window, costs, 195.0)
    b = zones_optimum(*one_zone(window, costs), 195.0)
    assert a.feasible == b.feasible
    if a.feasible:
        assert b.cost_usd == pytest.approx(a.cost_usd, rel=1e-9) and b.finish_s == pytest.approx(a.finish_s)


# -- more zones --------------------------------------------------------------------------------
@SETTINGS
@given(tiny_zones(zones=3))
def test_adding_a_zone_never_costs_more(case):
    """The optimum over zones 0..k is no dearer than over zones 0..k-1 (prices, regions and moves kept)."""
    window, costs, quantum = case
    prev = math.inf
    for k in (1, 2, 3):
        sub = ZonesWindow(window.periods[:k], window.horizon_s)
        sub_costs = ZoneCosts(costs.work_s, costs.startup_s, costs.restore_s, costs.spot_per_h[:k],
                              costs.ondemand_per_h[:k], costs.region[:k], costs.move_s, costs.move_usd,
                              costs.free_if_preempted_within_s)
        cost = zones_optimum(sub, sub_costs, TICK, quantum).cost_usd
        assert cost <= prev * (1 + 1e-12)
        prev = cost


@settings(max_examples=30, deadline=None)
@given(medium_window(), st.sampled_from([1, 2, 3]), st.sampled_from([0.0, 45.0]))
def test_identical_zones_never_move(case, copies, move_s):
    """Copies of one zone in other regions (same periods and prices) cost what the zone alone costs, and with
    egress to pay no schedule moves."""
    window, costs = case
    alone = zones_optimum(*one_zone(window, costs), 195.0)
    R = copies + 1
    many = zones_optimum(ZonesWindow((window.periods,) * R, window.horizon_s),
                         ZoneCosts(costs.work_s, costs.startup_s, costs.restore_s, (costs.spot_per_h,) * R,
                                   (costs.ondemand_per_h,) * R, tuple(range(R)), move_s * (1 - np.eye(R)),
                                   0.05 * (1 - np.eye(R)), costs.free_if_preempted_within_s), 195.0)
    assert many.cost_usd == pytest.approx(alone.cost_usd, rel=1e-12)
    assert (many.moves, many.egress_usd, many.transfer_s) == (0, 0.0, 0.0)


A_B = ZonesWindow((((0.0, 1e6),), ((3600.0, 1e6),)), 15000.0)
"""Zone A always has Spot; zone B, in another region, only from the first hour on."""


def a_b_costs(usd, move_s=0.0):
    """4 h of work, 60 s start-up (4 quanta of 15 s), 15 s restore; A at $1/h, B at $0.2/h; on-demand at $5/h
    (an hour of it in B's region, waiting for B with nothing to move, costs more than B saves)."""
    return ZoneCosts(4 * 3600.0, 60.0, 15.0, (1.0, 0.2), (5.0, 5.0), (0, 1), [[0, move_s], [move_s, 0]],
                     [[0, usd], [usd, 0]])


def test_a_move_that_cannot_pay_for_itself_is_not_made():
    """$10 of egress exceeds anything B can save over A ($0.8/h for 3 h): the job stays in A throughout, as
    the deadline (4 h 10 min) leaves no time to wait for B with nothing to move."""
    s = zones_optimum(A_B, a_b_costs(10.0), 60.0, 15.0)
    assert (s.moves, s.egress_usd, s.zone_spot_s[1]) == (0, 0.0, 0.0)
    assert s.cost_usd == pytest.approx(1.0 * (960 + 4) * 15 / 3600)
    assert s.segments == ((0.0, 964 * 15.0, "spot", 0),)


@pytest.mark.parametrize("move_s, extra", [(0.0, 0), (20.0, 1)])
def test_a_move_that_pays_is_made_when_b_comes(move_s, extra):
    """$0.10 of egress: B from its first moment to the deadline (760 quanta: start-up, restore, the transfer's
    quanta and work), A for the rest of the work and its start-up, and the egress once."""
    s = zones_optimum(A_B, a_b_costs(0.1, move_s), 60.0, 15.0)
    a_quanta = 4 + 960 - (760 - 5 - extra)
    assert (s.moves, s.egress_usd, s.transfer_s) == (1, pytest.approx(0.1), 15.0 * extra)
    assert s.zone_spot_s == (15.0 * a_quanta, 11400.0)
    assert s.cost_usd == pytest.approx(1.0 * a_quanta * 15 / 3600 + 0.2 * 11400 / 3600 + 0.1)
    assert [z for *_, z in s.segments] == [0, 1] and s.segments[1][:2] == (3600.0, 15000.0)


def test_a_strictly_better_zone_is_used():
    """B always available and cheaper than A (available half the time): the job runs in B alone, start-up and
    work, and never pays a move."""
    window = ZonesWindow((((0.0, 7200.0), (10800.0, 1e6)), ((0.0, 1e6),)), 6 * 3600.0)
    costs = ZoneCosts(4 * 3600.0, 90.0, 5.0, (1.0, 0.5), (3.0, 3.0), (0, 1), [[0, 30], [30, 0]],
                      [[0, 0.02], [0.02, 0]])
    s = zones_optimum(window, costs, 195.0)
    assert s.zone_spot_s == (0.0, 4 * 3600.0 + 90.0) and s.ondemand_s == 0 and s.moves == 0
    assert s.cost_usd == pytest.approx(0.5 * (4 * 3600.0 + 90.0) / 3600)


def test_per_tick_prices_bill_each_tick_at_its_own_price():
    """One zone always available, its price doubling after the first hour: 4 h of work from submission pay
    the first hour at $1/h and the rest at $2/h (start-up included in the first hour)."""
    ticks = 5 * 60
    price = np.where(np.arange(ticks) < 60, 1.0, 2.0)
    s = zones_optimum(ZonesWindow((((0.0, 1e6),),), 5 * 3600.0),
                      ZoneCosts(4 * 3600.0, 60.0, 0.0, (price,), (10.0,)), 60.0, 15.0)
    assert s.cost_usd == pytest.approx(1.0 + 2.0 * (4 * 3600.0 + 60.0 - 3600.0) / 3600)
    assert s.zone_spot_usd == (pytest.approx(s.cost_usd),)


# -- the union of zones ------------------------------------------------------------------------
@st.composite
def separated_zones(draw, one_per_tick):
    """Periods of 2-3 zones that never touch or overlap (runs of 15 s cells, each run a zone's); with
    `one_per_tick`, each 60 s tick meets periods of one zone at most. Moves free, one price everywhere."""
    zones = draw(st.integers(2, 3))
    ticks = draw(st.integers(4, 12))
    cells = draw(st.lists(st.booleans(), min_size=4 * ticks, max_size=4 * ticks))
    owner = draw(st.lists(st.integers(0, zones - 1), min_size=ticks, max_size=ticks))
    if one_per_tick:
        for t in range(1, ticks):
            if owner[t] != owner[t - 1]:
                cells[4 * t] = False       # a gap where the owner changes: no period crosses it
    union = runs(cells, 15.0)
    periods = [[] for _ in range(zones)]
    for grant, kill in union:
        z = owner[int(grant // TICK)] if one_per_tick else draw(st.integers(0, zones - 1))
        periods[z].append((grant, kill))
    horizon = ticks * TICK - draw(st.sampled_from([0.0, 20.0]))
    spot, od = draw(st.floats(0.2, 2.0)), 3.0
    free_s = draw(st.sampled_from([0.0, 100.0])) if one_per_tick else 0.0
    costs = Costs(draw(st.integers(1, 3 * ticks)) * 15.0, draw(st.sampled_from([0.0, 15.0, 45.0, 90.0])),
                  draw(st.sampled_from([0.0, 15.0])), spot, od, free_s)
    zcosts = ZoneCosts(costs.work_s, costs.startup_s, costs.restore_s, (spot,) * zones, (od,) * zones,
                       tuple(range(zones)), free_if_preempted_within_s=free_s)
    return ZonesWindow(tuple(tuple(p) for p in periods), horizon), zcosts, Window(union, horizon), costs


@SETTINGS
@given(separated_zones(one_per_tick=False))
def test_zones_never_cost_more_than_one_zone_with_their_union(case):
    """Moves free, one price, periods of different zones apart: every lifetime on the union is one zone's,
    billed no more there (a tick bills only its zone's Spot seconds), so the optimum over zones is at most
    the single-zone optimum on the union. Not equal in general: where two zones share a tick, the union bills
    both zones' seconds to a lifetime that starts or ends in it."""
    zwindow, zcosts, window, costs = case
    assert zones_optimum(zwindow, zcosts, TICK, 15.0).cost_usd <= hindsight_optimum(
        window, costs, TICK, 15.0).cost_usd * (1 + 1e-12)


@SETTINGS
@given(separated_zones(one_per_tick=True))
def test_zones_one_at_a_time_cost_what_their_union_costs(case):
    """Moves free, one price, each tick meeting one zone's periods at most: the two models are the same, equal
    costs and finishes (free rule on or off). Periods that touch or overlap across zones are left out: the
    union merges them into one period, which a lifetime rides through without a changeover."""
    zwindow, zcosts, window, costs = case
    a = zones_optimum(zwindow, zcosts, TICK, 15.0)
    b = hindsight_optimum(window, costs, TICK, 15.0)
    assert a.cost_usd == pytest.approx(b.cost_usd, rel=1e-9) and a.finish_s == pytest.approx(b.finish_s)


# -- deadlines, memory, input ------------------------------------------------------------------
def test_infeasible_deadline_gives_an_infeasible_schedule():
    """A deadline a tick short of start-up plus work cannot be met, whatever the zones."""
    window = ZonesWindow((((0.0, 1e5),), ((0.0, 1e5),)), 3600 + 90 - 195)
    s = zones_optimum(window, ZoneCosts(3600, 90, 5, (1.0, 0.5), (3.0, 3.0), (0, 1)), 195.0)
    assert not s.feasible and s.cost_usd == math.inf and s.segments == () and s.zone_spot_s == (0.0, 0.0)


@settings(max_examples=20, deadline=None)
@given(tiny_zones(), st.sampled_from([1e-6, 1e-4]))
def test_recomputed_back_pointers_give_the_same_schedule(case, memory_mb):
    """With back-pointers over budget, stretches of ticks are recomputed: the same schedule as keeping them."""
    window, costs, quantum = case
    kept = zones_optimum(window, costs, TICK, quantum)
    redone = zones_optimum(window, costs, TICK, quantum, memory_mb=memory_mb)
    assert redone == kept


@pytest.mark.parametrize("change, message", [
    ({"spot_per_h": (1.0,)}, "spot_per_h has 1 entries for 2 zones"),
    ({"spot_per_h": (1.0, np.ones(3))}, r"spot_per_h\[1\] has 3 prices for a window of 10 ticks"),
    ({"move_s": [[0, 1], [1, 1]]}, "move_s must be a 2 x 2 matrix"),
    ({"region": (0, -1)}, "region must give each zone"),
    ({"work_s": -1.0}, "work_s must be finite"),
])
def test_bad_input_is_refused_in_one_line(change, message):
    """Counts per zone, price series shorter than the window, move matrices, regions, costs: one clear error."""
    fields = dict(work_s=600.0, startup_s=30.0, restore_s=0.0, spot_per_h=(1.0, 1.0), ondemand_per_h=(3.0, 3.0),
                  region=(0, 1))
    fields.update(change)
    with pytest.raises(ZonesError, match=message):
        zones_optimum(ZonesWindow(((), ()), 600.0), ZoneCosts(**fields), 60.0)
    with pytest.raises(ValueError, match="quantum_s must divide"):
        zones_optimum(ZonesWindow(((),), 600.0), ZoneCosts(600, 0, 0, (1.0,), (3.0,)), 60.0, 25.0)


def test_trace_periods_follow_the_replay():
    """A job submitted 2 ticks into a trace meets its periods from there, wrapping around the cycle."""
    replay = TraceReplay(CountSeries.from_ticks([1, 1, 0, 1, 1, 1, 0, 0], 100.0))
    assert trace_periods(replay, 300.0, 900.0) == ((0.0, 300.0), (500.0, 700.0), (800.0, 1100.0))


# -- the shipped V100 zones --------------------------------------------------------------------
def v100_zones(names, start_tick, horizon_s):
    if not V100_DIR.exists() or not V100_PRICES.exists():
        pytest.skip("../shared/traces (aws-02-15-2023 V100 traces and prices) is absent: a clone of the project "
                    "alone lacks ../shared")
    prices = json.loads(V100_PRICES.read_text())
    ticks = math.ceil(horizon_s / 195.0)
    periods, series = [], []
    for name in names:
        replay = TraceReplay(load_trace(V100_DIR / f"{name}_v100_1.json"))
        periods.append(trace_periods(replay, start_tick * 195.0, horizon_s))
        series.append(np.take(prices[f"{name}_v100_1"], np.arange(start_tick, start_tick + ticks), mode="wrap"))
    return ZonesWindow(tuple(periods), horizon_s), tuple(series)


def test_v100_zones_cost_no_more_than_their_best_zone():
    """12 h to do 8 h in three V100 zones of two regions: no dearer than any of them alone, no cheaper than
    the cheapest Spot price for the work and start-up."""
    names, region = ("us-east-1a", "us-east-2a", "us-west-2a"), (0, 1, 2)
    window, series = v100_zones(names, 5000, 12 * 3600.0)
    moves = 0.2 * 0.02 * (1 - np.eye(3))
    costs = ZoneCosts(8 * 3600.0, 90.0, 5.0, series, (3.06,) * 3, region, 0.0 * moves, moves)
    s = zones_optimum(window, costs, 195.0)
    check_bookkeeping(s, window, costs, 15.0)
    for z in range(3):
        alone = zones_optimum(ZonesWindow((window.periods[z],), window.horizon_s),
                              ZoneCosts(costs.work_s, 90.0, 5.0, (series[z],), (3.06,)), 195.0)
        assert s.cost_usd <= alone.cost_usd * (1 + 1e-12)
    assert s.cost_usd >= min(float(np.min(p)) for p in series) * (8 * 3600.0 + 90.0) / 3600 * (1 - 1e-12)
