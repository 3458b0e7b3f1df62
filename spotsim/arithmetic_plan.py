"""A stretch planned as arithmetic: where the job is at any offset, without listing its phases.

The phases of plan.py follow from a few numbers when saves are blocking and
the strategy's decisions follow a rule: epoch-end saves at fixed epochs (fixed
every N epochs; milestone, whose saves follow from the accuracies alone; none)
or time-based saves every `interval` training seconds (fixed every_s,
adaptive, young_daly: one interval until the first write is measured, another
after, fixed for the stretch). Training before epoch k is a prefix sum
(epochs.EpochTimes), the saves before it a count, so the wall-clock offset of
any phase end is a sum of three terms, and the phase at an offset is a
search over epochs (then over the saves inside one). A stretch covers the
rest of the job: a lifetime costs one planned wait and one search at its cut,
whatever its epochs and steps.

The phases, their order at ties and the states at their ends are those of
plan.plan_stretch (a save due at an epoch's end comes before its validation);
only the order of floating-point additions differs, so times agree to
rounding (tests/test_frozen_runs.py).
"""
from __future__ import annotations

import math

from .plan import EVAL, SAVE, TRAIN, Phase, Where, floored
from .strategies import AdaptiveInterval, FixedInterval, NoCheckpoints, OnImprovement, TrainingState, YoungDaly

TIME_BASED = (FixedInterval, AdaptiveInterval, YoungDaly)
PLANNED = (*TIME_BASED, OnImprovement, NoCheckpoints)
"""The strategies planned here (fixed and young_daly may also save at epoch ends, or never)."""
_new = tuple.__new__


def supports(job) -> bool:
    """Whether `job`'s stretches can be planned as arithmetic (blocking saves, a known strategy)."""
    return not job.async_write and type(job.strategy) in PLANNED


def saves_at_epoch_ends(strategy) -> bool:
    """Whether stretches of `strategy` (one of PLANNED) save at epoch ends only: no time-based interval,
    whatever the state (fixed every N epochs, young_daly expecting no preemption, milestone, none)."""
    if isinstance(strategy, FixedInterval):
        return strategy.every_s is None
    if isinstance(strategy, YoungDaly):
        return strategy.rate_per_h <= 0
    return not isinstance(strategy, AdaptiveInterval)


