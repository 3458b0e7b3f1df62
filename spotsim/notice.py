"""The preemption notice: when it stops the job, and what the job does in its window.

A preemption comes as a notice at `at` and a kill at `kill_at` = `at` +
vm.notice_s. Whether the notice reaches the job (vm.notice_reliability) and
how much of the step in flight remains are drawn once per preemption from
their own streams, whatever the notice finds, so every strategy sees the same
notices. The job stops its work for the preemption at the *cut*:

- a notice that is not delivered: the job never heard it; it trains and saves
  on until the kill, which is the cut (nothing can start there);
- `checkpoint.on_notice: save_and_exit`: the cut is the notice: the job
  finishes its step (if it will save), saves, and the VM shuts itself down;
- `train_then_save`: the job keeps training and the cut is the last step end
  from which the emergency save still ends by the kill (if none, the notice);
  without emergency saving it trains on until the kill.

At the cut (`stop_at_cut`): training in flight is kept in memory; validation
in flight is abandoned (redone after the resume); a periodic write in flight
goes on, durable if it ends by the kill, else one failed periodic save that
holds the job until the kill (at train_then_save's deadline the job drops it
instead and saves in time). With asynchronous saves, a copy in flight ends and
its write follows; a write in flight is waited for (the job hears the notice:
real mode joins it), durable if it ends by the kill, else lost. Then the emergency save, if the job heard the
notice, saves on notice, is free before the kill and holds progress the last
durable checkpoint lacks: durable if it ends by the kill, else cut off (a save
that could never start is not counted). A job that heard the notice and is
done before the kill (saved, or nothing to save) exits and its VM shuts down;
billing stops then (billing.preempted_lifetime_billed_s). Whatever is not
durable at the kill is lost.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .job import UNSAVED_EPS_S, WRITE_EPS_S, Durable
from .plan import EVAL, TRAIN, Stretch, Where

_new = tuple.__new__  # a NamedTuple without its Python-level __new__ (a cut's commonest objects)


class Notice(NamedTuple):
    """One lifetime's preemption as the job meets it (seconds since the run started)."""

    at: float
    """The notice."""
    kill_at: float
    """The end of the window: the cloud powers the VM off."""
    cut_at: float
    """When the job stops its work for the preemption."""
    delivered: bool
    finish_step_s: float
    """Seconds the step in flight at the cut still needs before a save can start."""
    uptime_s: float
    """Grant to notice."""
    window_s: float
    """Cut to kill (computed once, not as a difference of clock readings)."""
    deadline: bool = False
    """The cut is train_then_save's save deadline (the save fits the window left)."""


def draw_notice(scenario, streams, grant: float, uptime_s: float) -> Notice:
    """The notice of a lifetime granted at `grant` with `uptime_s` to its notice (see notice_drawer, which
    a run keeps to draw every lifetime's)."""
    return notice_drawer(scenario, streams)(grant, uptime_s)


def notice_drawer(scenario, streams):
    """`draw(grant, uptime_s)`: the notice of a lifetime granted at `grant` with `uptime_s` to its notice,
    the scenario's settings and the streams read once (a run makes one and draws every lifetime's with it).

    Each draw takes exactly one delivery value (when 0 < vm.notice_reliability < 1) and one step position
    (when job.step_s > 0), so that every strategy sees the same draws (tests/test_fast_paths.py holds it
    to the rule as first written)."""
    s = scenario
    window, step = s.vm.notice_s, s.job.step_s
    r = s.vm.notice_reliability
    deliver = streams.notice_delivery.random if 0.0 < r < 1.0 else None
    step_random = streams.notice_step.random if step > 0 else None
    tts = s.checkpoint.on_notice == "train_then_save"
    emergency, save = s.checkpoint.emergency, s.checkpoint.emergency_s
    new = tuple.__new__  # Notice(...) without its Python-level __new__: the commonest notice, made faster

    def draw(grant: float, uptime_s: float) -> Notice:
        delivered = r >= 1.0 or (r > 0.0 and deliver() < r)
        step_left = step * step_random() if step > 0 else 0.0
        at = grant + uptime_s
        kill = at + window
        if not delivered:
            return Notice(at, kill, kill, False, 0.0, uptime_s, 0.0)
        if tts:
            if not emergency:
                return Notice(at, kill, kill, True, 0.0, uptime_s, 0.0)
            spare = window - save - step_left  # training time the window leaves
            if spare >= 0:
                steps = spare - math.fmod(spare, step) if step > 0 else spare  # whole steps
                # The window left at the cut is the save plus what the steps leave (never less than the save).
                return Notice(at, kill, at + step_left + steps, True, 0.0, uptime_s, save + (spare - steps), True)
        return new(Notice, (at, kill, at, True, step_left, uptime_s, window, False))

    return draw


