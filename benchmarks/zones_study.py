"""Which zones should a job be allowed to use? Cost and makespan over the shipped multi-zone traces.

Two settings (scenarios/zones/): the study job on the nine aws-02-15-2023 V100
zones with their Spot price series, and the 8x H100 job on the 13 GCP H100
zones at their list prices. For each, N submission moments (the run seeds
draw them; every configuration sees the same N windows on the same trace
clock) and, per configuration, the mean cost and makespan with 95% CIs:

- stay in each zone alone (the zone as the only entry of `zones:`);
- failover and cheapest over all zones, without a deadline (spot_only);
- with a deadline of `--deadline` x the job's on-demand makespan: greedy
  with failover and with cheapest, and the optimum over all zones
  (omniscient), the floor;
- all on-demand (the first zone's on-demand price).

Runs stopped early (cost past `--limit-ratio` x on-demand) are counted and
their cost/makespan kept as the lower bounds they are. Writes a Markdown
table per setting to stdout and a CSV of every configuration to --out.

Usage: python benchmarks/zones_study.py [--windows N] [--deadline 1.5] [--out results/zones]
"""
from __future__ import annotations

import argparse
import csv
import math
import statistics
from pathlib import Path

from spotsim.config import load_scenario
from spotsim.model import simulate

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"study job on 9 AWS V100 zones": "scenarios/zones/aws-v100-9zones.yaml",
            "8x H100 job on 13 GCP H100 zones": "scenarios/zones/gcp-h100x8-13zones.yaml"}


def mean_ci(values):
    """Mean and 95% normal CI half-width."""
    m = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return m, half


def run_all(s, windows: int, limit_ratio: float):
    return [simulate(s, (2026, i), limit_ratio=limit_ratio) for i in range(windows)]


def row(label: str, results) -> dict:
    cost, cost_ci = mean_ci([r.cost_usd for r in results])
    span, span_ci = mean_ci([r.makespan_h for r in results])
    return {"configuration": label, "cost_usd": cost, "cost_ci": cost_ci, "makespan_h": span, "makespan_ci": span_ci,
            "moves": statistics.fmean(r.moves for r in results),
            "egress_usd": statistics.fmean(r.transfer_usd for r in results),
            "met_deadline": statistics.fmean(r.met_deadline for r in results)
            if not math.isnan(results[0].met_deadline) else math.nan,
            "stopped_early": sum(not r.finished for r in results)}


def study(path: str, windows: int, factor: float, limit_ratio: float) -> list[dict]:
    base = load_scenario([ROOT / path])
    rows = []
    for zone in base.zones:
        one = base.with_values({"zones": (zone,), "policy.zones": "stay"})
        rows.append(row(f"stay in {zone.name}", run_all(one, windows, limit_ratio)))
    for policy in ("failover", "cheapest"):
        rows.append(row(f"{policy} over all, no deadline",
                        run_all(base.with_values({"policy.zones": policy}), windows, limit_ratio)))
    od = run_all(base.with_values({"policy.name": "on_demand"}), 1, limit_ratio)[0]
    deadline_h = factor * od.ondemand_makespan_h
    timed = base.with_values({"job.deadline_h": deadline_h})
    for policy in ("failover", "cheapest"):
        rows.append(row(f"greedy + {policy}, deadline {factor:g}x",
                        run_all(timed.with_values({"policy.name": "greedy", "policy.zones": policy}), windows,
                                limit_ratio)))
    rows.append(row(f"optimum over all zones, deadline {factor:g}x",
                    run_all(timed.with_values({"policy.name": "omniscient"}), windows, limit_ratio)))
    rows.append({"configuration": "all on-demand", "cost_usd": od.ondemand_cost_usd, "cost_ci": 0.0,
                 "makespan_h": od.ondemand_makespan_h, "makespan_ci": 0.0, "moves": 0.0, "egress_usd": 0.0,
                 "met_deadline": math.nan, "stopped_early": 0})
    return rows


def markdown(title: str, rows: list[dict], windows: int) -> str:
    od = rows[-1]["cost_usd"]
    out = [f"**{title}** ({windows} windows; mean [95% CI]; `*`: some runs stopped early, a lower bound)", "",
           "| configuration | cost ($) | vs on-demand | makespan (h) | moves | deadline met |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        star = "*" if r["stopped_early"] else ""
        met = "" if math.isnan(r["met_deadline"]) else f"{100 * r['met_deadline']:.0f}%"
        out.append(f"| {r['configuration']} | {r['cost_usd']:.3g} ± {r['cost_ci']:.2g}{star} | "
                   f"{r['cost_usd'] / od:.2f} | {r['makespan_h']:.3g} ± {r['makespan_ci']:.2g}{star} | "
                   f"{r['moves']:.2f} | {met} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=200)
    ap.add_argument("--deadline", type=float, default=1.5, help="deadline as a multiple of the on-demand makespan")
    ap.add_argument("--limit-ratio", type=float, default=100.0)
    ap.add_argument("--out", default="results/zones")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for title, path in SETTINGS.items():
        rows = study(path, args.windows, args.deadline, args.limit_ratio)
        with open(out / f"{Path(path).stem}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(markdown(title, rows, args.windows), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
