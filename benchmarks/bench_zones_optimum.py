"""Seconds per window of the optimum over zones on one core: the nine aws-02-15-2023 V100 zones with their prices.

Each window starts at a random tick of the nine p3.2xlarge traces (195 s
ticks, about 1,092 h, 20,158 ticks, replayed cyclically with TraceReplay), each
zone with its own per-tick Spot price series (aws-v100-spot-prices, aligned tick
for tick) and on-demand at $3.06/h; the job is Can't Be Late's: 48 h of work in
60 h (about 1,100 ticks), 90 s start-up, 5 s restore. Regions: us-east-1 (4
zones), us-east-2 (2), us-west-2 (3); a move between regions transfers the
checkpoint (--size-gb, default 0.2 GB) at docs/zones.md's rates: 8.20 Gbit/s
across regions beyond a same-region 9.72 Gbit/s download, $0.02/GB of egress.
AWS's free-if-preempted-within-an-hour rule off and on. Beside each window's
time: its cost over all on-demand, over the best single zone alone on the same
window, and the moves it makes.

--long adds one window over the whole trace: 800 h of work in 1,000 h (about
18,500 ticks), timed once at the default quantum and once at 65 s (3 a tick),
with the process's peak memory so far.

Usage: python benchmarks/bench_zones_optimum.py [--windows N] [--seed S] [--size-gb G] [--long] [--quantum Q]
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import time
from pathlib import Path

import numpy as np

from spotsim.interrupts.trace import TraceReplay
from spotsim.interrupts.trace_io import load_trace
from spotsim.zones.optimum import ZoneCosts, ZonesWindow, trace_periods, zones_optimum

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT.parent / "shared" / "traces"
V100 = TRACES / "aws-spot-traces" / "availability" / "1-node" / "aws-02-15-2023"
PRICES = TRACES / "aws-v100-spot-prices" / "v100_spot_prices.json"
ZONES = ("us-east-1a", "us-east-1c", "us-east-1d", "us-east-1f", "us-east-2a", "us-east-2b",
         "us-west-2a", "us-west-2b", "us-west-2c")
TICK_S, OD = 195.0, 3.06
SAME_GBPS, CROSS_GBPS, CROSS_PER_GB = 9.72, 8.20, 0.02


def load():
    """Per zone its replay and price series; the regions."""
    if not (V100.exists() and PRICES.exists()):
        raise SystemExit(f"needs ../shared/traces ({V100.relative_to(ROOT.parent)} and the price series)")
    prices = json.loads(PRICES.read_text())
    replays = [TraceReplay(load_trace(V100 / f"{z}_v100_1.json")) for z in ZONES]
    series = [np.asarray(prices[f"{z}_v100_1"]) for z in ZONES]
    names = sorted({z[:-1] for z in ZONES})
    return replays, series, tuple(names.index(z[:-1]) for z in ZONES), names


def window(replays, series, start_tick, horizon_s):
    ticks = math.ceil(horizon_s / TICK_S)
    periods = tuple(trace_periods(r, start_tick * TICK_S, horizon_s) for r in replays)
    prices = tuple(np.take(s, np.arange(start_tick, start_tick + ticks), mode="wrap") for s in series)
    return ZonesWindow(periods, horizon_s), prices


def costs(work_s, prices, region, regions, size_gb, free_s):
    bits = size_gb * 8.0
    transfer = max(bits / CROSS_GBPS - bits / SAME_GBPS, 0.0)
    off = 1 - np.eye(regions)
    return ZoneCosts(work_s, 90.0, 5.0, prices, (OD,) * len(prices), region, transfer * off,
                     size_gb * CROSS_PER_GB * off, free_s)


def alone(w, c, z, tick_s, quantum):
    """Zone z by itself on the same window."""
    return zones_optimum(ZonesWindow((w.periods[z],), w.horizon_s),
                         ZoneCosts(c.work_s, c.startup_s, c.restore_s, (c.spot_per_h[z],), (OD,),
                                   free_if_preempted_within_s=c.free_if_preempted_within_s), tick_s, quantum)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size-gb", type=float, default=0.2)
    ap.add_argument("--quantum", type=float, default=None, help="seconds (default: about 15, 13 a tick)")
    ap.add_argument("--long", action="store_true", help="also one window of 800 h of work in 1,000 h")
    args = ap.parse_args()
    replays, series, region, names = load()
    n = len(series[0])
    print(f"nine V100 zones, {n} ticks of {TICK_S:g} s ({n * TICK_S / 3600:,.0f} h); regions "
          f"{', '.join(f'{r} ({region.count(i)})' for i, r in enumerate(names))}; checkpoint {args.size_gb:g} GB")
    horizon, work = 60 * 3600.0, 48 * 3600.0
    starts = np.random.default_rng(args.seed).integers(0, n, size=args.windows)
    for free_s in (0.0, 3600.0):
        times, ratios, vs_best, moves, used = [], [], [], [], []
        for s0 in starts:
            w, prices = window(replays, series, int(s0), horizon)
            c = costs(work, prices, region, len(names), args.size_gb, free_s)
            t0 = time.perf_counter()
            s = zones_optimum(w, c, TICK_S, args.quantum)
            times.append(time.perf_counter() - t0)
            ratios.append(s.cost_usd / (OD * (work + 90) / 3600))
            vs_best.append(s.cost_usd / min(alone(w, c, z, TICK_S, args.quantum).cost_usd for z in range(9)))
            moves.append(s.moves)
            used.append(sum(x > 0 for x in s.zone_spot_s))
        print(f"60 h windows, 48 h of work, free rule {'on ' if free_s else 'off'}: "
              f"{statistics.mean(times):.2f} s/window mean, {max(times):.2f} max ({len(times)} windows); "
              f"cost / all on-demand {statistics.mean(ratios):.3f} mean ({min(ratios):.3f}-{max(ratios):.3f}); "
              f"/ best single zone {statistics.mean(vs_best):.3f} mean ({min(vs_best):.3f}-{max(vs_best):.3f}); "
              f"moves {statistics.mean(moves):.1f} mean, zones used {statistics.mean(used):.1f} mean")
    if args.long:
        horizon, work = 1000 * 3600.0, 800 * 3600.0
        w, prices = window(replays, series, int(starts[0]), horizon)
        c = costs(work, prices, region, len(names), args.size_gb, 0.0)
        for quantum in (65.0, args.quantum):     # the coarse one first: the peak memory is the process's so far
            t0 = time.perf_counter()
            s = zones_optimum(w, c, TICK_S, quantum)
            took = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"one 1,000 h window, 800 h of work ({math.ceil(horizon / TICK_S)} ticks), "
                  f"{quantum or TICK_S / math.ceil(TICK_S / 15):g} s quanta: {took:.1f} s, peak memory "
                  f"{peak:,.0f} MiB; cost ${s.cost_usd:.2f} ({s.cost_usd / (OD * (work + 90) / 3600):.3f} of "
                  f"all on-demand), moves {s.moves}, lifetimes {s.lifetimes}")


if __name__ == "__main__":
    main()
