"""Simulated runs per second on one core: the study's 100-epoch job at 4 preemptions/h.

Runs are timed as a sweep makes them, in chunks of sweep.CHUNK_REPLICATIONS seeds per
model.simulate_many call (streams seeded and noise drawn for the chunk at once), and one at a
time with model.simulate (as a run with an event log is made).

A second table times the same job (fixed strategy) with a deadline of 1.5x its
on-demand makespan under each policy, against the run without a deadline: a
policy's reviews and Spot timeline add work to every run (omniscient solves a
dynamic programme per run and is timed on fewer runs).

For scale, the same process also times a bare SimPy loop of 100 epochs with a
checkpoint each (two timeouts per epoch, nothing else): compare the two as a
ratio, since this machine is shared and noisy.

Usage: python benchmarks/bench_run.py [--runs N] [--repeat K]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import simpy

from spotsim.config import load_scenario
from spotsim.model import simulate, simulate_many
from spotsim.sweep import CHUNK_REPLICATIONS

ROOT = Path(__file__).resolve().parent.parent


def bare_simpy_run() -> None:
    env = simpy.Environment()

    def job(env):
        for _ in range(100):
            yield env.timeout(40.0)
            yield env.timeout(3.0)

    env.process(job(env))
    env.run()


def rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def chunked_rate(s, n: int) -> float:
    """Runs/s of n runs of `s` simulated a sweep's chunk at a time."""
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK_REPLICATIONS):
        simulate_many(s, [(1, i) for i in range(start, min(start + CHUNK_REPLICATIONS, n))])
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    base = ROOT / "scenarios/study/base.yaml"
    rows = []
    for strategy in ("fixed", "adaptive", "milestone"):
        s = load_scenario([base], ["interrupts.rate_per_h=4", "interrupts.pattern=poisson",
                                   f"checkpoint.strategy={strategy}"])
        chunked, singles, bares = [], [], []
        for _ in range(args.repeat):
            chunked.append(chunked_rate(s, args.runs))
            singles.append(rate(lambda i: simulate(s, (1, i)), args.runs))
            bares.append(rate(lambda i: bare_simpy_run(), args.runs // 2))
        rows.append((strategy, max(chunked), statistics.median(chunked), max(singles), max(bares)))
    print(f"runs/s, best of {args.repeat}: in chunks of {CHUNK_REPLICATIONS} (simulate_many, as sweeps run) "
          f"and one at a time (simulate)")
    print("strategy   chunks best  chunks median  one at a time  bare SimPy loop  ratio(chunks)  ratio(one)")
    for strategy, best, med, single, bare in rows:
        print(f"{strategy:<10} {best:>11.0f}  {med:>13.0f}  {single:>13.0f}  {bare:>15.0f}  {best / bare:>13.2f}"
              f"  {single / bare:>10.2f}")
    print()
    policy_table(base, args.runs, args.repeat)


def policy_table(base: Path, runs: int, repeat: int) -> None:
    s = load_scenario([base], ["interrupts.rate_per_h=4", "interrupts.pattern=poisson", "checkpoint.strategy=fixed"])
    od_h = simulate(s.with_values({"policy.name": "on_demand"}), 0).ondemand_makespan_h
    cases = [("no deadline (spot_only)", s, runs)]
    for name in ("spot_only", "on_demand", "greedy", "uniform_progress", "omniscient"):
        n = max(runs // 100, 10) if name == "omniscient" else runs
        cases.append((name, s.with_values({"job.deadline_h": 1.5 * od_h, "policy.name": name}), n))
    print(f"deadline 1.5 x on-demand makespan ({1.5 * od_h:.2f} h)")
    print("policy                    best runs/s  median runs/s  vs no deadline")
    first = None
    for label, sc, n in cases:
        rates = [rate(lambda i: simulate(sc, (1, i)), n) for _ in range(repeat)]
        best = max(rates)
        first = first or best
        print(f"{label:<25} {best:>11.1f}  {statistics.median(rates):>13.1f}  {best / first:>14.2f}")


if __name__ == "__main__":
    main()
