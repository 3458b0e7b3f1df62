"""The simulator's entry point: one run of a scenario on Spot VMs, with its on-demand baseline.

The pieces, one file each: planning a stretch of epochs (plan.py), the job and
its progress (job.py), one VM lifetime after another (lifetime.py), the notice
and what the job does in its window (notice.py), billing (billing.py), the
on-demand baseline (baseline.py), the running totals (totals.py) and a
measured run's own data (measured.py).
"""
from __future__ import annotations

import dataclasses
import gc
import math

import simpy

from .baseline import is_fixed as baseline_is_fixed
from .baseline import ondemand_baseline
from .clock import Clock, Done, drive
from .config import Scenario
from .epochs import ARRAY_BYTES_PER_EPOCH, MAX_ARRAY_EPOCHS, array_epochs_needed, sequence_noise
from .errors import ScenarioError
from .events import EventLog
from .interrupts import build_pattern
from .interrupts.base import InterruptPattern
from .job import Job, batch_draws, epoch_times
from .lifetime import Limits, SpotRun
from .measured import MeasuredRun
from .policies import build_policy
from .remaining import RemainingWork
from .results import RunResult
from .rng import RunStreams
from .strategies import build_strategy

LIMIT_RATIO = 20.0
"""A run that has spent more than LIMIT_RATIO x the on-demand cost *and* makespan
stops early, flagged unfinished: past that point every break-even question is
answered, and a hopeless rate (preemptions faster than start-up) would never end.
Where cost cannot grow (AWS bills nothing for a VM interrupted within its first
hour; a free Spot price), a run also stops once even fully billed time would have
passed the cost limit twice over (at most 100 x the time limit); its cost is then
a lower bound."""

MAX_LIFETIMES = 2_000_000
"""Most VM lifetimes a run may expect before it finishes or stops early (a few
seconds of simulation per 100,000): a longer job at a higher rate is refused up
front rather than left to run for hours."""

__all__ = ["LIMIT_RATIO", "Job", "build_run_pattern", "check_deadline", "MeasuredRun", "epoch_times",
           "ondemand_baseline", "planning_rate_per_h", "simulate", "simulate_many"]


def build_run_pattern(scenario: Scenario):
    """What a run of `scenario` replays: its interrupt pattern, or with zones the zones' traces
    (zones/market.ZonePatterns)."""
    if scenario.zones:
        from .zones.market import zone_patterns
        return zone_patterns(scenario)
    return build_pattern(scenario.interrupts, scenario.vm.notice_s)


def planning_rate_per_h(scenario: Scenario, pattern: InterruptPattern) -> float:
    """The mean preemption rate strategies plan with: the configured one, else the pattern's own
    (a trace replayed at its own rate)."""
    rate = scenario.interrupts.rate_per_h
    return pattern.mean_rate_per_h if rate is None else rate


def simulate(scenario: Scenario, seed=0, events: EventLog | None = None, pattern=None,
             limit_ratio: float = LIMIT_RATIO, measured: MeasuredRun | None = None,
             plain_clock: bool = True) -> RunResult:
    """Simulate one run of `scenario` with its own seeded random streams.

    `seed` is an int or a tuple of ints (e.g. (cell_seed, replication)); the same
    seed gives the same result. `pattern` may be given pre-built (sweeps reuse one).
    `measured` brings a replayed run's own epoch times, accuracies and start-ups,
    for the job and its on-demand baseline alike. `plain_clock`: a run without a
    deadline policy is driven by clock.Clock (False: by SimPy's event queue; the
    results are the same, SimPy's are slower to get).
    """
    s = scenario
    _check_epoch_arrays(s, measured)
    setup = None
    if s.zones:
        pattern = _zones_pattern(s, pattern, measured)
    elif measured is None:
        setup = _setup(s, pattern, limit_ratio)
        pattern = setup.pattern
    elif pattern is None:
        pattern = build_pattern(s.interrupts, s.vm.notice_s)
    streams = RunStreams(seed)
    if setup is None:
        rate = planning_rate_per_h(s, pattern)
        strategy = build_strategy(s.checkpoint, rate)
    else:
        rate, strategy = setup.rate, setup.strategy
    job = Job(s, streams, strategy, events=events, measured=measured)
    fixed = None if setup is None else setup.fixed
    prices = _limit_prices(s) if setup is None else setup.prices
    if fixed is not None:
        (od_makespan, od_billed), limits, deadline_s = fixed
    else:
        od_makespan, od_billed, limits = _baseline_and_limits(s, seed, job, measured, pattern, limit_ratio, prices)
    if events is not None:
        job.emit("run_start", 0.0, epochs=s.job.epochs, scenario=s.name, seed=_jsonable(seed),
                 strategy=s.checkpoint.strategy, pattern=s.interrupts.pattern,
                 checkpoint=dataclasses.asdict(s.checkpoint), emergency=s.checkpoint.emergency,
                 notice_s=s.vm.notice_s)
    if fixed is None:
        deadline_s = _deadline_kept(s, od_makespan, od_billed, limits, measured, setup)
    if s.policy.name == "omniscient":
        if s.zones:
            from .zones.omniscient import zones_hindsight_run  # the optimisation loads only when asked for
            return zones_hindsight_run(s, job, pattern, streams, od_makespan, od_billed, deadline_s)
        from .policies.omniscient import hindsight_run  # the optimisation loads only when asked for
        return hindsight_run(s, job, pattern, streams, od_makespan, od_billed, deadline_s, measured)
    policy = None if s.policy.name == "spot_only" else build_policy(s)
    result = _run(job, pattern, streams, limits, deadline_s, prices, None if setup is None else setup.warm,
                  measured, policy, plain_clock, od_makespan, od_billed)
    if events is not None:
        t = job.totals
        job.emit("run_end", t.makespan_s, epochs_done=result.epochs_done, makespan_s=t.makespan_s,
                 billed_s=t.billed_s, cost_usd=result.cost_usd, finished=t.finished)
    return result


