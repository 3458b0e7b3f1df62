"""Seconds per window of the hindsight optimum on one core: Can't Be Late's setting on a real V100 trace.

Each window is 60 h from a random tick of the us-east-1a V100 trace
(aws-02-15-2023, 195 s ticks, about 1,092 h), 48 h of work, 90 s start-up,
5 s restore, p3.2xlarge prices ($0.9731 Spot, $3.06 on-demand), with AWS's
free-if-preempted-within-an-hour rule off and on. Without ../shared the trace
is a synthetic alternating one (seeded), and the output says so.

The trace's periods start and end on its 195 s ticks, so a kill never falls
inside a tick there. The second part is what a drawn pattern gives: Poisson
preemptions (6/h) with capacity back at each kill, periods touching mid-tick,
on the simulator's default 60 s tick: 4 h of work in 6 h, the L4 job's
start-up (90 s) and restore (5 s) at L4 prices ($0.223 Spot, $0.560 on-demand).
There each kill a Spot lifetime meets costs a changeover, which is what moves
its cost ratio off the bare price ratio (0.398).

Usage: python benchmarks/bench_omniscient.py [--windows N] [--drawn N] [--seed S] [--quantum Q]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from spotsim.hindsight import Costs, Window, default_quantum, hindsight_optimum

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT.parent / "shared" / "traces" / "aws-spot-traces" / "availability" / "1-node" / "aws-02-15-2023" / \
    "us-east-1a_v100_1.json"
HORIZON_S, WORK_S = 60 * 3600.0, 48 * 3600.0


def load_ticks(seed: int):
    """(0/1 per tick, tick seconds, where from): the real trace, else ~1,000 h of alternating up and down runs."""
    if TRACE.exists():
        data = json.loads(TRACE.read_text())
        return np.asarray(data["data"]) >= 1, float(data["metadata"]["gap_seconds"]), TRACE.name
    rng = np.random.default_rng(seed)
    runs = rng.geometric(1 / 20, size=2000)
    values = np.concatenate([np.full(r, i % 2 == 0) for i, r in enumerate(runs)])[:18500]
    return values, 195.0, f"synthetic alternating trace (../shared absent), seed {seed}"


def periods_from(up: np.ndarray, gap: float):
    edges = np.flatnonzero(np.diff(np.concatenate(([0], up.astype(np.int8), [0]))))
    return tuple((float(a * gap), float(b * gap)) for a, b in zip(edges[::2], edges[1::2]))


def drawn_periods(rng, horizon_s: float, rate_per_h: float):
    """Touching periods [g, k), [k, k'), ... with exponential uptimes (no capacity wait), to past the horizon."""
    out, t = [], 0.0
    while t < horizon_s:
        k = t + rng.exponential(3600.0 / rate_per_h)
        out.append((t, k))
        t = k
    return tuple(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--drawn", type=int, default=10, help="windows of drawn periods")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quantum", type=float, default=None, help="seconds (default: the module's)")
    args = ap.parse_args()
    up, gap, source = load_ticks(args.seed)
    span = math.ceil(HORIZON_S / gap) + 1
    offsets = np.random.default_rng(args.seed).integers(0, up.size - span, size=args.windows)
    print(f"trace: {source}, {up.size} ticks of {gap:g} s ({up.size * gap / 3600:,.0f} h), {up.mean():.1%} up")
    print(f"quantum: {args.quantum or default_quantum(gap):g} s; {args.windows} windows of 60 h, 48 h of work")
    for free_s in (0.0, 3600.0):
        costs = Costs(WORK_S, 90.0, 5.0, 0.9731, 3.06, free_s)
        times, ratios, switches = [], [], []
        for off in offsets:
            window = Window(periods_from(up[off:off + span], gap), HORIZON_S)
            t0 = time.perf_counter()
            s = hindsight_optimum(window, costs, gap, args.quantum)
            times.append(time.perf_counter() - t0)
            ratios.append(s.cost_usd / (3.06 * (WORK_S + 90) / 3600))
            switches.append(s.switches)
        print(f"free rule {'on ' if free_s else 'off'}: {statistics.mean(times):.3f} s/window mean, "
              f"{max(times):.3f} max; cost / all on-demand {statistics.mean(ratios):.3f} mean "
              f"({min(ratios):.3f}-{max(ratios):.3f}); switches {statistics.mean(switches):.1f} mean")
    horizon, work, rate = 6 * 3600.0, 4 * 3600.0, 6.0
    costs = Costs(work, 90.0, 5.0, 0.223, 0.560)
    rng = np.random.default_rng(args.seed)
    times, ratios, lifetimes = [], [], []
    for _ in range(args.drawn):
        window = Window(drawn_periods(rng, horizon, rate), horizon)
        t0 = time.perf_counter()
        s = hindsight_optimum(window, costs, 60.0, args.quantum)
        times.append(time.perf_counter() - t0)
        ratios.append(s.cost_usd / (0.560 * (work + 90) / 3600))
        lifetimes.append(s.lifetimes)
    print(f"drawn, {rate:g}/h, touching periods, 60 s ticks, {args.drawn} windows of 6 h, 4 h of work: "
          f"{statistics.mean(times):.3f} s/window mean, {max(times):.3f} max; cost / all on-demand "
          f"{statistics.mean(ratios):.3f} mean ({min(ratios):.3f}-{max(ratios):.3f}); "
          f"lifetimes {statistics.mean(lifetimes):.1f} mean")


if __name__ == "__main__":
    main()
