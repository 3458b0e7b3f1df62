"""Figures of a sweep whose curves are one rate each (zones, advisor buckets): metrics against a varied value.

Such a sweep has no rate axis to draw (sweep.SweepSpec.own_rate), so its
figures put the last varied key on the x axis (e.g. policy.zones_allowed: cost
against the number of zones allowed) with one line per combination of the
other varied keys, strategy and pattern: the mean and its 95% CI as error
bars, the on-demand level dashed. Without varied keys the x axis is the
strategy.
  cost_vs_value       Spot cost ($) and the on-demand cost;
  makespan_vs_value   makespan (h) and the on-demand makespan.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

VALUE_FIGURES = {"cost_vs_value": ("cost_usd", "Spot cost ($)", "ondemand_cost_usd_mean"),
                 "makespan_vs_value": ("makespan_h", "makespan (h)", "ondemand_makespan_h_mean")}
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def value_figure(summary: pd.DataFrame, meta: dict, keys: list[str], name: str):
    """The figure `name` (VALUE_FIGURES) of a one-rate sweep's summary.csv rows (grid cells only)."""
    metric, ylabel, baseline = VALUE_FIGURES[name]
    df = summary[summary["in_grid"].astype(str).str.lower() == "true"] if "in_grid" in summary else summary
    x_key = keys[-1] if keys else "strategy"
    order = _order(df, meta, x_key)
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in order)
    position = {v: (float(v) if numeric else i) for i, v in enumerate(order)}
    series_keys = [k for k in keys[:-1]] + (["strategy"] if x_key != "strategy" and
                                             len(meta["strategies"]) > 1 else [])
    series_keys += ["pattern"] if len(meta["patterns"]) > 1 else []
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = [((), df)] if not series_keys else list(df.groupby(series_keys, sort=False))
    handles = []
    for i, (label, sub) in enumerate(groups):
        x = sub[x_key].map(position).to_numpy(float)
        keep = np.argsort(x, kind="stable")
        sub, x = sub.iloc[keep], x[keep]
        colour, marker = colours[i % len(colours)], MARKERS[i % len(MARKERS)]
        mean = sub[f"{metric}_mean"].to_numpy(float)
        err = np.vstack([mean - sub[f"{metric}_ci_low"].to_numpy(float),
                         sub[f"{metric}_ci_high"].to_numpy(float) - mean])
        ax.errorbar(x, mean, yerr=np.nan_to_num(err), color=colour, marker=marker, ms=5, lw=1.3,
                    capsize=3)
        text = ", ".join(str(v) for v in (label if isinstance(label, tuple) else (label,))) or metric
        handles.append(Line2D([], [], color=colour, marker=marker, lw=1.3, label=text))
    level = df[baseline].to_numpy(float)
    if level.size and np.isfinite(level).any():
        ax.axhline(float(np.nanmean(level)), color="k", ls="--", lw=1)
        handles.append(Line2D([], [], color="k", ls="--", lw=1, label="all on-demand (mean)"))
    if not numeric:
        ax.set_xticks(range(len(order)), [str(v) for v in order])
    ax.set_xlabel(x_key)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="best",
              title=", ".join(series_keys) or None, title_fontsize=7)
    rate = df["rate_per_h"].to_numpy(float)
    note = ("each point at its own preemption rate" if np.unique(rate).size > 1
            else f"preemption rate {rate[0]:.3g}/h")
    fig.suptitle(f"{meta.get('scenario', '')}: mean and 95% CI, {note}", fontsize=9)
    return fig


def _order(df: pd.DataFrame, meta: dict, x_key: str) -> list:
    """The x values in the order the sweep gave them (--vary's values, or the strategies)."""
    if x_key == "strategy":
        given = meta["strategies"]
    else:
        given = next((v["values"] for v in meta["vary"] if v["key"] == x_key), [])
    present = list(dict.fromkeys(df[x_key].tolist()))
    out = [v for v in given if v in present] + [v for v in present if v not in given]
    return out
