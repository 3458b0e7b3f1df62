"""A plain run's work in one lifetime when epochs are equal and saves come at epoch ends: the
commonest stretch, planned, located and cut without the objects that stand for it elsewhere.

run_plain (lifetime.py) calls `work_to_cut` after each lifetime's start-up. For equal epochs
(job.epoch_times a closed form) and epoch-end saves (fixed every N epochs, milestone, none),
it works out the stretch of arithmetic_plan.ArithmeticStretch, with the same expressions in
the same order, as a few numbers; where the cut falls in training (a lifetime's commonest
end) it commits the phase before it, keeps the training in flight, makes the emergency save
and loses the rest as job.commit and notice.stop_at_cut do; a cut anywhere else goes to them
with the stretch object. The job's state and totals are updated in place as those functions
update them, so the two paths can follow one another within a run (tests/test_clock.py holds
run_plain to SimPy's run(), which takes only the general path).
"""
from __future__ import annotations

import math

from .arithmetic_plan import ArithmeticStretch, saves_at_epoch_ends
from .job import UNSAVED_EPS_S, Durable
from .notice import Exit, stop_at_cut
from .plan import CHUNK_EPOCHS, EVAL, SAVE, TRAIN, Phase

_new = tuple.__new__


def at_epoch_ends(job) -> bool:
    """Whether `job`'s stretches are worked out here as numbers: equal epochs, epoch-end saves (else
    work_to_cut takes arithmetic_plan.ArithmeticStretch)."""
    return job.epoch_times.array is None and saves_at_epoch_ends(job.strategy)


def work_to_cut(job, start: float, cut_at: float, notice, life: int, epoch_ends: bool):
    """Work from `start` (start-up over) until the job ends or the cut at `cut_at` stops it
    (`epoch_ends`: at_epoch_ends(job)).

    Returns (now, None) when the job is done (`now`: its end), else (now, notice.stop_at_cut's Exit)
    after the cut (`now` = `cut_at`), the preemption counted as run_plain counts it.
    """
    if not epoch_ends:
        return _stretch_to_cut(job, start, cut_at, notice, life)
    totals, st = job.totals, job.state
    E, V, W, n = job.epoch_times.uniform_s, job.eval_s, job.write_s, job.epochs
    cnt, last = job.epoch_saves()
    e0, into0, since0 = st.epoch, job.into, st.train_s_since_checkpoint
    B0 = E * e0 + into0  # times.before(e0) + into0
    c0 = cnt(e0)
    cn = cnt(n)
    duration = (E * n - B0) + (n - e0) * V + (cn - c0) * W
    if not (duration > 0 and cut_at < start + duration):
        now = start + duration if duration > 0 else start
        # job.commit(stretch, stretch.locate_end()): the last epoch's last phase
        _commit(job, totals, st, *_last_phase(n, E, V, W, B0, e0, since0, c0, cnt, last), E, V, B0, e0, last)
        return now, None
    totals.preemptions += 1
    st.uptimes_s.append(notice.uptime_s)
    now = cut_at
    x = now - start
    # ArithmeticStretch._locate_epochs: the first epoch k whose last phase ends after x.
    avg = (E * n) / n + V + W * cn / n
    k = min(e0 + int(x / avg), n - 1) if avg > 0 else e0
    if (E * (k + 1) - B0) + (k - e0 + 1) * V + (cnt(k + 1) - c0) * W > x:
        while k > e0 and (E * k - B0) + (k - e0) * V + (cnt(k) - c0) * W > x:
            k -= 1
    else:
        k += 1
        while k < n and not (E * (k + 1) - B0) + (k - e0 + 1) * V + (cnt(k + 1) - c0) * W > x:
            k += 1
    tr = E * (k + 1) - B0
    ck = cnt(k) if k < n else 0
    c = ck - c0
    work = tr + (k - e0) * V
    end = work + c * W
    if k >= n or not x < end:  # the cut is in a validation or a save, or past the end: the general path
        return now, stop_at_cut(job, now, notice, ArithmeticStretch(job, start), life)
    # The cut is in epoch k's training: commit the phase before it (epoch k-1's last), if any.
    if k == e0:
        cur_start = 0.0
    else:
        cur_start, done = _last_phase(k, E, V, W, B0, e0, since0, c0, cnt, last)
        _commit(job, totals, st, cur_start, done, E, V, B0, e0, last)
    return now, _settle_training_cut(job, totals, st, now, notice, x - cur_start, end - x)


