"""The README's break-even table from sweep outputs at two grids.

    python benchmarks/breakeven_table.py "GCP L4=out/l4-log6,out/l4-log20" "GCP 8x H100=out/h100-log6,out/h100-log20"

Each argument is `job label=DIR_A,DIR_B` (two `spotsim sweep --out` folders of
one job at two grids). Prints one markdown row per strategy: the cost
break-even per pattern at both grids, whether they agree (each point inside
the other's CI), and the Poisson rate at which the mean makespan reaches
twice on-demand's (from summary.csv, interpolated in log(rate) on the finer grid).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PATTERNS = ("regular", "poisson", "bursty")


def fmt(x: float) -> str:
    return f"{x:.3g}"


def cell(row) -> str:
    if row is None:
        return "-"
    st = row["status"]
    if st == "above_range":
        return f"> {fmt(row['ci_low'])}"
    if st == "below_range":
        return f"< {fmt(row['ci_high'])}"
    mark = "<= " if st == "censored" else ""
    return f"{mark}{fmt(row['breakeven_rate_per_h'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def agree(a, b) -> str:
    if a is None or b is None or a["status"] != "found" or b["status"] != "found":
        return "same status" if a is not None and b is not None and a["status"] == b["status"] else "-"
    ok = (a["ci_low"] <= b["breakeven_rate_per_h"] <= a["ci_high"]
          and b["ci_low"] <= a["breakeven_rate_per_h"] <= b["ci_high"])
    return "yes" if ok else "NO"


def double_time_rate(summary: pd.DataFrame, strategy: str) -> str:
    """Poisson rate where mean time_ratio crosses 2 (interpolated in log rate), with the band's crossings."""
    d = summary[(summary.strategy == strategy) & (summary.pattern == "poisson")].sort_values("rate_per_h")
    r = np.log(d.rate_per_h.to_numpy())

    def cross(y):
        y = y - 2.0
        for i in range(1, len(y)):
            if y[i - 1] < 0 <= y[i]:
                return math.exp(r[i - 1] + (r[i] - r[i - 1]) * (-y[i - 1]) / (y[i] - y[i - 1]))
        return math.nan
    m = cross(d.time_ratio_mean.to_numpy())
    lo = cross(d.time_ratio_ci_high.to_numpy())
    hi = cross(d.time_ratio_ci_low.to_numpy())
    if math.isnan(m):
        return "-"
    return f"{fmt(m)} [{fmt(lo)}, {fmt(hi)}]"


def rows(label: str, dirs: list[str]) -> list[str]:
    be = [pd.read_csv(Path(d) / "breakeven.csv") for d in dirs]
    summary = pd.read_csv(Path(dirs[-1]) / "summary.csv")
    out = []
    for strategy in dict.fromkeys(be[0].strategy):
        cells = []
        for pattern in PATTERNS:
            got = []
            for b in be:
                x = b[(b.strategy == strategy) & (b.pattern == pattern) & (b.metric == "cost")]
                got.append(None if x.empty else x.iloc[0])
            cells.append(" / ".join(cell(g) for g in got) + f" ({agree(*got)})")
        out.append(f"| {label} | {strategy} | " + " | ".join(cells) + f" | {double_time_rate(summary, strategy)} |")
    return out


def main(args: list[str]) -> None:
    lines = ["| job | strategy | regular: log6 / log20 (agree) | poisson | bursty | makespan = 2x on-demand (Poisson) |",
             "|---|---|---|---|---|---|"]
    for arg in args:
        label, dirs = arg.split("=", 1)
        lines += rows(label, dirs.split(","))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
