"""Planning a stretch of epochs: the phases a job goes through if no notice comes.

A plan is pure arithmetic over the strategy's answers: from the job's current
state, training (cut by time-based saves), validation and epoch-end saves,
each phase with the state the job is in at its end. The lifetime process waits
for a whole stretch as one SimPy timeout and, when a notice cuts it, looks up
the phase the notice falls in; a run therefore costs a few SimPy events per
lifetime, whatever its epochs and steps.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .strategies import TrainingState

TRAIN, EVAL, SAVE = 0, 1, 2
"""Phase kinds: training, validation after an epoch, a periodic checkpoint write."""

MIN_INTERVAL_S = 1.0
"""Shortest time-based checkpoint interval honoured: the trainer checks between whole
steps, and a free checkpoint (write_s 0) would make young_daly's interval zero."""


class Phase(NamedTuple):
    """The job's state at the end of one planned phase."""

    kind: int
    """TRAIN, EVAL or SAVE."""
    epoch: int
    """Epochs completed (training and validation)."""
    into: float
    """Training seconds done in the next epoch (index `epoch`)."""
    since: float
    """Training seconds since the last checkpoint."""
    work: float
    """Training and validation seconds from the start of the stretch."""
    saves: int
    """Periodic saves from the start of the stretch."""


class Stretch:
    """Planned phases from `start`: phase i ends `ends[i]` seconds after it, in state `phases[i]`."""

    __slots__ = ("start", "ends", "phases", "done", "train_logged")

    def __init__(self):
        self.start = 0.0
        self.ends: list[float] = []
        self.phases: list[Phase] = []
        self.done = 0
        """Phases [0, done) are committed to the job (a review may commit part of a stretch)."""
        self.train_logged = 0.0
        """Training seconds of the epoch in progress already committed (for its epoch_end event)."""

    @property
    def duration_s(self) -> float:
        return self.ends[-1] if self.ends else 0.0


def floored(interval: float | None) -> float | None:
    """A time-based interval no shorter than MIN_INTERVAL_S (None: not time-based)."""
    return interval if interval is None or interval >= MIN_INTERVAL_S else MIN_INTERVAL_S


def plan_stretch(job, max_epochs: int, horizon_s: float = math.inf) -> Stretch:
    """Phases from `job`'s current state for up to `max_epochs` epochs (mutates nothing).

    `job` gives the state (`state`, `into`), the per-epoch `train_s` and `acc`,
    `eval_s`, `write_s`, `epochs`, the `strategy` and `best_before(e)`.
    Planning stops at the first epoch end past `horizon_s` seconds (and never
    before the stretch has some length): a notice due by then cuts the stretch
    anyway. The horizon only saves work; the phases planned, and so the
    results, do not depend on it.
    """
    st, strategy = job.state, job.strategy
    T, acc, V, W = job.train_s, job.acc, job.eval_s, job.write_s
    interval = floored(strategy.interval_s(st))
    stretch = Stretch()
    e, into, since = st.epoch, job.into, st.train_s_since_checkpoint
    best = job.best_before(e)
    t = work = 0.0
    saves = 0
    stop = min(job.epochs, e + max_epochs)
    probe = TrainingState(checkpoint_write_s=st.checkpoint_write_s, uptimes_s=st.uptimes_s)
    add_end, add_phase = stretch.ends.append, stretch.phases.append
    save_after_epoch = strategy.save_after_epoch
    new = tuple.__new__  # Phase(...) without NamedTuple's Python-level __new__: planning's hot path
    while e < stop and (t < horizon_s or t == 0.0):  # at least one phase: the job must move
        te = T[e]
        if into < te:
            if interval is not None and since + (te - into) >= interval:
                while since + (te - into) >= interval:
                    seg = interval - since
                    t += seg
                    work += seg
                    into += seg
                    add_end(t)
                    add_phase(new(Phase, (TRAIN, e, into, interval, work, saves)))
                    t += W
                    saves += 1
                    since = 0.0
                    add_end(t)
                    add_phase(new(Phase, (SAVE, e, into, 0.0, work, saves)))
                    if probe.checkpoint_write_s != W:  # the first periodic save measured: re-ask
                        probe.record_checkpoint("periodic", W)
                        interval = floored(strategy.interval_s(probe))
                    if into >= te:
                        break
            if into < te:
                seg = te - into
                t += seg
                work += seg
                since += seg
                into = te
                add_end(t)
                add_phase(new(Phase, (TRAIN, e, into, since, work, saves)))
        t += V
        work += V
        a = acc[e]
        e += 1
        probe.epoch = e
        probe.last_val_acc = a
        probe.best_val_acc = best
        probe.train_s_since_checkpoint = since
        if best is None or a > best:
            best = a
        into = 0.0
        add_end(t)
        add_phase(new(Phase, (EVAL, e, 0.0, since, work, saves)))
        if save_after_epoch(probe):
            t += W
            saves += 1
            since = 0.0
            add_end(t)
            add_phase(new(Phase, (SAVE, e, 0.0, 0.0, work, saves)))
            if probe.checkpoint_write_s != W and interval is not None:
                probe.record_checkpoint("periodic", W)
                interval = floored(strategy.interval_s(probe))
    return stretch
