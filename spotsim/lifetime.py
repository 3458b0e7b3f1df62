"""One VM lifetime after another: the SimPy process of a Spot run.

In each lifetime: capacity (when the pattern says it is away at the grant),
the grant, start-up and checkpoint restore (billed), then stretches of planned
work until the job ends or the preemption's cut (notice.py) stops it. After
the cut the lifetime lasts until the kill at the end of the notice window,
billed until the VM goes off (billing.py); capacity may then stay away (not
billed) before the next grant.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import simpy

from .billing import lifetime_billed_s, preempted_lifetime_billed_s
from .notice import draw_notice, stop_at_cut

CHUNK_EPOCHS = 64
"""Epochs planned per stretch at most (a speed-up: results do not depend on it)."""
USE_HORIZON = True
"""Plan only up to the coming cut (a speed-up: results do not depend on it)."""
STARTUP, WORK = "startup", "work"
LATE = 2
"""SimPy priority after NORMAL: a cut due at the instant the job's work ends comes after it."""


class LateTimeout(simpy.Event):
    """A timeout processed after every ordinary event due at the same instant.

    SimPy's own Timeout recipe with another priority: a job whose work ends
    exactly when a notice comes has finished, it is not preempted.
    """

    def __init__(self, env: simpy.Environment, delay: float):
        self.env = env
        self.callbacks = []
        self._value = None
        self._ok = True
        env.schedule(self, LATE, delay)


class Limits(NamedTuple):
    """When a hopeless run stops early (see model.LIMIT_RATIO)."""

    cost_s: float
    """Billed seconds past which the run stops (once past time_s)."""
    time_s: float
    stuck_s: float
    """Makespan past which the run stops even if its cost cannot grow."""


class SpotRun:
    """The lifetimes of one job on Spot VMs (the SimPy process is `run`)."""

    def __init__(self, job, pattern, streams, limits: Limits, measured=None):
        self.job = job
        self.s = job.s
        self.pattern = pattern
        self.streams = streams
        self.limits = limits
        self.measured = measured
        capacity = self.s.capacity.wait
        self.pattern_waits = pattern.replaces_capacity_waits or capacity == "trace"
        """Whether capacity waits come from the pattern's preemptions (before and after a lifetime)."""

    def run(self, env: simpy.Environment, finished: simpy.Event):
        """Lifetime after lifetime until the epochs are done or the run is hopeless."""
        job, s, totals = self.job, self.s, self.job.totals
        startup, restore = s.vm.startup_s, s.checkpoint.restore_s
        logging = job.events is not None
        preemptions = self.pattern.preemptions(self.streams.interrupts)
        while True:
            pre = next(preemptions)
            if self.pattern_waits and pre.wait_before_s > 0:
                yield from self._wait(env, pre.wait_before_s)
            grant = env.now
            totals.lifetimes += 1
            life = totals.lifetimes
            job.emit("vm_start", grant, lifetime=life)
            notice = None
            token = [True]
            if math.isfinite(pre.uptime_s):
                notice = draw_notice(s, self.streams, grant, pre.uptime_s)
                job.hold_notice(notice.at, life, pre.uptime_s, notice.delivered)
                _schedule_cut(env, env.active_process, notice.cut_at - grant, token)
            life_startup = startup if self.measured is None else self.measured.startup_of(life, startup)
            life_restore = restore if job.durable is not None else 0.0
            phase, stretch = STARTUP, None
            try:
                # Start-up and restore in one wait; a cut inside it is placed by the clock.
                if life_startup + life_restore > 0:
                    yield env.timeout(life_startup + life_restore)
                self._account_startup(life, life_startup)
                if logging:
                    job.emit("process_start", grant + life_startup, lifetime=life)
                if job.durable is None:
                    job.restart_from_scratch()
                else:
                    totals.restore_s += life_restore
                    job.restore()
                    if logging:
                        job.emit("resume", env.now, lifetime=life, from_epoch=job.position(*job.durable),
                                 restore_s=life_restore)
                phase = WORK
                horizon_at = notice.cut_at if notice is not None and USE_HORIZON else math.inf
                while job.state.epoch < job.epochs:
                    stretch = job.plan(CHUNK_EPOCHS, horizon_at - env.now)
                    stretch.start = env.now
                    if stretch.duration_s > 0:
                        yield env.timeout(stretch.duration_s)
                    job.commit(stretch, len(stretch.ends))
                    stretch = None
            except simpy.Interrupt:
                token[0] = False
                totals.preemptions += 1
                job.state.uptimes_s.append(notice.uptime_s)
                if phase == STARTUP:
                    self._cut_in_startup(env.now - grant, life, life_startup, grant)
                ended = stop_at_cut(job, env.now, notice, stretch, life)
                if ended.kill_at > env.now:
                    yield env.timeout(ended.kill_at - env.now)
                if logging:
                    extra = {} if ended.killed else {"shutdown_t": ended.off_at}
                    job.emit("kill", env.now, lifetime=life, **extra)
                totals.billed_s += preempted_lifetime_billed_s(ended.off_at - grant, ended.kill_at - grant,
                                                               s.billing)
                if self._over_limit(env.now):
                    totals.makespan_s = env.now
                    finished.succeed()
                    return
                wait = self._wait_after(pre)
                if wait > 0:
                    yield from self._wait(env, wait)
                continue
            token[0] = False
            job.release_notice(logged=False)
            totals.finished = True
            totals.makespan_s = env.now
            totals.billed_s += lifetime_billed_s(env.now - grant, s.billing, preempted=False)
            job.emit("process_exit", env.now, lifetime=life, code=0)
            finished.succeed()
            return

    # -- pieces of a lifetime ---------------------------------------------------
    def _account_startup(self, life: int, seconds: float) -> None:
        if life == 1:
            self.job.totals.first_startup_s += seconds
        else:
            self.job.totals.startup_s += seconds

    def _cut_in_startup(self, into_s: float, life: int, life_startup: float, grant: float) -> None:
        """The cut found the lifetime starting up, or restoring once its process had started."""
        if into_s <= life_startup:
            self._account_startup(life, into_s)
            return
        self._account_startup(life, life_startup)
        self.job.emit("process_start", grant + life_startup, lifetime=life)
        self.job.totals.restore_s += into_s - life_startup

    def _wait(self, env, seconds: float):
        """Capacity away for `seconds`: in the makespan, not billed."""
        self.job.totals.wait_s += seconds
        yield env.timeout(seconds)
        self.job.emit("capacity_back", env.now, wait_s=seconds)

    def _wait_after(self, pre) -> float:
        """How long capacity stays away after a kill."""
        if self.pattern_waits and pre.wait_s is not None:
            return pre.wait_s
        c = self.s.capacity
        if c.wait == "fixed":
            return c.wait_s
        if c.wait == "exponential":
            return self.streams.capacity.expovariate(1.0 / c.wait_s) if c.wait_s > 0 else 0.0
        return 0.0

    def _over_limit(self, now: float) -> bool:
        lim = self.limits
        return now > lim.time_s and (self.job.totals.billed_s > lim.cost_s or now > lim.stuck_s)


def _schedule_cut(env, job_process, delay_s: float, token: list) -> None:
    """After `delay_s`, throw the cut into the job as an Interrupt, unless `token` was cleared.

    A bare late timeout with a callback, not a process of its own: one event per lifetime.
    """
    def cut(_event):
        if token[0]:
            job_process.interrupt("preemption")
    LateTimeout(env, delay_s).callbacks.append(cut)
