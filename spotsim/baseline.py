"""The on-demand baseline: the same job and strategy with no preemptions, at the on-demand price.

It uses the Spot run's own epoch times and accuracies (and a measured run's
first start-up), so a run without preemptions takes exactly its baseline's
time. It is cached when nothing in it is random.
"""
from __future__ import annotations

import math

from .arithmetic_plan import ArithmeticStretch
from .billing import lifetime_billed_s
from .config import Scenario
from .job import Job
from .measured import MeasuredRun
from .plain_stretch import fresh_duration_s
from .rng import RunStreams
from .strategies import TrainingState, build_strategy

PLAN_EPOCHS = 64
"""Epochs planned at a time: memory stays bounded whatever the job's length."""


def ondemand_baseline(scenario: Scenario, seed=0, job: Job | None = None, measured: MeasuredRun | None = None,
                      rate_per_h: float | None = None) -> tuple[float, float]:
    """(makespan_s, billed_s) of the job with no preemptions.

    Pass the Spot run's `job` (fresh, before it ran) to reuse its draws and
    strategy; otherwise the job of `seed` is drawn, its strategy planned with
    `rate_per_h` (default: interrupts.rate_per_h; young_daly uses it).
    """
    s = scenario
    if measured is None:
        if is_fixed(s):
            rate = _planning_rate(s, job, rate_per_h)
            key = (s.job, s.checkpoint, s.vm.startup_s, s.billing, s.accuracy, rate)
            hit = _CACHE.get(key)
            if hit is None:
                if len(_CACHE) > 4096:
                    _CACHE.clear()
                hit = _CACHE[key] = _baseline(s, job or _job(s, 0, rate_per_h), None)
            return hit
    return _baseline(s, job or _job(s, seed, rate_per_h, measured), measured)


_CACHE: dict = {}


def is_fixed(s: Scenario) -> bool:
    """Whether the baseline of scenario `s` (without a measured run) is the same for every seed: no
    epoch jitter, and accuracies that matter (milestone's saves) without noise."""
    return s.job.epoch_jitter == 0 and (s.checkpoint.strategy != "milestone" or s.accuracy.noise_sd == 0)


def _planning_rate(s: Scenario, job: Job | None, rate_per_h: float | None):
    """What of the preemption pattern the baseline depends on: young_daly's planning rate."""
    if s.checkpoint.strategy != "young_daly":
        return None
    if job is not None:
        return job.strategy.rate_per_h
    return rate_per_h if rate_per_h is not None else (s.interrupts.rate_per_h or 0.0)


def _job(s: Scenario, seed, rate_per_h: float | None, measured: MeasuredRun | None = None) -> Job:
    rate = rate_per_h if rate_per_h is not None else (s.interrupts.rate_per_h or 0.0)
    return Job(s, RunStreams(seed), build_strategy(s.checkpoint, rate), measured=measured)


def _baseline(s: Scenario, job: Job, measured: MeasuredRun | None) -> tuple[float, float]:
    startup = s.vm.startup_s if measured is None else measured.startup_of(1, s.vm.startup_s)
    warm = s.job.compile_s + s.job.warmup_s  # one lifetime, compiled cold
    if measured is not None:
        warm = measured.compile_of(1, s.job.compile_s) + measured.warmup_of(1, s.job.warmup_s)
    if job.arithmetic:
        work = fresh_duration_s(job)
        if work is None:
            work = ArithmeticStretch(job, 0.0, TrainingState(), 0.0).duration_s
    else:
        work = planned_s(job)
    makespan = startup + warm + work
    return makespan, lifetime_billed_s(makespan, s.billing, preempted=False)


def planned_s(job: Job) -> float:
    """Training, validation and checkpoint seconds of an uninterrupted run, planned stretch by stretch
    on a fresh copy of `job` (which is left as it was); the last asynchronous write included."""
    return planned_from(job.fresh())


def planned_from(probe: Job) -> float:
    """Seconds `probe` (a job nobody else uses) needs from its state to the end of its last write."""
    total = 0.0
    while probe.state.epoch < probe.epochs:
        stretch = probe.plan(PLAN_EPOCHS, math.inf, total)
        total += stretch.duration_s
        probe.commit(stretch, stretch.locate_end())
    if probe.pending is not None:
        total = max(total, probe.pending.done_at)
    return total
