"""One VM lifetime after another: the SimPy process of a Spot run.

In each lifetime: capacity (when the pattern says it is away at the grant),
the grant, start-up and checkpoint restore (billed), compilation and warm-up
(job.compile_s, job.warmup_s: the first steps' extra time, no progress), then
stretches of planned work until the job ends or the preemption's cut
(notice.py) stops it; a last asynchronous write is waited for before the job
ends. After
the cut the lifetime lasts until the kill at the end of the notice window,
billed until the VM goes off (billing.py); capacity may then stay away (not
billed) before the next grant.

With zones (zones/): the market is the zones' (zones/market.py) and the run
keeps a ledger (zones/ledger.py): a Spot lifetime in a zone that needs the
checkpoint moved spends the transfer after its start-up, before the restore;
each lifetime is billed at its zone's prices. Such runs take run(), not
run_plain().
"""
from __future__ import annotations

import math
from typing import NamedTuple

import simpy

from .billing import lifetime_billed_s, preempted_biller, preempted_lifetime_billed_s
from .interrupts.base import Uptimes
from .market import SpotMarket
from .notice import leave_notice, notice_drawer, stop_at_cut
from .plain_stretch import epoch_end_plan, work_to_cut
from .plan import CHUNK_EPOCHS
from .policies.base import SPOT, WAIT, Decision, Situation

USE_HORIZON = True
"""Plan only up to the coming cut (a speed-up: results do not depend on it)."""
STARTUP, WORK, FLUSH = "startup", "work", "flush"
"""Lifetime phases: start-up to warm-up's end, planned work, the last asynchronous write."""
PREEMPTION, REVIEW = "preemption", "review"
"""Interrupt causes: the preemption's cut, and a deadline policy's review of a running lifetime."""
FINISHED, PREEMPTED, LEFT = "finished", "preempted", "left"
TAKE_SPOT, WAIT_FOR_SPOT = Decision(SPOT), Decision(WAIT, math.inf)
"""The only decisions of a run without a policy."""
MIN_WAIT_S = 1e-6
"""Shortest wait a policy's WAIT gets: a decision repeated at the same instant would loop forever."""
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


class Warm(NamedTuple):
    """What a lifetime spends before its first progress, after start-up and restore."""

    compile_s: float
    warmup_s: float
    cache: str
    """"none" (no compilation), "cold" or "restored" (the compile cache came with the checkpoint)."""


class Limits(NamedTuple):
    """When a hopeless run stops early (see model.LIMIT_RATIO)."""

    cost_s: float
    """Billed seconds past which the run stops (once past time_s)."""
    time_s: float
    stuck_s: float
    """Makespan past which the run stops even if its cost cannot grow."""


