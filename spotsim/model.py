"""The SimPy model of one training job on Spot VMs.

A run is a sequence of VM lifetimes. In each: start-up (boot, set-up, process
start; billed), checkpoint restore (if a checkpoint exists), then training
epochs with validation and the checkpoints the strategy asks for, until the
job ends or a preemption notice arrives. The preempter process throws a SimPy
`Interrupt` into the job at the notice; the job's handler accounts for what
was in flight, tries an emergency save inside the notice window, and the VM
stays on (and billed) until the window closes. Capacity may then stay away
(not billed) before the next lifetime.

Speed: the job does not yield one SimPy event per epoch. It plans a chunk of
up to CHUNK_EPOCHS epochs as a list of phases (pure arithmetic over the
strategy's answers), waits for the chunk as one timeout, and, when a notice
cuts the chunk, walks the phase list to the moment of the notice. Planning
stops just past the coming notice (the preemption time is drawn at the grant),
so little is planned in vain. A run costs a few SimPy events per lifetime,
independent of epochs and of steps per epoch.
"""
from __future__ import annotations

import dataclasses
import math
from bisect import bisect_right

import numpy as np
import simpy

from .accuracy import accuracy_curve
from .config import Scenario
from .costs import billed_seconds
from .events import EventLog
from .interrupts import build_pattern
from .interrupts.none import NoInterrupts
from .results import RunResult
from .rng import RunStreams
from .strategies import TrainingState, build_strategy

CHUNK_EPOCHS = 64
LIMIT_RATIO = 20.0
"""A run that has spent more than LIMIT_RATIO x the on-demand cost *and* makespan
stops early, flagged unfinished: past that point every break-even question is
answered, and a hopeless rate (preemptions faster than start-up) would never end.
Where cost cannot grow (AWS bills nothing for a VM interrupted within its first
hour; a free Spot price), a run also stops once even fully billed time would have
passed the cost limit twice over (at most 100 x the time limit); its cost is then
a lower bound."""

MIN_INTERVAL_S = 1.0
"""Shortest time-based checkpoint interval honoured: the trainer checks between whole
steps, and a free checkpoint (write_s 0) would make young_daly's interval zero."""

TRAIN, EVAL, CKPT = 0, 1, 2
STARTUP, RESTORE, WORK, DONE = "startup", "restore", "work", "done"


class _Chunk:
    """Planned phases of one stretch of training: end offsets and state snapshots.

    snaps[i] = (kind, epoch, into, since, best, last, work, ckpt_s, n_ckpt): the
    job's state after phase i, with work/ckpt_s/n_ckpt cumulative within the chunk.
    """

    __slots__ = ("ends", "snaps", "start")

    def __init__(self):
        self.ends: list[float] = []
        self.snaps: list[tuple] = []
        self.start = 0.0


