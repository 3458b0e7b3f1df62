"""The cheapest schedule in hindsight for a job with a deadline: the floor every deadline policy is measured against.

Given when Spot was usable over the window (the whole future, as Can't Be
Late's "omniscient" policy has it), find the cheapest way to finish the work by
the deadline using Spot, on-demand and idle time.

The model is a relaxation of the simulator's, so its cost is a lower bound on
what a continuous-time policy pays under the same rules (start-up and restore
per VM lifetime, per-second billing):

- Time is cut in ticks of `tick_s` from submission; the last tick may be partial
  and still counts in full. Each tick the job is in one mode: idle, on-demand,
  Spot, or free Spot; a Spot lifetime is either new in the tick or continuing
  from the tick before.
- Progress is counted in quanta of `quantum_s` (default about 15 s, a whole
  fraction of the tick: m quanta a tick). The work needs floor(work/quantum)
  quanta.
- A VM lifetime starts on entering on-demand or Spot from idle, from the other
  market, or when a Spot lifetime cannot go on; it first pays a changeover of
  c = floor(changeover/quantum) quanta (changeover = start-up + restore, or
  start-up alone while there is no progress), billed but gaining nothing, and
  then gains one quantum per quantum it holds.
- On-demand is always usable, for any whole number k of quanta in a tick
  (k at least what is left of the changeover), billed for k quanta; a
  changeover longer than a tick fills whole ticks first.
- Spot is usable in a tick if any part of the tick before the deadline is
  inside a period. A new Spot lifetime holds the last j quanta of its first
  tick (1 <= j <= m: it may start late in the tick), its changeover running from
  there, into later ticks if need be; it holds every later tick in full. Each
  tick is billed its seconds inside periods (over the whole tick, the last one
  included), a lifetime's first tick no more than its j quanta.
- A Spot lifetime lives on into the next tick only inside one period: one new
  in tick t if a period spans the instant between ticks t and t+1; one alive at
  the start of tick t only if the period spanning that instant also spans the
  one at the tick's end. A lifetime that meets a kill inside a tick ends with
  that tick, even where the next period is granted at the kill: going on costs
  a new lifetime and its changeover.
- Free Spot: a Spot lifetime in a period killed less than
  `free_if_preempted_within_s` after the end of its first tick (its latest
  start) costs nothing for its whole life, however it ends. One that lives on
  past its first tick is in the period spanning that tick's end.
- In the tick where the work completes only the quanta used are billed (on Spot
  no more than the tick's seconds inside periods); the finish time is the
  tick's start plus the quanta used.
- No periodic checkpoint writes, no lost work, no notice windows, no minimum
  billing.

How airtight. The policies the simulator runs start Spot at a grant or the
moment a lifetime ends, change market at once and never idle while Spot can be
granted. Against them each tick of the model can hold at least a policy's
progress in it for no more than the policy's bill in it: a tick in which a
lifetime is killed still gains all m quanta, and a lifetime new in a tick holds
(and pays for) only the quanta from its start. Two gaps are left, each under a
tick's Spot seconds a lifetime and paid back by the extra progress the model
credits unless the work it saves would have been free (AWS's rule) or capped
at a finishing tick's Spot seconds: a tick bills every period's seconds in it,
where a VM that powers itself off early in its notice window stops paying at
once; and a start between quanta rounds to whole quanta (at most one; the work
and changeovers rounded down give some back). tests/test_omniscient.py compares
the bound with every policy, run by run on the same periods.

The optimum is a dynamic programme over ticks with state (mode, progress),
vectorised over progress with numpy, with compact per-tick back-pointers (int8
or int16 per tick, mode and progress) for the schedule. Spot and free Spot
each have a new and a continuing mode (their lifetimes live on under different
rules); a Spot start is a min-plus over its gain in the tick its changeover
ends, from the best values before its first tick. It is exact for this model,
needs no solver (the paper's ILP would, and would be slower at 15 s quanta),
and its time is linear in the ticks times the band of progress that can still
finish. Ties in cost go to the earlier finish; the finish is reported no later
than the deadline.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

IDLE, ONDEMAND, SPOT_NEW, SPOT, FREE_NEW, FREE = range(6)
MARKETS = {ONDEMAND: "ondemand", SPOT_NEW: "spot", SPOT: "spot", FREE_NEW: "spot", FREE: "spot"}
QUANTUM_TARGET_S = 15.0
"""The default quantum is the whole fraction of a tick nearest this from below."""


@dataclass(frozen=True)
class Window:
    """Spot availability over a deadline window, seconds since the job's submission.

    `periods` are (grant, kill) pairs: Spot usable on [grant, kill), sorted and
    non-overlapping, 0 <= grant < kill; they may run past `horizon_s`, the
    deadline.
    """

    periods: tuple[tuple[float, float], ...]
    horizon_s: float


@dataclass(frozen=True)
class Costs:
    """What the job needs and what the markets charge.

    `restore_s` is paid by every lifetime except one starting with no progress;
    `free_if_preempted_within_s` is AWS's rule that a Spot VM the cloud kills
    within that long of its grant is not billed (0: no such rule).
    """

    work_s: float
    startup_s: float
    restore_s: float
    spot_per_h: float
    ondemand_per_h: float
    free_if_preempted_within_s: float = 0.0


@dataclass(frozen=True)
class Schedule:
    """The optimum: its cost, billed seconds per market, finish and VM lifetimes.

    `segments` are the lifetimes in order as (start, end, "spot"|"ondemand"),
    clipped to the horizon; an on-demand lifetime starts at a tick's start, a
    Spot one at the first quantum it holds; `switches` counts consecutive
    lifetimes on different markets.
    """

    feasible: bool
    cost_usd: float
    spot_s: float
    ondemand_s: float
    finish_s: float
    switches: int
    lifetimes: int
    segments: tuple[tuple[float, float, str], ...]


INFEASIBLE = Schedule(False, math.inf, 0.0, 0.0, math.inf, 0, 0, ())


def default_quantum(tick_s: float) -> float:
    """tick_s / ceil(tick_s / 15): about 15 s, a whole fraction of the tick."""
    return tick_s / math.ceil(tick_s / QUANTUM_TARGET_S)


def hindsight_optimum(window: Window, costs: Costs, tick_s: float, quantum_s: float | None = None) -> Schedule:
    """The cheapest schedule that finishes `costs.work_s` by `window.horizon_s` (see the module docstring)."""
    if not tick_s > 0:
        raise ValueError(f"tick_s must be positive, got {tick_s!r}")
    q = default_quantum(tick_s) if quantum_s is None else float(quantum_s)
    m = round(tick_s / q) if q > 0 else 0
    if m < 1 or not math.isclose(m * q, tick_s, rel_tol=1e-9):
        raise ValueError(f"quantum_s must divide tick_s ({tick_s!r}) into a whole number of quanta, got {quantum_s!r}")
    _check(window, costs)
    need = math.floor(costs.work_s / q)
    if need <= 0:
        return Schedule(True, 0.0, 0.0, 0.0, 0.0, 0, 0, ())
    grid = _Grid(window, tick_s, costs.free_if_preempted_within_s)
    if grid.n == 0:
        return INFEASIBLE
    return _Solver(grid, costs, q, m, need).solve()


def _check(window: Window, costs: Costs) -> None:
    if not window.horizon_s >= 0:
        raise ValueError(f"horizon_s must be >= 0, got {window.horizon_s!r}")
    last = 0.0
    for grant, kill in window.periods:
        if not (grant >= last and kill > grant):
            raise ValueError(f"periods must be sorted, non-overlapping, 0 <= grant < kill; got {window.periods!r}")
        last = kill
    for name in ("work_s", "startup_s", "restore_s", "spot_per_h", "ondemand_per_h", "free_if_preempted_within_s"):
        value = getattr(costs, name)
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")


class _Grid:
    """Per-tick facts of the window: Spot usable and its billable seconds, which period spans each boundary
    after a tick, whether a lifetime can be free."""

    def __init__(self, window: Window, tick_s: float, free_within_s: float):
        horizon = float(window.horizon_s)
        self.tick_s, self.horizon_s = tick_s, horizon
        n = math.ceil(horizon / tick_s)
        self.n = n
        start = np.arange(n) * tick_s
        end = np.minimum(start + tick_s, horizon)
        grants = np.array([g for g, _ in window.periods], dtype=float)
        kills = np.array([k for _, k in window.periods], dtype=float)
        no = np.zeros(n, bool)
        if grants.size == 0:
            self.usable, self.spot_s, self.free = no, np.zeros(n), no
            self.carries, self.holds, self.free_carries = no, no, no
            self.run_end = np.arange(n) - 1
            return
        # The first period not killed by a tick's start is the only one that can overlap it first.
        first = np.searchsorted(kills, start, side="right")
        has = first < grants.size
        first_c = np.minimum(first, grants.size - 1)
        self.usable = has & (grants[first_c] < end)
        lengths = kills - grants
        before = np.concatenate(([0.0], np.cumsum(lengths)))

        def covered(x):
            j = np.searchsorted(grants, x, side="right") - 1
            jc = np.maximum(j, 0)
            return np.where(j >= 0, before[jc] + np.clip(x - grants[jc], 0.0, lengths[jc]), 0.0)

        # Billed seconds count the whole tick, the last one too (it is the finishing tick if used at all),
        # so that a later deadline never makes a tick dearer.
        inside = np.clip(covered(start + tick_s) - covered(start), 0.0, tick_s)
        self.spot_s = np.where(self.usable, inside, 0.0)
        # pid[t]: the period spanning the instant between ticks t and t+1 (-1: none). A lifetime started in
        # tick t carries into t+1 if there is one; one alive at tick t's start only if it is its own period.
        boundary = start + tick_s
        j = np.searchsorted(grants, boundary, side="left") - 1
        jc = np.maximum(j, 0)
        self.carries = (j >= 0) & (kills[jc] > boundary) & (np.arange(n) < n - 1)
        pid = np.where(self.carries, jc, -1)
        self.holds = self.carries & np.concatenate(([False], pid[1:] == pid[:-1]))
        # run_end[t]: the last boundary one period spans from the boundary after tick t on (t - 1: none).
        run_end = np.arange(n) - 1
        for t in range(n - 1, -1, -1):
            if self.carries[t]:
                run_end[t] = run_end[t + 1] if t + 1 < n and self.holds[t + 1] else t
        self.run_end = run_end
        if free_within_s > 0:
            self.free = self.usable & (kills[first_c] < end + free_within_s)
            self.free_carries = self.carries & (kills[jc] < boundary + free_within_s)
        else:
            self.free = self.free_carries = no

    def one_period(self, t0: int, t: int) -> bool:
        """One period spans every boundary from the one after tick t0 to the one before tick t (t > t0)."""
        return bool(self.carries[t0]) and self.run_end[t0] >= t - 1


def _window_min(a: np.ndarray, w: int, step: float):
    """out[p] = min over g in 0..w, g <= p, of a[p-g] + step*g, and the smallest g attaining it (by doubling)."""
    out = a.copy()
    arg = np.zeros(a.shape, np.int16)
    span = 1
    while 2 * span <= w + 1:
        _shift_min(out, arg, span, step)
        span *= 2
    if w + 1 > span:
        _shift_min(out, arg, w + 1 - span, step)
    return out, arg


def _shift_min(out, arg, k, step):
    """In place: out[p] = min(out[p], out[p-k] + step*k), arg following."""
    if k >= out.size:
        return
    cand = out[:-k] + step * k
    better = cand < out[k:]
    moved = arg[:-k] + k
    np.copyto(out[k:], cand, where=better)
    np.copyto(arg[k:], moved, where=better)


def _take(a: np.ndarray, i: int, j: int, fill=np.inf) -> np.ndarray:
    """A copy of a[i:j], `fill` where the index falls outside a."""
    out = np.full(j - i, fill, a.dtype)
    lo, hi = max(i, 0), min(j, a.size)
    if lo < hi:
        out[lo - i:hi - i] = a[lo:hi]
    return out


def _start_groups(c: int, m: int):
    """A Spot start with changeover c, by its gain g (0..m) in the tick its changeover ends: the lifetime has
    j = c + g - r*m quanta (1..m) in its first tick, r ticks before. Groups (r, g_lo, g_hi) of equal r."""
    out = []
    for r in range(math.ceil((c + m) / m)):
        g_lo, g_hi = max(0, r * m + 1 - c), min(m, (r + 1) * m - c)
        if g_lo <= g_hi:
            out.append((r, g_lo, g_hi))
    return tuple(out)


def _finish_starts(c: int, m: int):
    """A Spot start whose changeover ends in the tick the work completes, r >= 1 ticks after its first:
    (r, j, d) with j quanta in its first tick and d (1..m) of the changeover in the last."""
    out = []
    r = 1
    while c - (r - 1) * m - 1 >= 1:
        for j in range(max(1, c - r * m), min(m, c - (r - 1) * m - 1) + 1):
            out.append((r, j, c - j - (r - 1) * m))
        r += 1
    return tuple(out)


NEW_OF = {SPOT: SPOT_NEW, FREE: FREE_NEW}
CODE_KINDS = 4
"""Spot back-pointer kinds: carried from a lifetime new or continuing in the tick before, a start with
progress (family 1) or with none (family 0); code = kind * (m + 1) + gain."""


class _Solver:
    """The dynamic programme: values per (mode, progress) after each tick, back-pointers, the best finish.

    After tick t only progress in a band [lo, hi] matters: at most m quanta a tick so far, and enough that
    the ticks left can still finish; the work of a tick is proportional to the band, not to the need.
    """

    def __init__(self, grid: _Grid, costs: Costs, q: float, m: int, need: int):
        self.g, self.q, self.m, self.need = grid, q, m, need
        self.sp = costs.spot_per_h / 3600.0          # $ per billed Spot second
        self.odq = costs.ondemand_per_h / 3600.0 * q  # $ per on-demand quantum
        # Changeover per family: 0 = a lifetime starting with no progress, 1 = with progress.
        self.c = (math.floor(costs.startup_s / q), math.floor((costs.startup_s + costs.restore_s) / q))
        # On-demand starts fill whole ticks first: the ticks a start occupies before gaining, and the
        # changeover quanta in its last tick.
        self.span = tuple(max(1, math.ceil(ci / m)) for ci in self.c)
        self.rest = tuple(ci - (s - 1) * m for ci, s in zip(self.c, self.span))
        self.start_od_cost = tuple((s - 1) * m * self.odq for s in self.span)
        self.groups = tuple(_start_groups(ci, m) for ci in self.c)
        self.finishes = tuple(_finish_starts(ci, m) for ci in self.c)
        n = grid.n
        self.spot_before = np.concatenate(([0.0], np.cumsum(grid.spot_s)))
        self.band = [(max(0, need - (n - 1 - t) * m), min(need - 1, (t + 1) * m)) for t in range(n)]
        deepest = max([r for gr in self.groups for r, _, _ in gr] + [r for f in self.finishes for r, _, _ in f])
        self.keep = max(max(self.span), deepest + 1) + 1
        self.code_dtype = np.int8 if CODE_KINDS * (m + 1) <= 127 else np.int16

    def _spot_mid(self, t0: int, t: int) -> float:
        """Spot seconds of ticks t0+1 .. t (the ticks of a lifetime after its first, up to t)."""
        return float(self.spot_before[t + 1] - self.spot_before[t0 + 1])

    def _first_bill(self, t0: int, j):
        """Seconds billed in a lifetime's first tick when it holds j quanta of it."""
        return np.minimum(self.g.spot_s[t0], np.asarray(j) * self.q)

    def solve(self) -> Schedule:
        g, m, N = self.g, self.m, self.need
        inf = np.full(N, np.inf)
        init = inf.copy()
        init[0] = 0.0
        history = {-1: init}                 # best value over modes after tick t (t = -1: before submission)
        self.best_mode = {}                  # tick -> argmin mode over the band
        self.code = {k: {} for k in (ONDEMAND, SPOT_NEW, SPOT, FREE_NEW, FREE)}
        VO = inf
        carry = {SPOT: None, FREE: None}     # (lo, values, kind) of Spot lifetimes alive at the tick's start
        self.carry_kind = {SPOT: {}, FREE: {}}
        best = None                          # (cost, finish_s, route)
        for t in range(g.n):
            prev = history[t - 1]
            if (t + 1) * m >= N:
                fin = self._finish(t, VO, carry, history)
                if fin is not None and (best is None or fin[0] < best[0] - 1e-9 * max(1.0, abs(best[0]))):
                    best = fin
            lo, hi = self.band[t]
            value = prev.copy()
            if lo > hi:                      # nothing left unfinished can still finish
                history[t] = value
                VO = inf
                carry = {SPOT: None, FREE: None}
                continue
            mode = np.zeros(hi + 1 - lo, np.int8)
            band = value[lo:hi + 1]
            starts = [history.get(t - s) for s in self.span]
            NO, self.code[ONDEMAND][t] = self._ondemand(VO, starts, lo, hi, self.code_dtype)
            news = [(ONDEMAND, NO)]
            states = self._spot(t, carry, history, lo, hi)
            for k, (vals, code) in states.items():
                self.code[k][t] = code
                news.append((k, vals))
            VO = inf.copy()
            VO[lo:hi + 1] = NO
            carry = {mk: self._carry(t, mk, lo, states.get(NEW_OF[mk]), states.get(mk)) for mk in (SPOT, FREE)}
            for k, arr in news:
                better = arr < band
                np.copyto(band, arr, where=better)
                mode[better] = k
            history[t] = value
            self.best_mode[t] = mode
            history.pop(t - self.keep, None)
        if best is None:
            return INFEASIBLE
        return self._schedule(best)

    def _carry(self, t, market, lo, new, cont):
        """What a lifetime of `market` alive at the end of tick t carries into t+1: from a lifetime new in
        tick t if a period spans the boundary (free: a period that makes it free), from one alive at the
        tick's start if its own period does. (lo, values, kind: 0 new, 1 continuing) over tick t's band,
        or None."""
        g = self.g
        ok_new = g.free_carries[t] if market == FREE else g.carries[t]
        src_new = new[0] if new is not None and ok_new else None
        src_cont = cont[0] if cont is not None and g.holds[t] else None
        if src_new is None and src_cont is None:
            return None
        if src_cont is None:
            values, kind = src_new, np.zeros(src_new.size, np.int8)
        elif src_new is None:
            values, kind = src_cont, np.ones(src_cont.size, np.int8)
        else:
            kind = (src_cont < src_new).astype(np.int8)
            values = np.minimum(src_new, src_cont)
        if (t + 2) * self.m >= self.need:    # the work can complete in tick t+1: keep the kind for the schedule
            self.carry_kind[market][t] = (lo, kind)
        return lo, values, kind

    # -- transitions over the band [lo, hi] ------------------------------------------------
    def _ondemand(self, VO, starts, lo, hi, dtype):
        m, odq = self.m, self.odq
        s0 = max(0, lo - m)
        value, gain = _window_min(VO[s0:hi + 1], m, odq)   # carry on: k = gain quanta
        value, code = value[lo - s0:], gain[lo - s0:].astype(dtype)
        B0, B1 = starts
        if B1 is not None:                                 # start with progress: k = rest + gain
            d = self.rest[1]
            src = B1[s0:hi + 1].copy()
            if s0 == 0:
                src[0] = np.inf
            v1, g1 = _window_min(src, m - d, odq)
            v1, g1 = v1[lo - s0:], g1[lo - s0:]
            v1 += odq * d + self.start_od_cost[1]
            better = v1 < value
            np.copyto(value, v1, where=better)
            np.copyto(code, ((m + 1) + g1).astype(dtype), where=better)
        if B0 is not None and np.isfinite(B0[0]):          # first start: progress = gain
            d = self.rest[0]
            top = min(m - d, hi)
            if top >= lo:
                gains = np.arange(lo, top + 1)
                v0 = B0[0] + self.start_od_cost[0] + odq * (d + gains)
                part = value[:top + 1 - lo]
                better = v0 < part
                np.copyto(part, v0, where=better)
                np.copyto(code[:top + 1 - lo], (2 * (m + 1) + gains).astype(dtype), where=better)
        return value, code

    def _start_allowed(self, market, t0, t):
        """Whether a Spot start first in tick t0 whose changeover ends in tick t runs as `market`."""
        g = self.g
        if t0 == t:
            return bool(g.free[t]) if market == FREE else bool(g.usable[t] and not g.free_carries[t])
        if not g.one_period(t0, t):
            return False
        return bool(g.free_carries[t0]) == (market == FREE)

    def _spot(self, t, carry, history, lo, hi):
        """Values and codes over the band of the Spot modes after tick t (new and continuing, billed and free)."""
        g, m = self.g, self.m
        width = hi + 1 - lo
        out = {}
        if not g.usable[t]:                  # no start, and nothing carried: a carry needs a period here
            return out
        for market in (SPOT, FREE):
            price = self.sp if market == SPOT else 0.0
            states = {k: [np.full(width, np.inf), np.zeros(width, self.code_dtype)]
                      for k in (NEW_OF[market], market)}
            src = carry[market]
            if src is not None:
                lo_c, vals, kind = src
                states[market][0][:] = _take(vals, lo - m - lo_c, hi + 1 - m - lo_c) + price * g.spot_s[t]
                states[market][1][:] = _take(kind, lo - m - lo_c, hi + 1 - m - lo_c, 0) * (m + 1)
            for fam in (1, 0):
                for r, g_lo, g_hi in self.groups[fam]:
                    t0 = t - r
                    if t0 < 0 or not self._start_allowed(market, t0, t):
                        continue
                    B = history.get(t0 - 1)
                    if B is None:
                        continue
                    gains = np.arange(g_lo, g_hi + 1)
                    if price:
                        first = self._first_bill(t0, self.c[fam] + gains - r * m)
                        cost = price * (first + (self._spot_mid(t0, t) if r else 0.0))
                    else:
                        cost = np.zeros(gains.size)
                    target = states[NEW_OF[market] if r == 0 else market]
                    kind = 2 if fam == 1 else 3
                    if fam == 1:
                        vals, gain = _group_min(B, lo, hi, g_lo, g_hi, cost)
                    else:
                        vals, gain = np.full(width, np.inf), np.zeros(width, np.int64)
                        if np.isfinite(B[0]):
                            for gi, c in zip(gains, cost):
                                if lo <= gi <= hi:
                                    vals[gi - lo], gain[gi - lo] = B[0] + c, gi
                    better = vals < target[0]
                    np.copyto(target[0], vals, where=better)
                    np.copyto(target[1], (kind * (m + 1) + gain).astype(self.code_dtype), where=better)
            for k, (vals, code) in states.items():
                if np.isfinite(vals).any():
                    out[k] = (vals, code)
        return out

    def _finish(self, t, VO, carry, history):
        """The cheapest way to complete the work within tick t: (cost, finish_s, route), or None."""
        g, m, N, q = self.g, self.m, self.need, self.q
        cands = []   # (cost array, used quanta array, mode, route extra, progress before)

        def add(values, used, mode, extra, p):
            if values.size:
                cands.append((values, used, mode, extra, p))

        lo = max(0, N - m)
        p = np.arange(lo, N)
        add(VO[lo:] + self.odq * (N - p), N - p, ONDEMAND, None, p)
        for market in (SPOT, FREE):
            src = carry[market]
            if src is not None:
                used = N - p
                bill = self.sp * np.minimum(used * q, g.spot_s[t]) if market == SPOT else 0.0
                add(_take(src[1], lo - src[0], N - src[0]) + bill, used, market, None, p)
        for fam in (0, 1):
            c = self.c[fam]
            # On-demand start (its changeover fills whole ticks first).
            B = history.get(t - self.span[fam])
            if B is not None:
                d = self.rest[fam]
                pp = self._finish_progress(N - (m - d), fam)
                if pp.size:
                    used = d + N - pp
                    add(B[pp] + self.start_od_cost[fam] + self.odq * used, used, ONDEMAND, ("od", fam), pp)
            # Spot start in this tick.
            B = history.get(t - 1)
            pp = self._finish_progress(N - (m - c), fam)
            if pp.size:
                used = c + N - pp
                for market in (SPOT, FREE):
                    if self._start_allowed(market, t, t):
                        bill = self.sp * np.minimum(used * q, g.spot_s[t]) if market == SPOT else 0.0
                        add(B[pp] + bill, used, market, ("spot", fam, 0, m), pp)
            # Spot start in an earlier tick whose changeover ends in this one.
            for r, j, d in self.finishes[fam]:
                t0 = t - r
                if t0 < 0:
                    continue
                B = history.get(t0 - 1)
                pp = self._finish_progress(N - (m - d), fam)
                if B is None or not pp.size:
                    continue
                used = d + N - pp
                for market in (SPOT, FREE):
                    if self._start_allowed(market, t0, t):
                        if market == SPOT:
                            bill = self.sp * (self._first_bill(t0, j) + self._spot_mid(t0, t - 1)
                                              + np.minimum(used * q, g.spot_s[t]))
                        else:
                            bill = 0.0
                        add(B[pp] + bill, used, market, ("spot", fam, r, j), pp)
        best = cheapest_finish(cands)
        if best is None:
            return None
        cost, used, (mode, extra, pp), i = best
        return cost, t * g.tick_s + used * q, (t, mode, extra, int(pp[i]), used)

    def _finish_progress(self, lowest, fam):
        """Progress before a start that can finish in its tick: from `lowest` up (family 1: at least 1;
        family 0: exactly 0)."""
        N = self.need
        if fam == 0:
            return np.arange(0, 1) if lowest <= 0 else np.arange(0)
        return np.arange(max(lowest, 1), N)

    # -- the schedule -----------------------------------------------------------------------
    def _schedule(self, best) -> Schedule:
        g, m, q = self.g, self.m, self.q
        cost, finish, (t, mode, extra, p, used) = best
        ticks = []   # (tick, mode, billed seconds, start time if it starts a lifetime), latest first
        if mode == ONDEMAND:
            billed = used * q
        elif mode == SPOT:
            billed = min(used * q, float(g.spot_s[t]))
        else:
            billed = 0.0
        if extra is None:
            ticks.append((t, mode, billed, None))
            state = (t - 1, self._carried_mode(t, mode, p), p)
        elif extra[0] == "od":
            state = self._od_start_ticks(ticks, t, extra[1], p, billed)
        else:
            _, fam, r, j = extra
            state = self._spot_start_ticks(ticks, t, mode, r, j, p, billed)
        while state[0] >= 0:
            t, mode, p = state
            if mode == IDLE:
                ticks.append((t, IDLE, 0.0, None))
                state = (t - 1, self._mode_before(t, p), p)
                continue
            code = int(self.code[mode][t][p - self.band[t][0]])
            kind, gain = divmod(code, m + 1)
            if mode == ONDEMAND:
                if kind == 0:
                    ticks.append((t, mode, gain * q, None))
                    state = (t - 1, mode, p - gain)
                else:
                    fam = 1 if kind == 1 else 0
                    state = self._od_start_ticks(ticks, t, fam, p - gain, (self.rest[fam] + gain) * q)
                continue
            market = SPOT if mode in (SPOT, SPOT_NEW) else FREE
            if kind in (0, 1):
                ticks.append((t, mode, float(g.spot_s[t]) if market == SPOT else 0.0, None))
                state = (t - 1, NEW_OF[market] if kind == 0 else market, p - m)
                continue
            fam = 1 if kind == 2 else 0
            c = self.c[fam]
            r = math.ceil((c + gain) / m) - 1
            j = c + gain - r * m
            if r == 0:
                billed = float(self._first_bill(t, j)) if market == SPOT else 0.0
            else:
                billed = float(g.spot_s[t]) if market == SPOT else 0.0
            state = self._spot_start_ticks(ticks, t, market, r, j, p - gain, billed)
        ticks.reverse()
        return self._summarise(ticks, cost, min(finish, g.horizon_s))

    def _carried_mode(self, t, market, p):
        """The mode in tick t-1 of a lifetime carried into tick t (finishing in it)."""
        if market == ONDEMAND:
            return ONDEMAND
        lo, kinds = self.carry_kind[market][t - 1]
        kind = int(kinds[p - lo])
        return NEW_OF[market] if kind == 0 else market

    def _mode_before(self, t, p):
        return int(self.best_mode[t - 1][p - self.band[t - 1][0]]) if t >= 1 else IDLE

    def _od_start_ticks(self, ticks, t, fam, p_start, billed_last):
        """Record an on-demand lifetime's first ticks (the changeover, whole ticks first) ending at tick t."""
        m, q = self.m, self.q
        t0 = t - self.span[fam] + 1
        ticks.append((t, ONDEMAND, billed_last, t * self.g.tick_s if t0 == t else None))
        for u in range(t - 1, t0 - 1, -1):
            ticks.append((u, ONDEMAND, m * q, u * self.g.tick_s if u == t0 else None))
        return (t0 - 1, self._mode_before(t0, p_start), p_start)

    def _spot_start_ticks(self, ticks, t, market, r, j, p_start, billed_last):
        """Record a Spot lifetime's ticks from its first (holding j quanta of it, r ticks before t) to t."""
        g, q = self.g, self.q
        market = SPOT if market in (SPOT, SPOT_NEW) else FREE
        t0 = t - r
        begin = (t0 + 1) * g.tick_s - j * q
        if r == 0:
            ticks.append((t, NEW_OF[market], billed_last, begin))
        else:
            ticks.append((t, market, billed_last, None))
            for u in range(t - 1, t0, -1):
                ticks.append((u, market, float(g.spot_s[u]) if market == SPOT else 0.0, None))
            ticks.append((t0, NEW_OF[market], float(self._first_bill(t0, j)) if market == SPOT else 0.0, begin))
        return (t0 - 1, self._mode_before(t0, p_start), p_start)

    def _summarise(self, ticks, cost, finish) -> Schedule:
        g = self.g
        spot_s = float(sum(b for _, mode, b, _ in ticks if mode not in (IDLE, ONDEMAND)))
        od_s = float(sum(b for _, mode, b, _ in ticks if mode == ONDEMAND))
        lives = []   # [begin, last tick, mode, billed seconds in last tick]
        for t, mode, billed, begin in ticks:
            if mode == IDLE:
                continue
            if begin is not None or not lives or lives[-1][1] != t - 1:
                lives.append([t * g.tick_s if begin is None else begin, t, mode, billed])
            else:
                lives[-1][1], lives[-1][3] = t, billed
        segments = []
        for i, (begin, t1, mode, billed) in enumerate(lives):
            if i == len(lives) - 1:
                end = finish
            elif mode == ONDEMAND:
                end = t1 * g.tick_s + billed
            else:
                end = (t1 + 1) * g.tick_s
            segments.append((min(begin, g.horizon_s), min(end, g.horizon_s), MARKETS[mode]))
        switches = sum(1 for a, b in itertools.pairwise(segments) if a[2] != b[2])
        return Schedule(True, cost, spot_s, od_s, finish, switches, len(lives), tuple(segments))


