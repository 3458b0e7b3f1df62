"""A plain run's work in one lifetime with equal epochs: the stretch planned, located and cut as
a few numbers, without the objects that stand for it elsewhere.

run_plain (lifetime.py) calls `work_to_cut` after each lifetime's start-up. For equal epochs
(job.epoch_times a closed form) it works out the stretch arithmetic_plan.ArithmeticStretch
would plan, with the same expressions in the same order: epoch-end saves (fixed every N
epochs, milestone, none) or time-based ones (fixed every_s, adaptive, young_daly). At the cut
it commits the phase before it (job.commit's work) and settles the phase in flight
(notice.stop_at_cut's: training kept, a validation abandoned, a periodic write ended or
failed), then ends with stop_at_cut's own emergency save and exit
(notice.emergency_and_exit). Epochs of their own lengths, and the rare cut past the stretch's
end, take the stretch object and stop_at_cut. The job's state and totals are updated in place
as those functions update them (but for state.last_val_acc, which nothing in a plain run
reads), so the two paths can follow one another within a run; tests/test_plain_stretch.py and
tests/test_clock.py hold run_plain to SimPy's run(), which takes only the general path.
"""
from __future__ import annotations

import math

from .arithmetic_plan import ArithmeticStretch, saves_at_epoch_ends
from .job import Durable
from .notice import Exit, emergency_and_exit, stop_at_cut
from .plan import CHUNK_EPOCHS, EVAL, SAVE, TRAIN, Phase, floored
from .strategies import TrainingState

_new = tuple.__new__


def epoch_end_plan(job) -> tuple | None:
    """What `work_to_cut` reads of `job` for every stretch where they are numbers (equal epochs, epoch-end
    saves): (epoch seconds, validation, write, epochs, cnt, last of job.epoch_saves), else None (the
    stretch object: arithmetic_plan.ArithmeticStretch)."""
    if job.epoch_times.array is None and saves_at_epoch_ends(job.strategy):
        return (job.epoch_times.uniform_s, job.eval_s, job.write_s, job.epochs, *job.epoch_saves())
    return None


def fresh_duration_s(job) -> float | None:
    """ArithmeticStretch(job, 0.0, TrainingState(), 0.0).duration_s, the whole job's planned seconds from its
    start (the on-demand baseline's), where `epoch_end_plan` holds it, else None."""
    plan = epoch_end_plan(job)
    if plan is None:
        return None
    E, V, W, n, cnt, _ = plan
    B0 = E * 0 + 0.0
    return (E * n - B0) + (n - 0) * V + (cnt(n) - cnt(0)) * W if n > 0 else 0.0