class SpotRun:
    """The lifetimes of one job, on Spot VMs or, as its policy decides, on-demand (the process is `run`).

    Without a policy (None) the job takes Spot whenever it can be granted: the
    simulator's model before policies, on its fast path.
    """

    def __init__(self, job, pattern, streams, limits: Limits, measured=None, policy=None,
                 deadline_s: float = math.inf, remaining=None, warm: dict | None = None):
        self.job = job
        self.s = job.s
        self.pattern = pattern
        self.streams = streams
        self.limits = limits
        self.measured = measured
        self.policy = policy
        self.deadline_s = deadline_s
        self.remaining = remaining
        capacity = self.s.capacity.wait
        self.pattern_waits = pattern.replaces_capacity_waits or capacity == "trace"
        """Whether capacity waits come from the pattern's preemptions (before and after a lifetime)."""
        self.limit_prices = self.s.prices
        """The prices `limits.cost_s` counts in (with zones, the first zone's: model._limit_prices)."""
        self.market = None
        self.ledger = None
        """The zone accounts (zones/ledger.py) of a run with zones, else None."""
        self.plain_clock = False
        """Driven by clock.Clock rather than SimPy (set by the caller; only without a policy)."""
        self._warm: dict = {} if warm is None else warm
        self._draw = None
        """notice.notice_drawer of this run, made at its first finite uptime (it makes the notice streams)."""
        """Compilation and warm-up by cache state (_warm_costs); without a measured run they are the
        scenario's alone, and `warm` may bring those of earlier runs of the same scenario."""

    def new_market(self, preemptions=None) -> SpotMarket:
        """The run's Spot market (`preemptions`: the pattern's, if the caller made them)."""
        if self.s.zones:
            from .zones.market import zone_market
            market = zone_market(self.pattern, self.s, self.streams, self.job, self.remaining)
            self.ledger = market.ledger
            return market
        no_waits = not self.pattern_waits and self.s.capacity.wait == "none"
        if preemptions is None:
            preemptions = self.pattern.preemptions(self.streams.interrupts)
        return SpotMarket(preemptions,
                          _no_wait if no_waits else waits_after(self.s, self.streams, self.pattern_waits),
                          self.s.vm.notice_s, self.pattern_waits)

    def _bare_uptimes(self, preemptions):
        """The bare uptimes of `preemptions` (the pattern's) where a plain run needs no market to read
        them (a pattern that models no capacity, no waits from the pattern or the scenario: SpotMarket
        would grant each period at the last one's kill), else None."""
        if self.pattern_waits or self.s.capacity.wait != "none" or not isinstance(preemptions, Uptimes):
            return None
        return preemptions.uptimes

    def run(self, env: simpy.Environment, finished: simpy.Event):
        """Lifetime after lifetime until the epochs are done or the run is hopeless."""
        market = self.market = self.new_market()
        policy = self.policy
        previous = None
        while True:
            now = env.now
            period = None
            if policy is None:
                period = market.at(now)
                choice = TAKE_SPOT if period.available(now) else WAIT_FOR_SPOT
            else:
                choice = policy.decide(self.situation(now, None))
            if choice.market == WAIT:
                wait = market.wait_s(now)
                until = max(choice.until, now + MIN_WAIT_S)  # time must move on between decisions
                if until < now + wait:  # the policy stops waiting before capacity comes back
                    yield from self._wait(env, until - now, back=False)
                else:
                    yield from self._wait(env, wait)
                continue
            if previous is not None and choice.market != previous:
                self.job.totals.switches += 1
            previous = choice.market
            outcome = yield from self._lifetime(env, choice, period)
            if outcome == FINISHED:
                finished.succeed()
                return
            if self._over_limit(env.now):
                self.job.totals.makespan_s = env.now
                finished.succeed()
                return

    def run_plain(self) -> None:
        """run() without a clock to yield to, for the commonest runs: no policy, no event log, no
        measured run, blocking saves planned as arithmetic (`plain_runs` says which).

        Nothing can interrupt such a run but each lifetime's own cut, so it is a loop: the same
        decisions, waits and accounting as run() and _lifetime() in the same order and with the
        same float operations (tests/test_clock.py holds the two to identical results).
        """
        job, s, totals, streams = self.job, self.s, self.job.totals, self.streams
        st = job.state
        preemptions = None if self.s.zones else self.pattern.preemptions(streams.interrupts)
        uptimes = self._bare_uptimes(preemptions)
        market = self.market = self.new_market(preemptions) if uptimes is None else None
        notice_s = s.vm.notice_s
        startup, restore_s, billing = s.vm.startup_s, s.checkpoint.restore_s, s.billing
        warm_by_cache = (self._warm_costs(0, False), self._warm_costs(0, True))
        limits = self.limits
        now = 0.0
        # Looked up once, not per lifetime (the loop is the simulator's hottest code). The loop inlines
        # Period.available and uptime_from, stop_at_cut and job.lose_unsaved for a cut in start-up,
        # Totals.bill and SpotMarket.killed_at, and draws notices and bills preempted lifetimes with a
        # drawer and a biller made once (notice_drawer, preempted_biller); tests/test_clock.py holds
        # run_plain to run(), which calls the functions inlined here.
        draw = None  # notice.notice_drawer, made at the first finite uptime (it makes the notice streams)
        bill = preempted_biller(billing)
        time_s, cost_s, stuck_s, isfinite = limits.time_s, limits.cost_s, limits.stuck_s, math.isfinite
        epoch_plan = epoch_end_plan(job)
        fresh, resumed = warm_by_cache  # start-up to the first progress: without, then with a checkpoint
        ready_by_cache = (startup + 0.0 + fresh.compile_s + fresh.warmup_s,
                          startup + restore_s + resumed.compile_s + resumed.warmup_s)
        while True:
            if uptimes is not None:
                # The market of bare uptimes, nothing waiting (_bare_uptimes): the next period is granted
                # at the kill of the last, which is now; market.at skips one whose kill is not after it.
                uptime = next(uptimes)
                if (now + uptime) + notice_s <= now:
                    continue
            else:
                period = market.at(now)
                grant = period.grant
                if not (grant <= now and (now < period.notice or now == grant)):  # not period.available(now)
                    wait = market.wait_s(now)
                    totals.wait_s += wait
                    now = now + wait
                    continue
                uptime = period.uptime_s if now == grant else max(period.notice - now, 0.0)  # uptime_from(now)
            grant = now
            totals.lifetimes += 1
            life = totals.lifetimes
            notice = None
            cut_at = math.inf
            if isfinite(uptime):
                if draw is None:
                    draw = notice_drawer(s, streams)
                notice = draw(grant, uptime)
                cut_at = grant + (notice.cut_at - grant)
            cached = job.durable is not None
            ready = ready_by_cache[cached]
            if ready > 0 and cut_at < now + ready:  # the cut comes in start-up
                now = cut_at
                into = now - grant
                if into <= startup and life > 1:  # _cut_in_startup's first case, inlined
                    totals.startup_s += into
                else:
                    self._cut_in_startup(into, life, startup, restore_s if cached else 0.0, warm_by_cache[cached],
                                         grant)
                totals.preemptions += 1
                st.uptimes_s.append(uptime)  # notice.uptime_s
                if job.pending is None and totals.work_s - job.work_at_durable == 0.0:  # job.unsaved_s == 0.0
                    # notice.stop_at_cut with nothing in flight and nothing unsaved: no save to make, so the
                    # job exits at once if it heard the notice, else the kill ends it; job.lose_unsaved(),
                    # inlined, records that nothing was lost.
                    kill_at = now + notice.window_s
                    off_at = kill_at if not notice.delivered or notice.window_s <= 0 else now + 0.0
                    totals.notice_idle_s += kill_at - off_at
                    totals.lost_s.append(0.0)
                    job.work_at_durable = totals.work_s
                else:
                    ended = stop_at_cut(job, now, notice, None, life)
                    off_at, kill_at = ended.off_at, ended.kill_at
            else:
                life_restore = restore_s if cached else 0.0
                warm = warm_by_cache[cached]
                if ready > 0:
                    now = now + ready
                if life == 1:  # self._account_startup(life, startup)
                    totals.first_startup_s += startup
                else:
                    totals.startup_s += startup
                if cached:
                    totals.restore_s += life_restore
                    # job.restore(), but for state.last_val_acc, which nothing in a plain run reads (see
                    # plain_stretch._commit)
                    st.epoch, job.into = job.durable
                    st.train_s_since_checkpoint = 0.0
                    job.work_at_durable = totals.work_s
                else:
                    job.restart_from_scratch()
                totals.compile_s += warm.compile_s
                totals.warmup_s += warm.warmup_s
                ended = None
                if job.state.epoch < job.epochs:
                    now, ended = work_to_cut(job, now, cut_at, notice, life, epoch_plan)
                if ended is None:  # the job is done
                    totals.finished = True
                    totals.makespan_s = now
                    totals.bill(lifetime_billed_s(now - grant, billing, preempted=False), True)
                    return
                off_at, kill_at = ended.off_at, ended.kill_at
            if kill_at > now:
                now = now + (kill_at - now)
            billed = bill(off_at - grant, kill_at - grant)
            totals.billed_s += billed  # totals.bill(billed, True)
            totals.spot_billed_s += billed
            if market is not None:
                period.kill = now  # market.killed_at(now, period)
            # self._over_limit(now), inlined: a plain run bills no on-demand, so its billed seconds are the Spot ones.
            if now > time_s and (totals.spot_billed_s > cost_s or now > stuck_s):
                totals.makespan_s = now
                return

    @property
    def plain_runs(self) -> bool:
        """Whether run_plain() can run this run."""
        return (self.policy is None and self.job.events is None and self.measured is None
                and self.job.arithmetic and not self.s.zones)

    def situation(self, now: float, on: str | None) -> Situation:
        """What the policy sees at `now` (see policies/base.py)."""
        job, s = self.job, self.s
        rem = self.remaining.remaining_s
        durable = rem(*job.durable) if job.durable is not None else rem(0, 0.0)
        held = rem(job.state.epoch, job.into) if on is not None else durable
        spot_wait = self.market.wait_s(now)
        step, es, startup = s.job.step_s, s.checkpoint.emergency_s, s.vm.startup_s + s.job.warmup_s
        cold = s.job.compile_s
        restore = s.checkpoint.restore_s + cold * s.job.compile_cached_fraction
        sure = s.checkpoint.emergency and s.vm.notice_reliability >= 1.0 and step + es <= s.vm.notice_s
        ratio = (s.prices.spot_per_h / s.prices.ondemand_per_h if self.ledger is None
                 else self.market.price_ratio(now))
        return Situation(now, self.deadline_s, on, spot_wait == 0.0, spot_wait, durable, held,
                         startup + (restore if job.durable is not None else cold), startup + restore, step, es,
                         s.vm.notice_s, sure, self.remaining.total_s() + startup + cold, s.policy.margin_s,
                         s.policy.assume_no_loss, ratio,
                         s.billing.minimum_s, s.billing.increment_s, s.job.eval_s)

    # -- one lifetime -------------------------------------------------------------------
    def _lifetime(self, env, choice: Decision, period=None):
        """One VM lifetime on the chosen market, from grant to finish, preemption or voluntary stop
        (`period`: the Spot period current at the grant, if the caller has it)."""
        job, s, totals = self.job, self.s, self.job.totals
        on_spot = choice.market == SPOT
        logging = job.events is not None
        grant = env.now
        totals.lifetimes += 1
        life = totals.lifetimes
        if on_spot and period is None:
            period = self.market.at(grant)
        ledger = self.ledger
        transfer = 0.0 if ledger is None else ledger.begin(period.zone if on_spot else None)
        if logging:
            job.emit("vm_start", grant, lifetime=life, **({} if self.policy is None else {"market": choice.market}),
                     **({} if ledger is None else self._zone_fields(transfer)))
        notice = None
        token = [True]
        cut = None
        if on_spot:
            uptime = period.uptime_from(grant)
            if math.isfinite(uptime):
                if self._draw is None:
                    self._draw = notice_drawer(s, self.streams)
                notice = self._draw(grant, uptime)
                job.hold_notice(notice.at, life, uptime, notice.delivered)
                if self.policy is None:  # nothing else interrupts: the lifetime waits for the cut itself
                    delay = notice.cut_at - grant
                    cut = (grant + delay, env.timeout(delay) if self.plain_clock else LateTimeout(env, delay))
                else:
                    _schedule_cut(env, env.active_process, notice.cut_at - grant, token, PREEMPTION)
        review = [None]
        if math.isfinite(choice.until):
            review[0] = _schedule_review(env, env.active_process, max(choice.until - grant, 0.0))
        life_startup = s.vm.startup_s if self.measured is None else self.measured.startup_of(life, s.vm.startup_s)
        life_restore = s.checkpoint.restore_s if job.durable is not None else 0.0
        warm = self._warm_costs(life, job.durable is not None)
        phase, stretch = STARTUP, None
        cause = None
        flush_from = None
        try:
            # Start-up, restore, compilation and warm-up in one wait; a cut inside it is placed by the clock.
            ready = life_startup + transfer + life_restore + warm.compile_s + warm.warmup_s
            if ready > 0:
                if cut is None:
                    yield from self._wait_reviewed(env, ready, review, choice.market)
                elif (yield from _sleep(env, ready, cut)):
                    raise simpy.Interrupt(PREEMPTION)
            self._account_startup(life, life_startup)
            if transfer:
                totals.transfer_s += transfer
                ledger.arrived()
            if logging:
                job.emit("process_start", grant + life_startup, lifetime=life)
            if job.durable is None:
                job.restart_from_scratch()
            else:
                totals.restore_s += life_restore
                job.restore()
                if logging:
                    resumed = env.now - (warm.compile_s + warm.warmup_s) if warm.compile_s + warm.warmup_s else env.now
                    job.emit("resume", resumed, lifetime=life,
                             from_epoch=job.position(*job.durable), restore_s=life_restore)
            totals.compile_s += warm.compile_s
            totals.warmup_s += warm.warmup_s
            if logging and warm.compile_s + warm.warmup_s > 0:
                job.emit("warmup", env.now, lifetime=life, warmup_s=warm.warmup_s, compile_s=warm.compile_s,
                         cache=warm.cache)
            phase = WORK
            horizon_at = notice.cut_at if notice is not None and USE_HORIZON else math.inf
            while job.state.epoch < job.epochs:
                stretch = job.plan(CHUNK_EPOCHS, horizon_at - env.now, env.now)
                if stretch.duration_s > 0 and cut is not None:
                    if (yield from _sleep(env, stretch.duration_s, cut)):
                        raise simpy.Interrupt(PREEMPTION)
                elif stretch.duration_s > 0:
                    wait = stretch.duration_s
                    end = stretch.start + wait
                    while True:
                        try:
                            yield env.timeout(wait)
                            break
                        except simpy.Interrupt as exc:
                            if exc.cause != REVIEW:
                                raise
                            x = env.now - stretch.start
                            job.commit(stretch, stretch.locate(x), x)
                            if self._leaving(env, review, choice.market):
                                raise
                            wait = end - env.now
                job.commit(stretch, stretch.locate_end())
                stretch = None
            if job.pending is not None:  # the last asynchronous write ends before the job does
                phase, flush_from = FLUSH, env.now
                if cut is None:
                    yield from self._wait_reviewed(env, job.pending.done_at - env.now, review, choice.market)
                elif (yield from _sleep(env, max(job.pending.done_at - env.now, 0.0), cut)):
                    raise simpy.Interrupt(PREEMPTION)
                totals.checkpoint_s += env.now - flush_from
                job.finish_pending(env.now)
        except simpy.Interrupt as exc:
            token[0] = False
            cause = exc.cause
        _cancel(review)
        if cause is None:
            token[0] = False
            job.release_notice(logged=False)
            totals.finished = True
            totals.makespan_s = env.now
            self._bill(lifetime_billed_s(env.now - grant, s.billing, preempted=False), on_spot, grant)
            job.emit("process_exit", env.now, lifetime=life, code=0)
            return FINISHED
        if phase == STARTUP:
            self._cut_in_startup(env.now - grant, life, life_startup, life_restore, warm, grant, transfer)
        elif phase == FLUSH:
            totals.checkpoint_s += env.now - flush_from
        if cause == REVIEW:  # the policy moves the job: it stops its VM itself
            ended = stop_at_cut(job, env.now, leave_notice(env.now, s.job.step_s), stretch, life, voluntary=True)
            if ended.off_at > env.now:
                yield env.timeout(ended.off_at - env.now)
            self._bill(lifetime_billed_s(ended.off_at - grant, s.billing, preempted=False), on_spot, grant)
            return LEFT
        totals.preemptions += 1
        job.state.uptimes_s.append(notice.uptime_s)
        ended = stop_at_cut(job, env.now, notice, stretch, life)
        if ended.kill_at > env.now:
            yield env.timeout(ended.kill_at - env.now)
        if logging:
            extra = {} if ended.killed else {"shutdown_t": ended.off_at}
            job.emit("kill", env.now, lifetime=life, **extra)
        self._bill(preempted_lifetime_billed_s(ended.off_at - grant, ended.kill_at - grant, s.billing), True, grant)
        self.market.killed_at(env.now, period)
        return PREEMPTED

    def _leaving(self, env, review: list, market: str) -> bool:
        """At a review: whether the policy moves the job off this lifetime's market; if not, the next
        review is scheduled."""
        choice = self.policy.decide(self.situation(env.now, market))
        if choice.market != market:
            return True
        review[0] = None
        if math.isfinite(choice.until):
            review[0] = _schedule_review(env, env.active_process, max(choice.until - env.now, 0.0))
        return False

    # -- pieces of a lifetime ---------------------------------------------------
    def _bill(self, seconds: float, on_spot: bool, grant: float) -> None:
        """Bill a lifetime granted at `grant` (with zones, at its zone's prices; see zones/ledger.py)."""
        self.job.totals.bill(seconds, on_spot)
        if self.ledger is not None:
            self.ledger.close(seconds, on_spot, grant)

    def _zone_fields(self, transfer_s: float) -> dict:
        """A lifetime's zone, and its move if it makes one, for its vm_start event."""
        ledger = self.ledger
        out = {"zone": ledger.zones[ledger.zone].name}
        if ledger.move is not None:
            out.update(transfer_s=transfer_s, transfer_usd=ledger.move.usd)
        return out

    def _account_startup(self, life: int, seconds: float) -> None:
        if life == 1:
            self.job.totals.first_startup_s += seconds
        else:
            self.job.totals.startup_s += seconds

    def _wait_reviewed(self, env, seconds: float, review: list, market: str):
        """Wait `seconds` of a lifetime; a policy review inside may end the lifetime (re-raised)."""
        end = env.now + seconds
        wait = seconds
        while True:
            try:
                yield env.timeout(max(wait, 0.0))
                return
            except simpy.Interrupt as exc:
                if exc.cause != REVIEW or self._leaving(env, review, market):
                    raise
                wait = end - env.now

    def _warm_costs(self, life: int, cached: bool) -> "Warm":
        """Compilation and warm-up of lifetime `life` (`cached`: a checkpoint, and the compile cache
        saved beside it, is restored): measured, else the scenario's."""
        if self.measured is None:  # the same every lifetime but for the cache
            hit = self._warm.get(cached)
            if hit is None:
                hit = self._warm[cached] = self._scenario_warm(cached)
            return hit
        return self._scenario_warm(cached, life)

    def _scenario_warm(self, cached: bool, life: int = 0) -> "Warm":
        j = self.s.job
        compile_s = j.compile_s * (j.compile_cached_fraction if cached else 1.0)
        warmup_s = j.warmup_s
        if self.measured is not None:
            compile_s = self.measured.compile_of(life, compile_s)
            warmup_s = self.measured.warmup_of(life, warmup_s)
        cache = "none" if compile_s == 0 and j.compile_s == 0 else ("restored" if cached else "cold")
        return Warm(compile_s, warmup_s, cache)

    def _cut_in_startup(self, into_s: float, life: int, life_startup: float, life_restore: float, warm: "Warm",
                        grant: float, transfer_s: float = 0.0) -> None:
        """The cut found the lifetime starting up, moving the checkpoint (zones), restoring once its
        process had started, compiling or warming up (in that order; what was spent is accounted,
        nothing was gained but a transfer that ended)."""
        if into_s <= life_startup:
            self._account_startup(life, into_s)
            return
        self._account_startup(life, life_startup)
        self.job.emit("process_start", grant + life_startup, lifetime=life)
        job = self.job
        totals = job.totals
        left = into_s - life_startup
        if transfer_s:
            spent = min(left, transfer_s)
            totals.transfer_s += spent
            left -= spent
            if spent >= transfer_s:
                self.ledger.arrived()
        restored = left > life_restore
        for name, seconds in (("restore_s", life_restore), ("compile_s", warm.compile_s)):
            spent = min(left, seconds)
            setattr(totals, name, getattr(totals, name) + spent)
            left -= spent
        totals.warmup_s += max(left, 0.0)
        if restored and job.durable is not None:
            job.emit("resume", grant + life_startup + transfer_s + life_restore, lifetime=life,
                     from_epoch=job.position(*job.durable), restore_s=life_restore)

    def _wait(self, env, seconds: float, back: bool = True):
        """Waiting `seconds` for Spot capacity (`back`: it comes back then; else the policy stops
        waiting): in the makespan, not billed."""
        self.job.totals.wait_s += seconds
        yield env.timeout(seconds)
        if back:
            self.job.emit("capacity_back", env.now, wait_s=seconds)

    def _over_limit(self, now: float) -> bool:
        lim = self.limits
        t = self.job.totals
        p = self.limit_prices
        billed = t.spot_billed_s + (t.ondemand_billed_s * p.ondemand_per_h / max(p.spot_per_h, 1e-12)
                                    if t.ondemand_billed_s else 0.0)
        return now > lim.time_s and (billed > lim.cost_s or now > lim.stuck_s)