def _gallop(lo: int, hi: int, pred, guess: int) -> int:
    """The smallest i in [lo, hi) with pred(i) (pred monotone: False then True), else hi; starts at `guess`."""
    g = min(max(guess, lo), hi - 1) if hi > lo else lo
    if lo >= hi:
        return hi
    if pred(g):
        step = 1
        right = g
        left = g - 1
        while left >= lo and pred(left):
            right = left
            left = g - step * 2
            step *= 2
        lo = max(left + 1, lo)
        hi = right
    else:
        step = 1
        left = g + 1
        while left < hi and not pred(left):
            lo = left + 1
            left = g + step * 2
            step *= 2
        hi = min(left, hi)
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class ArithmeticStretch:
    """The rest of `job`'s work from its current state at `now` (see the module docstring)."""

    lazy = True
    __slots__ = ("start", "times", "V", "W", "n", "e0", "into0", "since0", "B0", "duration_s", "done",
                 "committed", "train_logged", "trained", "time_based", "I0", "I1", "s1", "cnt", "last", "c0", "avg")

    def __init__(self, job, now: float = 0.0, state: TrainingState | None = None, into: float | None = None):
        """From `job`'s state, or from `state` and `into` (a position the job is not at)."""
        self.start = now
        st, strategy = (job.state if state is None else state), job.strategy
        times = self.times = job.epoch_times
        self.V, self.W, self.n = job.eval_s, job.write_s, job.epochs
        e0 = self.e0 = st.epoch
        self.into0, self.since0 = (job.into if into is None else into), st.train_s_since_checkpoint
        self.B0 = times.before(e0) + self.into0
        self.trained = e0 < job.epochs and self.into0 >= times.at(e0)
        """The stretch starts at its first epoch's end: no training phase there (as plan_stretch)."""
        self.done = None
        self.committed: Phase | None = None
        self.train_logged = 0.0
        interval = floored(strategy.interval_s(st)) if isinstance(strategy, TIME_BASED) else None
        self.time_based = interval is not None
        n = self.n
        if self.time_based:
            self.I0 = interval
            if st.checkpoint_write_s != self.W:  # the first save measures the write: re-asked after it
                probe = TrainingState(checkpoint_write_s=self.W, uptimes_s=st.uptimes_s)
                self.I1 = floored(strategy.interval_s(probe))
            else:
                self.I1 = interval
            self.s1 = self.I0 - self.since0
            if not self.s1 > 0:
                raise ValueError("a time-based save is already due: plan it with plan.plan_stretch")
            per_epoch = times.total / n if n else 0.0
            self.avg = (per_epoch + self.V) + self.W * per_epoch / self.I1
            self.duration_s = self._eval_end(n - 1) if e0 < n else 0.0
        else:
            cnt, self.last = job.epoch_saves()
            self.cnt = cnt
            c0 = self.c0 = cnt(e0)
            cn = cnt(n)
            self.avg = times.total / n + self.V + self.W * cn / n if n else 0.0
            # _epoch_end(n - 1), inlined
            self.duration_s = (times.before(n) - self.B0) + (n - e0) * self.V + (cn - c0) * self.W if e0 < n else 0.0

    # -- epoch-end saves ------------------------------------------------------------
    def _tr(self, k: int) -> float:
        """Training seconds from the start to the end of epoch k's training."""
        return self.times.before(k + 1) - self.B0

    def _epoch_end(self, k: int) -> float:
        """Offset of the end of epoch k's last phase (its validation, or the save after it)."""
        return (self.times.before(k + 1) - self.B0) + (k - self.e0 + 1) * self.V + (self.cnt(k + 1) - self.c0) * self.W

    def _epoch_phase(self, k: int, kind: int) -> tuple[float, Phase]:
        """(end offset, end state) of epoch k's TRAIN, EVAL or SAVE phase."""
        tr, e0, V, W = self.times.before(k + 1) - self.B0, self.e0, self.V, self.W  # _tr(k)
        c = self.cnt(k) - self.c0
        if kind == TRAIN:
            return tr + (k - e0) * V + c * W, _new(Phase, (TRAIN, k, self.times.at(k), self._since(k, tr), tr + (k - e0) * V, c))
        if kind == EVAL:
            return tr + (k - e0 + 1) * V + c * W, _new(Phase, (EVAL, k + 1, 0.0, self._since(k, tr), tr + (k - e0 + 1) * V, c))
        c1 = self.cnt(k + 1) - self.c0
        return tr + (k - e0 + 1) * V + c1 * W, _new(Phase, (SAVE, k + 1, 0.0, 0.0, tr + (k - e0 + 1) * V, c1))

    def _since(self, k: int, tr: float) -> float:
        j = self.last(k)
        if j > self.e0:
            return self.times.before(k + 1) - self.times.before(j)
        return self.since0 + tr

    def _locate_epochs(self, x: float) -> Where:
        e0, n = self.e0, self.n
        guess = min(e0 + int(x / self.avg), n - 1) if self.avg > 0 else e0
        end = self._epoch_end
        if end(guess) > x:  # the guess is usually the epoch or the one after it
            k = guess if guess == e0 or end(guess - 1) <= x else _gallop(e0, guess, lambda i: end(i) > x, guess - 2)
        else:
            k = guess + 1 if guess + 1 >= n or end(guess + 1) > x else _gallop(guess + 2, n, lambda i: end(i) > x, guess + 2)
        if k >= n:
            return self._final()
        # _epoch_phase(k, TRAIN) and _epoch_before(k), inlined (the same expressions): a cut's commonest case.
        tr, V, W, cnt = self.times.before(k + 1) - self.B0, self.V, self.W, self.cnt  # _tr(k)
        ck = cnt(k)
        c = ck - self.c0
        work = tr + (k - e0) * V
        end = work + c * W
        if x < end:
            train = _new(Phase, (TRAIN, k, self.times.at(k), self._since(k, tr), work, c))
            if k == e0:
                return _new(Where, ((k, TRAIN), None, train, 0.0, end))
            before_end, before = self._epoch_phase(k - 1, SAVE if ck > cnt(k - 1) else EVAL)
            return _new(Where, ((k, TRAIN), before, train, before_end, end))
        train = _new(Phase, (TRAIN, k, self.times.at(k), self._since(k, tr), work, c))
        eend, ev = self._epoch_phase(k, EVAL)
        if x < eend:
            return Where((k, EVAL), None if self.trained and k == e0 else train, ev, end, eend)
        send, save = self._epoch_phase(k, SAVE)
        return Where((k, SAVE), ev, save, eend, send)

    # -- time-based saves -----------------------------------------------------------
    def _sigma(self, j: int) -> float:
        """Training offset of save j (1-based)."""
        return self.s1 + (j - 1) * self.I1

    def _saves_by(self, t: float) -> int:
        """Saves due by training offset t (save j is due at _sigma(j) <= t)."""
        s1, I1 = self.s1, self.I1
        if t < s1:
            return 0
        m = int((t - s1) / I1) + 1
        while m > 1 and s1 + (m - 1) * I1 > t:  # _sigma(m), inlined
            m -= 1
        while s1 + m * I1 <= t:  # _sigma(m + 1)
            m += 1
        return m

    def _tau(self, k: int) -> float:
        """Training offset of the end of epoch k's training."""
        return self.times.before(k + 1) - self.B0

    def _eval_end(self, k: int) -> float:
        tau = self.times.before(k + 1) - self.B0  # _tau(k)
        return tau + (k - self.e0 + 1) * self.V + self._saves_by(tau) * self.W

    def _into(self, k: int, sigma: float) -> float:
        return self.into0 + sigma if k == self.e0 else sigma - self._tau(k - 1)

    def _save_phases(self, k: int, j: int) -> tuple[float, Phase, float, Phase]:
        """(end, state) of the training up to save j in epoch k, then of the save."""
        sig = self._sigma(j)
        work = sig + (k - self.e0) * self.V
        into = self._into(k, sig)
        interval = self.I0 if j == 1 else self.I1
        return (work + (j - 1) * self.W, _new(Phase, (TRAIN, k, into, interval, work, j - 1)),
                work + j * self.W, _new(Phase, (SAVE, k, into, 0.0, work, j)))

    def _epoch_tail(self, k: int, b: int, tau: float | None = None) -> tuple[float, Phase | None, float, Phase]:
        """Epoch k's last training segment (None when a save ends it exactly) and its validation;
        b saves are due by its end (`tau`: _tau(k), if known)."""
        if tau is None:
            tau = self._tau(k)
        work = tau + (k - self.e0) * self.V
        saved_at_end = b > 0 and self._sigma(b) >= tau
        since = 0.0 if saved_at_end else (tau - self._sigma(b) if b else self.since0 + tau)
        train = None if saved_at_end else _new(Phase, (TRAIN, k, self.times.at(k), since, work, b))
        return (work + b * self.W, train, work + self.V + b * self.W,
                _new(Phase, (EVAL, k + 1, 0.0, since, work + self.V, b)))

    def _locate_time(self, x: float) -> Where:
        e0, n, V, W, B0, before, saves_by = self.e0, self.n, self.V, self.W, self.B0, self.times.before, self._saves_by
        guess = e0 + int(x / self.avg) if self.avg > 0 else e0
        seen = {}  # epoch -> (_tau, saves due by it), as the search computed them: reused below

        def ends_after(i: int) -> bool:  # _eval_end(i) > x
            tau = before(i + 1) - B0
            b = saves_by(tau)
            seen[i] = (tau, b)
            return tau + (i - e0 + 1) * V + b * W > x

        k = _gallop(e0, n, ends_after, guess)
        if k >= n:
            return self._final()
        prev_tau, a = (seen[k - 1] if k - 1 in seen else self._tau_saves(k - 1)) if k > e0 else (None, 0)
        tau, b = seen[k] if k in seen else self._tau_saves(k)
        base = (k - e0) * self.V
        # The first save in epoch k that ends after x (b + 1: none; an epoch usually holds none or one).
        j = b + 1 if b == a else _gallop(a + 1, b + 1, lambda i: self._sigma(i) + base + i * self.W > x, a + 1)
        if j <= b:
            tend, train, send, save = self._save_phases(k, j)
            if x < tend:
                prev = self._save_phases(k, j - 1)[2:] if j - 1 > a else self._before_time_epoch(k, prev_tau, a)
                return Where((k, 2 * j), prev[1] if prev else None, train, prev[0] if prev else 0.0, tend)
            return Where((k, 2 * j + 1), train, save, tend, send)
        tend, train, eend, ev = self._epoch_tail(k, b, tau)
        if train is not None and x < tend:
            prev = self._save_phases(k, b)[2:] if b > a else self._before_time_epoch(k, prev_tau, a)
            return Where((k, math.inf, 0), prev[1] if prev else None, train, prev[0] if prev else 0.0, tend)
        if train is None:
            send, save = self._save_phases(k, b)[2:]
            return Where((k, math.inf, 1), save, ev, send, eend)
        return Where((k, math.inf, 1), None if self.trained and k == e0 else train, ev, tend, eend)

    def _before_time_epoch(self, k: int, tau: float | None = None, b: int | None = None):
        """(end, state) of epoch k-1's validation (None at the stretch's start); `tau`, `b`: its _tau and
        saves due by it, if known."""
        if k == self.e0:
            return None
        if b is None:
            tau, b = self._tau_saves(k - 1)
        _, _, eend, ev = self._epoch_tail(k - 1, b, tau)
        return eend, ev

    def _tau_saves(self, k: int) -> tuple[float, int]:
        """(_tau(k), the saves due by it)."""
        tau = self._tau(k)
        return tau, self._saves_by(tau)

    # -- the interface shared with plan.Stretch -------------------------------------------
    def _final(self) -> Where:
        k = self.n - 1
        if self.time_based:
            _, _, end, state = self._epoch_tail(k, self._saves_by(self._tau(k)))
            return Where((self.n,), state, None, end, end)
        kind = SAVE if self.cnt(k + 1) > self.cnt(k) else EVAL
        end, state = self._epoch_phase(k, kind)
        return Where((self.n,), state, None, end, end)

    def locate(self, x: float) -> Where:
        """The last phase completed by offset `x` and the one in progress there."""
        if x >= self.duration_s:
            return self._final()
        return self._locate_time(x) if self.time_based else self._locate_epochs(x)

    def locate_end(self) -> Where:
        return self._final()

    def phases_between(self, after, before):
        """(end offset, state) of the phases whose keys k satisfy after <= k < before (after None: from the
        start), in order: what a logged run logs as it commits them (O(phases), logging only)."""
        for key, end, phase in self._phases():
            if key >= before:
                return
            if after is None or key >= after:
                yield end, phase

    def _phases(self):
        """Every phase of the stretch as (key, end offset, state) (no empty training where the stretch
        starts at its first epoch's end, as plan_stretch lists none)."""
        trained = self.trained
        for k in range(self.e0, self.n):
            if self.time_based:
                a = self._saves_by(self._tau(k - 1)) if k > self.e0 else 0
                b = self._saves_by(self._tau(k))
                for j in range(a + 1, b + 1):
                    tend, train, send, save = self._save_phases(k, j)
                    yield (k, 2 * j), tend, train
                    yield (k, 2 * j + 1), send, save
                tend, train, eend, ev = self._epoch_tail(k, b)
                if train is not None and not (trained and k == self.e0):
                    yield (k, math.inf, 0), tend, train
                yield (k, math.inf, 1), eend, ev
            else:
                for kind in (TRAIN, EVAL, SAVE):
                    if kind == SAVE and self.cnt(k + 1) == self.cnt(k):
                        break
                    if kind == TRAIN and trained and k == self.e0:
                        continue
                    end, phase = self._epoch_phase(k, kind)
                    yield (k, kind), end, phase

    def newest_save(self, phase: Phase) -> tuple[int, float, float]:
        """(epoch, into, work) of the newest save at or before `phase` (which follows at least one)."""
        if phase.kind == SAVE:
            return phase.epoch, phase.into, phase.work
        if not self.time_based:
            j = self.last(phase.epoch - 1 if phase.kind == EVAL else phase.epoch)  # EVAL's epoch counts its own
            return j, 0.0, self._tr(j - 1) + (j - self.e0) * self.V
        m = phase.saves
        sig = self._sigma(m)
        # The epoch whose training holds the save: guessed from the mean epoch (exact for equal epochs
        # but at a boundary), then checked and, if need be, searched from there.
        e0, n, total = self.e0, self.n, self.times.total
        g = min(max(int((self.B0 + sig) * n / total) if total > 0 else phase.epoch, e0), n - 1)
        if self._tau(g) >= sig and (g == e0 or self._tau(g - 1) < sig):
            k = g
        else:
            k = _gallop(e0, n, lambda i: self._tau(i) >= sig, g)
        return k, self._into(k, sig), sig + (k - self.e0) * self.V
