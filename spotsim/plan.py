"""Planning a stretch of epochs: the phases a job goes through if no notice comes.

A plan is pure arithmetic over the strategy's answers: from the job's current
state, training (cut by time-based saves), validation and epoch-end saves,
each phase with the state the job is in at its end. A blocking save's phase is
its write; an asynchronous save's phase is the wait for the write still in
flight (one at a time) and the stall while the state is copied; its write then
runs in the background and ends, durable, `write_s` later (`Stretch.writes`). The lifetime process waits
for a whole stretch as one SimPy timeout and, when a notice cuts it, looks up
the phase the notice falls in; a run therefore costs a few SimPy events per
lifetime, whatever its epochs and steps.
"""
from __future__ import annotations

import math
from bisect import bisect_right
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


class Where(NamedTuple):
    """A stretch at an offset: the last phase completed by then and the phase in progress."""

    key: object
    """Orders the completed phases of one stretch (a list index, or a tuple)."""
    done: Phase | None
    """The state after the last completed phase (None: none yet)."""
    current: Phase | None
    """The end state of the phase in progress (None: the stretch is over)."""
    cur_start: float
    cur_end: float


class Stretch:
    """Planned phases from `start`: phase i ends `ends[i]` seconds after it, in state `phases[i]`.

    The listed plan: asynchronous saves, logged runs and strategies without
    arithmetic (arithmetic_plan.py plans the others without listing phases).
    """

    lazy = False
    __slots__ = ("start", "ends", "phases", "done", "train_logged", "writes")

    def __init__(self, start: float = 0.0):
        self.start = start
        self.ends: list[float] = []
        self.phases: list[Phase] = []
        self.done = 0
        """Phases [0, done) are committed to the job (a review may commit part of a stretch)."""
        self.train_logged = 0.0
        """Training seconds of the epoch in progress already committed (for its epoch_end event)."""
        self.writes: dict[int, float] = {}
        """Asynchronous saves: SAVE phase index -> when its background write ends (from `start`)."""

    @property
    def duration_s(self) -> float:
        return self.ends[-1] if self.ends else 0.0

    def locate(self, x: float) -> Where:
        """The last phase completed by offset `x` (key: the count of completed phases) and the next."""
        ends, phases = self.ends, self.phases
        upto = bisect_right(ends, x)
        start = ends[upto - 1] if upto else 0.0
        done = phases[upto - 1] if upto else None
        if upto < len(ends):
            return Where(upto, done, phases[upto], start, ends[upto])
        return Where(upto, done, None, start, start)

    def locate_end(self) -> Where:
        upto = len(self.ends)
        return Where(upto, self.phases[-1] if upto else None, None, self.duration_s, self.duration_s)


CHUNK_EPOCHS = 64
"""Epochs planned per listed stretch at most (a speed-up: results do not depend on it)."""


def floored(interval: float | None) -> float | None:
    """A time-based interval no shorter than MIN_INTERVAL_S (None: not time-based)."""
    return interval if interval is None or interval >= MIN_INTERVAL_S else MIN_INTERVAL_S


def plan_stretch(job, max_epochs: int, horizon_s: float = math.inf, now: float = 0.0) -> Stretch:
    """Phases from `job`'s current state at `now` for up to `max_epochs` epochs (mutates nothing).

    `job` gives the state (`state`, `into`), the per-epoch `train_s` and `acc`,
    `eval_s`, `write_s`, `epochs`, the `strategy` and `best_before(e)`; with
    `async_write`, also `stall_s` and the write in flight (`pending`, ending at
    `pending.done_at`).
    Planning stops at the first epoch end past `horizon_s` seconds (and never
    before the stretch has some length): a notice due by then cuts the stretch
    anyway. The horizon only saves work; the phases planned, and so the
    results, do not depend on it.
    """
    st, strategy = job.state, job.strategy
    interval = floored(strategy.interval_s(st))
    stretch = Stretch(now)
    if job.async_write:
        return _plan_async(job, stretch, max_epochs, horizon_s, interval)
    e, into, since = st.epoch, job.into, st.train_s_since_checkpoint
    stop = min(job.epochs, e + max_epochs)
    T, acc = _values(job, e, stop)
    V, W = job.eval_s, job.write_s
    best = job.best_before(e)
    t = work = 0.0
    saves = 0
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


def _plan_async(job, stretch: Stretch, max_epochs: int, horizon_s: float, interval: float | None) -> Stretch:
    """plan_stretch for asynchronous saves: a save waits for the write in flight, stalls `stall_s`,
    and its write ends `write_s` later; strategies see the stall as the save's cost (as in real mode)."""
    st, strategy = job.state, job.strategy
    V, W, S = job.eval_s, job.write_s, job.stall_s
    e, into, since = st.epoch, job.into, st.train_s_since_checkpoint
    stop = min(job.epochs, e + max_epochs)
    T, acc = _values(job, e, stop)
    best = job.best_before(e)
    t = work = 0.0
    saves = 0
    busy = job.pending.done_at - stretch.start if job.pending is not None else -math.inf
    probe = TrainingState(checkpoint_write_s=st.checkpoint_write_s, uptimes_s=st.uptimes_s)
    ends, phases, writes = stretch.ends, stretch.phases, stretch.writes

    def save(epoch: int, at: float) -> None:
        nonlocal t, saves, since, busy, interval
        t += (busy - t if busy > t else 0.0) + S
        saves += 1
        since = 0.0
        ends.append(t)
        phases.append(Phase(SAVE, epoch, at, 0.0, work, saves))
        busy = writes[len(phases) - 1] = t + W
        if probe.checkpoint_write_s != S and interval is not None:  # the first save measured: re-ask
            probe.record_checkpoint("periodic", S)
            interval = floored(strategy.interval_s(probe))

    while e < stop and (t < horizon_s or t == 0.0):
        te = T[e]
        while into < te:
            due = interval is not None and since + (te - into) >= interval
            if due:
                seg = interval - since
                into += seg
                since = interval
            else:
                seg = te - into
                into = te
                since += seg
            t += seg
            work += seg
            ends.append(t)
            phases.append(Phase(TRAIN, e, into, since, work, saves))
            if due:
                save(e, into)
        t += V
        work += V
        a = acc[e]
        e += 1
        probe.epoch, probe.last_val_acc, probe.best_val_acc = e, a, best
        probe.train_s_since_checkpoint = since
        if best is None or a > best:
            best = a
        into = 0.0
        ends.append(t)
        phases.append(Phase(EVAL, e, 0.0, since, work, saves))
        if strategy.save_after_epoch(probe):
            save(e, 0.0)
    return stretch


class _Offset:
    """Per-epoch values of epochs [first, ...) indexed by absolute epoch (a few epochs at a time)."""

    __slots__ = ("first", "values")

    def __init__(self, first: int, values: list):
        self.first, self.values = first, values

    def __getitem__(self, e: int):
        return self.values[e - self.first]


def _values(job, e: int, stop: int):
    """Training seconds and accuracies of epochs [e, stop), indexed by epoch."""
    return (_Offset(e, job.epoch_times.slice(e, stop)), _Offset(e, job.accuracies.slice(e, stop)))