class Exit(NamedTuple):
    """How a lifetime's job ended at a preemption."""

    off_at: float
    """When the VM went off: the job's own shutdown, or the kill."""
    kill_at: float
    """The end of the notice window."""
    killed: bool
    """The kill ended the job (it was still busy, or never heard the notice)."""
    lost_s: float


def leave_notice(now: float, step_s: float) -> Notice:
    """A voluntary stop at `now` (a deadline policy moves the job to another market): like a delivered
    notice with no kill, so the job finishes its step and saves (see stop_at_cut's `voluntary`)."""
    return Notice(now, math.inf, now, True, step_s, math.nan, math.inf)


def stop_at_cut(job, now: float, notice: Notice, stretch: Stretch | None, lifetime: int,
                voluntary: bool = False) -> Exit:
    """Account for what the cut at `now` finds in flight and for the emergency save (module docstring).

    `voluntary`: the job leaves the VM itself (leave_notice): nothing kills it, so whatever is in
    flight ends; it saves what it holds (whether or not checkpoint.emergency is set: this is the
    policy's save) when writing takes less time than the work it keeps, and the VM goes off then.
    """
    s = job.s
    totals = job.totals
    window = notice.window_s
    kill_at = now + window
    saving = notice.delivered and (s.checkpoint.emergency or voluntary)
    used = 0.0           # seconds after the cut spent finishing a step or writing
    write_done = False   # a periodic write in flight ended before the kill
    cut_off = False      # the kill came while the job was still busy
    phase = None
    if stretch is not None:
        x = now - stretch.start
        where = stretch.locate(x)
        job.commit(stretch, where, x)
        phase = where.current
        elapsed = x - where.cur_start
    job.release_notice(logged=not voluntary)
    if phase is not None:
        if phase.kind == TRAIN:
            step = min(notice.finish_step_s, where.cur_end - x) if saving else 0.0
            if step > window:  # the kill comes before the step ends
                step, cut_off = window, True
            job.train_partial(elapsed + step)
            used = step
        elif phase.kind == EVAL:
            totals.aborted_eval_s += elapsed
        elif job.async_write:
            used, write_done, cut_off = _async_save_at_cut(job, now, notice, where, x, elapsed,
                                                           notice.deadline and saving)
        else:
            left = job.write_s - elapsed
            position = job.position(phase.epoch, phase.into)
            if left <= window:
                totals.checkpoint_s += job.write_s
                job.periodic_save_done(phase.epoch, phase.into)
                job.emit("checkpoint", now + left, kind="periodic", ok=True, epoch=position,
                         seconds=job.write_s, stall_s=job.write_s)
                used = left
                write_done = True
            elif notice.deadline and saving:
                # train_then_save: the write would outlast the kill; drop it (its file is never
                # renamed into place) for the emergency save, which fits.
                totals.checkpoint_s += elapsed
                totals.checkpoints_failed += 1
                job.emit("checkpoint", now, kind="periodic", ok=False, epoch=position, seconds=elapsed,
                         stall_s=elapsed)
            else:
                totals.checkpoint_s += elapsed + window
                totals.checkpoints_failed += 1
                job.emit("checkpoint", kill_at, kind="periodic", ok=False, epoch=position,
                         seconds=elapsed + window, stall_s=elapsed + window)
                used = window
                cut_off = True
    if job.pending is not None:
        used, cut_off = _settle_pending(job, now, used, window, notice.delivered and not cut_off)
    return emergency_and_exit(job, now, notice, saving, used, cut_off, write_done, lifetime, voluntary)