def waits_after(s, streams, pattern_waits: bool):
    """`wait_after(preemption)`: how long capacity stays away after a kill, the pattern's wait where it
    brings one (`pattern_waits`), else the scenario's capacity model. It holds the scenario and the
    streams, not the run, so a run and its market make no reference cycle."""
    c = s.capacity

    def wait_after(pre) -> float:
        if pattern_waits and pre.wait_s is not None:
            return pre.wait_s
        if c.wait == "fixed":
            return c.wait_s
        if c.wait == "exponential":
            return streams.capacity.expovariate(1.0 / c.wait_s) if c.wait_s > 0 else 0.0
        return 0.0

    return wait_after


def _no_wait(pre) -> float:
    """Capacity comes back at once after a kill (capacity.wait none, and no waits from the pattern)."""
    return 0.0


def _sleep(env, seconds: float, cut: tuple):
    """Wait `seconds` unless the cut (its time, and its LateTimeout) comes first; returns whether it did.

    A cut at the very instant the wait ends comes after it (LateTimeout's priority)."""
    if cut[0] < env.now + seconds:
        yield cut[1]
        return True
    yield env.timeout(seconds)
    return False


def _schedule_cut(env, job_process, delay_s: float, token: list, cause: str) -> None:
    """After `delay_s`, throw the cut into the job as an Interrupt with `cause`, unless `token` was cleared.

    A bare late timeout with a callback, not a process of its own: one event per lifetime.
    """
    def cut(_event):
        if token[0]:
            job_process.interrupt(cause)
    LateTimeout(env, delay_s).callbacks.append(cut)


def _schedule_review(env, job_process, delay_s: float) -> list:
    """A policy review after `delay_s` (its token, cleared by _cancel)."""
    token = [True]
    _schedule_cut(env, job_process, delay_s, token, REVIEW)
    return token


def _cancel(review: list) -> None:
    if review[0] is not None:
        review[0][0] = False
        review[0] = None
