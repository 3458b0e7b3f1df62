"""Simulated runs per second with zones against single-zone runs of the same job, in one process.

The study job on the nine aws-02-15-2023 V100 zones (scenarios/zones/aws-v100-9zones.yaml):
each zone policy over all nine zones (and stay, one zone's timeline inside the zone market), against
the same job replaying one of those traces as a single-zone trace scenario (interrupts.pattern
trace, capacity from the trace: the model the zones generalise). Issue 13's target: zone policies
within 2x of single-zone runs, i.e. a ratio zone/single >= 0.5. Best of --repeat blocks.

Usage: python benchmarks/bench_zones.py [--runs N] [--repeat K]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from spotsim.config import load_scenario
from spotsim.model import simulate

ROOT = Path(__file__).resolve().parent.parent
ZONES = ROOT / "scenarios/zones/aws-v100-9zones.yaml"


def rate(s, runs: int, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        for i in range(runs):
            simulate(s, (7, i))
        best = max(best, runs / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    zoned = load_scenario([ZONES])
    first = zoned.zones[0]
    rows = []
    for zone in (first, zoned.zones[-1]):
        single = load_scenario([ROOT / "scenarios/jobs/aws-v100.yaml"],
                               ["interrupts.pattern=trace", f"interrupts.trace={zone.trace}", "capacity.wait=trace"])
        rows.append((f"single zone {zone.name} (trace scenario)", rate(single, args.runs, args.repeat)))
    reference = max(r for _, r in rows)
    for policy in ("stay", "failover", "cheapest"):
        rows.append((f"zones: {policy} over 9", rate(zoned.with_values({"policy.zones": policy}), args.runs,
                                                     args.repeat)))
    print(f"{'configuration':<44} {'runs/s':>8}  ratio to the faster single-zone run")
    for label, r in rows:
        print(f"{label:<44} {r:>8.0f}  {r / reference:>5.2f}")


if __name__ == "__main__":
    main()
