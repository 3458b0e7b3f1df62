"""The simulated job: its epochs, its checkpoint strategy, and the progress it holds.

Progress is the strategy's `TrainingState` plus the training seconds done in
the current epoch (`into`); the durable point is the newest completed
checkpoint. With asynchronous saves, a save's write runs in the background
(`pending`, one at a time) and becomes durable only when it ends. Accuracy is a function of the epoch (the job's own draws, or a
measured run's), so the last and best accuracies follow from the epoch alone.
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np

from . import arithmetic_plan
from .accuracy import accuracy_curve, mean_curve, noisy_accuracies
from .config import Scenario
from .epochs import Accuracies, EpochTimes, improvement_saves, sequence_noise
from .events import EventLog
from .measured import MeasuredRun
from .plan import EVAL, SAVE, TRAIN, Stretch, Where, plan_stretch
from .rng import RunStreams
from .strategies import CheckpointStrategy, FixedInterval, OnImprovement, TrainingState
from .totals import Totals

_new = tuple.__new__


class Durable(NamedTuple):
    """The position of the newest completed checkpoint."""

    epoch: int
    into: float


class Pending(NamedTuple):
    """An asynchronous save whose background write is in flight."""

    done_at: float
    """When the write ends (seconds since the run started)."""
    epoch: int
    into: float
    work_at: float
    """totals.work_s when the state was copied: what the save holds."""


WRITE_EPS_S = 1e-9
"""A write due within this of a moment has ended by then (stretch clocks are sums of floats)."""
UNSAVED_EPS_S = 1e-12
"""Unsaved work within this of zero is the rounding of those sums (a cut on a phase's boundary):
not worth an emergency save, and not lost either."""


class Job:
    """Mutable state of one simulated run's job (see the module docstring)."""

    def __init__(self, scenario: Scenario, streams: RunStreams, strategy: CheckpointStrategy,
                 events: EventLog | None = None, measured: MeasuredRun | None = None, draws: tuple | None = None):
        """`draws`: the run's (epoch times, accuracies, epoch saves or None) drawn beforehand (batch_draws),
        else job_draws draws them now."""
        s = scenario
        self.s = s
        self.events = events
        self.strategy = strategy
        self.epochs = s.job.epochs
        if draws is None:
            self.epoch_times, self.accuracies = job_draws(s, streams, measured)
            self._epoch_saves = None
        else:
            self.epoch_times, self.accuracies, self._epoch_saves = draws
        self.eval_s = s.job.eval_s
        self.write_s = s.checkpoint.write_s
        self.emergency, self.emergency_s = s.checkpoint.emergency, s.checkpoint.emergency_s
        """Whether the job saves on a notice it hears, and how long that save takes."""
        self.async_write = s.checkpoint.async_write
        self.stall_s = s.checkpoint.stall_s
        self.pending: Pending | None = None
        self.arithmetic = arithmetic_plan.supports(self)
        """Whether stretches are planned as arithmetic (arithmetic_plan.py) rather than listed."""
        self.state = TrainingState()  # no write measured yet: strategies use their prior
        self.into = 0.0
        self.durable: Durable | None = None
        self.work_at_durable = 0.0
        self.totals = Totals()
        self._notice: tuple | None = None  # a notice not yet logged: (t, fields)
        self._held: list = []              # events after that notice, logged once it is

    def fresh(self) -> "Job":
        """A job with the same draws and strategy at its start, logging nothing (for the baseline)."""
        twin = copy.copy(self)
        twin.events = None
        twin.state = TrainingState()
        twin.into, twin.durable, twin.work_at_durable = 0.0, None, 0.0
        twin.pending = None
        twin.totals = Totals()
        twin._notice, twin._held = None, []
        return twin

    # -- what follows from the epoch -------------------------------------------
    def best_before(self, epoch: int) -> float | None:
        """The best validation accuracy of the epochs before `epoch` (None for epoch 0)."""
        return self.accuracies.best_before(epoch)

    def last_acc(self, epoch: int) -> float | None:
        return self.accuracies.at(epoch - 1) if epoch > 0 else None

    def position(self, epoch: int, into: float) -> float:
        """Progress in epochs: completed epochs plus the trained share of the next one."""
        if epoch >= self.epochs:
            return float(epoch)
        return epoch + into / self.epoch_times.at(epoch)

    def epoch_saves(self):
        """(cnt, last) for a strategy that saves at fixed epoch ends: cnt(k) saves after epochs 1..k,
        last(k) the newest such epoch <= k (0: none)."""
        if self._epoch_saves is None:
            self._epoch_saves = _epoch_saves(self)
        return self._epoch_saves

    @property
    def work(self) -> float:
        return self.totals.work_s

    @property
    def unsaved_s(self) -> float:
        """Work since the last durable checkpoint: what a kill now would lose."""
        return self.totals.work_s - self.work_at_durable

    # -- moving the state ------------------------------------------------------
    def plan(self, max_epochs: int, horizon_s: float, now: float = 0.0):
        """The next stretch: the rest of the job as arithmetic where it can be, else listed phases
        (up to `max_epochs`, see plan.plan_stretch)."""
        if self.arithmetic:
            try:
                return arithmetic_plan.ArithmeticStretch(self, now)
            except ValueError:
                pass
        return plan_stretch(self, max_epochs, horizon_s, now)

    def apply(self, epoch: int, into: float, since: float) -> None:
        st = self.state
        st.epoch, st.train_s_since_checkpoint = epoch, since
        st.last_val_acc = self.accuracies.at(epoch - 1) if epoch > 0 else None  # last_acc(epoch)
        self.into = into

    def commit(self, stretch, where: Where, x: float | None = None) -> None:
        """Take the phases of a stretch completed by `where` as done; log them; move the durable point.

        `x`: seconds into the stretch it is now (default: the end of the last completed phase);
        asynchronous writes that have ended by then become durable.
        """
        if stretch.lazy:
            self._commit_arithmetic(stretch, where)
            return
        upto = where.key
        if self.async_write:
            self._commit_async(stretch, upto, x)
            return
        done = stretch.done
        if upto <= done:
            return
        phases = stretch.phases
        last = phases[upto - 1]
        base_work, base_saves = (phases[done - 1].work, phases[done - 1].saves) if done else (0.0, 0)
        if self.events is not None:
            self._log_phases(stretch, done, upto)
        totals = self.totals
        for i in range(upto - 1, done - 1, -1):  # the newest completed save becomes durable
            p = phases[i]
            if p.kind == SAVE:
                self.durable = Durable(p.epoch, p.into)
                self.work_at_durable = totals.work_s + (p.work - base_work)
                self.state.record_checkpoint("periodic", self.write_s)
                break
        totals.work_s += last.work - base_work
        saves = last.saves - base_saves
        totals.checkpoint_s += saves * self.write_s
        totals.checkpoints += saves
        stretch.done = upto
        self.apply(last.epoch, last.into, last.since)

    def _commit_arithmetic(self, stretch, where: Where) -> None:
        """commit() for an arithmetic stretch: the phase states hold running sums from its start."""
        last = where.done
        if last is None or (stretch.done is not None and where.key <= stretch.done):
            return
        base = stretch.committed
        base_work, base_saves = (base.work, base.saves) if base is not None else (0.0, 0)
        totals = self.totals
        if self.events is not None:
            self._log_items(stretch, stretch.phases_between(stretch.done, where.key), base_work)
        saves = last.saves - base_saves
        st = self.state
        if saves:
            epoch, into, work = stretch.newest_save(last)
            self.durable = _new(Durable, (epoch, into))
            self.work_at_durable = totals.work_s + (work - base_work)
            st.checkpoint_write_s = self.write_s  # state.record_checkpoint("periodic", write_s), inlined
            totals.checkpoint_s += saves * self.write_s
            totals.checkpoints += saves
        totals.work_s += last.work - base_work
        stretch.done, stretch.committed = where.key, last
        epoch = last.epoch  # apply(last.epoch, last.into, last.since), inlined
        st.epoch, st.train_s_since_checkpoint = epoch, last.since
        st.last_val_acc = self.accuracies.at(epoch - 1) if epoch > 0 else None
        self.into = last.into

    def _commit_async(self, stretch: Stretch, upto: int, x: float | None) -> None:
        """commit() with asynchronous saves: a committed SAVE phase starts a write; writes that have
        ended by `x` are durable; events in time order."""
        done, phases, ends = stretch.done, stretch.phases, stretch.ends
        if x is None:
            x = ends[upto - 1] if upto else 0.0
        totals = self.totals
        log: list | None = [] if self.events is not None else None
        if upto > done:
            if log is not None:
                self._log_phases(stretch, done, upto, log)
            base_work = phases[done - 1].work if done else 0.0
            work0 = totals.work_s
            prev_end = ends[done - 1] if done else 0.0
            for i in range(done, upto):
                p = phases[i]
                if p.kind == SAVE:
                    totals.checkpoint_s += ends[i] - prev_end
                    self.finish_pending(stretch.start + ends[i], log)
                    self.pending = Pending(stretch.start + stretch.writes[i], p.epoch, p.into,
                                           work0 + (p.work - base_work))
                    self.state.record_checkpoint("periodic", self.stall_s)
                prev_end = ends[i]
            last = phases[upto - 1]
            totals.work_s += last.work - base_work
            stretch.done = upto
            self.apply(last.epoch, last.into, last.since)
        self.finish_pending(stretch.start + x, log)
        if log:
            log.sort(key=lambda item: item[0])
            for t, event, fields in log:
                self.emit(event, t, **fields)

    def finish_pending(self, now: float, log: list | None = None) -> bool:
        """The write in flight, if it has ended by `now`, is durable. Returns whether none is left."""
        w = self.pending
        if w is None:
            return True
        if w.done_at > now + WRITE_EPS_S:
            return False
        self.pending = None
        self.durable = Durable(w.epoch, w.into)
        self.work_at_durable = w.work_at
        self.totals.checkpoints += 1
        if self.events is not None:
            fields = dict(kind="periodic", ok=True, epoch=self.position(w.epoch, w.into), seconds=self.write_s,
                          stall_s=self.stall_s, async_write=True)
            if log is None:
                self.emit("checkpoint", w.done_at, **fields)
            else:
                log.append((w.done_at, "checkpoint", fields))
        return True

    def drop_pending(self, t: float) -> None:
        """The VM went off at `t` with the write in flight: it never becomes durable."""
        w = self.pending
        if w is None:
            return
        self.pending = None
        self.totals.checkpoints_failed += 1
        self.emit("checkpoint", t, kind="periodic", ok=False, epoch=self.position(w.epoch, w.into),
                  seconds=t - (w.done_at - self.write_s), stall_s=self.stall_s, async_write=True)

    def async_save_done(self, epoch: int, into: float) -> None:
        """An asynchronous save whose copy a notice cut, written to the end before the kill: durable."""
        self.apply(epoch, into, 0.0)
        self.durable = Durable(epoch, into)
        self.work_at_durable = self.totals.work_s
        self.totals.checkpoints += 1
        self.state.record_checkpoint("periodic", self.stall_s)

    def periodic_save_done(self, epoch: int, into: float) -> None:
        """A periodic write cut by a notice ended before the kill: its position is durable."""
        self.apply(epoch, into, 0.0)
        self.durable = Durable(epoch, into)
        self.work_at_durable = self.totals.work_s
        self.totals.checkpoints += 1
        self.state.record_checkpoint("periodic", self.write_s)

    def train_partial(self, seconds: float) -> None:
        """Training in flight at a cut (plus the step it finishes) is held in memory."""
        st = self.state
        left = self.epoch_times.at(st.epoch) - self.into
        if seconds > left:  # min(seconds, left)
            seconds = left
        self.into += seconds
        st.train_s_since_checkpoint += seconds
        self.totals.work_s += seconds

    def lose_unsaved(self) -> float:
        """The VM is gone: what was not durable is lost. Returns the seconds lost."""
        assert self.pending is None, "a write in flight is settled before the VM goes"
        totals = self.totals
        lost = totals.work_s - self.work_at_durable  # unsaved_s
        if -UNSAVED_EPS_S <= lost <= UNSAVED_EPS_S:
            lost = 0.0
        totals.lost_s.append(lost)
        self.work_at_durable = totals.work_s
        return lost

    def restart_from_scratch(self) -> None:
        """No checkpoint survives: the job starts again at epoch 0, no save measured."""
        self.apply(0, 0.0, 0.0)
        self.state.checkpoint_write_s = 0.0
        self.work_at_durable = self.totals.work_s

    def restore(self) -> None:
        epoch, into = self.durable
        self.apply(epoch, into, 0.0)
        self.work_at_durable = self.totals.work_s

    # -- events ------------------------------------------------------------------
    def emit(self, event: str, t: float, **fields) -> None:
        """Log an event; events after a notice not yet logged wait for it (the log stays in time order)."""
        if self.events is None:
            return
        if self._notice is not None and t > self._notice[0]:
            self._held.append((event, t, fields))
            return
        self.events.emit(event, t, **fields)

    def hold_notice(self, t: float, lifetime: int, uptime_s: float, delivered: bool) -> None:
        """A notice at `t` that the log shows only if it ends the lifetime (see release_notice)."""
        if self.events is not None:
            self._notice = (t, dict(lifetime=lifetime, uptime_s=uptime_s, delivered=delivered))

    def release_notice(self, logged: bool) -> None:
        """Log the held notice (`logged`) or drop it (the job finished first), then the events held after it."""
        if self._notice is None:
            return
        t, f = self._notice
        self._notice = None
        if logged:
            self.events.emit("preempt_notice", t, lifetime=f["lifetime"], direction="sent", uptime_s=f["uptime_s"])
            if f["delivered"]:
                self.events.emit("preempt_notice", t, lifetime=f["lifetime"], direction="received")
        held, self._held = self._held, []
        for event, te, fields in held:
            self.events.emit(event, te, **fields)

    def _log_phases(self, stretch: Stretch, start: int, upto: int, out: list | None = None) -> None:
        """Log phases [start, upto) of a listed stretch (see _log_items)."""
        prev_work = stretch.phases[start - 1].work if start else 0.0
        items = ((stretch.ends[i], stretch.phases[i]) for i in range(start, upto))
        self._log_items(stretch, items, prev_work, out)

    def _log_items(self, stretch, items, prev_work: float, out: list | None = None) -> None:
        """Log (end offset, phase) items: epoch ends and blocking saves (into `out` as (t, event, fields)
        if given; an asynchronous save is logged when its write ends)."""
        if out is None:
            emit = self.emit
        else:
            def emit(event, t, **fields):
                out.append((t, event, fields))
        train = stretch.train_logged
        for end_offset, p in items:
            end = stretch.start + end_offset
            if p.kind == TRAIN:
                train += p.work - prev_work
            elif p.kind == EVAL:
                emit("epoch_end", end, epoch=p.epoch, train_s=train, eval_s=self.eval_s,
                     val_acc=self.accuracies.at(p.epoch - 1))
                train = 0.0
            elif not self.async_write:
                emit("checkpoint", end, kind="periodic", ok=True, epoch=self.position(p.epoch, p.into),
                     seconds=self.write_s, stall_s=self.write_s)
            prev_work = p.work
        stretch.train_logged = train


def job_draws(s: Scenario, streams: RunStreams, measured: MeasuredRun | None = None):
    """(epochs.EpochTimes, epochs.Accuracies): a measured run's own, else drawn.

    Only the job stream is drawn from, and only when the scenario has noise:
    epoch times first, then accuracy noise (the order fixes a seed's values).
    Keyed accuracy noise draws nothing: its key is the seed's (RunStreams.key).
    """
    n = s.job.epochs
    noisy = s.job.epoch_jitter > 0 or sequence_noise(s)
    rng = streams.job if noisy else None
    a = s.accuracy
    if s.job.epoch_jitter > 0:
        times = EpochTimes(n, None, _gamma_times(n, s.job.epoch_s, s.job.epoch_jitter, rng))
    else:
        times = EpochTimes(n, s.job.epoch_s)
    if sequence_noise(s):
        accs = Accuracies(n, accuracy_curve(n, a.a_max, a.a_0, a.tau_epochs, a.noise_sd, rng))
    else:
        accs = _closed_form_accuracies(s, streams)
    if measured is not None:
        measured_times = measured.epoch_times(n)
        if measured_times:
            times = EpochTimes.of(measured_times)
        measured_accs = measured.accuracies(n)
        if measured_accs:
            accs = Accuracies(n, np.asarray(measured_accs, dtype=float))
    return times, accs


def batch_draws(s: Scenario, runs: list[RunStreams], strategy: CheckpointStrategy) -> list[tuple]:
    """Job's `draws` for runs of `s` (no measured run), one (epoch times, accuracies, epoch saves) per run:
    the values job_draws and Job.epoch_saves give each alone, with the accuracy noise of all the runs
    drawn into one array and the curve, clipping and milestone's saves worked out for all at once."""
    n = s.job.epochs
    a = s.accuracy
    jitter = s.job.epoch_jitter
    if jitter > 0:
        times = [EpochTimes(n, None, _gamma_times(n, s.job.epoch_s, jitter, r.job)) for r in runs]
    else:
        times = [EpochTimes(n, s.job.epoch_s)] * len(runs)  # immutable: one object serves every run
    if not sequence_noise(s):
        return [(t, _closed_form_accuracies(s, r), None) for t, r in zip(times, runs)]
    # accuracy_curve's values, row by row, from each run's standard normals drawn after its epoch times
    noise = np.empty((len(runs), n))
    for r, row in zip(runs, noise):
        r.job.standard_normal(out=row)
    acc = noisy_accuracies(mean_curve(n, a.a_max, a.a_0, a.tau_epochs), noise, a.noise_sd)
    if not isinstance(strategy, OnImprovement):
        return [(t, Accuracies(n, row), None) for t, row in zip(times, acc)]
    best, cnt, last = improvement_saves(acc)  # _epoch_saves, by rows
    return [(t, Accuracies(n, acc[i], best=best[i]), (cnt[i].item, last[i].item)) for i, t in enumerate(times)]


def _closed_form_accuracies(s: Scenario, streams: RunStreams) -> Accuracies:
    """The accuracies of a run without drawn noise: the curve, with keyed noise where the scenario has it."""
    a = s.accuracy
    keyed = (streams.key("accuracy_noise"), a.noise_sd) if a.noise_sd > 0 else None
    return Accuracies(s.job.epochs, None, (a.a_max, a.a_0, a.tau_epochs), keyed=keyed)


def _gamma_times(epochs: int, mean_s: float, cv: float, rng: np.random.Generator) -> np.ndarray:
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, mean_s / shape, size=epochs)


def epoch_times(epochs: int, mean_s: float, cv: float, rng: np.random.Generator) -> list[float]:
    """Training seconds of each epoch: fixed, or gamma with the given coefficient of variation.

    Epoch e takes the same time whenever it is (re)run within a replication, so
    strategies compared at one replication see common random numbers.
    """
    if cv <= 0:
        return [mean_s] * epochs
    return _gamma_times(epochs, mean_s, cv, rng).tolist()


def _epoch_saves(job: Job):
    """(cnt, last) of Job.epoch_saves for the job's strategy."""
    strategy = job.strategy
    if isinstance(strategy, FixedInterval) and strategy.every_epochs is not None:
        m = strategy.every_epochs
        return (lambda k: k // m), (lambda k: (k // m) * m)
    if isinstance(strategy, OnImprovement):
        _, cnt, last = improvement_saves(job.accuracies.values()[None, :])
        return cnt[0].item, last[0].item  # a[k] as a Python int, without a Python frame per call
    return (lambda k: 0), (lambda k: 0)
