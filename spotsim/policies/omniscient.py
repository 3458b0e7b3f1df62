"""`omniscient`: a run's cheapest schedule in hindsight, the floor every policy is measured against.

The run's Spot periods (market.py: the trace window from the run's
submission moment, or the periods the drawn uptimes make) up to the deadline
go to the exact optimisation in hindsight.py. Its model is a relaxation of
the simulator's (no periodic saves, no lost work, no notice windows, no
minimum billing; the work is the job's training and validation), so no
policy simulated on the same periods can cost less. The result carries the
schedule's cost, billed hours per market, switches and finish time; the
simulator's own accounting (preemptions, checkpoints, lost work) does not
apply to it and reads 0.
"""
from __future__ import annotations

import math
from dataclasses import replace

from ..errors import SpotsimError
from ..hindsight import Costs, Window, hindsight_optimum
from ..interrupts.replay import Replay
from ..interrupts.trace import TraceReplay
from ..lifetime import Limits, SpotRun
from ..results import RunResult
from ..totals import Totals

DEFAULT_TICK_S = 60.0
"""Time step of the optimisation for drawn patterns (a trace uses its own tick)."""


def tick_for(scenario, pattern) -> float:
    """policy.tick_s, else the trace's own tick, else DEFAULT_TICK_S."""
    if scenario.policy.tick_s is not None:
        return scenario.policy.tick_s
    if isinstance(pattern, TraceReplay) and pattern.series.tick_s:
        return pattern.series.tick_s
    return DEFAULT_TICK_S


def hindsight_run(s, job, pattern, streams, od_makespan_s: float, od_billed_s: float, deadline_s: float,
                  measured=None) -> RunResult:
    """The omniscient schedule of one run (same seed, same Spot periods as the other policies)."""
    if isinstance(pattern, Replay) or measured is not None:
        raise SpotsimError("policy.name: 'omniscient' needs the future of Spot capacity, and a replayed "
                           "measured run only has the lifetimes it lived; validate it with spot_only")
    if math.isinf(deadline_s):
        raise SpotsimError("policy.name: 'omniscient' needs job.deadline_h (the window it optimises over)")
    run = SpotRun(job, pattern, streams, Limits(math.inf, math.inf, math.inf))
    periods = tuple((g, k) for g, k in run.new_market().periods_until(deadline_s) if k > g)
    work_s, startup_s = work_and_startup(s, job)
    costs = Costs(work_s=work_s, startup_s=startup_s,
                  restore_s=s.checkpoint.restore_s, spot_per_h=s.prices.spot_per_h,
                  ondemand_per_h=s.prices.ondemand_per_h,
                  free_if_preempted_within_s=s.billing.free_if_preempted_within_s)
    schedule = hindsight_optimum(Window(periods, deadline_s), costs, tick_for(s, pattern))
    return schedule_result(s, job, schedule, costs.work_s, od_makespan_s, od_billed_s, deadline_s)


def work_and_startup(s, job) -> tuple[float, float]:
    """The work (training and validation) and the start-up an optimum plans with. Compilation and
    warm-up count as start-up; every lifetime's compilation as if its cache were restored (the first
    pays more): the optimum stays a floor."""
    warm = s.job.warmup_s + s.job.compile_s * s.job.compile_cached_fraction
    return job.epoch_times.total + job.epochs * job.eval_s, s.vm.startup_s + warm


def schedule_result(s, job, schedule, work_s: float, od_makespan_s: float, od_billed_s: float,
                    deadline_s: float, zones=None) -> RunResult:
    """A hindsight schedule (hindsight.Schedule, or zones' ZonesSchedule with their ledger `zones`) as a
    run's result: its hours, switches and finish, and the optimum's own cost (a free Spot lifetime bills 0
    in its model)."""
    t = Totals()
    t.zones = zones
    t.finished = schedule.feasible
    t.makespan_s = schedule.finish_s if schedule.feasible else deadline_s
    t.bill(schedule.spot_s, True)
    t.bill(schedule.ondemand_s, False)
    t.switches = schedule.switches
    t.lifetimes = schedule.lifetimes
    t.work_s = work_s if schedule.feasible else 0.0
    t.first_startup_s = s.vm.startup_s
    epochs = job.epochs if schedule.feasible else 0
    final_acc = job.accuracies.at(epochs - 1) if epochs else s.accuracy.a_0
    result = RunResult.from_totals(s, t, epochs, final_acc, od_makespan_s, od_billed_s)
    return with_cost(result, schedule.cost_usd) if schedule.feasible else result


def with_cost(result: RunResult, cost_usd: float) -> RunResult:
    od = result.ondemand_cost_usd
    return replace(result, cost_usd=cost_usd, savings_pct=100.0 * (1.0 - cost_usd / od) if od > 0 else 0.0,
                   cost_ratio=cost_usd / od if od > 0 else math.nan)
