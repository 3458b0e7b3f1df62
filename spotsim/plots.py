"""Figures of a sweep, drawn from its CSV files only (so `spotsim plot DIR` can redraw them).

Curves (one panel per pattern, one line with a 95% CI band per strategy; one
file per combination of varied values when keys are varied):
  cost_vs_rate       Spot cost, the on-demand cost, and the cost break-even points;
  savings_vs_rate    savings vs on-demand, in %;
  lost_vs_rate       wasted (lost, redone) compute, in hours;
  makespan_vs_rate   makespan, the on-demand makespan x slack, and the time break-even points.
With exactly two varied keys, maps over them (one panel per pattern x strategy
for the break-even rate; one per pattern for the strategy gap):
  breakeven_map_cost, breakeven_map_time   the break-even rate (log colour scale);
  strategy_gap_map   where the strategy choice matters: the cost gap between the
                     worst and the best strategy, in % of the on-demand cost, at
                     the grid rate nearest the scenario's own rate.
Every figure is written as PNG and PDF.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

FORMATS = ("png", "pdf")
CURVES = {
    "cost_vs_rate": ("cost_usd", "Spot cost ($)"),
    "savings_vs_rate": ("savings_pct", "savings vs on-demand (%)"),
    "lost_vs_rate": ("lost_h", "lost (redone) compute (h)"),
    "makespan_vs_rate": ("makespan_h", "makespan (h)"),
}
_META = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}


def load(out) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """summary.csv, breakeven.csv (empty if absent: an interrupted sweep) and sweep.json."""
    out = Path(out)
    meta = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    summary = pd.read_csv(out / "summary.csv")
    bpath = out / "breakeven.csv"
    brk = pd.read_csv(bpath) if bpath.exists() else pd.DataFrame()
    return summary, brk, meta


def plot_sweep(out) -> list[Path]:
    """Draw every figure of the sweep in `out` from its CSV files; return the paths written."""
    out = Path(out)
    summary, brk, meta = load(out)
    keys = [v["key"] for v in meta["vary"]]
    written: list[Path] = []
    combos = _combos(summary, keys)
    for combo in combos:
        sub = _select(summary, combo)
        bsub = _select(brk, combo) if len(brk) else brk
        suffix = "" if not combo else "__" + "__".join(f"{k}={_label(v)}" for k, v in combo.items())
        for name, (metric, ylabel) in CURVES.items():
            fig = _curve_figure(sub, bsub, meta, metric, ylabel, combo)
            written += _save(fig, out / f"{name}{suffix}")
    if len(keys) == 2 and len(brk):
        for metric in ("cost", "time"):
            fig = _breakeven_map(brk, meta, keys, metric)
            if fig is not None:
                written += _save(fig, out / f"breakeven_map_{metric}")
        fig = _gap_map(summary, meta, keys)
        if fig is not None:
            written += _save(fig, out / "strategy_gap_map")
    return written


def _label(v) -> str:
    return str(v).replace("/", "_").replace(" ", "")


def _combos(df: pd.DataFrame, keys: list[str]) -> list[dict]:
    if not keys:
        return [{}]
    rows = df[keys].drop_duplicates().itertuples(index=False, name=None)
    return [dict(zip(keys, r)) for r in rows]


def _select(df: pd.DataFrame, combo: dict) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for k, v in combo.items():
        mask &= (df[k] == v).to_numpy()
    return df[mask]


def _save(fig, stem: Path) -> list[Path]:
    paths = []
    for fmt in FORMATS:
        p = Path(f"{stem}.{fmt}")
        fig.savefig(p, format=fmt, dpi=90, metadata=_META[fmt])
        paths.append(p)
    plt.close(fig)
    return paths


def _panels(n: int, height: float = 3.2):
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, height), squeeze=False, sharey=True)
    return fig, axes[0]


def _curve_figure(sub, bsub, meta, metric, ylabel, combo):
    patterns = [p for p in meta["patterns"] if p in set(sub["pattern"])] or meta["patterns"]
    fig, axes = _panels(len(patterns))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, pattern in zip(axes, patterns):
        part = sub[sub["pattern"] == pattern]
        for i, strategy in enumerate(meta["strategies"]):
            d = part[part["strategy"] == strategy].sort_values("rate_per_h")
            if d.empty:
                continue
            c = colours[i % len(colours)]
            x = d["rate_per_h"].to_numpy()
            ax.plot(x, d[f"{metric}_mean"], color=c, lw=1.4, label=strategy)
            ax.fill_between(x, d[f"{metric}_ci_low"], d[f"{metric}_ci_high"], color=c, alpha=0.2, lw=0)
            _mark_breakeven(ax, bsub, d, strategy, pattern, metric, c)
        if metric == "cost_usd" and len(part):
            od = float(part["ondemand_cost_usd_mean"].mean())
            ax.axhline(od, color="k", ls="--", lw=1, label="on-demand")
        if metric == "makespan_h" and len(part):
            slack = float(meta.get("time_slack", 1.0))
            od = float(part["ondemand_makespan_h_mean"].mean()) * slack
            ax.axhline(od, color="k", ls="--", lw=1, label="on-demand" + (f" x {slack:g}" if slack != 1 else ""))
        if metric == "savings_pct":
            ax.axhline(0.0, color="k", ls="--", lw=1, label="break-even")
        ax.set_xscale("log")
        if metric in ("cost_usd", "makespan_h"):
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        # Unlabelled minor ticks: labelling them dominates the drawing time.
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(NullFormatter())
        ax.set_title(pattern)
        ax.set_xlabel("preemptions per hour of uptime")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize=7, loc="best")
    title = meta.get("scenario", "")
    if combo:
        title += "  (" + ", ".join(f"{k}={v}" for k, v in combo.items()) + ")"
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.84, wspace=0.08)
    return fig


def _mark_breakeven(ax, bsub, d, strategy, pattern, metric, colour):
    kind = {"cost_usd": "cost", "makespan_h": "time", "savings_pct": "cost"}.get(metric)
    if kind is None or bsub is None or not len(bsub):
        return
    row = bsub[(bsub["strategy"] == strategy) & (bsub["pattern"] == pattern) & (bsub["metric"] == kind)]
    if row.empty or row["status"].iloc[0] != "found":
        return
    rate = float(row["breakeven_rate_per_h"].iloc[0])
    if metric == "cost_usd":
        y = float(d["ondemand_cost_usd_mean"].mean())
    elif metric == "makespan_h":
        y = float(d["ondemand_makespan_h_mean"].mean())
    else:
        y = 0.0
    lo, hi = row["ci_low"].iloc[0], row["ci_high"].iloc[0]
    xerr = None
    if np.isfinite(lo) and np.isfinite(hi):
        xerr = [[rate - lo], [hi - rate]]
    ax.errorbar([rate], [y], xerr=xerr, fmt="o", color=colour, ms=5, capsize=3, zorder=5)


def _breakeven_map(brk, meta, keys, metric):
    b = brk[brk["metric"] == metric]
    if b.empty:
        return None
    k1, k2 = keys
    v1 = [v for v in meta["vary"] if v["key"] == k1][0]["values"]
    v2 = [v for v in meta["vary"] if v["key"] == k2][0]["values"]
    strategies, patterns = meta["strategies"], meta["patterns"]
    fig, axes = plt.subplots(len(strategies), len(patterns), figsize=(3.6 * len(patterns), 2.9 * len(strategies)),
                             squeeze=False)
    vals = b["breakeven_rate_per_h"].to_numpy(dtype=float)
    finite = vals[np.isfinite(vals) & (vals > 0)]
    norm = LogNorm(finite.min(), finite.max()) if finite.size and finite.min() < finite.max() else None
    im = None
    for i, st in enumerate(strategies):
        for j, p in enumerate(patterns):
            ax = axes[i][j]
            grid = np.full((len(v1), len(v2)), np.nan)
            notes = {}
            part = b[(b["strategy"] == st) & (b["pattern"] == p)]
            for _, r in part.iterrows():
                a, c = _index(v1, r[k1]), _index(v2, r[k2])
                if a is None or c is None:
                    continue
                grid[a, c] = r["breakeven_rate_per_h"]
                if r["status"] != "found":
                    notes[(a, c)] = ">" if r["status"] == "above_range" else "<"
            im = ax.imshow(grid, origin="lower", aspect="auto", norm=norm, cmap="viridis")
            for (a, c), t in notes.items():
                ax.text(c, a, t, ha="center", va="center", color="k")
            _label_grid(ax, grid, v1, v2, "{:.3g}", "w")
            ax.set_title(f"{st} / {p}", fontsize=9)
            if i == len(strategies) - 1:
                ax.set_xlabel(k2)
            if j == 0:
                ax.set_ylabel(k1)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label=f"{metric} break-even (preemptions/h)")
    fig.suptitle(f"{meta.get('scenario', '')}: {metric} break-even rate (> above, < below the rates swept)",
                 fontsize=10)
    return fig


def _index(values, v):
    for i, x in enumerate(values):
        try:
            if x == v or float(x) == float(v):
                return i
        except (TypeError, ValueError):
            if str(x) == str(v):
                return i
    return None


def _gap_map(summary, meta, keys):
    g = summary[summary["in_grid"].astype(str).str.lower() == "true"]
    if g.empty:
        return None
    rates = np.array(sorted(set(g["rate_per_h"])), dtype=float)
    target = meta.get("scenario_rate_per_h") or float(np.exp(np.log(rates).mean()))
    rate = float(rates[np.argmin(np.abs(np.log(rates) - math.log(target)))])
    g = g[g["rate_per_h"] == rate]
    k1, k2 = keys
    v1 = [v for v in meta["vary"] if v["key"] == k1][0]["values"]
    v2 = [v for v in meta["vary"] if v["key"] == k2][0]["values"]
    patterns = meta["patterns"]
    fig, axes = plt.subplots(1, len(patterns), figsize=(4.0 * len(patterns), 3.3), squeeze=False)
    im = None
    for j, p in enumerate(patterns):
        ax = axes[0][j]
        grid = np.full((len(v1), len(v2)), np.nan)
        part = g[g["pattern"] == p]
        for (a_val, c_val), d in part.groupby([k1, k2]):
            a, c = _index(v1, a_val), _index(v2, c_val)
            if a is None or c is None or d.empty:
                continue
            od = float(d["ondemand_cost_usd_mean"].mean())
            grid[a, c] = 100.0 * (d["cost_usd_mean"].max() - d["cost_usd_mean"].min()) / od
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="magma_r")
        _label_grid(ax, grid, v1, v2, "{:.2g}", "tab:blue")
        ax.set_xlabel(k2)
        ax.set_title(p, fontsize=9)
    axes[0][0].set_ylabel(k1)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.85, label="worst - best strategy cost (% of on-demand)")
    fig.suptitle(f"{meta.get('scenario', '')}: where the strategy matters, at {rate:.3g} preemptions/h", fontsize=10)
    return fig


def _label_grid(ax, grid, v1, v2, fmt: str, color: str) -> None:
    """Write each finite value of a heat map into its cell and label the axes' ticks."""
    for a in range(len(v1)):
        for c in range(len(v2)):
            if np.isfinite(grid[a, c]):
                ax.text(c, a, fmt.format(grid[a, c]), ha="center", va="center", color=color, fontsize=7)
    ax.set_xticks(range(len(v2)), [str(v) for v in v2], fontsize=7)
    ax.set_yticks(range(len(v1)), [str(v) for v in v1], fontsize=7)