def _stretch_to_cut(job, start: float, cut_at: float, notice, life: int):
    """work_to_cut with the stretch object (job.plan): time-based saves, or epochs of their own lengths."""
    stretch = job.plan(CHUNK_EPOCHS, math.inf, start)
    duration = stretch.duration_s
    if not (duration > 0 and cut_at < start + duration):
        now = start + duration if duration > 0 else start
        job.commit(stretch, stretch.locate_end())
        return now, None
    totals, st = job.totals, job.state
    totals.preemptions += 1
    st.uptimes_s.append(notice.uptime_s)
    now = cut_at
    x = now - stretch.start
    where = stretch.locate(x)
    phase = where.current
    if phase is None or phase.kind != TRAIN or not stretch.lazy:
        return now, stop_at_cut(job, now, notice, stretch, life, where=where)
    job.commit(stretch, where, x)
    return now, _settle_training_cut(job, totals, st, now, notice, x - where.cur_start, where.cur_end - x)


def _settle_training_cut(job, totals, st, now: float, notice, elapsed: float, to_end: float) -> Exit:
    """notice.stop_at_cut for a cut `elapsed` seconds into a training phase that ends `to_end` after it,
    the phases before committed, with nothing in flight but the training and no log."""
    window = notice.window_s
    kill_at = now + window
    saving = notice.delivered and job.s.checkpoint.emergency
    cut_off = False
    step = min(notice.finish_step_s, to_end) if saving else 0.0
    if step > window:  # the kill comes before the step ends
        step, cut_off = window, True
    seconds = elapsed + step  # job.train_partial(elapsed + step)
    left = job.epoch_times.at(st.epoch) - job.into
    if seconds > left:
        seconds = left
    job.into += seconds
    st.train_s_since_checkpoint += seconds
    totals.work_s += seconds
    used = step
    saved = False
    ew = job.s.checkpoint.emergency_s
    fits = used + ew <= window
    if saving and not cut_off and (fits or used < window) and totals.work_s - job.work_at_durable > UNSAVED_EPS_S:
        if fits:
            totals.checkpoint_s += ew
            job.durable = _new(Durable, (st.epoch, job.into))  # job.emergency_save_done(ew)
            job.work_at_durable = totals.work_s
            totals.emergency_ok += 1
            st.train_s_since_checkpoint = 0.0
            used += ew
            saved = True
        else:
            spent = window - used
            totals.emergency_failed += 1
            totals.checkpoint_s += spent
            used = window
            cut_off = True
    killed = not notice.delivered or cut_off or (window <= 0 and not saved)
    off_at = kill_at if killed else now + used
    totals.notice_idle_s += kill_at - off_at
    lost = totals.work_s - job.work_at_durable  # job.lose_unsaved()
    if -UNSAVED_EPS_S <= lost <= UNSAVED_EPS_S:
        lost = 0.0
    totals.lost_s.append(lost)
    job.work_at_durable = totals.work_s
    return _new(Exit, (off_at, kill_at, killed, lost))


def _last_phase(k: int, E, V, W, B0, e0: int, since0, c0: int, cnt, last) -> tuple:
    """(end offset, Phase) of epoch k-1's last phase, its save if it has one, else its validation
    (ArithmeticStretch._epoch_phase(k - 1, SAVE or EVAL))."""
    tr = E * k - B0
    c1 = cnt(k)
    if c1 > cnt(k - 1):
        c1 -= c0
        work = tr + (k - e0) * V
        return work + c1 * W, _new(Phase, (SAVE, k, 0.0, 0.0, work, c1))
    c = cnt(k - 1) - c0
    j = last(k - 1)
    since = E * k - E * j if j > e0 else since0 + tr  # _since(k - 1, tr)
    work = tr + (k - e0) * V
    return work + c * W, _new(Phase, (EVAL, k, 0.0, since, work, c))


def _commit(job, totals, st, end: float, p: Phase, E, V, B0, e0: int, last) -> None:
    """job.commit of a fresh stretch up to its phase `p` (`end`: its end offset, unread)."""
    saves = p.saves
    if saves:
        if p.kind == SAVE:  # ArithmeticStretch.newest_save(p)
            epoch, into, work = p.epoch, p.into, p.work
        else:
            epoch = last(p.epoch - 1)
            into, work = 0.0, (E * epoch - B0) + (epoch - e0) * V
        job.durable = _new(Durable, (epoch, into))
        job.work_at_durable = totals.work_s + (work - 0.0)
        st.checkpoint_write_s = job.write_s
        totals.checkpoint_s += saves * job.write_s
        totals.checkpoints += saves
    totals.work_s += p.work - 0.0
    epoch = p.epoch
    st.epoch, st.train_s_since_checkpoint = epoch, p.since
    st.last_val_acc = job.accuracies.at(epoch - 1) if epoch > 0 else None
    job.into = p.into

