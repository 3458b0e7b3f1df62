"""The cheapest schedule in hindsight for a job with a deadline: the floor every deadline policy is measured against.

Given when Spot was usable over the window (the whole future, as Can't Be
Late's "omniscient" policy has it), find the cheapest way to finish the work by
the deadline using Spot, on-demand and idle time.

The model is a relaxation of the simulator's, so its cost is a lower bound on
what a continuous-time policy pays under the same rules (start-up and restore
per VM lifetime, per-second billing):

- Time is cut in ticks of `tick_s` from submission; the last tick may be partial
  and still counts in full. Each tick the job is in one mode: idle, on-demand,
  Spot, or free Spot.
- Progress is counted in quanta of `quantum_s` (default about 15 s, a whole
  fraction of the tick: m quanta a tick). The work needs floor(work/quantum)
  quanta.
- A VM lifetime starts on entering on-demand or Spot from idle, from the other
  market, or when the Spot lifetime cannot go on; it first pays a changeover of
  floor(changeover/quantum) quanta (changeover = start-up + restore, or start-up
  alone while there is no progress), billed but gaining nothing. A changeover
  longer than a tick fills whole ticks first (each billed in full) and ends in
  a later tick.
- Spot is usable in a tick if any part of the tick before the deadline is
  inside a period; the tick then gains all m quanta but is billed only for its
  seconds inside periods (over the whole tick, the last one included). A
  Spot lifetime carries into the next tick only if one period spans the
  boundary instant; otherwise Spot in the next tick is a new lifetime.
- Free Spot: a Spot lifetime started in a tick whose period is killed less than
  `free_if_preempted_within_s` after the end of that tick (its latest start)
  costs nothing for its whole life, however it ends.
- On-demand is always usable, for any whole number k of quanta in a tick
  (k at least what is left of the changeover), billed for k quanta.
- In the tick where the work completes only the quanta used are billed (on Spot
  no more than the tick's seconds inside periods); the finish time is the
  tick's start plus the quanta used.
- No periodic checkpoint writes, no lost work, no notice windows, no minimum
  billing.

One rule can bill more than a continuous policy: a Spot lifetime pays from the
start of its first tick, where a policy might start later in that tick. The
whole tick's progress that comes with it pays for this, except where the work
it saves later would have been free (AWS's rule) or capped at a finishing
tick's Spot seconds.

The optimum is a dynamic programme over ticks with state (mode, progress),
vectorised over progress with numpy, with compact per-tick back-pointers (int8
per tick, mode and progress) for the schedule. It is exact for this model,
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

IDLE, ONDEMAND, SPOT, FREE = 0, 1, 2, 3
MARKETS = {ONDEMAND: "ondemand", SPOT: "spot", FREE: "spot"}
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
    tick-aligned at the start, clipped to the horizon; `switches` counts
    consecutive lifetimes on different markets.
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
    """Per-tick facts of the window: Spot usable, billable Spot seconds, boundary carried, start free."""

    def __init__(self, window: Window, tick_s: float, free_within_s: float):
        horizon = float(window.horizon_s)
        self.tick_s, self.horizon_s = tick_s, horizon
        n = math.ceil(horizon / tick_s)
        self.n = n
        start = np.arange(n) * tick_s
        end = np.minimum(start + tick_s, horizon)
        grants = np.array([g for g, _ in window.periods], dtype=float)
        kills = np.array([k for _, k in window.periods], dtype=float)
        if grants.size == 0:
            self.usable = np.zeros(n, bool)
            self.spot_s = np.zeros(n)
            self.carries = np.zeros(n, bool)
            self.free = np.zeros(n, bool)
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
        # carries[t]: one period spans the instant between ticks t and t+1.
        boundary = start + tick_s
        j = np.searchsorted(grants, boundary, side="left") - 1
        jc = np.maximum(j, 0)
        self.carries = (j >= 0) & (kills[jc] > boundary) & (np.arange(n) < n - 1)
        if free_within_s > 0:
            self.free = self.usable & (kills[first_c] < end + free_within_s)
        else:
            self.free = np.zeros(n, bool)


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
        c = (math.floor(costs.startup_s / q), math.floor((costs.startup_s + costs.restore_s) / q))
        self.span = tuple(max(1, math.ceil(ci / m)) for ci in c)      # ticks a start occupies before gaining
        self.rest = tuple(ci - (s - 1) * m for ci, s in zip(c, self.span))  # changeover quanta in its last tick
        n = grid.n
        carried = np.concatenate(([0], np.cumsum(grid.carries[:-1].astype(np.int64))))
        spot_before = np.concatenate(([0.0], np.cumsum(grid.spot_s)))
        # Per family and final tick t of a start (first tick t0 = t - span + 1): can it run, is it free,
        # what its ticks before t cost on each market.
        self.start_ok, self.start_free, self.start_spot_cost = [], [], []
        ticks = np.arange(n)
        for s in self.span:
            t0 = ticks - s + 1
            t0c = np.maximum(t0, 0)
            if s == 1:
                ok = grid.usable.copy()
            else:
                ok = (t0 >= 0) & (carried[ticks] - carried[t0c] == s - 1)
            self.start_ok.append(ok)
            self.start_free.append(ok & grid.free[t0c] & (t0 >= 0))
            self.start_spot_cost.append(self.sp * (spot_before[ticks] - spot_before[t0c]))
        self.start_od_cost = tuple((s - 1) * m * self.odq for s in self.span)
        self.band = [(max(0, need - (n - 1 - t) * m), min(need - 1, (t + 1) * m)) for t in range(n)]

    def solve(self) -> Schedule:
        g, m, N = self.g, self.m, self.need
        inf = np.full(N, np.inf)
        init = inf.copy()
        init[0] = 0.0
        history = {-1: init}                 # best value over modes after tick t (t = -1: before submission)
        self.best_mode = {}                  # tick -> argmin mode over the band
        self.code = {ONDEMAND: {}, SPOT: {}, FREE: {}}
        VO, VS, VF = inf, inf, inf
        keep = max(self.span) + 1
        best = None                          # (cost, finish_s, route)
        code_dtype = np.int8 if 3 * (m + 1) <= 127 else np.int16
        for t in range(g.n):
            prev = history[t - 1]
            starts = [history.get(t - s) for s in self.span]  # value before each family's first tick
            fin = self._finish(t, VO, VS, VF, starts)
            if fin is not None and (best is None or fin[0] < best[0] - 1e-9 * max(1.0, abs(best[0]))):
                best = fin
            lo, hi = self.band[t]
            value = prev.copy()
            if lo > hi:                      # nothing left unfinished can still finish
                history[t] = value
                VO = VS = VF = inf
                continue
            mode = np.zeros(hi + 1 - lo, np.int8)
            band = value[lo:hi + 1]
            NO, self.code[ONDEMAND][t] = self._ondemand(VO, starts, lo, hi, code_dtype)
            news = [(ONDEMAND, NO)]
            if g.usable[t]:
                NS, NF, self.code[SPOT][t], self.code[FREE][t] = self._spot(t, VS, VF, starts, lo, hi)
                news += [(SPOT, NS), (FREE, NF)]
            VO, VS, VF = inf.copy(), inf, inf
            VO[lo:hi + 1] = NO
            if g.usable[t]:
                VS, VF = inf.copy(), inf.copy()
                VS[lo:hi + 1], VF[lo:hi + 1] = NS, NF
            for k, arr in news:
                better = arr < band
                np.copyto(band, arr, where=better)
                mode[better] = k
            history[t] = value
            self.best_mode[t] = mode
            history.pop(t - keep, None)
        if best is None:
            return INFEASIBLE
        return self._schedule(best)

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

    def _spot(self, t, VS, VF, starts, lo, hi):
        g, m = self.g, self.m
        bill = self.sp * g.spot_s[t]
        width = hi + 1 - lo
        out = {}
        carry = t >= 1 and g.carries[t - 1]
        for mode, V, price in ((SPOT, VS, bill), (FREE, VF, 0.0)):
            value = np.full(width, np.inf)
            if carry:
                a = max(lo, m)
                if a <= hi:
                    value[a - lo:] = V[a - m:hi + 1 - m] + price
            out[mode] = [value, np.zeros(width, np.int8)]
        for fam in (1, 0):
            B = starts[fam]
            if B is None or not self.start_ok[fam][t]:
                continue
            mode = FREE if self.start_free[fam][t] else SPOT
            extra = 0.0 if mode == FREE else self.start_spot_cost[fam][t] + bill
            value, code = out[mode]
            shift = m - self.rest[fam]
            if fam == 1:
                a = max(lo, 1 + shift)               # destination p = p_start + shift, p_start >= 1
                if a <= hi:
                    cand = B[a - shift:hi + 1 - shift] + extra
                    better = cand < value[a - lo:]
                    np.copyto(value[a - lo:], cand, where=better)
                    code[a - lo:][better] = 1
            elif lo <= shift <= hi and B[0] + extra < value[shift - lo]:
                value[shift - lo] = B[0] + extra
                code[shift - lo] = 2
        return out[SPOT][0], out[FREE][0], out[SPOT][1], out[FREE][1]

    def _finish(self, t, VO, VS, VF, starts):
        """The cheapest way to complete the work within tick t: (cost, finish_s, route), or None."""
        g, m, N, q = self.g, self.m, self.need, self.q
        cands = []   # (cost array, used quanta array, mode, family or None, progress before)

        def add(values, used, mode, fam, p):
            if values.size:
                cands.append((values, used, mode, fam, p))

        lo = max(0, N - m)
        p = np.arange(lo, N)
        add(VO[lo:] + self.odq * (N - p), N - p, ONDEMAND, None, p)
        if g.usable[t] and t >= 1 and g.carries[t - 1]:
            used = N - p
            add(VS[lo:] + self.sp * np.minimum(used * q, g.spot_s[t]), used, SPOT, None, p)
            add(VF[lo:] + 0.0, used, FREE, None, p)
        for fam in (0, 1):
            B = starts[fam]
            if B is None:
                continue
            d = self.rest[fam]
            lo_f = max(N - (m - d), 1 if fam == 1 else 0)
            if fam == 1:
                p = np.arange(lo_f, N)
            else:
                p = np.arange(0, 1) if lo_f <= 0 else np.arange(0)
            if not p.size:
                continue
            used = d + N - p
            base = B[p]
            add(base + self.start_od_cost[fam] + self.odq * used, used, ONDEMAND, fam, p)
            if self.start_ok[fam][t]:
                if self.start_free[fam][t]:
                    add(base + 0.0, used, FREE, fam, p)
                else:
                    bill = self.sp * np.minimum(used * q, g.spot_s[t])
                    add(base + self.start_spot_cost[fam][t] + bill, used, SPOT, fam, p)
        best = None
        for values, used, mode, fam, p in cands:
            i = int(np.argmin(values))
            cost = float(values[i])
            if not math.isfinite(cost):
                continue
            ties = np.flatnonzero(values <= cost + 1e-9 * max(1.0, abs(cost)))
            i = int(ties[np.argmin(used[ties])])
            key = (float(values[i]), int(used[i]))
            if best is None or key[0] < best[0] - 1e-9 * max(1.0, abs(best[0])) or (
                    key[0] <= best[0] + 1e-9 * max(1.0, abs(best[0])) and key[1] < best[1]):
                best = (key[0], key[1], (mode, fam, int(p[i]), int(used[i])))
        if best is None:
            return None
        cost, used, route = best
        return cost, t * g.tick_s + used * q, (t,) + route

    # -- the schedule -----------------------------------------------------------------------
    def _schedule(self, best) -> Schedule:
        g, m, q = self.g, self.m, self.q
        cost, finish, (t, mode, fam, p, used) = best
        ticks = []   # (tick, mode, billed seconds, starts a lifetime), latest first
        if mode == ONDEMAND:
            billed = used * q
        elif mode == SPOT:
            billed = min(used * q, float(g.spot_s[t]))
        else:
            billed = 0.0
        if fam is None:
            ticks.append((t, mode, billed, False))
            state = (t - 1, mode, p)
        else:
            state = self._start_ticks(ticks, t, mode, fam, p, billed)
        while state[0] >= 0:
            t, mode, p = state
            if mode == IDLE:
                ticks.append((t, IDLE, 0.0, False))
                state = (t - 1, self._mode_before(t, p), p)
                continue
            code = int(self.code[mode][t][p - self.band[t][0]])
            if mode == ONDEMAND:
                kind, gain = divmod(code, m + 1)
                if kind == 0:
                    ticks.append((t, mode, gain * q, False))
                    state = (t - 1, mode, p - gain)
                else:
                    fam = 1 if kind == 1 else 0
                    state = self._start_ticks(ticks, t, mode, fam, p - gain, (self.rest[fam] + gain) * q)
            else:
                billed = float(g.spot_s[t]) if mode == SPOT else 0.0
                if code == 0:
                    ticks.append((t, mode, billed, False))
                    state = (t - 1, mode, p - m)
                else:
                    fam = 1 if code == 1 else 0
                    state = self._start_ticks(ticks, t, mode, fam, p - (m - self.rest[fam]), billed)
        ticks.reverse()
        return self._summarise(ticks, cost, min(finish, g.horizon_s))

    def _mode_before(self, t, p):
        return int(self.best_mode[t - 1][p - self.band[t - 1][0]]) if t >= 1 else IDLE

    def _start_ticks(self, ticks, t, mode, fam, p_start, billed_last):
        """Record a lifetime's first ticks (the changeover) ending at tick t; the state before it."""
        g, m, q = self.g, self.m, self.q
        t0 = t - self.span[fam] + 1
        ticks.append((t, mode, billed_last, t0 == t))
        for u in range(t - 1, t0 - 1, -1):
            billed = m * q if mode == ONDEMAND else (float(g.spot_s[u]) if mode == SPOT else 0.0)
            ticks.append((u, mode, billed, u == t0))
        return (t0 - 1, self._mode_before(t0, p_start), p_start)

    def _summarise(self, ticks, cost, finish) -> Schedule:
        g = self.g
        spot_s = float(sum(b for _, mode, b, _ in ticks if mode in (SPOT, FREE)))
        od_s = float(sum(b for _, mode, b, _ in ticks if mode == ONDEMAND))
        lives = []   # [first tick, last tick, mode, billed seconds in last tick]
        for t, mode, billed, starts in ticks:
            if mode == IDLE:
                continue
            if starts or not lives or lives[-1][1] != t - 1:
                lives.append([t, t, mode, billed])
            else:
                lives[-1][1], lives[-1][3] = t, billed
        segments = []
        for i, (t0, t1, mode, billed) in enumerate(lives):
            begin = t0 * g.tick_s
            if i == len(lives) - 1:
                end = finish
            elif mode == ONDEMAND:
                end = t1 * g.tick_s + billed
            else:
                end = (t1 + 1) * g.tick_s
            segments.append((min(begin, g.horizon_s), min(end, g.horizon_s), MARKETS[mode]))
        switches = sum(1 for a, b in itertools.pairwise(segments) if a[2] != b[2])
        return Schedule(True, cost, spot_s, od_s, finish, switches, len(lives), tuple(segments))