class Job:
    """Mutable state of one simulated run and its SimPy processes."""

    use_horizon = True
    """Plan only up to the coming notice (a speed-up; results do not depend on it)."""

    def __init__(self, scenario: Scenario, seed, events: EventLog | None = None,
                 limit_ratio: float = LIMIT_RATIO, pattern=None):
        s = scenario
        self.s = s
        self.events = events
        self.rng = RunStreams(seed)
        self.strategy = build_strategy(s.checkpoint, s.interrupts.rate_per_h or 0.0)
        self.pattern = pattern if pattern is not None else build_pattern(s.interrupts, s.vm.notice_s)
        self.preemptions = None  # drawn lazily from the interrupts stream
        self.epochs = s.job.epochs
        rng_job = self.rng.job if (s.job.epoch_jitter > 0 or s.accuracy.noise_sd > 0) else None
        replayed = getattr(self.pattern, "epoch_times_s", None)  # a measured run's own (interrupts.replay)
        self.train_s = (list(replayed) if replayed and len(replayed) == s.job.epochs
                        else epoch_times(s.job.epochs, s.job.epoch_s, s.job.epoch_jitter, rng_job))
        self.acc = accuracy_curve(s.job.epochs, s.accuracy.a_max, s.accuracy.a_0, s.accuracy.tau_epochs,
                                  s.accuracy.noise_sd, rng_job).tolist()
        measured_acc = getattr(self.pattern, "val_accs", None)  # a measured run's own (interrupts.replay)
        if measured_acc and len(measured_acc) == s.job.epochs:
            self.acc = list(measured_acc)
        self.write_s = s.checkpoint.write_s
        self.eval_s = s.job.eval_s
        self.state = TrainingState()  # no write measured yet: strategies use their prior
        self.into = 0.0          # training seconds done in epoch `state.epoch` (0-based)
        self.best: float | None = None
        self.durable: tuple | None = None  # (epoch, into, best, last) of the last durable checkpoint
        self.work = 0.0          # training + validation seconds performed, lost ones included
        self.work_at_durable = 0.0
        self.lost: list[float] = []
        self.t = dict(startup=0.0, restore=0.0, aborted_eval=0.0, checkpoint=0.0, notice_idle=0.0, wait=0.0)
        self.first_startup = 0.0
        self.n = dict(checkpoints=0, checkpoints_failed=0, emergency_ok=0, emergency_failed=0,
                      preemptions=0, lifetimes=0)
        self.billed = 0.0
        self.finished = False
        self.end_time = 0.0
        self.limit_ratio = limit_ratio
        self.limit_cost_s = math.inf  # billed seconds past which the run stops (set by simulate)
        self.limit_time_s = math.inf
        self.limit_stuck_s = math.inf

    # -- events ---------------------------------------------------------------
    def emit(self, event: str, t: float, **fields) -> None:
        if self.events is not None:
            self.events.emit(event, t, **fields)

    # -- planning -------------------------------------------------------------
    def plan(self, max_epochs: int, horizon_s: float = math.inf) -> _Chunk:
        """Phases from the current state for up to `max_epochs` epochs (mutates nothing).

        Planning stops at the first epoch end past `horizon_s` seconds: a notice
        due by then will cut the chunk anyway. The horizon only saves work; the
        phases planned, and so the results, do not depend on it.
        """
        st, strategy = self.state, self.strategy
        T, acc, V, W = self.train_s, self.acc, self.eval_s, self.write_s
        interval = _floored(strategy.interval_s(st))
        ch = _Chunk()
        ends, snaps = ch.ends, ch.snaps
        e, into, since = st.epoch, self.into, st.train_s_since_checkpoint
        best, last = self.best, st.last_val_acc
        t = work = ck = 0.0
        nck = 0
        stop = min(self.epochs, e + max_epochs)
        probe = TrainingState(checkpoint_write_s=st.checkpoint_write_s, uptimes_s=st.uptimes_s)
        append_end, append_snap = ends.append, snaps.append
        save_after_epoch = strategy.save_after_epoch
        while e < stop and t < horizon_s:
            te = T[e]
            if into < te:
                if interval is not None and since + (te - into) >= interval:
                    while since + (te - into) >= interval:
                        seg = interval - since
                        t += seg
                        work += seg
                        into += seg
                        append_end(t)
                        append_snap((TRAIN, e, into, interval, best, last, work, ck, nck))
                        t += W
                        ck += W
                        nck += 1
                        since = 0.0
                        append_end(t)
                        append_snap((CKPT, e, into, 0.0, best, last, work, ck, nck))
                        if probe.checkpoint_write_s != W:  # the first save measured: re-ask
                            probe.checkpoint_write_s = W
                            interval = _floored(strategy.interval_s(probe))
                        if into >= te:
                            break
                if into < te:
                    seg = te - into
                    t += seg
                    work += seg
                    since += seg
                    into = te
                    append_end(t)
                    append_snap((TRAIN, e, into, since, best, last, work, ck, nck))
            t += V
            work += V
            a = acc[e]
            e += 1
            probe.epoch = e
            probe.last_val_acc = a
            probe.best_val_acc = best
            probe.train_s_since_checkpoint = since
            last = a
            if best is None or a > best:
                best = a
            into = 0.0
            append_end(t)
            append_snap((EVAL, e, 0.0, since, best, last, work, ck, nck))
            if save_after_epoch(probe):
                t += W
                ck += W
                nck += 1
                since = 0.0
                append_end(t)
                append_snap((CKPT, e, 0.0, 0.0, best, last, work, ck, nck))
                if probe.checkpoint_write_s != W and interval is not None:
                    probe.checkpoint_write_s = W
                    interval = _floored(strategy.interval_s(probe))
        return ch

    def _apply(self, snap) -> None:
        _, e, into, since, best, last, *_ = snap
        st = self.state
        st.epoch, st.train_s_since_checkpoint, st.last_val_acc = e, since, last
        self.into, self.best = into, best

    def commit(self, ch: _Chunk, upto: int, now: float) -> None:
        """Take phases [0, upto) of a chunk as done; log them; move the durable point."""
        if upto == 0:
            return
        snaps, ends = ch.snaps, ch.ends
        base_work = self.work
        last = snaps[upto - 1]
        if self.events is not None:
            self._log_phases(ch, upto)
        # The newest completed checkpoint in the committed phases becomes durable.
        for i in range(upto - 1, -1, -1):
            if snaps[i][0] == CKPT:
                k = snaps[i]
                self.durable = (k[1], k[2], k[4], k[5])
                self.work_at_durable = base_work + k[6]
                self.state.checkpoint_write_s = self.write_s
                break
        self.work = base_work + last[6]
        self.t["checkpoint"] += last[7]
        self.n["checkpoints"] += last[8]
        self._apply(last)

    def _log_phases(self, ch: _Chunk, upto: int) -> None:
        prev_work = 0.0
        train_acc = 0.0
        for i in range(upto):
            kind, e, into, _, _, last, work, _, _ = ch.snaps[i]
            end = ch.start + ch.ends[i]
            if kind == TRAIN:
                train_acc += work - prev_work
            elif kind == EVAL:
                self.emit("epoch_end", end, epoch=e, train_s=train_acc, eval_s=self.eval_s, val_acc=last)
                train_acc = 0.0
            else:
                self.emit("checkpoint", end, kind="periodic", ok=True, epoch=self._position(e, into),
                          seconds=self.write_s, stall_s=self.write_s)
            prev_work = work

    def _position(self, epoch: int, into: float) -> float:
        """Progress in epochs: completed epochs plus the trained share of the next one."""
        if epoch >= self.epochs:
            return float(epoch)
        return epoch + into / self.train_s[epoch]

    # -- processes --------------------------------------------------------------
    def run(self, env: simpy.Environment, finished: simpy.Event):
        """The job process: lifetime after lifetime until the epochs are done."""
        s = self.s
        startup, restore, notice_s = s.vm.startup_s, s.checkpoint.restore_s, s.vm.notice_s
        while True:
            grant = env.now
            self.n["lifetimes"] += 1
            life = self.n["lifetimes"]
            if self.preemptions is None:
                self.preemptions = self.pattern.preemptions(self.rng.interrupts)
            pre = next(self.preemptions)
            self.emit("vm_start", grant, lifetime=life)
            token = [True]
            if math.isfinite(pre.uptime_s):
                self._schedule_notice(env, env.active_process, pre.uptime_s, token)
            # A replayed measured run may bring each lifetime's own start-up (interrupts.replay).
            replayed = getattr(self.pattern, "startup_of", None)
            life_startup = startup if replayed is None else replayed(life, startup)
            life_restore = restore if self.durable is not None else 0.0
            phase, ch, phase_start = STARTUP, None, env.now
            try:
                # Start-up and restore in one wait; a notice inside it is placed by the clock.
                if life_startup + life_restore > 0:
                    yield env.timeout(life_startup + life_restore)
                self._account_startup(life, life_startup)
                if self.events is not None:
                    self.emit("process_start", grant + life_startup, lifetime=life)
                if self.durable is None:
                    self._restart_from_scratch()
                else:
                    self.t["restore"] += restore
                    self._restore()
                    if self.events is not None:
                        self.emit("resume", env.now, lifetime=life, from_epoch=self._position(
                            self.durable[0], self.durable[1]), restore_s=restore)
                phase = WORK
                notice_at = grant + pre.uptime_s if self.use_horizon else math.inf
                while self.state.epoch < self.epochs:
                    ch = self.plan(CHUNK_EPOCHS, notice_at - env.now)
                    ch.start = env.now
                    if ch.ends[-1] > 0:
                        yield env.timeout(ch.ends[-1])
                    self.commit(ch, len(ch.ends), env.now)
                    ch = None
                phase = DONE
            except simpy.Interrupt:
                token[0] = False
                self.n["preemptions"] += 1
                self.state.uptimes_s.append(env.now - grant)
                if phase == STARTUP:
                    into_start = env.now - phase_start
                    if into_start <= life_startup:
                        self._account_startup(life, into_start)
                    else:  # the process had started: the notice found it restoring
                        self._account_startup(life, life_startup)
                        if self.events is not None:
                            self.emit("process_start", grant + life_startup, lifetime=life)
                        self.t["restore"] += into_start - life_startup
                        phase = RESTORE
                self._notice(env.now, phase, ch, life)
                if notice_s > 0:
                    yield env.timeout(notice_s)
                self.emit("kill", env.now, lifetime=life)
                self._bill(grant, env.now, preempted=True)
                if self._over_limit(env.now):
                    self.end_time = env.now
                    finished.succeed()
                    return
                wait = self._capacity_wait(pre.wait_s)
                if wait > 0:
                    self.t["wait"] += wait
                    yield env.timeout(wait)
                    self.emit("capacity_back", env.now, wait_s=wait)
                continue
            token[0] = False
            self.finished = True
            self.end_time = env.now
            self._bill(grant, env.now, preempted=False)
            self.emit("process_exit", env.now, lifetime=life, code=0)
            finished.succeed()
            return

    @staticmethod
    def _schedule_notice(env, job, uptime_s: float, token: list) -> None:
        """The preempter: after `uptime_s` it throws the notice into the job as an Interrupt.

        A bare timeout with a callback, not a process of its own: one event per lifetime.
        `token` is cleared when the lifetime ends first.
        """
        def notice(_event):
            if token[0]:
                job.interrupt("preemption notice")
        env.timeout(uptime_s).callbacks.append(notice)

    # -- pieces of a lifetime ---------------------------------------------------
    def _account_startup(self, life: int, seconds: float) -> None:
        if life == 1:
            self.first_startup += seconds
        else:
            self.t["startup"] += seconds

    def _restart_from_scratch(self) -> None:
        """No checkpoint survives: the job starts again at epoch 0, no save measured."""
        st = self.state
        st.epoch, st.train_s_since_checkpoint, st.last_val_acc = 0, 0.0, None
        st.checkpoint_write_s = 0.0
        self.into, self.best = 0.0, None
        self.work_at_durable = self.work

    def _restore(self) -> None:
        e, into, best, last = self.durable
        st = self.state
        st.epoch, st.train_s_since_checkpoint, st.last_val_acc = e, 0.0, last
        self.into, self.best = into, best
        self.work_at_durable = self.work

    def _notice(self, now: float, phase: str, ch: _Chunk | None, life: int) -> None:
        """Account for what the notice finds in flight and for the emergency save.

        Training in flight stops at the end of its step; validation in flight is
        abandoned (redone after a resume); a periodic write in flight goes on and
        counts only if it ends inside the window, after which nothing is new. Then,
        with emergency saving on and a notice that reached the job, a save of the
        progress since the last durable checkpoint: kept if it ends in the window.
        """
        s = self.s
        window = s.vm.notice_s
        emergency = s.checkpoint.emergency
        delivered = self._delivered()
        used = 0.0           # seconds of the window spent finishing a step or writing
        write_done = False   # a periodic write in flight completed inside the window
        if phase == WORK and ch is not None:
            x = now - ch.start
            upto = bisect_right(ch.ends, x)
            self.commit(ch, upto, now)
        self.emit("preempt_notice", now, lifetime=life, direction="sent", uptime_s=self.state.uptimes_s[-1])
        if delivered:
            self.emit("preempt_notice", now, lifetime=life, direction="received")
        if phase == WORK and ch is not None:
            if upto < len(ch.ends):
                kind, snap = ch.snaps[upto][0], ch.snaps[upto]
                elapsed = x - (ch.ends[upto - 1] if upto else 0.0)
                if kind == TRAIN:
                    step = 0.0
                    if delivered and emergency:
                        step = min(self._finish_step(), ch.ends[upto] - x, window)
                    self._train_partial(elapsed + step)
                    used = step
                elif kind == EVAL:
                    # Validation cut short is redone after any resume: a restart overhead.
                    self.t["aborted_eval"] += elapsed
                else:
                    write_done = self._write_in_flight(now, elapsed, window, snap)
                    used = min(self.write_s - elapsed, window)
        lost = self.work - self.work_at_durable
        if not write_done and emergency and delivered and lost > 1e-12:
            ew = s.checkpoint.emergency_s
            st = self.state
            position = self._position(st.epoch, self.into)
            if used + ew <= window:
                self.n["emergency_ok"] += 1
                self.t["checkpoint"] += ew
                self.emit("checkpoint", now + used + ew, kind="emergency", ok=True, epoch=position,
                          seconds=ew, stall_s=ew)
                used += ew
                self.durable = (st.epoch, self.into, self.best, st.last_val_acc)
                self.work_at_durable = self.work
                st.train_s_since_checkpoint = 0.0
                st.checkpoint_write_s = self.write_s
                lost = 0.0
            else:
                self.n["emergency_failed"] += 1
                spent = max(0.0, window - used)
                self.t["checkpoint"] += spent
                used += spent
                self.emit("checkpoint", now + window, kind="emergency", ok=False, epoch=position,
                          seconds=spent, stall_s=spent)
        self.lost.append(lost)
        self.work_at_durable = self.work  # what was lost is gone: the next lifetime resumes from `durable`
        self.t["notice_idle"] += max(0.0, window - used)
        self.emit("process_exit", now + min(used, window), lifetime=life,
                  code=0 if delivered else 143, lost_s=lost)

    def _write_in_flight(self, now: float, elapsed: float, window: float, snap) -> bool:
        """A periodic write cut by the notice: it goes on and counts if it ends in the window."""
        left = self.write_s - elapsed
        if left <= window:
            self.t["checkpoint"] += self.write_s
            self.n["checkpoints"] += 1
            self._apply(snap)
            self.durable = (snap[1], snap[2], snap[4], snap[5])
            self.work_at_durable = self.work
            self.state.checkpoint_write_s = self.write_s
            self.emit("checkpoint", now + left, kind="periodic", ok=True,
                      epoch=self._position(snap[1], snap[2]), seconds=self.write_s, stall_s=self.write_s)
            return True
        self.t["checkpoint"] += elapsed + window
        self.n["checkpoints_failed"] += 1
        self.emit("checkpoint", now + window, kind="periodic", ok=False,
                  epoch=self._position(snap[1], snap[2]), seconds=elapsed + window, stall_s=elapsed + window)
        return False

    def _train_partial(self, seconds: float) -> None:
        """Training in flight at the notice (plus the step it finishes) is held in memory."""
        st = self.state
        seconds = min(seconds, self.train_s[st.epoch] - self.into)
        self.into += seconds
        st.train_s_since_checkpoint += seconds
        self.work += seconds

    def _delivered(self) -> bool:
        r = self.s.vm.notice_reliability
        return r >= 1.0 or self.rng.notice.random() < r

    def _finish_step(self) -> float:
        step = self.s.job.step_s
        return step * self.rng.notice.random() if step > 0 else 0.0

    def _capacity_wait(self, trace_wait: float | None) -> float:
        c = self.s.capacity
        if trace_wait is not None and getattr(self.pattern, "provides_waits", False):
            return trace_wait  # a replayed measured run brings its own waits
        if c.wait == "none":
            return 0.0
        if c.wait == "fixed":
            return c.wait_s
        if c.wait == "exponential":
            return self.rng.capacity.expovariate(1.0 / c.wait_s) if c.wait_s > 0 else 0.0
        return trace_wait or 0.0

    def _bill(self, grant: float, off: float, preempted: bool) -> None:
        b = self.s.billing
        if preempted and off - grant < b.free_if_preempted_within_s:
            return
        self.billed += billed_seconds(off - grant, b.minimum_s, b.increment_s)

    def _over_limit(self, now: float) -> bool:
        return now > self.limit_time_s and (self.billed > self.limit_cost_s or now > self.limit_stuck_s)