def simulate_many(scenario: Scenario, seeds, pattern=None, limit_ratio: float = LIMIT_RATIO) -> list[RunResult]:
    """[simulate(scenario, seed, pattern=pattern, limit_ratio=limit_ratio) for seed in seeds], the same
    results, made faster for a sweep's chunk of replications: where the scenario's runs need neither
    zones nor a deadline policy, the runs' random streams are seeded and their job noise drawn in one
    pass for a batch of them (rng.RunStreams.batch, job.batch_draws), and the cyclic garbage collector
    pauses while they run; other scenarios' runs are simulate's, one at a time."""
    s = scenario
    seeds = list(seeds)
    if s.zones or s.policy.name != "spot_only" or not seeds:
        return [simulate(s, seed, pattern=pattern, limit_ratio=limit_ratio) for seed in seeds]
    _check_epoch_arrays(s, None)
    setup = _setup(s, pattern, limit_ratio)
    # A run makes no reference cycles (tests/test_simulate_many.py), so the cyclic collector would only
    # walk the batch's live objects again and again (a tenth of a run's cost): it pauses for the batch.
    collecting = gc.isenabled()
    gc.disable()
    try:
        results = []
        size = BATCH_RUNS
        if array_epochs_needed(s):
            size = min(size, max(1, BATCH_EPOCHS // max(1, s.job.epochs)))
        for start in range(0, len(seeds), size):
            results += _simulate_batch(s, setup, seeds[start:start + size], limit_ratio)
    finally:
        if collecting:
            gc.enable()
    return results


BATCH_RUNS = 256
"""Most runs simulate_many makes streams and draws for at once (their generators are a few KB each)."""
BATCH_EPOCHS = 1_000_000
"""Most epochs of per-epoch arrays simulate_many draws at once (runs x epochs; ~40 MB): a batch of long
jobs is drawn a few runs at a time (one at a time past this many epochs), so its memory stays a run's."""


def _simulate_batch(s: Scenario, setup: _Setup, seeds: list, limit_ratio: float) -> list[RunResult]:
    """simulate_many's runs of `seeds`, their streams and job draws made for all of them first."""
    noisy = s.job.epoch_jitter > 0 or sequence_noise(s)
    runs = RunStreams.batch(seeds, ("draws", "interrupts") if noisy else ("interrupts",), _scalar_streams(s))
    strategy, pattern, prices = setup.strategy, setup.pattern, setup.prices
    results = []
    for seed, streams, draws in zip(seeds, runs, batch_draws(s, runs, strategy)):
        job = Job(s, streams, strategy, draws=draws)
        if setup.fixed is not None:
            (od_makespan, od_billed), limits, deadline_s = setup.fixed
        else:
            od_makespan, od_billed, limits = _baseline_and_limits(s, seed, job, None, pattern, limit_ratio, prices)
            deadline_s = _deadline_kept(s, od_makespan, od_billed, limits, None, setup)
        results.append(_run(job, pattern, streams, limits, deadline_s, prices, setup.warm, None, None, True,
                            od_makespan, od_billed))
    return results


def _scalar_streams(s: Scenario) -> tuple:
    """The scalar streams a run of `s` is likely to draw from: the notice's (notice.notice_drawer), where the
    pattern preempts (made beforehand for a batch; one left unused costs only its making)."""
    if s.interrupts.rate_per_h == 0:
        return ()
    r = s.vm.notice_reliability
    return (("notice_delivery",) if 0.0 < r < 1.0 else ()) + (("notice_step",) if s.job.step_s > 0 else ())


def _baseline_and_limits(s: Scenario, seed, job: Job, measured, pattern, limit_ratio: float, prices):
    """(on-demand makespan_s, its billed_s, the early stop's Limits) of the run of `job` (LIMIT_RATIO)."""
    od_makespan, od_billed = ondemand_baseline(s, seed, job, measured)
    _check_run_size(s, od_makespan, pattern, limit_ratio)
    cost_s = limit_ratio * od_billed * prices.ondemand_per_h / max(prices.spot_per_h, 1e-12)
    time_s = limit_ratio * od_makespan
    return od_makespan, od_billed, Limits(cost_s, time_s, 2.0 * max(time_s, min(cost_s, 50.0 * time_s)))


def _deadline_kept(s: Scenario, od_makespan: float, od_billed: float, limits: Limits, measured, setup) -> float:
    """check_deadline's deadline, the baseline and limits kept in `setup` with it where they are the same
    every run (baseline.is_fixed)."""
    deadline_s = check_deadline(s, od_makespan, measured)
    if setup is not None and baseline_is_fixed(s):
        setup.fixed = ((od_makespan, od_billed), limits, deadline_s)
    return deadline_s


def _run(job: Job, pattern, streams: RunStreams, limits: Limits, deadline_s: float, prices, warm: dict | None,
         measured: MeasuredRun | None, policy, plain_clock: bool, od_makespan_s: float,
         od_billed_s: float) -> RunResult:
    """The run of `job` on Spot (and on-demand, as `policy` decides), and its result against the baseline."""
    s = job.s
    run = SpotRun(job, pattern, streams, limits, measured, policy, deadline_s, RemainingWork(job), warm=warm)
    run.limit_prices = prices
    if policy is None and plain_clock:
        if run.plain_runs:
            run.run_plain()
        else:
            run.plain_clock = True
            clock = Clock()
            drive(run.run(clock, Done()), clock)
    else:
        env = simpy.Environment()
        finished = env.event()
        env.process(run.run(env, finished))
        env.run(until=finished)
    t = job.totals
    final_acc = job.accuracies.at(job.state.epoch - 1) if job.state.epoch > 0 else s.accuracy.a_0
    return RunResult.from_totals(s, t, job.state.epoch, final_acc, od_makespan_s, od_billed_s)


class _Setup:
    """What simulate() works out before a run of one scenario without zones or a measured run that
    does not depend on the run's seed: kept per scenario object (with the pattern given, if any,
    and the early-stop ratio), so that the many runs of a sweep cell or a benchmark work it out
    once. Its entry holds the scenario and pattern objects, so their ids cannot be reused while it
    is kept; the values are those the general path computes (tests/test_frozen_runs.py and the
    sweeps' byte-identical runs.csv hold them to it)."""

    __slots__ = ("scenario", "given", "pattern", "rate", "strategy", "prices", "warm", "fixed")

    def __init__(self, s: Scenario, given):
        self.scenario, self.given = s, given
        self.pattern = build_pattern(s.interrupts, s.vm.notice_s) if given is None else given
        self.rate = planning_rate_per_h(s, self.pattern)
        self.strategy = build_strategy(s.checkpoint, self.rate)
        """The strategy every run shares: strategies are immutable but for adaptive's memo of the uptimes it
        last saw, which is kept with that list and read only for it (a run of its own is never misread)."""
        self.prices = _limit_prices(s)
        self.warm: dict = {}
        """SpotRun's compilation and warm-up costs by cache state (the scenario's alone)."""
        self.fixed = None
        """((od_makespan_s, od_billed_s), limits, deadline_s) once a run has worked them out, where
        they are the same for every seed (baseline.is_fixed); one tuple, set at once (threads)."""


_SETUPS: dict = {}
_SETUPS_KEPT = 64
"""Most scenario setups kept (when full, all go)."""


def _setup(s: Scenario, pattern, limit_ratio: float) -> _Setup:
    """The setup of runs of `s` with `pattern` (None: the scenario's) under `limit_ratio`."""
    key = (id(s), id(pattern), limit_ratio)
    hit = _SETUPS.get(key)
    if hit is None or hit.scenario is not s or hit.given is not pattern:
        hit = _Setup(s, pattern)
        if len(_SETUPS) >= _SETUPS_KEPT:
            _SETUPS.clear()
        _SETUPS[key] = hit
    return hit


def _limit_prices(s: Scenario):
    """The prices the early stop (LIMIT_RATIO) counts in: the scenario's, or with zones the first zone's
    (its mean Spot price where it has a series), as for that zone alone."""
    if not s.zones:
        return s.prices
    from .zones.spec import resolved_zones
    home = resolved_zones(s)[0]
    return dataclasses.replace(s.prices, spot_per_h=home.prices.flat_per_h, ondemand_per_h=home.ondemand_per_h)


def _zones_pattern(s: Scenario, pattern, measured):
    """The zones' traces of a run with zones (a pattern given pre-built must be theirs)."""
    from .zones.market import ZonePatterns
    if measured is not None:
        raise ScenarioError("zones", [z.name for z in s.zones], "a measured run replays the one VM it ran on: "
                            "validate it without `zones:`")
    if isinstance(pattern, ZonePatterns):
        return pattern
    return build_run_pattern(s)


def _check_run_size(s: Scenario, od_makespan_s: float, pattern, limit_ratio: float) -> None:
    """Refuse a run that could not end in reasonable time (see MAX_LIFETIMES)."""
    rate = pattern.mean_rate_per_h
    expected = limit_ratio * od_makespan_s * rate / 3600.0
    if expected > MAX_LIFETIMES:
        raise ScenarioError(
            "job.epoch_s", s.job.epoch_s,
            f"{s.job.epochs} epochs of {s.job.epoch_s:g} s at {rate:.3g} preemptions/h may take "
            f"~{expected:.2g} VM lifetimes before the run finishes or stops, more than the simulator's "
            f"{MAX_LIFETIMES:,}: shorten the job (job.epochs, job.epoch_s) or lower interrupts.rate_per_h")


def _check_epoch_arrays(s: Scenario, measured) -> None:
    """Refuse a job too long for the per-epoch arrays it needs (epochs.MAX_ARRAY_EPOCHS)."""
    if s.job.epochs > MAX_ARRAY_EPOCHS and (array_epochs_needed(s) or measured is not None):
        raise ScenarioError(
            "job.epochs", s.job.epochs,
            f"needs per-epoch arrays in memory (epoch jitter, accuracy noise drawn in sequence or milestone "
            f"saves: about {ARRAY_BYTES_PER_EPOCH * s.job.epochs / 1e9:.1f} GB per run), more than the simulator "
            f"keeps ({MAX_ARRAY_EPOCHS:,} epochs): set job.epoch_jitter=0, and accuracy.noise_draws=keyed (or "
            f"accuracy.noise_sd=0), with a strategy other than milestone (then any length runs in constant "
            f"memory), or fewer, longer epochs")


def check_deadline(s: Scenario, od_makespan_s: float | None = None, measured=None) -> float:
    """The deadline in seconds (inf: none). One the job cannot meet even all on-demand from submission
    is refused (ScenarioError) when the job is the same every run; with random epoch times a run may
    draw a job too long for it, and that run reports the deadline missed. `od_makespan_s` defaults to
    the baseline of seed 0."""
    if s.job.deadline_h is None:
        return math.inf
    if od_makespan_s is None:
        rate = planning_rate_per_h(s, build_run_pattern(s))
        od_makespan_s = ondemand_baseline(s, 0, measured=measured, rate_per_h=rate)[0]
    deadline_s = s.job.deadline_h * 3600.0
    fixed = s.job.epoch_jitter == 0 and measured is None
    if fixed and od_makespan_s > deadline_s * (1 + 1e-9) + 1e-6:
        raise ScenarioError("job.deadline_h", s.job.deadline_h,
                            f"is shorter than the job's on-demand makespan ({od_makespan_s / 3600.0:.6g} h), so "
                            f"nothing can meet it: give at least that, or shorten the job")
    return deadline_s


def _jsonable(seed):
    return list(seed) if isinstance(seed, (tuple, list)) else seed
