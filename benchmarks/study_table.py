"""The source study's matrix in the simulator, as the README's markdown table.

Usage: python benchmarks/study_table.py [--replications N]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from spotsim.config import load_scenario
from spotsim.model import simulate
from spotsim.results import summarise

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=500)
    args = ap.parse_args()
    files = sorted((ROOT / "scenarios/study").glob("*-*.yaml"))
    order = ["ondemand", "spot-uninterrupted"] + [f"{s}-{p}" for s in ("fixed", "adaptive", "milestone")
                                                  for p in ("regular", "poisson", "bursty")]
    by_name = {f.stem: f for f in files} | {"ondemand": ROOT / "scenarios/study/ondemand.yaml"}
    print("| scenario | cost $ | savings % | makespan h | preemptions | lost work h | checkpoints | final acc. |")
    print("|---|---|---|---|---|---|---|---|")
    for name in order:
        s = load_scenario([by_name[name]])
        out = summarise([simulate(s, (2026, i)) for i in range(args.replications)])

        def cell(k, fmt="{:.3f}"):
            m, (lo, hi) = out[k]["mean"], out[k]["ci95"]
            return fmt.format(m) + (f" ± {fmt.format((hi - lo) / 2)}" if hi > lo else "")
        savings = "0 (baseline)" if name == "ondemand" else cell("savings_pct", "{:.1f}")
        print(f"| {name} | {cell('cost_usd')} | {savings} | {cell('makespan_h')} | {cell('preemptions', '{:.2f}')} "
              f"| {cell('lost_h', '{:.4f}')} | {cell('checkpoints', '{:.1f}')} | {cell('final_accuracy', '{:.4f}')} |")


if __name__ == "__main__":
    main()