def _floored(interval: float | None) -> float | None:
    return interval if interval is None or interval >= MIN_INTERVAL_S else MIN_INTERVAL_S


def epoch_times(epochs: int, mean_s: float, cv: float, rng: np.random.Generator) -> list[float]:
    """Training seconds of each epoch: fixed, or gamma with the given coefficient of variation.

    Epoch e takes the same time whenever it is (re)run within a replication, so
    strategies compared at one replication see common random numbers.
    """
    if cv <= 0:
        return [mean_s] * epochs
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, mean_s / shape, size=epochs).tolist()


def _ondemand_key(s: Scenario):
    """What the on-demand baseline depends on (the preemption pattern only via young_daly)."""
    rate = s.interrupts.rate_per_h if s.checkpoint.strategy == "young_daly" else None
    return (s.job, s.checkpoint, s.vm.startup_s, s.billing, s.prices.ondemand_per_h, s.accuracy, rate)


def ondemand_baseline(scenario: Scenario, seed, job: "Job | None" = None) -> tuple[float, float]:
    """(makespan_s, billed_s) of the same job and strategy with no preemptions.

    It uses the same epoch times and accuracy noise as the Spot run of `seed`
    (pass that run's fresh `job` to reuse its draws), and is cached when nothing
    in it is random (no epoch jitter, no noise that could move a milestone).
    """
    s = scenario
    deterministic = s.job.epoch_jitter == 0 and (s.checkpoint.strategy != "milestone" or s.accuracy.noise_sd == 0)
    if deterministic:
        return _ondemand_cached(_ondemand_key(s), s)
    return _ondemand(s, seed, job)