def cheapest_finish(cands):
    """The cheapest of the candidate finishes of a tick, each (values, used, *route) with arrays over
    progress: (cost, quanta used, route, index), ties (to 1e-9 relative) to the fewest quanta used, so
    to the earlier finish; None when no candidate is finite."""
    best = None
    for values, used, *route in cands:
        i = int(np.argmin(values))
        cost = float(values[i])
        if not math.isfinite(cost):
            continue
        ties = np.flatnonzero(values <= cost + 1e-9 * max(1.0, abs(cost)))
        i = int(ties[np.argmin(used[ties])])
        key = (float(values[i]), int(used[i]))
        if best is None or key[0] < best[0] - 1e-9 * max(1.0, abs(best[0])) or (
                key[0] <= best[0] + 1e-9 * max(1.0, abs(best[0])) and key[1] < best[1]):
            best = (key[0], key[1], route, i)
    return best


def _group_min(B: np.ndarray, lo: int, hi: int, g_lo: int, g_hi: int, cost: np.ndarray):
    """out[p - lo] = min over g in g_lo..g_hi of B[p - g] + cost[g - g_lo] for p in lo..hi (progress before a
    start at least 1), and a g attaining it."""
    src = _take(B, lo - g_hi, hi - g_lo + 1)
    if lo - g_hi <= 0 <= hi - g_lo:
        src[-(lo - g_hi)] = np.inf
    w = g_hi - g_lo
    steps = np.diff(cost)
    if w >= 2 and np.allclose(steps, steps[0], rtol=0.0, atol=1e-15):   # linear in g: by doubling
        out, arg = _window_min(src, w, float(steps[0]))
        return out[w:] + cost[0], g_lo + arg[w:].astype(np.int64)
    win = np.lib.stride_tricks.sliding_window_view(src, w + 1)   # row p, column: g = g_hi - col
    vals = win + cost[::-1]
    col = np.argmin(vals, axis=1)
    rows = np.arange(vals.shape[0])
    return vals[rows, col], g_hi - col