def emergency_and_exit(job, now: float, notice: Notice, saving: bool, used: float, cut_off: bool,
                       write_done: bool, lifetime: int, voluntary: bool = False) -> Exit:
    """The end of stop_at_cut, once the phase and any write in flight at the cut are settled (`used`
    seconds of the window spent on them, `cut_off` if the kill came first, `write_done` if a periodic
    write ended): the emergency save, then the job's exit and what it lost (the module docstring)."""
    totals = job.totals
    window = notice.window_s
    kill_at = now + window
    ew = job.emergency_s
    fits = used + ew <= window
    # A voluntary stop saves only what takes longer to redo than to save and restore.
    worth = totals.work_s - job.work_at_durable > (  # job.unsaved_s
        ew + (job.s.checkpoint.restore_s if job.durable is None else 0.0) if voluntary else UNSAVED_EPS_S)
    saved = False
    if saving and not cut_off and not write_done and (fits or used < window) and worth:
        position = job.position(job.state.epoch, job.into) if job.events is not None else None
        if fits:
            totals.checkpoint_s += ew
            st = job.state  # the save is durable: what the job holds
            job.durable = _new(Durable, (st.epoch, job.into))
            job.work_at_durable = totals.work_s
            totals.emergency_ok += 1
            st.train_s_since_checkpoint = 0.0  # state.record_checkpoint("emergency", ew), inlined
            if job.events is not None:
                job.emit("checkpoint", now + used + ew, kind="emergency", ok=True, epoch=position,
                         seconds=ew, stall_s=ew)
            used += ew
            saved = True
        else:
            spent = window - used
            totals.emergency_failed += 1
            totals.checkpoint_s += spent
            job.emit("checkpoint", kill_at, kind="emergency", ok=False, epoch=position,
                     seconds=spent, stall_s=spent)
            used = window
            cut_off = True
    if voluntary:
        off_at = now + used
        lost = job.lose_unsaved()
        job.emit("process_exit", off_at, lifetime=lifetime, code=0, lost_s=lost, reason="policy")
        return Exit(off_at, off_at, False, lost)
    killed = not notice.delivered or cut_off or (window <= 0 and not saved)
    off_at = kill_at if killed else now + used
    totals.notice_idle_s += kill_at - off_at
    lost = job.lose_unsaved()
    if job.events is not None:
        job.emit("process_exit", off_at, lifetime=lifetime, code=137 if killed else 0, lost_s=lost)
    return _new(Exit, (off_at, kill_at, killed, lost))


def _async_save_at_cut(job, now: float, notice: Notice, where: Where, x: float, elapsed: float,
                       drop: bool) -> tuple[float, bool, bool]:
    """The cut found an asynchronous save copying the state (or waiting for the write before it):
    the copy ends and its write follows, durable if it ends by the kill. `drop`: train_then_save's
    deadline: the job drops this save for the emergency save, which fits. Returns (used, write_done,
    cut_off)."""
    totals, window = job.totals, notice.window_s
    phase = where.current
    phase_s = where.cur_end - where.cur_start
    left = where.cur_end - x + job.write_s  # copy (after any wait), then its write
    position = job.position(phase.epoch, phase.into)
    if job.pending is not None:  # the write before this save: it ends while the copy waits for it
        if job.pending.done_at - now > window + WRITE_EPS_S:
            totals.checkpoint_s += elapsed + window
            job.drop_pending(now + window)
            return window, False, True
        job.finish_pending(job.pending.done_at)
    if drop:
        totals.checkpoint_s += elapsed
        totals.checkpoints_failed += 1
        job.emit("checkpoint", now, kind="periodic", ok=False, epoch=position, seconds=0.0, stall_s=elapsed,
                 async_write=True)
        return 0.0, False, False
    if left <= window:
        totals.checkpoint_s += phase_s + job.write_s
        job.async_save_done(phase.epoch, phase.into)
        job.emit("checkpoint", now + left, kind="periodic", ok=True, epoch=position, seconds=job.write_s,
                 stall_s=phase_s, async_write=True)
        return left, True, False
    totals.checkpoint_s += elapsed + window
    totals.checkpoints_failed += 1
    job.emit("checkpoint", now + window, kind="periodic", ok=False, epoch=position, seconds=elapsed + window,
             stall_s=elapsed + window, async_write=True)
    return window, False, True


def _settle_pending(job, now: float, used: float, window: float, waits: bool) -> tuple[float, bool]:
    """A background write in flight at the cut: a job that heard the notice (`waits`) waits for it,
    durable if it ends by the kill; otherwise, or if the kill comes first, it is lost. Returns
    (used, cut_off)."""
    left = job.pending.done_at - now
    if waits and left <= window + WRITE_EPS_S:
        if left > used:
            job.totals.checkpoint_s += left - used
            used = left
        job.finish_pending(job.pending.done_at)
        return used, False
    if waits:
        job.totals.checkpoint_s += window - used
        used = window
    job.drop_pending(now + window)
    return used, True
