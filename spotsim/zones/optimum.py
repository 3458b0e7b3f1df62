"""The cheapest schedule over many zones in hindsight: the floor every zone policy is measured against.

Given every zone's Spot periods and prices over the window, find the cheapest
way to finish the work by the deadline using Spot in any zone, on-demand and
idle time, paying to move the checkpoint between regions. It is the model of
spotsim/hindsight.py (read its docstring: ticks, quanta, changeovers, new and
continuing lifetimes, the free-if-preempted rule, per-tick billing of Spot
seconds inside periods, the finishing tick) with a zone per Spot mode and the
checkpoint's region in the state:

- Each tick the job is idle, on on-demand, or on Spot in one zone z (a new or a
  continuing lifetime, billed or free); each zone's periods give its own usable
  ticks, billed seconds and carry-over rules, exactly as hindsight.py's do for
  its one zone. A Spot tick is billed at z's price of that tick
  (`price[z][t] * seconds`): a lifetime's first tick at its first tick's price.
- The checkpoint lives in a region. Before any progress there is none, so the
  first lifetime moves nothing, wherever it runs (the start region does not
  matter). A lifetime that starts with progress in a zone of region r2 while the
  checkpoint is in r1 != r2 moves it: its changeover is
  floor((start-up + restore + move_s[r1][r2]) / quantum) quanta (the transfer's
  extra quanta, billed and timed as the rest of the changeover) and it pays
  move_usd[r1][r2] of egress at its start (free Spot included: egress is not the
  VM's bill). A lifetime is a choice of the model only once its changeover is
  over (as in hindsight.py), so a move always completes; the checkpoint then
  lives in r2. Zones of one region share it (no move).
- On-demand runs in the checkpoint's region, in its zone with the lowest
  `ondemand_per_h` (moving within a region is free); before any progress, in any
  region. It never moves the checkpoint itself.

Exact for this model (tests/test_zones_optimum.py checks it against an
exhaustive search on tiny instances, and against hindsight_optimum for one
zone); like hindsight.py it is a relaxation of the simulator's continuous time
(its "How airtight" paragraph applies zone by zone), so its cost is a floor for
the zone policies on the same windows. Two things are relaxed beyond
hindsight.py's: the transfer is rounded down together with the changeover (at
most one quantum less than start-up + restore + transfer each rounded up); and
a lifetime killed after its transfer but before its restore ends is not a
choice (the model moves the checkpoint with the next lifetime instead, paying
the transfer there: no dearer, to the rounding of a quantum).

The programme is hindsight.py's (its helpers are reused), vectorised over the
band of progress that can still finish: per region, the best value over modes
with the checkpoint there; per region, on-demand; per zone, its Spot modes. A
Spot start with progress reads the best values of every region, merged per
target region over sources whose move costs the same changeover (the egress
added first), with the source region kept as a back-pointer. Time and memory
grow with the ticks times the band (the window's slack in quanta). Back-pointers
are int8 or int16 per tick, mode and progress; where they would exceed
`memory_mb`, the forward pass keeps none and snapshots its state every K ticks
instead (K balancing snapshots against K ticks of back-pointers), and the
backward pass recomputes one stretch at a time, with the same floating-point
operations: about 1.6x the time, memory bounded. benchmarks/bench_zones_optimum.py
has the figures (nine V100 zones: about 1 s for 60 h windows; a 1,000 h window
with 800 h of work takes minutes and about 1 GB at 15 s quanta).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import SpotsimError
from ..hindsight import (FREE, FREE_NEW, IDLE, NEW_OF, ONDEMAND, SPOT, SPOT_NEW, Window, _finish_starts, _Grid,
                         _start_groups, _take, _window_min, cheapest_finish, default_quantum)

MARKETS = {ONDEMAND: "ondemand", SPOT_NEW: "spot", SPOT: "spot", FREE_NEW: "spot", FREE: "spot"}
SPOT_MODES = (SPOT_NEW, SPOT, FREE_NEW, FREE)
KIND_FAM0 = 2
KIND_FAM1 = 3
"""Spot back-pointer kinds: 0/1 carried from a lifetime new/continuing in the tick before, 2 a start with no
progress, 3 + k a start with progress from source group k; code = kind * (m + 1) + gain."""


class ZonesError(SpotsimError, ValueError):
    """Input the optimum over zones cannot take."""


@dataclass(frozen=True)
class ZonesWindow:
    """Spot availability of each zone over a deadline window, seconds since the job's submission.

    `periods[z]` are zone z's (grant, kill) pairs as in hindsight.Window: Spot
    usable on [grant, kill), sorted and non-overlapping, 0 <= grant < kill,
    possibly past `horizon_s`, the deadline.
    """

    periods: tuple[tuple[tuple[float, float], ...], ...]
    horizon_s: float


@dataclass(frozen=True, eq=False)
class ZoneCosts:
    """What the job needs, what each zone charges and what moving the checkpoint costs.

    `spot_per_h[z]`: zone z's Spot price, flat ($/h) or per tick of the
    optimisation (price[i] over tick i from submission; at least as many as the
    window's ticks). `region[z]`: 0..R-1 (None: all zones in one region).
    `move_s[a][b]` / `move_usd[a][b]`: moving the checkpoint from region a to b,
    seconds beyond a same-region restore and egress dollars (None: free); the
    diagonal must be 0. The rest as hindsight.Costs.
    """

    work_s: float
    startup_s: float
    restore_s: float
    spot_per_h: Sequence
    ondemand_per_h: Sequence[float]
    region: Sequence[int] | None = None
    move_s: Sequence[Sequence[float]] | None = None
    move_usd: Sequence[Sequence[float]] | None = None
    free_if_preempted_within_s: float = 0.0


@dataclass(frozen=True)
class ZonesSchedule:
    """The optimum: its cost and where it goes, as hindsight.Schedule plus zones and moves.

    `segments` are the lifetimes in order as (start, end, "spot"|"ondemand",
    zone): a Spot lifetime's zone, or for on-demand the zone of the checkpoint's
    region whose on-demand price it pays. `zone_spot_s`/`zone_spot_usd`: billed
    Spot seconds and dollars per zone; `moves`: lifetimes that moved the
    checkpoint to another region, `transfer_s` the changeover seconds their
    transfers added (whole quanta), `egress_usd` their egress. cost_usd is the
    sum of Spot, on-demand and egress dollars.
    """

    feasible: bool
    cost_usd: float
    spot_s: float
    ondemand_s: float
    finish_s: float
    switches: int
    lifetimes: int
    segments: tuple[tuple[float, float, str, int], ...]
    zone_spot_s: tuple[float, ...] = ()
    zone_spot_usd: tuple[float, ...] = ()
    ondemand_usd: float = 0.0
    moves: int = 0
    transfer_s: float = 0.0
    egress_usd: float = 0.0


def infeasible(zones: int) -> ZonesSchedule:
    """The answer when no schedule finishes by the deadline."""
    return ZonesSchedule(False, math.inf, 0.0, 0.0, math.inf, 0, 0, (), (0.0,) * zones, (0.0,) * zones)


def trace_periods(replay, start_s: float, horizon_s: float) -> tuple[tuple[float, float], ...]:
    """The (grant, kill) periods a job submitted `start_s` seconds into a TraceReplay meets before `horizon_s`
    (seconds since submission; the replay wraps around the trace cyclically)."""
    out = []
    for life in replay.replay(start_s):
        if life.grant_at >= horizon_s:
            break
        out.append((float(life.grant_at), float(life.kill_at)))
        if math.isinf(life.kill_at):
            break
    return tuple(out)


def zones_optimum(window: ZonesWindow, costs: ZoneCosts, tick_s: float, quantum_s: float | None = None,
                  memory_mb: float = 256.0) -> ZonesSchedule:
    """The cheapest schedule over all zones and on-demand that finishes `costs.work_s` by `window.horizon_s`
    (see the module docstring); back-pointers beyond `memory_mb` are recomputed instead of kept."""
    if not tick_s > 0:
        raise ZonesError(f"tick_s must be positive, got {tick_s!r}")
    q = default_quantum(tick_s) if quantum_s is None else float(quantum_s)
    m = round(tick_s / q) if q > 0 else 0
    if m < 1 or not math.isclose(m * q, tick_s, rel_tol=1e-9):
        raise ZonesError(f"quantum_s must divide tick_s ({tick_s!r}) into a whole number of quanta, got {quantum_s!r}")
    inputs = _Inputs(window, costs, tick_s)
    need = math.floor(costs.work_s / q)
    if need <= 0:
        return ZonesSchedule(True, 0.0, 0.0, 0.0, 0.0, 0, 0, (), (0.0,) * inputs.zones, (0.0,) * inputs.zones)
    if inputs.n == 0:
        return infeasible(inputs.zones)
    return _Solver(inputs, q, m, need, memory_mb * 2**20).solve()


class _Inputs:
    """The checked inputs as arrays: per-zone grids and prices, regions, on-demand per region, moves."""

    def __init__(self, window: ZonesWindow, costs: ZoneCosts, tick_s: float):
        if not window.horizon_s >= 0:
            raise ZonesError(f"horizon_s must be >= 0, got {window.horizon_s!r}")
        zones = len(window.periods)
        if zones == 0:
            raise ZonesError("the window has no zones: give at least one zone's periods")
        for name in ("work_s", "startup_s", "restore_s", "free_if_preempted_within_s"):
            value = getattr(costs, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ZonesError(f"{name} must be finite and >= 0, got {value!r}")
        for z, periods in enumerate(window.periods):
            last = 0.0
            for grant, kill in periods:
                if not (grant >= last and kill > grant):
                    raise ZonesError(f"zone {z}'s periods must be sorted, non-overlapping, 0 <= grant < kill; "
                                     f"got {periods!r}")
                last = kill
        for name in ("spot_per_h", "ondemand_per_h") + (("region",) if costs.region is not None else ()):
            if len(getattr(costs, name)) != zones:
                raise ZonesError(f"{name} has {len(getattr(costs, name))} entries for {zones} zones: give one per zone")
        self.zones, self.tick_s, self.horizon_s = zones, tick_s, float(window.horizon_s)
        self.n = n = math.ceil(self.horizon_s / tick_s)
        self.free_s = float(costs.free_if_preempted_within_s)
        self.grids = [_Grid(Window(tuple(p), self.horizon_s), tick_s, self.free_s) for p in window.periods]
        price = np.zeros((zones, n))
        for z, p in enumerate(costs.spot_per_h):
            arr = np.asarray(p, dtype=float)
            if arr.ndim == 0:
                price[z] = float(arr)
            elif arr.ndim != 1 or arr.size < n:
                raise ZonesError(f"spot_per_h[{z}] has {arr.size} prices for a window of {n} ticks: give a flat "
                                 f"price or one per tick of the window")
            else:
                price[z] = arr[:n]
        if not (np.all(np.isfinite(price)) and np.all(price >= 0)):
            raise ZonesError("spot_per_h must be finite prices >= 0")
        od = np.asarray(costs.ondemand_per_h, dtype=float)
        if not (np.all(np.isfinite(od)) and np.all(od >= 0)):
            raise ZonesError("ondemand_per_h must be finite prices >= 0")
        region = np.zeros(zones, int) if costs.region is None else np.asarray(costs.region)
        if region.dtype.kind not in "iu" or region.min() < 0:
            raise ZonesError(f"region must give each zone a region index 0, 1, ...; got {costs.region!r}")
        R = int(region.max()) + 1
        if costs.move_s is not None or costs.move_usd is not None:
            R = max(R, len(costs.move_s if costs.move_s is not None else costs.move_usd))
        moves = []
        for name, v in (("move_s", costs.move_s), ("move_usd", costs.move_usd)):
            v = np.zeros((R, R)) if v is None else np.asarray(v, dtype=float)
            if v.shape != (R, R) or not np.all(np.isfinite(v)) or v.min() < 0 or np.any(np.diag(v) != 0):
                raise ZonesError(f"{name} must be a {R} x {R} matrix (regions 0..{R - 1}) of finite values >= 0 "
                                 f"with a zero diagonal")
            moves.append(v)
        # Regions with no zone can never hold the checkpoint: the solver numbers only those with zones.
        used = sorted(set(region.tolist()))
        self.R = len(used)
        self.move_s, self.move_usd = (v[np.ix_(used, used)] for v in moves)
        self.region = [used.index(int(r)) for r in region]
        self.price_s = price / 3600.0
        self.spot_s = np.stack([g.spot_s for g in self.grids]) if n else np.zeros((zones, 0))
        # On-demand runs in the checkpoint's region at its cheapest zone's price.
        self.od_zone = [min((z for z in range(zones) if self.region[z] == r), key=lambda z: (od[z], z))
                        for r in range(self.R)]
        self.od_per_s = [float(od[z]) / 3600.0 for z in self.od_zone]
        self.work_s, self.startup_s, self.restore_s = float(costs.work_s), float(costs.startup_s), float(costs.restore_s)


class _Zone:
    """One zone's grid as Python lists (read per tick in loops) and its Spot bills."""

    def __init__(self, grid: _Grid, price_s: np.ndarray, region: int):
        self.grid, self.region = grid, region
        self.usable = grid.usable.tolist()
        self.free = grid.free.tolist()
        self.free_carries = grid.free_carries.tolist()
        self.carries, self.holds = grid.carries, grid.holds
        self.spot_s = grid.spot_s
        self.price_s = price_s
        self.bill = price_s * grid.spot_s                        # $ of a tick held in full
        self.bill_before = np.concatenate(([0.0], np.cumsum(self.bill)))

    def allowed(self, market: int, t0: int, t: int) -> bool:
        """Whether a Spot start first in tick t0 whose changeover ends in tick t runs as `market`."""
        if t0 == t:
            return self.free[t] if market == FREE else (self.usable[t] and not self.free_carries[t])
        if not self.grid.one_period(t0, t):
            return False
        return self.free_carries[t0] == (market == FREE)

    def first_bill(self, t0: int, j, q: float):
        """Dollars of a lifetime's first tick when it holds j quanta of it."""
        return self.price_s[t0] * np.minimum(self.spot_s[t0], np.asarray(j) * q)

    def mid(self, t0: int, t: int) -> float:
        """Dollars of ticks t0+1 .. t held in full."""
        return float(self.bill_before[t + 1] - self.bill_before[t0 + 1])


def _get(pair, i: int, j: int, fill=np.inf) -> np.ndarray:
    """Progress i..j-1 of a band array pair (lo, a) holding progress lo.. (fill outside; None: all fill)."""
    if pair is None:
        return np.full(j - i, fill)
    return _take(pair[1], i - pair[0], j - pair[0], fill)


def _wmin(a: np.ndarray, w: int, step: float, rec: bool):
    """hindsight._window_min, the argument only if `rec` (None otherwise): the same values either way, so that
    a recomputed stretch of ticks reproduces the forward pass bit for bit."""
    if rec:
        return _window_min(a, w, step)
    out = a.copy()
    span = 1
    while 2 * span <= w + 1:
        if span < out.size:
            np.minimum(out[span:], out[:-span] + step * span, out=out[span:])
        span *= 2
    k = w + 1 - span
    if k > 0 and k < out.size:
        np.minimum(out[k:], out[:-k] + step * k, out=out[k:])
    return out, None


def _min_plus(src: np.ndarray, g_lo: int, g_hi: int, cost: np.ndarray, step: float | None, rec: bool):
    """out[i] = min over g in g_lo..g_hi of src[i + g_hi - g] + cost[g - g_lo], and (if `rec`) a g attaining
    it; `step`: the cost's slope when it is linear in g (then by doubling)."""
    w = g_hi - g_lo
    if step is not None:
        out, arg = _wmin(src, w, step, rec)
        return out[w:] + cost[0], (g_lo + arg[w:].astype(np.int64) if rec else None)
    win = np.lib.stride_tricks.sliding_window_view(src, w + 1)   # row i, column: g = g_hi - col
    vals = win + cost[::-1]
    col = np.argmin(vals, axis=1)
    return vals[np.arange(vals.shape[0]), col], (g_hi - col if rec else None)


class _State:
    """What tick t needs from the ticks before it: per region the best values (band pairs) of the last ticks,
    their merged move sources and the best value with no progress, on-demand per region, Spot carries."""

    __slots__ = ("hist", "merged", "b0", "vo", "carry")

    def __init__(self, hist, merged, b0, vo, carry):
        self.hist, self.merged, self.b0, self.vo, self.carry = hist, merged, b0, vo, carry

    def copy(self) -> "_State":
        return _State(dict(self.hist), dict(self.merged), dict(self.b0), list(self.vo), dict(self.carry))


class _TickPointers:
    """Back-pointers of one tick over its band: best mode per region, on-demand and Spot codes, the source
    region of merged move sources, the region of the best no-progress value, carried kinds."""

    __slots__ = ("lo", "best", "code_od", "code_spot", "src", "src0", "carry_kind")

    def __init__(self, lo):
        self.lo, self.best, self.code_od, self.code_spot = lo, {}, {}, {}
        self.src, self.src0, self.carry_kind = {}, 0, {}


class _Solver:
    """The dynamic programme over ticks with state (mode, place, progress); see the module docstring."""

    def __init__(self, inp: _Inputs, q: float, m: int, need: int, budget: float):
        self.inp, self.q, self.m, self.need = inp, q, m, need
        self.n, self.R = inp.n, inp.R
        self.zones = [_Zone(g, inp.price_s[z], inp.region[z]) for z, g in enumerate(inp.grids)]
        self.zones_of = [[z for z in range(inp.zones) if inp.region[z] == r] for r in range(self.R)]
        self.markets = (SPOT, FREE) if inp.free_s > 0 else (SPOT,)
        self.odq = [p * q for p in inp.od_per_s]                 # $ per on-demand quantum, per region
        self.c0 = math.floor(inp.startup_s / q)
        self.c1 = math.floor((inp.startup_s + inp.restore_s) / q)
        # Move sources per target region: groups of source regions with the same changeover (c, members, usd).
        self.sources = []
        for r in range(self.R):
            by_c = {}
            for r2 in range(self.R):
                c = self.c1 if r2 == r else math.floor((inp.startup_s + inp.restore_s + inp.move_s[r2, r]) / q)
                by_c.setdefault(c, []).append(r2)
            self.sources.append([(c, tuple(rs), np.array([inp.move_usd[r2, r] for r2 in rs]))
                                 for c, rs in sorted(by_c.items())])
        cs = {self.c0, self.c1} | {c for src in self.sources for c, _, _ in src}
        self.groups = {c: _start_groups(c, m) for c in cs}
        self.finishes = {c: _finish_starts(c, m) for c in cs}
        # On-demand starts (no move) fill whole ticks first, as in hindsight.py.
        self.span = tuple(max(1, math.ceil(ci / m)) for ci in (self.c0, self.c1))
        self.rest = tuple(ci - (s - 1) * m for ci, s in zip((self.c0, self.c1), self.span))
        n = self.n
        self.band = [(max(0, need - (n - 1 - t) * m), min(need - 1, (t + 1) * m)) for t in range(n)]
        deepest = max([r for gr in self.groups.values() for r, _, _ in gr]
                      + [r for f in self.finishes.values() for r, _, _ in f])
        self.keep = max(max(self.span), deepest + 1) + 1
        kinds = KIND_FAM1 + max(len(s) for s in self.sources)
        self.local = [self.zones_of[z.region].index(z_i) for z_i, z in enumerate(self.zones)]
        self.code_dtype = np.int8 if kinds * (m + 1) <= 127 else np.int16
        self.mode_dtype = np.int8 if 2 + 4 * max(len(zs) for zs in self.zones_of) <= 127 else np.int16
        # Back-pointer bytes a tick: per region best mode and on-demand code, per zone its Spot codes,
        # merged sources with several members, carried kinds (an upper bound).
        multi = sum(len(rs) > 1 for src in self.sources for _, rs, _ in src)
        per_p = (self.R * (np.dtype(self.mode_dtype).itemsize + np.dtype(self.code_dtype).itemsize)
                 + len(self.zones) * len(self.markets) * (2 * np.dtype(self.code_dtype).itemsize + 1) + multi)
        widths = np.array([max(0, hi + 1 - lo) for lo, hi in self.band])
        if widths.sum() * per_p <= budget:
            self.stretch = n
        else:   # stretches of K ticks: n/K snapshots of the state (S bytes) and K ticks of back-pointers (P)
            P = widths.max() * per_p
            S = widths.max() * 8 * ((self.keep + 2) * self.R + 2 * len(self.zones) * len(self.markets))
            self.stretch = max(1, int(min(budget / P, math.sqrt(n * S / P))))
        self.pointers: dict[int, _TickPointers] = {}
        self.snapshots: dict[int, _State] = {}

    # -- the forward pass ------------------------------------------------------------------
    def solve(self) -> ZonesSchedule:
        init = [(0, np.zeros(1))] * self.R
        st = _State({-1: init}, {}, {-1: (0.0, 0)}, [None] * self.R, {})
        st.merged[-1] = self._merge(init)[0]
        record = self.stretch >= self.n
        best = None
        for t in range(self.n):
            if not record and t % self.stretch == 0:
                self.snapshots[t] = st.copy()
                self.snapshots[t].merged = {}       # recomputed from hist on a restore
            if (t + 1) * self.m >= self.need:
                fin = self._finish(t, st)
                if fin is not None and (best is None or fin[0] < best[0] - 1e-9 * max(1.0, abs(best[0]))):
                    best = fin
            self._step(t, st, record)
        if best is None:
            return infeasible(len(self.zones))
        return self._schedule(best)

    def _step(self, t: int, st: _State, record: bool) -> None:
        """Advance the state over tick t (in place; arrays of earlier ticks are never written)."""
        m = self.m
        lo, hi = self.band[t]
        for d in (st.hist, st.merged, st.b0):
            d.pop(t - 1 - self.keep, None)
        if lo > hi:                          # nothing left unfinished can still finish
            st.hist[t], st.merged[t], st.b0[t] = None, None, (math.inf, 0)
            st.vo, st.carry = [None] * self.R, {}
            return
        ptr = _TickPointers(lo) if record else None
        prev = st.hist.get(t - 1)
        values = [_get(prev[r] if prev else None, lo, hi + 1) for r in range(self.R)]
        modes = [np.zeros(hi + 1 - lo, self.mode_dtype) for _ in range(self.R)] if record else None
        vo = []
        for r in range(self.R):
            v, code = self._ondemand(r, t, st, lo, hi, record)
            vo.append((lo, v))
            better = v < values[r]
            np.copyto(values[r], v, where=better)
            if record:
                modes[r][better] = 1
                ptr.code_od[r] = code
        carry = {}
        kinds = record or (t + 1) % self.stretch == 0    # a snapshot's carries need their kinds for the codes
        for z, zone in enumerate(self.zones):
            if not zone.usable[t]:
                continue
            states = self._spot(z, t, st, lo, hi, record)
            r, local = zone.region, self.local[z]
            for k, (vals, code) in states.items():
                better = vals < values[r]
                np.copyto(values[r], vals, where=better)
                if record:
                    modes[r][better] = 2 + 4 * local + (k - SPOT_NEW)
                    ptr.code_spot[(z, k)] = code
            for market in self.markets:
                c = self._carry(z, t, market, lo, states.get(NEW_OF[market]), states.get(market), kinds)
                if c is not None:
                    carry[(z, market)] = c
                    if record and (t + 2) * m >= self.need:
                        ptr.carry_kind[(z, market)] = (lo, c[2])
        st.vo, st.carry = vo, carry
        pairs = [(lo, v) for v in values]
        st.hist[t] = pairs
        merged, src = self._merge(pairs, record)
        st.merged[t] = merged
        if lo == 0:
            firsts = [v[0] for v in values]
            r0 = int(np.argmin(firsts))
            st.b0[t] = (float(firsts[r0]), r0)
        else:
            st.b0[t] = (math.inf, 0)
        if record:
            ptr.best = modes
            ptr.src = src
            ptr.src0 = st.b0[t][1]
            self.pointers[t] = ptr

    def _merge(self, pairs, record=False):
        """Per target region, per source group: the best value to start from with progress (egress added),
        and which source region gave it where the group has several."""
        merged, src = [], {}
        for r in range(self.R):
            out = []
            for k, (_, rs, usd) in enumerate(self.sources[r]):
                lo = pairs[rs[0]][0]
                if len(rs) == 1:
                    a = pairs[rs[0]][1]
                    out.append((lo, a + usd[0] if usd[0] else a))
                    continue
                best = pairs[rs[0]][1] + usd[0]
                arg = np.zeros(best.size, np.int8)
                for i in range(1, len(rs)):
                    cand = pairs[rs[i]][1] + usd[i]
                    better = cand < best
                    np.copyto(best, cand, where=better)
                    arg[better] = i
                out.append((lo, best))
                if record:
                    src[(r, k)] = arg
            merged.append(out)
        return merged, src

    def _b0(self, st: _State, t: int) -> tuple[float, int]:
        """The best value with no progress after tick t and the region it is in (t = -1: before submission)."""
        if t < -1:
            return math.inf, 0
        return st.b0.get(t, (math.inf, 0))

    # -- transitions over the band [lo, hi] ------------------------------------------------
    def _ondemand(self, r, t, st, lo, hi, rec):
        """Values (and codes if `rec`) over the band of on-demand in region r after tick t."""
        m, odq = self.m, self.odq[r]
        s0 = max(0, lo - m)
        value, gain = _wmin(_get(st.vo[r], s0, hi + 1), m, odq, rec)    # carry on: k = gain quanta
        value = value[lo - s0:]
        code = gain[lo - s0:].astype(self.code_dtype) if rec else None
        B1 = st.hist.get(t - self.span[1])
        if B1 is not None:                                               # start with progress, no move
            d = self.rest[1]
            src = _get(B1[r], s0, hi + 1)
            if s0 == 0:
                src[0] = np.inf
            v1, g1 = _wmin(src, m - d, odq, rec)
            v1 = v1[lo - s0:]
            v1 += odq * d + (self.span[1] - 1) * m * odq
            better = v1 < value
            np.copyto(value, v1, where=better)
            if rec:
                np.copyto(code, ((m + 1) + g1[lo - s0:]).astype(self.code_dtype), where=better)
        b0, _ = self._b0(st, t - self.span[0])
        if math.isfinite(b0):                                            # first start: progress = gain
            d = self.rest[0]
            top = min(m - d, hi)
            if top >= lo:
                gains = np.arange(lo, top + 1)
                v0 = b0 + (self.span[0] - 1) * m * odq + odq * (d + gains)
                part = value[:top + 1 - lo]
                better = v0 < part
                np.copyto(part, v0, where=better)
                if rec:
                    np.copyto(code[:top + 1 - lo], (2 * (m + 1) + gains).astype(self.code_dtype), where=better)
        return value, code

    def _start_cost(self, zone: _Zone, market: int, t0: int, t: int, r: int, j: np.ndarray):
        """Dollars of a Spot start first in tick t0 holding j quanta of it, up to tick t, and its slope in j
        (None where the first tick's Spot seconds cap it)."""
        if market == FREE:
            return np.zeros(j.size), 0.0
        cost = zone.first_bill(t0, j, self.q) + (zone.mid(t0, t) if r else 0.0)
        linear = zone.spot_s[t0] >= j[-1] * self.q
        return cost, (float(zone.price_s[t0] * self.q) if linear else None)

    def _spot(self, z, t, st, lo, hi, rec):
        """Values and codes (if `rec`) over the band of zone z's Spot modes after tick t (new and continuing)."""
        zone, m = self.zones[z], self.m
        width = hi + 1 - lo
        out = {}
        for market in self.markets:
            states = {k: [np.full(width, np.inf), np.zeros(width, self.code_dtype) if rec else None]
                      for k in (NEW_OF[market], market)}
            src = st.carry.get((z, market))
            if src is not None:
                lo_c, vals, kind = src
                states[market][0][:] = _take(vals, lo - m - lo_c, hi + 1 - m - lo_c) + (
                    zone.bill[t] if market == SPOT else 0.0)
                if rec:
                    states[market][1][:] = _take(kind, lo - m - lo_c, hi + 1 - m - lo_c, 0) * (m + 1)
            for k, (c, _, _) in enumerate(self.sources[zone.region]):   # starts with progress
                for r, g_lo, g_hi in self.groups[c]:
                    t0 = t - r
                    if t0 < 0 or not zone.allowed(market, t0, t):
                        continue
                    merged = st.merged.get(t0 - 1)
                    if merged is None:
                        continue
                    pair = merged[zone.region][k]
                    cost, step = self._start_cost(zone, market, t0, t, r, c + np.arange(g_lo, g_hi + 1) - r * m)
                    s = _get(pair, lo - g_hi, hi - g_lo + 1)
                    if lo - g_hi <= 0 <= hi - g_lo:
                        s[-(lo - g_hi)] = np.inf                          # progress 0 has no checkpoint
                    vals, gain = _min_plus(s, g_lo, g_hi, cost, step, rec)
                    target = states[NEW_OF[market] if r == 0 else market]
                    if rec:
                        better = vals < target[0]
                        np.copyto(target[0], vals, where=better)
                        np.copyto(target[1], ((KIND_FAM1 + k) * (m + 1) + gain).astype(self.code_dtype),
                                  where=better)
                    else:
                        np.minimum(target[0], vals, out=target[0])
            if lo <= m:                                                  # starts with no progress
                for r, g_lo, g_hi in self.groups[self.c0]:
                    t0 = t - r
                    if t0 < 0 or not zone.allowed(market, t0, t):
                        continue
                    b0, _ = self._b0(st, t0 - 1)
                    gains = np.arange(max(g_lo, lo), min(g_hi, hi) + 1)
                    if not (math.isfinite(b0) and gains.size):
                        continue
                    cost, _ = self._start_cost(zone, market, t0, t, r, self.c0 + gains - r * m)
                    target = states[NEW_OF[market] if r == 0 else market]
                    idx = gains - lo
                    vals = b0 + cost
                    better = vals < target[0][idx]
                    target[0][idx[better]] = vals[better]
                    if rec:
                        target[1][idx[better]] = KIND_FAM0 * (m + 1) + gains[better]
            for k, (vals, code) in states.items():
                if np.isfinite(vals).any():
                    out[k] = (vals, code)
        return out

    def _carry(self, z, t, market, lo, new, cont, rec):
        """What zone z's lifetime of `market` alive at the end of tick t carries into t+1: (lo, values,
        kind: 0 new, 1 continuing, if `rec`), or None (as hindsight.py's)."""
        zone = self.zones[z]
        ok_new = zone.free_carries[t] if market == FREE else zone.carries[t]
        src_new = new[0] if new is not None and ok_new else None
        src_cont = cont[0] if cont is not None and zone.holds[t] else None
        if src_new is None and src_cont is None:
            return None
        if src_cont is None:
            return lo, src_new, np.zeros(src_new.size, np.int8) if rec else None
        if src_new is None:
            return lo, src_cont, np.ones(src_cont.size, np.int8) if rec else None
        return lo, np.minimum(src_new, src_cont), (src_cont < src_new).astype(np.int8) if rec else None

    def _finish(self, t, st):
        """The cheapest way to complete the work within tick t: (cost, finish_s, route), or None."""
        m, N, q = self.m, self.need, self.q
        cands = []   # (cost array, used quanta array, mode, place, route extra, progress before)

        def add(values, used, mode, place, extra, p):
            if values.size:
                cands.append((values, used, mode, place, extra, p))

        lo = max(0, N - m)
        p = np.arange(lo, N)
        for r in range(self.R):
            if st.vo[r] is not None:
                add(_get(st.vo[r], lo, N) + self.odq[r] * (N - p), N - p, ONDEMAND, r, None, p)
        for (z, market), (lo_c, vals, _) in st.carry.items():
            zone = self.zones[z]
            used = N - p
            bill = zone.price_s[t] * np.minimum(used * q, zone.spot_s[t]) if market == SPOT else 0.0
            add(_take(vals, lo - lo_c, N - lo_c) + bill, used, market, z, None, p)
        for fam in (0, 1):
            # On-demand start (its changeover fills whole ticks first), in any region with no progress.
            d = self.rest[fam]
            pp = self._finish_progress(N - (m - d), fam)
            if pp.size:
                used = d + N - pp
                t_src = t - self.span[fam]
                for r in range(self.R):
                    if fam == 0:
                        base = np.array([self._b0(st, t_src)[0]])
                    else:
                        B = st.hist.get(t_src)
                        if B is None:
                            continue
                        base = _get(B[r], pp[0], N)
                    add(base + (self.span[fam] - 1) * m * self.odq[r] + self.odq[r] * used, used, ONDEMAND, r,
                        ("od", fam), pp)
            # Spot starts whose changeover ends in this tick (first tick t0 = t - r).
            for z, zone in enumerate(self.zones):
                if not zone.usable[t]:
                    continue
                for k, c in self._start_kinds(zone, fam):
                    for r, j, dd in ((0, None, c),) + self.finishes[c]:
                        t0 = t - r
                        if t0 < 0:
                            continue
                        pp = self._finish_progress(N - (m - dd), fam)
                        if not pp.size:
                            continue
                        base = self._source(st, t0 - 1, zone.region, k, pp)
                        if base is None:
                            continue
                        used = dd + N - pp
                        for market in self.markets:
                            if not zone.allowed(market, t0, t):
                                continue
                            if market == FREE:
                                bill = 0.0
                            elif r == 0:
                                bill = zone.price_s[t] * np.minimum(used * q, zone.spot_s[t])
                            else:
                                bill = (zone.first_bill(t0, j, q) + zone.mid(t0, t - 1)
                                        + zone.price_s[t] * np.minimum(used * q, zone.spot_s[t]))
                            add(base + bill, used, market, z, ("spot", fam, k, r, m if r == 0 else j), pp)
        best = cheapest_finish(cands)
        if best is None:
            return None
        cost, used, (mode, place, extra, pp), i = best
        return cost, t * self.inp.tick_s + used * q, (t, mode, place, extra, int(pp[i]), used)

    def _start_kinds(self, zone, fam):
        """(source group k, changeover c) of a Spot start in `zone`: k = -1 with no progress."""
        if fam == 0:
            return ((-1, self.c0),)
        return tuple((k, c) for k, (c, _, _) in enumerate(self.sources[zone.region]))

    def _source(self, st, t, region, k, pp):
        """Values to start from after tick t at progress pp (k = -1: no progress; else source group k of
        `region`), or None."""
        if k < 0:
            b0 = self._b0(st, t)[0]
            return np.array([b0]) if math.isfinite(b0) else None
        merged = st.merged.get(t)
        return None if merged is None else _get(merged[region][k], pp[0], pp[-1] + 1)

    def _finish_progress(self, lowest, fam):
        """Progress before a start that can finish in its tick: from `lowest` up (family 1: at least 1;
        family 0: exactly 0)."""
        if fam == 0:
            return np.arange(0, 1) if lowest <= 0 else np.arange(0)
        return np.arange(max(lowest, 1), self.need)

    # -- the schedule -----------------------------------------------------------------------
    def _ptr(self, t: int) -> _TickPointers:
        """Tick t's back-pointers, recomputing its stretch of ticks from a snapshot if they are not kept."""
        if t not in self.pointers:
            s = (t // self.stretch) * self.stretch
            self.pointers = {}
            st = self.snapshots[s].copy()
            st.merged = {u: (None if pairs is None else self._merge(pairs)[0]) for u, pairs in st.hist.items()}
            for u in range(s, min(s + self.stretch, self.n)):
                self._step(u, st, True)
        return self.pointers[t]

    def _schedule(self, best) -> ZonesSchedule:
        m, q = self.m, self.q
        cost, finish, (t, mode, place, extra, p, used) = best
        self.ticks = []   # (tick, mode, place, billed seconds, begin if it starts a lifetime, move), latest first
        self.moves = []   # (from region, to region, extra changeover quanta)
        if mode == ONDEMAND:
            billed = used * q
        elif mode == SPOT:
            billed = min(used * q, float(self.zones[place].spot_s[t]))
        else:
            billed = 0.0
        if extra is None:
            self.ticks.append((t, mode, place, billed, None))
            state = (t - 1, ONDEMAND, place, p) if mode == ONDEMAND else (t - 1, *self._carried(t, mode, place, p), p)
        elif extra[0] == "od":
            state = self._od_start(t, extra[1], place, p, billed)
        else:
            _, fam, k, r, j = extra
            state = self._spot_start(t, mode, place, fam, k, r, j, p, billed)
        while state[0] >= 0:
            t, mode, place, p = state
            ptr = self._ptr(t)
            i = p - ptr.lo
            if mode == IDLE:
                self.ticks.append((t, IDLE, place, 0.0, None))
                state = self._before(t, p, place)
                continue
            if mode == ONDEMAND:
                kind, gain = divmod(int(ptr.code_od[place][i]), m + 1)
                if kind == 0:
                    self.ticks.append((t, ONDEMAND, place, gain * q, None))
                    state = (t - 1, ONDEMAND, place, p - gain)
                else:
                    fam = 1 if kind == 1 else 0
                    state = self._od_start(t, fam, place, p - gain, (self.rest[fam] + gain) * q)
                continue
            market = SPOT if mode in (SPOT, SPOT_NEW) else FREE
            zone = self.zones[place]
            kind, gain = divmod(int(ptr.code_spot[(place, mode)][i]), m + 1)
            if kind in (0, 1):
                self.ticks.append((t, mode, place, float(zone.spot_s[t]) if market == SPOT else 0.0, None))
                state = (t - 1, NEW_OF[market] if kind == 0 else market, place, p - m)
                continue
            fam, k = (0, -1) if kind == KIND_FAM0 else (1, kind - KIND_FAM1)
            c = self.c0 if fam == 0 else self.sources[zone.region][k][0]
            r = math.ceil((c + gain) / m) - 1
            j = c + gain - r * m
            if r == 0:
                billed = float(zone.spot_s[t] if j * q > zone.spot_s[t] else j * q) if market == SPOT else 0.0
            else:
                billed = float(zone.spot_s[t]) if market == SPOT else 0.0
            state = self._spot_start(t, market, place, fam, k, r, j, p - gain, billed)
        self.ticks.reverse()
        return self._summarise(cost, min(finish, self.inp.horizon_s))

    def _carried(self, t, market, z, p):
        """(mode, zone) in tick t-1 of zone z's lifetime carried into tick t."""
        lo, kinds = self._ptr(t - 1).carry_kind[(z, market)]
        return (NEW_OF[market] if int(kinds[p - lo]) == 0 else market), z

    def _before(self, t0, p, region):
        """The state after tick t0-1 that the best value at progress p in `region` came from."""
        if t0 < 1:
            return (-1, IDLE, region, p)
        ptr = self._ptr(t0 - 1)
        code = int(ptr.best[region][p - ptr.lo])
        if code == 0:
            return (t0 - 1, IDLE, region, p)
        if code == 1:
            return (t0 - 1, ONDEMAND, region, p)
        local, k = divmod(code - 2, 4)
        return (t0 - 1, SPOT_NEW + k, self.zones_of[region][local], p)

    def _region0(self, t0):
        """The region of the best no-progress value after tick t0 - 1."""
        return self._ptr(t0 - 1).src0 if t0 >= 1 else 0

    def _od_start(self, t, fam, r, p_start, billed_last):
        """Record an on-demand lifetime's first ticks (the changeover, whole ticks first) ending at tick t."""
        m, q, tick = self.m, self.q, self.inp.tick_s
        t0 = t - self.span[fam] + 1
        self.ticks.append((t, ONDEMAND, r, billed_last, t * tick if t0 == t else None))
        for u in range(t - 1, t0 - 1, -1):
            self.ticks.append((u, ONDEMAND, r, m * q, u * tick if u == t0 else None))
        return self._before(t0, p_start, r if fam == 1 else self._region0(t0))

    def _spot_start(self, t, market, z, fam, k, r, j, p_start, billed_last):
        """Record zone z's Spot lifetime from its first tick (holding j quanta of it, r ticks before t) to t,
        and the move it makes."""
        zone, q = self.zones[z], self.q
        market = SPOT if market in (SPOT, SPOT_NEW) else FREE
        t0 = t - r
        begin = (t0 + 1) * self.inp.tick_s - j * q
        if r == 0:
            self.ticks.append((t, NEW_OF[market], z, billed_last, begin))
        else:
            self.ticks.append((t, market, z, billed_last, None))
            for u in range(t - 1, t0, -1):
                self.ticks.append((u, market, z, float(zone.spot_s[u]) if market == SPOT else 0.0, None))
            first = float(min(zone.spot_s[t0], j * q)) if market == SPOT else 0.0
            self.ticks.append((t0, NEW_OF[market], z, first, begin))
        if fam == 0:
            return self._before(t0, p_start, self._region0(t0))
        c, members, _ = self.sources[zone.region][k]
        src = members[0] if len(members) == 1 else members[int(self._ptr(t0 - 1).src[(zone.region, k)][
            p_start - self._ptr(t0 - 1).lo])]
        if src != zone.region:
            self.moves.append((src, zone.region, c - self.c1))
        return self._before(t0, p_start, src)

    def _summarise(self, cost, finish) -> ZonesSchedule:
        inp, tick = self.inp, self.inp.tick_s
        zone_s = [0.0] * len(self.zones)
        zone_usd = [0.0] * len(self.zones)
        od_s = od_usd = 0.0
        lives = []   # [begin, last tick, mode, place, billed seconds in last tick]
        for t, mode, place, billed, begin in self.ticks:
            if mode == IDLE:
                continue
            if mode == ONDEMAND:
                od_s += billed
                od_usd += billed * inp.od_per_s[place]
            else:
                zone_s[place] += billed
                zone_usd[place] += billed * float(self.zones[place].price_s[t])
            if begin is not None or not lives or lives[-1][1] != t - 1:
                lives.append([t * tick if begin is None else begin, t, mode, place, billed])
            else:
                lives[-1][1], lives[-1][4] = t, billed
        segments = []
        for i, (begin, t1, mode, place, billed) in enumerate(lives):
            if i == len(lives) - 1:
                end = finish
            elif mode == ONDEMAND:
                end = t1 * tick + billed
            else:
                end = (t1 + 1) * tick
            zone = inp.od_zone[place] if mode == ONDEMAND else place
            segments.append((min(begin, inp.horizon_s), min(end, inp.horizon_s), MARKETS[mode], zone))
        switches = sum(1 for a, b in itertools.pairwise(segments) if a[2] != b[2])
        egress = float(sum(inp.move_usd[a, b] for a, b, _ in self.moves))
        return ZonesSchedule(True, cost, float(sum(zone_s)), float(od_s), finish, switches, len(lives),
                             tuple(segments), tuple(zone_s), tuple(zone_usd), float(od_usd), len(self.moves),
                             float(sum(x for *_, x in self.moves) * self.q), egress)