def work_to_cut(job, start: float, cut_at: float, notice, life: int, plan: tuple | None):
    """Work from `start` (start-up over) until the job ends or the cut at `cut_at` stops it
    (`plan`: epoch_end_plan(job)).

    Returns (now, None) when the job is done (`now`: its end), else (now, notice.stop_at_cut's Exit)
    after the cut (`now` = `cut_at`), the preemption counted as run_plain counts it.
    """
    if plan is None:
        if job.epoch_times.array is None:
            return _time_based_to_cut(job, start, cut_at, notice, life)
        return _stretch_to_cut(job, start, cut_at, notice, life)
    totals, st = job.totals, job.state
    E, V, W, n, cnt, last = plan
    e0, into0, since0 = st.epoch, job.into, st.train_s_since_checkpoint
    B0 = E * e0 + into0  # times.before(e0) + into0
    c0 = cnt(e0)
    cn = cnt(n)
    duration = (E * n - B0) + (n - e0) * V + (cn - c0) * W
    if not (duration > 0 and cut_at < start + duration):
        now = start + duration if duration > 0 else start
        # job.commit(stretch, stretch.locate_end()): the last epoch's last phase
        p = _last_phase(n, E, V, W, B0, e0, since0, c0, cnt, last)[1]
        _commit(job, totals, st, p, _epoch_end_save(p, E, V, B0, e0, last))
        return now, None
    totals.preemptions += 1
    st.uptimes_s.append(notice.uptime_s)
    now = cut_at
    x = now - start
    # ArithmeticStretch._locate_epochs: the first epoch k whose last phase ends after x.
    avg = (E * n) / n + V + W * cn / n
    k = min(e0 + int(x / avg), n - 1) if avg > 0 else e0
    if (E * (k + 1) - B0) + (k - e0 + 1) * V + (cnt(k + 1) - c0) * W > x:
        steps = 0
        while k > e0 and (E * k - B0) + (k - e0) * V + (cnt(k) - c0) * W > x:
            k -= 1
            steps += 1
            if steps == WALK_STEPS:  # far from the guess (writes of many epochs' time): bisect the rest
                k = _first_epoch_after(x, e0, k, E, V, W, B0, e0, c0, cnt)
                break
    else:
        k += 1
        steps = 0
        while k < n and not (E * (k + 1) - B0) + (k - e0 + 1) * V + (cnt(k + 1) - c0) * W > x:
            k += 1
            steps += 1
            if steps == WALK_STEPS:
                k = _first_epoch_after(x, k, n, E, V, W, B0, e0, c0, cnt)
                break
    if k >= n:  # past the end (the cut's rounding): the general path
        return now, stop_at_cut(job, now, notice, ArithmeticStretch(job, start), life)
    tr = E * (k + 1) - B0
    c = cnt(k) - c0
    work = tr + (k - e0) * V
    end = work + c * W
    if x < end:  # in epoch k's training: commit the phase before it (epoch k-1's last), if any
        if k == e0:
            cur_start = 0.0
        else:
            cur_start, done = _last_phase(k, E, V, W, B0, e0, since0, c0, cnt, last)
            _commit(job, totals, st, done, _epoch_end_save(done, E, V, B0, e0, last))
        return now, _settle_cut(job, totals, st, now, notice, life, TRAIN, x - cur_start, end - x)
    j = last(k)  # _since(k, tr)
    since = E * (k + 1) - E * j if j > e0 else since0 + tr
    eval_work = tr + (k - e0 + 1) * V
    eend = eval_work + c * W
    if x < eend:  # in its validation: commit its training (none where the stretch starts after it)
        if not (into0 >= E and k == e0):  # ArithmeticStretch.trained
            train = _new(Phase, (TRAIN, k, E, since, work, c))
            _commit(job, totals, st, train, _epoch_end_save(train, E, V, B0, e0, last))
        return now, _settle_cut(job, totals, st, now, notice, life, EVAL, x - end, eend - x)
    # in the save after it: commit the validation
    ev = _new(Phase, (EVAL, k + 1, 0.0, since, eval_work, c))
    _commit(job, totals, st, ev, _epoch_end_save(ev, E, V, B0, e0, last))
    return now, _settle_cut(job, totals, st, now, notice, life, SAVE, x - eend, None, (k + 1, 0.0))


WALK_STEPS = 16
"""Epochs a locate walks from its guess before it bisects the rest (the guess, from the mean epoch with its
share of saves, is off by about as many epochs as one save's write takes: many where epochs are tiny)."""


