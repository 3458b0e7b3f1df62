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
    restart_s: float
    """Start-up plus restore of a new VM from the checkpoint a stop now would leave."""
    leave_s: float
    """Seconds a voluntary stop now takes before the VM is off (finishing the step, a save)."""
    notice_s: float
    save_fits: bool
    """A preemption now keeps the held progress (emergency save sure to fit the notice)."""
    total_s: float
    """The whole job on one on-demand VM (its on-demand makespan)."""
    margin_s: float
    assume_no_loss: bool

    @property
    def remaining_at_risk_s(self) -> float:
        """Work left after a preemption now (see the module docstring)."""
        if self.on != SPOT or self.save_fits or self.assume_no_loss:
            return self.remaining_held_s
        return self.remaining_durable_s

    def latest_ondemand_start(self) -> float:
        """The latest moment an on-demand VM may start (from what a stop now keeps) and still finish
        by the deadline less the margin."""
        if self.on is None:
            return self.deadline - self.margin_s - self.restart_s - self.remaining_durable_s
        # Running: a voluntary stop keeps the held progress (after leave_s) or the durable one.
        keep = min(self.leave_s + self.remaining_held_s, self.remaining_durable_s)
        return self.deadline - self.margin_s - self.restart_s - keep

    def spot_safe_until(self) -> float:
        """Until when the job may be on Spot: a preemption then still leaves time to finish on
        on-demand (its VM is off by the end of the notice window)."""
        window = 0.0 if self.assume_no_loss else self.notice_s
        return self.deadline - self.margin_s - window - self.restart_s - self.remaining_at_risk_s

    def progress_s(self) -> float:
        """Progress in on-demand seconds: the total less what finishing from here on a new VM takes."""
        if self.on == ONDEMAND:
            left = self.remaining_held_s
        else:
            left = self.remaining_at_risk_s
        return self.total_s - self.restart_s - left


class Policy:
    """Base class: one instance per run (a policy may remember, e.g. that it left Spot for good)."""

    name: ClassVar[str] = ""

    def decide(self, sit: Situation) -> Decision:
        raise NotImplementedError