_OD_CACHE: dict = {}


def _ondemand_cached(key, s: Scenario):
    hit = _OD_CACHE.get(key)
    if hit is None:
        if len(_OD_CACHE) > 4096:
            _OD_CACHE.clear()
        hit = _OD_CACHE[key] = _ondemand(s, 0)
    return hit


def _ondemand(s: Scenario, seed, job: "Job | None" = None) -> tuple[float, float]:
    if job is None:
        job = Job(s, seed, pattern=NoInterrupts())
    if job.strategy.interval_s(TrainingState()) is None:
        work = _epoch_saves_only_makespan(job)
    else:
        ch = job.plan(job.epochs)  # from the job's initial state: plan() changes nothing
        work = ch.ends[-1] if ch.ends else 0.0
    makespan = s.vm.startup_s + work
    billed = billed_seconds(makespan, s.billing.minimum_s, s.billing.increment_s)
    return makespan, billed


def _epoch_saves_only_makespan(job: Job) -> float:
    """Training, validation and checkpoint seconds of an uninterrupted run whose
    strategy saves only at epoch ends: the strategy is asked once per epoch,
    without planning phases (the same answer as plan(), several times faster)."""
    probe = TrainingState()
    ask = job.strategy.save_after_epoch
    best, saves, since = None, 0, 0.0
    for e, (te, a) in enumerate(zip(job.train_s, job.acc), start=1):
        since += te
        probe.epoch, probe.last_val_acc, probe.best_val_acc = e, a, best
        probe.train_s_since_checkpoint = since
        if best is None or a > best:
            best = a
        if ask(probe):
            saves += 1
            since = 0.0
    return sum(job.train_s) + job.epochs * job.eval_s + saves * job.write_s


