"""`omniscient` with zones: a run's cheapest schedule over every zone and on-demand, in hindsight.

The run's zone timelines (the same submission offset, drawn from the same
stream, as the zone policies' runs of that seed) up to the deadline go to the
optimum over zones (optimum.py), with each zone's price averaged over each
tick of the optimisation on the trace clock, regions numbered per (cloud,
region), and the moves between regions costed as the simulator costs them
(spec.move_between). Like policies/omniscient.py for one zone, the result is
the schedule's cost and hours; the simulator's own accounting (preemptions,
checkpoints, lost work) reads 0.
"""
from __future__ import annotations

import math
from dataclasses import replace

from ..hindsight import default_quantum
from ..lifetime import Limits, SpotRun
from ..policies.omniscient import schedule_result, tick_for, work_and_startup
from ..results import RunResult
from .optimum import ZoneCosts, ZonesWindow, zones_optimum
from .spec import move_between


def zones_hindsight_run(s, job, patterns, streams, od_makespan_s: float, od_billed_s: float,
                        deadline_s: float) -> RunResult:
    """The optimum over zones of one run (the periods its zone policies meet at the same seed)."""
    run = SpotRun(job, patterns, streams, Limits(math.inf, math.inf, math.inf))
    market = run.new_market()
    ledger = run.ledger
    zones = ledger.zones
    periods = tuple(tuple((g, k) for g, k in zone if k > g) for zone in market.periods_until(deadline_s))
    tick = tick_for(s, patterns.replays[0])
    ticks = math.ceil(deadline_s / tick) + 1
    prices = tuple(_tick_prices(z.prices, ledger.offset_s, tick, ticks) for z in zones)
    keys = [(z.cloud, z.region) for z in zones]
    regions = list(dict.fromkeys(keys))
    first = [keys.index(r) for r in regions]  # a zone of each region: moves depend on regions only
    moves = [[move_between(zones[a], zones[b], s.checkpoint.size_gb, s.moves) for b in first] for a in first]
    work_s, startup_s = work_and_startup(s, job)
    costs = ZoneCosts(work_s=work_s, startup_s=startup_s,
                      restore_s=s.checkpoint.restore_s, spot_per_h=prices,
                      ondemand_per_h=tuple(z.ondemand_per_h for z in zones),
                      region=tuple(regions.index(k) for k in keys),
                      move_s=tuple(tuple(m.transfer_s for m in row) for row in moves),
                      move_usd=tuple(tuple(m.usd for m in row) for row in moves),
                      free_if_preempted_within_s=s.billing.free_if_preempted_within_s)
    schedule = zones_optimum(ZonesWindow(periods, deadline_s), costs, tick, default_quantum(tick))
    result = schedule_result(s, job, schedule, costs.work_s, od_makespan_s, od_billed_s, deadline_s, ledger)
    return replace(result, moves=schedule.moves, transfer_gb=schedule.moves * s.checkpoint.size_gb,
                   transfer_usd=schedule.egress_usd, transfer_h=schedule.transfer_s / 3600.0,
                   zone_h=tuple((z.name, sec / 3600.0) for z, sec in zip(zones, schedule.zone_spot_s)))


def _tick_prices(prices, offset_s: float, tick_s: float, ticks: int) -> tuple[float, ...]:
    """A zone's Spot price over each tick of the optimisation ($/h, the tick's average on the trace clock)."""
    if prices.series is None:
        return (prices.flat_per_h,) * ticks
    return tuple(prices.cost_usd(offset_s + i * tick_s, tick_s) * 3600.0 / tick_s for i in range(ticks))
