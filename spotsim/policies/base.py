"""What a deadline policy sees and answers: which market the job runs on, and until when.

The run (lifetime.py) asks the policy at every decision point: the job idle
between lifetimes (at the submission, after a kill, after a voluntary stop,
at the end of a wait it asked for) and at the review time it gave for a
running lifetime. The answer is a market (SPOT, ONDEMAND) or WAIT, and a time
`until` at which to ask again if nothing happens first (inf: never). While a
lifetime runs, an answer naming another market (or WAIT) stops it
voluntarily: the job finishes its step, saves what it holds when that is
quicker than redoing it, and the VM goes off, billed until then.

A policy's notion of "remaining work" is the job's own (remaining.py): the
planned seconds from a checkpointed position. What counts as done is what a
preemption now would keep: the durable checkpoint, or the progress held in
memory when the emergency save fits the notice window for sure
(`Situation.remaining_at_risk_s`); with `policy.assume_no_loss` the held
progress always counts, as in Can't Be Late's simulator, which never loses
work.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from ..costs import billed_seconds

SPOT, ONDEMAND, WAIT = "spot", "ondemand", "wait"
MIN_REVIEW_S = 1.0
"""A running lifetime is reviewed at most this often: a policy whose slack is smaller stops it now
(stopping early is always on the safe side of a deadline)."""
EPS_S = 1e-6


class Decision(NamedTuple):
    market: str
    """SPOT, ONDEMAND or WAIT."""
    until: float = math.inf
    """When to ask again if nothing happens first (seconds since submission)."""


@dataclass(slots=True)
class Situation:
    """The job and the market at a decision point (seconds since submission)."""

    now: float
    deadline: float
    """The deadline (inf: none)."""
    on: str | None
    """The market of the lifetime running now (None: between lifetimes)."""
    spot_now: bool
    """A Spot VM can be granted now."""
    spot_wait_s: float
    """Seconds until a Spot VM can be granted (0 if now, inf if never)."""
    remaining_durable_s: float
    """Work left from the newest durable checkpoint (from the start if none)."""
    remaining_held_s: float
    """Work left from the progress held in memory (= durable between lifetimes)."""
    restart_durable_s: float
    """Start-up, plus the restore if there is a durable checkpoint, plus compilation (cached with a
    checkpoint) and warm-up: a new VM from the durable point."""
    restart_held_s: float
    """Start-up, restore, cached compilation and warm-up: a new VM from a checkpoint of the held progress."""
    step_s: float
    save_s: float
    """The emergency (or policy's) save."""
    notice_s: float
    save_fits: bool
    """A preemption now keeps the held progress (emergency save sure to fit the notice)."""
    total_s: float
    """The whole job on one on-demand VM (its on-demand makespan)."""
    margin_s: float
    assume_no_loss: bool
    spot_price_ratio: float = 0.0
    """Spot price / on-demand price."""
    billing_minimum_s: float = 0.0
    """The shortest time a VM is billed for."""
    billing_increment_s: float = 0.0
    """Billed time is rounded up to this (0: exact)."""
    unsaveable_s: float = 0.0
    """The longest stretch of work a stop cannot keep in part (an epoch's evaluation)."""

    def _at_risk(self) -> float:
        """Restart plus work left after a preemption now (see the module docstring)."""
        if self.on is None or self.remaining_held_s >= self.remaining_durable_s:
            return self.restart_durable_s + self.remaining_durable_s
        if self.on != SPOT or self.save_fits or self.assume_no_loss:
            return self.restart_held_s + self.remaining_held_s
        return self.restart_durable_s + self.remaining_durable_s

    def stop_saves(self) -> bool:
        """Whether a voluntary stop now should save the held progress: saving it (and restoring it)
        takes less than redoing it (the run's stop follows the same rule, notice.stop_at_cut)."""
        return (self.on is not None
                and self.save_s + self.restart_held_s + self.remaining_held_s
                < self.restart_durable_s + self.remaining_durable_s)

    def finish_after_stop_s(self) -> float:
        """Seconds from now to the end of the job if it stops now and goes on on-demand."""
        if self.on is None:
            return self.restart_durable_s + self.remaining_durable_s
        if self.stop_saves():
            return self.step_s + self.save_s + self.restart_held_s + self.remaining_held_s
        return self.step_s + self.restart_durable_s + self.remaining_durable_s

    def latest_ondemand_start(self) -> float:
        """The latest moment the job may stop and go on on-demand and still finish by the deadline
        less the margin."""
        return self.deadline - self.margin_s - self.finish_after_stop_s()

    def spot_safe_until(self) -> float:
        """Until when the job may be on Spot: a preemption then still leaves time to finish on
        on-demand (its VM is off by the end of the notice window; a stop of its own finishes the step
        in flight first)."""
        window = self.step_s if self.assume_no_loss else max(self.notice_s, self.step_s)
        return self.deadline - self.margin_s - window - self._at_risk_ahead()

    def _at_risk_ahead(self) -> float:
        """The most `_at_risk` can be until the review: remaining work only shrinks, but the first
        durable checkpoint adds a restore to the restart, so count the restore from now on."""
        restart = max(self.restart_held_s, self.restart_durable_s)
        if self.on == SPOT and self.remaining_held_s < self.remaining_durable_s and (
                self.save_fits or self.assume_no_loss):
            return restart + self.remaining_held_s
        return restart + self.remaining_durable_s

    def spot_worth_starting(self, until: float) -> bool:
        """Whether a Spot VM started now and left at `until` (for on-demand) pays for itself: the
        on-demand time its work saves, at the on-demand price, beats its own bill, which pays for its
        start-up, restore and save too (both bills rounded as the cloud rounds them). Without this
        rule a job with little slack starts Spot for a few seconds of work and ends up dearer than
        all on-demand. Expected value if no preemption comes: a preemption can still make it dearer."""
        return self.spot_worth(until - self.now, self.finish_after_stop_s())

    def spot_worth(self, window: float, ondemand_alone_s: float) -> bool:
        """`spot_worth_starting` for a Spot VM that may stay `window` seconds from its start, against
        `ondemand_alone_s` seconds of on-demand that finish the job without it."""
        if window < MIN_REVIEW_S:
            return False
        restart = self.restart_durable_s if self.on is None else self.restart_held_s
        to_finish = restart + self.remaining_held_s
        if window >= to_finish:  # the job finishes on Spot
            stay, ondemand_after_s = to_finish, 0.0
        else:
            # It stops at `until`, finishes its step and saves (billed, not progress); an evaluation
            # cut short is lost.
            work = window - restart - self.unsaveable_s
            if work <= self.save_s + self.restart_held_s - restart:
                return False  # the stop would not save it (notice.stop_at_cut): all of it is lost
            stay = window + self.step_s + self.save_s
            ondemand_after_s = self.restart_held_s + self.remaining_held_s - work
        saved = self._billed(ondemand_alone_s) - self._billed(ondemand_after_s)
        return saved > self._billed(stay) * self.spot_price_ratio

    def _billed(self, seconds: float) -> float:
        return billed_seconds(seconds, self.billing_minimum_s, self.billing_increment_s)

    def progress_s(self) -> float:
        """Progress in on-demand seconds: the total less what finishing from here on a new VM takes."""
        if self.on == ONDEMAND:
            return self.total_s - min(self.restart_held_s + self.remaining_held_s,
                                      self.restart_durable_s + self.remaining_durable_s)
        return self.total_s - self._at_risk()


class Policy:
    """Base class: one instance per run (a policy may remember, e.g. that it left Spot for good)."""

    name: ClassVar[str] = ""

    def decide(self, sit: Situation) -> Decision:
        raise NotImplementedError