def _first_epoch_after(x: float, lo: int, hi: int, E, V, W, B0, e0: int, c0: int, cnt) -> int:
    """The first epoch k in [lo, hi) whose last phase ends after offset x, else hi: the linear walks'
    answer, by bisection (the end offset grows with k, as the same sum of the same rounded terms)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if (E * (mid + 1) - B0) + (mid - e0 + 1) * V + (cnt(mid + 1) - c0) * W > x:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _first_time_epoch_after(x: float, lo: int, hi: int, E, V, W, B0, e0: int, s1, I1) -> int:
    """_first_epoch_after with time-based saves: the first epoch k in [lo, hi) whose validation ends after
    offset x (with the saves due by its training's end), else hi."""
    while lo < hi:
        mid = (lo + hi) // 2
        tau = E * (mid + 1) - B0
        if tau + (mid - e0 + 1) * V + _saves_by(tau, s1, I1) * W > x:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _saves_by(t: float, s1: float, I1: float) -> int:
    """ArithmeticStretch._saves_by: saves due by training offset t (the first at s1, then every I1)."""
    if t < s1:
        return 0
    m = int((t - s1) / I1) + 1
    while m > 1 and s1 + (m - 1) * I1 > t:
        m -= 1
    while s1 + m * I1 <= t:
        m += 1
    return m


def _time_based_to_cut(job, start: float, cut_at: float, notice, life: int):
    """work_to_cut for equal epochs and time-based saves (ArithmeticStretch's time-based half, with its
    expressions in their order): a save every I1 training seconds, the first I0 after the last durable
    checkpoint (I0 and I1 differ until the first periodic save measures the write)."""
    totals, st, strategy = job.totals, job.state, job.strategy
    E, V, W, n = job.epoch_times.uniform_s, job.eval_s, job.write_s, job.epochs
    e0, into0, since0 = st.epoch, job.into, st.train_s_since_checkpoint
    B0 = E * e0 + into0
    I0 = floored(strategy.interval_s(st))
    if st.checkpoint_write_s != W:  # the first save measures the write: re-asked after it
        I1 = floored(strategy.interval_s(TrainingState(checkpoint_write_s=W, uptimes_s=st.uptimes_s)))
    else:
        I1 = I0
    if I0 is None or not I0 - since0 > 0:  # no interval, or a save already due: the listed plan
        return _stretch_to_cut(job, start, cut_at, notice, life)
    s1 = I0 - since0
    tau = E * n - B0  # _eval_end(n - 1)
    duration = tau + (n - e0) * V + _saves_by(tau, s1, I1) * W
    if not (duration > 0 and cut_at < start + duration):
        now = start + duration if duration > 0 else start
        k = n - 1  # job.commit(stretch, stretch.locate_end()): _final's validation of the last epoch
        p = _time_tail(k, tau, _saves_by(tau, s1, I1), E, V, W, B0, e0, into0, since0, s1, I0, I1)[1]
        _commit(job, totals, st, p, _time_save(p, E, V, B0, e0, into0, n, s1, I1))
        return now, None
    now = cut_at
    x = now - start
    # _locate_time: the first epoch k whose validation ends after x (with _tau and saves due by it).
    per_epoch = (E * n) / n
    avg = (per_epoch + V) + W * per_epoch / I1
    k = e0 + int(x / avg) if avg > 0 else e0
    k = min(max(k, e0), n - 1)
    tau = E * (k + 1) - B0
    b = _saves_by(tau, s1, I1)
    prev = None  # (_tau(k - 1), saves due by it), if the search computed them
    steps = 0
    if tau + (k - e0 + 1) * V + b * W > x:
        while k > e0:
            tp = E * k - B0
            bp = _saves_by(tp, s1, I1)
            if not tp + (k - e0) * V + bp * W > x:
                prev = (tp, bp)
                break
            k -= 1
            tau, b = tp, bp
            steps += 1
            if steps == WALK_STEPS:  # far from the guess (a write of many epochs' time): bisect the rest
                k = _first_time_epoch_after(x, e0, k, E, V, W, B0, e0, s1, I1)
                tau = E * (k + 1) - B0
                b = _saves_by(tau, s1, I1)
                break
    else:
        while True:
            prev = (tau, b)
            k += 1
            if k >= n:
                break
            tau = E * (k + 1) - B0
            b = _saves_by(tau, s1, I1)
            if tau + (k - e0 + 1) * V + b * W > x:
                break
            steps += 1
            if steps == WALK_STEPS:
                k, prev = _first_time_epoch_after(x, k + 1, n, E, V, W, B0, e0, s1, I1), None
                if k < n:
                    tau = E * (k + 1) - B0
                    b = _saves_by(tau, s1, I1)
                break
    if k >= n:
        return _stretch_to_cut(job, start, cut_at, notice, life)
    if k > e0:
        prev_tau, a = prev if prev is not None else (E * k - B0, _saves_by(E * k - B0, s1, I1))
    else:
        prev_tau, a = None, 0
    base = (k - e0) * V
    j = a + 1  # the first save in epoch k that ends after x (b + 1: none)
    while j <= b and not (s1 + (j - 1) * I1) + base + j * W > x:
        j += 1
    if j <= b:
        sig = s1 + (j - 1) * I1
        work = sig + base
        end = work + (j - 1) * W
        if not x < end:  # in save j: commit the training before it
            into = into0 + sig if k == e0 else sig - prev_tau
            train = _new(Phase, (TRAIN, k, into, I0 if j == 1 else I1, work, j - 1))
            totals.preemptions += 1
            st.uptimes_s.append(notice.uptime_s)
            _commit(job, totals, st, train, _time_save(train, E, V, B0, e0, into0, n, s1, I1))
            return now, _settle_cut(job, totals, st, now, notice, life, SAVE, x - end, None, (k, into))
        before = j - 1
    else:
        work = tau + base
        end = work + b * W
        saved_at_end = b > 0 and s1 + (b - 1) * I1 >= tau  # a save ends the epoch's training
        if saved_at_end or not x < end:  # in the validation: commit the save or the training before it
            if saved_at_end:
                sig = s1 + (b - 1) * I1
                work = sig + base
                into = into0 + sig if k == e0 else sig - prev_tau
                cur_start, done = work + b * W, _new(Phase, (SAVE, k, into, 0.0, work, b))
            else:
                since = tau - (s1 + (b - 1) * I1) if b else since0 + tau
                cur_start = end
                done = None if into0 >= E and k == e0 else _new(Phase, (TRAIN, k, E, since, work, b))
            totals.preemptions += 1
            st.uptimes_s.append(notice.uptime_s)
            if done is not None:
                _commit(job, totals, st, done, _time_save(done, E, V, B0, e0, into0, n, s1, I1))
            return now, _settle_cut(job, totals, st, now, notice, life, EVAL, x - cur_start, None)
        before = b
    # The phase before the cut's training: save `before` in epoch k, else epoch k-1's validation, else none.
    if before > a:
        sig = s1 + (before - 1) * I1
        work = sig + base
        into = into0 + sig if k == e0 else sig - prev_tau
        cur_start, done = work + before * W, _new(Phase, (SAVE, k, into, 0.0, work, before))
    elif k > e0:
        cur_start, done = _time_tail(k - 1, prev_tau, a, E, V, W, B0, e0, into0, since0, s1, I0, I1)
    else:
        cur_start, done = 0.0, None
    totals.preemptions += 1
    st.uptimes_s.append(notice.uptime_s)
    if done is not None:
        _commit(job, totals, st, done, _time_save(done, E, V, B0, e0, into0, n, s1, I1))
    return now, _settle_cut(job, totals, st, now, notice, life, TRAIN, x - cur_start, end - x)


def _time_tail(k: int, tau: float, b: int, E, V, W, B0, e0: int, into0, since0, s1, I0, I1) -> tuple:
    """(end offset, Phase) of epoch k's validation with time-based saves, b of them due by its training's
    end `tau` (ArithmeticStretch._epoch_tail's last two)."""
    work = tau + (k - e0) * V
    saved_at_end = b > 0 and s1 + (b - 1) * I1 >= tau
    since = 0.0 if saved_at_end else (tau - (s1 + (b - 1) * I1) if b else since0 + tau)
    return work + V + b * W, _new(Phase, (EVAL, k + 1, 0.0, since, work + V, b))


def _time_save(p: Phase, E, V, B0, e0: int, into0, n: int, s1, I1):
    """ArithmeticStretch.newest_save of a training or validation `p` with time-based saves (None: `p`
    follows none, or is the save): the epoch whose training holds save p.saves, guessed from the mean
    epoch, then searched."""
    if not p.saves or p.kind == SAVE:
        return None
    sig = s1 + (p.saves - 1) * I1
    total = E * n
    k = min(max(int((B0 + sig) * n / total) if total > 0 else p.epoch, e0), n - 1)
    while k > e0 and E * k - B0 >= sig:  # _tau(k - 1) >= sig
        k -= 1
    while k < n and not E * (k + 1) - B0 >= sig:
        k += 1
    into = into0 + sig if k == e0 else sig - (E * k - B0)
    return k, into, sig + (k - e0) * V


def _stretch_to_cut(job, start: float, cut_at: float, notice, life: int):
    """work_to_cut with the stretch object (job.plan) and stop_at_cut: epochs of their own lengths, and
    the rare cases the paths above leave to them."""
    stretch = job.plan(CHUNK_EPOCHS, math.inf, start)
    duration = stretch.duration_s
    if not (duration > 0 and cut_at < start + duration):
        now = start + duration if duration > 0 else start
        job.commit(stretch, stretch.locate_end())
        return now, None
    job.totals.preemptions += 1
    job.state.uptimes_s.append(notice.uptime_s)
    return cut_at, stop_at_cut(job, cut_at, notice, stretch, life)


def _settle_cut(job, totals, st, now: float, notice, life: int, kind: int, elapsed: float, to_end: float,
                saved_at=None) -> Exit:
    """notice.stop_at_cut for a cut `elapsed` seconds into a phase of `kind` that ends `to_end` after it, the
    phases before committed, nothing else in flight and no log (`saved_at`: a SAVE's (epoch, into)); the
    emergency save and the exit are stop_at_cut's own (notice.emergency_and_exit)."""
    window = notice.window_s
    saving = notice.delivered and job.emergency
    cut_off = write_done = False
    used = 0.0
    if kind == TRAIN:
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
    elif kind == EVAL:
        totals.aborted_eval_s += elapsed
    else:  # a blocking periodic write
        W = job.write_s
        left = W - elapsed
        if left <= window:
            totals.checkpoint_s += W
            epoch, into = saved_at  # job.periodic_save_done(epoch, into), but for last_val_acc (see _commit)
            st.epoch, st.train_s_since_checkpoint = epoch, 0.0
            job.into = into
            job.durable = _new(Durable, (epoch, into))
            job.work_at_durable = totals.work_s
            totals.checkpoints += 1
            st.checkpoint_write_s = W
            used = left
            write_done = True
        elif notice.deadline and saving:  # train_then_save drops it for the emergency save, which fits
            totals.checkpoint_s += elapsed
            totals.checkpoints_failed += 1
        else:
            totals.checkpoint_s += elapsed + window
            totals.checkpoints_failed += 1
            used = window
            cut_off = True
    return emergency_and_exit(job, now, notice, saving, used, cut_off, write_done, life)


def _epoch_end_save(p: Phase, E, V, B0, e0: int, last):
    """ArithmeticStretch.newest_save of a training or validation `p` with epoch-end saves (None: `p` follows
    none, or is the save)."""
    if not p.saves or p.kind == SAVE:
        return None
    epoch = last(p.epoch - 1 if p.kind == EVAL else p.epoch)  # a validation's epoch counts its own
    return epoch, 0.0, (E * epoch - B0) + (epoch - e0) * V


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


def _commit(job, totals, st, p: Phase, saved) -> None:
    """job.commit of a fresh stretch up to its phase `p` (state.last_val_acc aside); `saved`: (epoch, into, work) of the newest save
    at or before `p` (ArithmeticStretch.newest_save), read when `p` follows a save."""
    saves = p.saves
    if saves:
        epoch, into, work = (p.epoch, p.into, p.work) if p.kind == SAVE else saved
        job.durable = _new(Durable, (epoch, into))
        job.work_at_durable = totals.work_s + (work - 0.0)
        st.checkpoint_write_s = job.write_s
        totals.checkpoint_s += saves * job.write_s
        totals.checkpoints += saves
    totals.work_s += p.work - 0.0
    # job.apply but for state.last_val_acc, which nothing in a plain run reads (the strategies that ask for
    # accuracies are asked by plan.py, with a probe of their own): left as it was.
    st.epoch, st.train_s_since_checkpoint = p.epoch, p.since
    job.into = p.into