def simulate(scenario: Scenario, seed=0, events: EventLog | None = None, pattern=None,
             limit_ratio: float = LIMIT_RATIO) -> RunResult:
    """Simulate one run of `scenario` with its own seeded random streams.

    `seed` is an int or a tuple of ints (e.g. (cell_seed, replication)); the same
    seed gives the same result. `pattern` may be given pre-built (sweeps reuse one).
    """
    s = scenario
    job = Job(s, seed, events=events, limit_ratio=limit_ratio, pattern=pattern)
    od_makespan, od_billed = ondemand_baseline(s, seed, job)
    job.limit_cost_s = limit_ratio * od_billed * s.prices.ondemand_per_h / max(s.prices.spot_per_h, 1e-12)
    job.limit_time_s = limit_ratio * od_makespan
    job.limit_stuck_s = 2.0 * max(job.limit_time_s, min(job.limit_cost_s, 50.0 * job.limit_time_s))
    env = simpy.Environment()
    finished = env.event()
    if events is not None:
        job.emit("run_start", 0.0, epochs=s.job.epochs, scenario=s.name, seed=_jsonable(seed),
                 strategy=s.checkpoint.strategy, pattern=s.interrupts.pattern,
                 checkpoint=dataclasses.asdict(s.checkpoint), emergency=s.checkpoint.emergency,
                 notice_s=s.vm.notice_s)
    env.process(job.run(env, finished))
    env.run(until=finished)
    result = RunResult.from_job(job, od_makespan, od_billed)
    job.emit("run_end", job.end_time, epochs_done=result.epochs_done, makespan_s=job.end_time,
             billed_s=job.billed, cost_usd=result.cost_usd, finished=job.finished)
    return result


def _jsonable(seed):
    return list(seed) if isinstance(seed, (tuple, list)) else seed
