"""Figures of a sweep, drawn from its CSV files only (so `spotsim plot DIR` can redraw them).

Curves (one panel per pattern, one line with a 95% CI band per strategy; one
file per combination of varied values when keys are varied):
  cost_vs_rate       Spot cost, the on-demand cost, and the cost break-even points;
  savings_vs_rate    savings vs on-demand, in %;
  lost_vs_rate       wasted (lost, redone) compute, in hours;
  makespan_vs_rate   makespan, the on-demand makespan x slack, and the time break-even points.
A cell with runs stopped early (at the sweep's limit, summary.csv `unfinished`)
holds a bound, not a mean: it is drawn with a hollow marker on a dotted line,
with its own legend entry. Each strategy has its own on-demand baseline
(milestone's, for one, depends on its saves): where they differ, each gets its
own dashed line in the strategy's colour, and each break-even marker sits on
its own strategy's line.
With exactly two varied keys, maps over them (one panel per pattern x strategy
for the break-even rate; one per pattern for the strategy gap):
  breakeven_map_cost, breakeven_map_time   the break-even rate (log colour scale);
  strategy_gap_map   where the strategy choice matters: the cost gap between the
                     worst and the best strategy, in % of the on-demand cost, at
                     the grid rate nearest the scenario's own rate.
When job.deadline_h is varied (one file per combination of the other varied
keys besides policy.name), per (pattern, rate) panel, at most MAX_DEADLINE_PANELS,
one curve per policy.name (colour) and checkpoint strategy (line style):
  cost_vs_deadline   cost as a fraction of all on-demand against the deadline:
                     mean with its 95% CI band, p95 thin dashed, omniscient in
                     black as the floor, and all on-demand at 1;
  deadlines_met      the share of runs that met the deadline (95% Wilson band).
A sweep whose curves are one rate each (zones, advisor buckets; sweep.json
`own_rate`) has no rate axis: its figures are value_plots.VALUE_FIGURES
(metrics against the last varied key) instead of the curves and maps.
Every figure is written as PNG and PDF; figure files of an earlier sweep in the
same folder that this sweep does not draw are removed.
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
from matplotlib.colors import LogNorm, Normalize, to_hex  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from .errors import SpotsimError  # noqa: E402
from .value_plots import VALUE_FIGURES, value_figure  # noqa: E402

FORMATS = ("png", "pdf")
CURVES = {
    "cost_vs_rate": ("cost_usd", "Spot cost ($)"),
    "savings_vs_rate": ("savings_pct", "savings vs on-demand (%)"),
    "lost_vs_rate": ("lost_h", "lost (redone) compute (h)"),
    "makespan_vs_rate": ("makespan_h", "makespan (h)"),
}
MAPS = ("breakeven_map_cost", "breakeven_map_time", "strategy_gap_map")
DEADLINE_FIGURES = ("cost_vs_deadline", "deadlines_met")
DEADLINE_KEY, POLICY_KEY = "job.deadline_h", "policy.name"
DEADLINE_COLUMNS = ("replications", "in_grid", "unfinished", "ondemand_makespan_h_mean", "cost_ratio_mean",
                    "cost_ratio_ci_low", "cost_ratio_ci_high", "cost_ratio_p95", "met_deadline_mean")
MAX_DEADLINE_PANELS = 6
FLOOR_POLICY = "omniscient"
STRATEGY_STYLES = ("-", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (8, 2)))
STRATEGY_MARKERS = ("o", "s", "^", "D", "v")
BASELINE = {"cost_usd": "ondemand_cost_usd_mean", "makespan_h": "ondemand_makespan_h_mean"}
SUMMARY_COLUMNS = ("strategy", "pattern", "rate_per_h", "ondemand_cost_usd_mean", "ondemand_makespan_h_mean",
                   *(f"{m}_{s}" for m, _ in CURVES.values() for s in ("mean", "ci_low", "ci_high")))
BREAKEVEN_COLUMNS = ("strategy", "pattern", "metric", "breakeven_rate_per_h", "ci_low", "ci_high", "status")
SAME_BASELINE_RTOL = 1e-3
"""Strategies whose on-demand baselines differ by less than this share one on-demand line."""
_META = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}


class PlotInputError(SpotsimError):
    """A sweep folder whose files cannot be plotted, said in one line."""


def load(out) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """summary.csv, breakeven.csv (empty if absent: an interrupted sweep) and sweep.json, checked.

    A file that is not what `spotsim sweep` writes raises PlotInputError naming it.
    """
    out = Path(out)
    meta = _read_meta(out / "sweep.json")
    keys = [v["key"] for v in meta["vary"]]
    extra = DEADLINE_COLUMNS if DEADLINE_KEY in keys else ()
    summary = _read_csv(out / "summary.csv", (*SUMMARY_COLUMNS, *keys, *extra))
    if summary.empty:
        raise PlotInputError(f"{out / 'summary.csv'}: no completed cell to plot; rerun `spotsim sweep`")
    bpath = out / "breakeven.csv"
    brk = _read_csv(bpath, (*BREAKEVEN_COLUMNS, *keys)) if bpath.exists() else pd.DataFrame()
    return summary, brk, meta


def _read_meta(path: Path) -> dict:
    rerun = "rerun `spotsim sweep` into this folder"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PlotInputError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except ValueError as exc:
        raise PlotInputError(f"{path}: not valid JSON ({exc}); {rerun}") from None
    ok = (isinstance(meta, dict) and all(isinstance(meta.get(k), list) and meta[k] for k in ("strategies", "patterns"))
          and isinstance(meta.get("vary", []), list)
          and all(isinstance(v, dict) and "key" in v and isinstance(v.get("values"), list)
                  for v in meta.get("vary", [])))
    if not ok:
        raise PlotInputError(f"{path}: not the sweep.json of `spotsim sweep` (it needs lists 'strategies', "
                             f"'patterns' and 'vary'); {rerun}")
    meta.setdefault("vary", [])
    return meta


def _read_csv(path: Path, required, **kw) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, **kw)
    except pd.errors.EmptyDataError:
        raise PlotInputError(f"{path}: empty file (not even a header): the sweep that wrote it did not finish; "
                             f"rerun `spotsim sweep` into this folder") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise PlotInputError(f"{path}: not a CSV file of `spotsim sweep` ({str(exc).strip()})") from None
    except OSError as exc:
        raise PlotInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise PlotInputError(f"{path}: column(s) {', '.join(missing)} missing: not written by this version of "
                             f"`spotsim sweep`, or written for another sweep.json; rerun the sweep")
    return df


RUN_KEY_COLUMNS = ("strategy", "pattern", "rate_per_h", "replication", "seed", "in_grid", "finished")
EXACT_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
"""read_csv's options to read every float exactly as written (pandas 3 does by default)."""


def read_runs(out) -> pd.DataFrame:
    """The runs of the sweep in `out`, from runs.csv or runs.parquet (`spotsim sweep --format`), whichever it
    wrote (the newer if both are there): the same columns and values either way. Figures are drawn from
    summary.csv and breakeven.csv, so `spotsim plot` needs neither."""
    out = Path(out)
    found = [p for p in (out / "runs.csv", out / "runs.parquet") if p.is_file()]
    if not found:
        raise PlotInputError(f"{out}: no runs.csv or runs.parquet; is it the --out folder of `spotsim sweep`?")
    path = max(found, key=lambda p: p.stat().st_mtime_ns)
    if path.suffix == ".csv":
        return _read_csv(path, RUN_KEY_COLUMNS, **EXACT_FLOATS)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise PlotInputError(f"{path}: reading Parquet needs pyarrow; install it with "
                             f"`pip install 'spotsim[parquet]'`") from None
    try:
        df = pq.read_table(path).to_pandas()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid (not a Parquet file) is a ValueError
        raise PlotInputError(f"{path}: not a Parquet file of `spotsim sweep` ({str(exc).strip()[:160]})") from None
    missing = [c for c in RUN_KEY_COLUMNS if c not in df.columns]
    if missing:
        raise PlotInputError(f"{path}: column(s) {', '.join(missing)} missing: not the runs file of `spotsim sweep`")
    return df


def plot_sweep(out) -> list[Path]:
    """Draw every figure of the sweep in `out` from its CSV files; return the paths written.

    Figure files of an earlier sweep in `out` that this one does not draw are removed.
    """
    out = Path(out)
    summary, brk, meta = load(out)
    keys = [v["key"] for v in meta["vary"]]
    written: list[Path] = []
    if meta.get("own_rate"):
        for name in VALUE_FIGURES:
            written += _save(value_figure(summary, meta, keys, name), out / name)
        remove_stale_figures(out, written)
        return written
    for combo in _combos(summary, keys):
        sub = _select(summary, combo)
        bsub = _select(brk, combo) if len(brk) else brk
        suffix = "" if not combo else "__" + "__".join(f"{k}={_label(v)}" for k, v in combo.items())
        for name, (metric, ylabel) in CURVES.items():
            fig = curve_figure(sub, bsub, meta, metric, ylabel, combo)
            written += _save(fig, out / f"{name}{suffix}")
    if len(keys) == 2 and len(brk):
        for metric in ("cost", "time"):
            fig = breakeven_map(brk, meta, keys, metric)
            if fig is not None:
                written += _save(fig, out / f"breakeven_map_{metric}")
        fig = _gap_map(summary, meta, keys)
        if fig is not None:
            written += _save(fig, out / "strategy_gap_map")
    if DEADLINE_KEY in keys:
        others = [k for k in keys if k not in (DEADLINE_KEY, POLICY_KEY)]
        for combo in _combos(summary, others):
            suffix = "" if not combo else "__" + "__".join(f"{k}={_label(v)}" for k, v in combo.items())
            sub = _select(summary, combo)
            for name in DEADLINE_FIGURES:
                written += _save(deadline_figure(sub, meta, name, combo), out / f"{name}{suffix}")
    remove_stale_figures(out, written)
    return written


def is_figure_file(path: Path) -> bool:
    """A file name that plot_sweep writes (a curve of any combination, or a map)."""
    if path.suffix.lstrip(".") not in FORMATS:
        return False
    stem = path.stem
    return stem in MAPS or stem in VALUE_FIGURES or any(stem == c or stem.startswith(c + "__") for c in (*CURVES, *DEADLINE_FIGURES))


def remove_stale_figures(out, keep) -> list[Path]:
    """Remove figure files in `out` not in `keep` (left by an earlier sweep into the same folder)."""
    keep = {Path(p).resolve() for p in keep}
    stale = [p for p in Path(out).iterdir() if p.is_file() and is_figure_file(p) and p.resolve() not in keep]
    for p in stale:
        p.unlink()
    return stale


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


# -- curves ------------------------------------------------------------------------
def curve(sub: pd.DataFrame, pattern: str, strategy: str, metric: str) -> pd.DataFrame:
    """One strategy's curve in one panel, by rate: mean, CI, and whether the cell is censored.

    A censored cell has runs stopped early at the sweep's limit: its mean is a
    bound (cost, makespan and lost work: a lower bound; savings: an upper bound).
    """
    d = sub[(sub["pattern"] == pattern) & (sub["strategy"] == strategy)].sort_values("rate_per_h")
    unfinished = d["unfinished"].fillna(0).to_numpy() if "unfinished" in d else np.zeros(len(d))
    return pd.DataFrame({
        "rate": d["rate_per_h"].to_numpy(dtype=float),
        "mean": d[f"{metric}_mean"].to_numpy(dtype=float),
        "low": d[f"{metric}_ci_low"].to_numpy(dtype=float),
        "high": d[f"{metric}_ci_high"].to_numpy(dtype=float),
        "censored": unfinished > 0,
    })


def baselines(sub: pd.DataFrame, pattern: str, strategies, metric: str, slack: float = 1.0) -> dict[str, float]:
    """Each strategy's on-demand level in one panel (makespan: times the deadline slack)."""
    col = BASELINE.get(metric)
    if col is None:
        return {}
    part = sub[sub["pattern"] == pattern]
    out = {}
    for st in strategies:
        v = part.loc[part["strategy"] == st, col].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            out[st] = float(v.mean()) * (slack if metric == "makespan_h" else 1.0)
    return out


def _one_baseline(levels: dict[str, float]) -> bool:
    v = list(levels.values())
    return not v or max(v) - min(v) <= SAME_BASELINE_RTOL * max(abs(x) for x in v)


def curve_figure(sub, bsub, meta, metric, ylabel, combo):
    """One figure of `metric` against the rate: a panel per pattern, a line per strategy."""
    patterns = [p for p in meta["patterns"] if p in set(sub["pattern"])] or meta["patterns"]
    strategies = meta["strategies"]
    fig, axes = plt.subplots(1, len(patterns), figsize=(4.2 * len(patterns), 3.9), squeeze=False, sharey=True,
                             layout="constrained")
    axes = axes[0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {st: colours[i % len(colours)] for i, st in enumerate(strategies)}
    slack = float(meta.get("time_slack", 1.0) or 1.0)
    seen = {"censored": False, "found": False, "per_strategy_baseline": False, "baseline": False}
    all_zero = metric == "lost_h"
    for ax, pattern in zip(axes, patterns):
        levels = baselines(sub, pattern, strategies, metric, slack)
        shared = _one_baseline(levels)
        for st in strategies:
            c = curve(sub, pattern, st, metric)
            if c.empty:
                continue
            all_zero &= bool(np.all(np.nan_to_num(c[["mean", "low", "high"]].to_numpy()) == 0))
            seen["censored"] |= _draw_curve(ax, c, colour[st])
            if st in levels and not shared:
                ax.axhline(levels[st], color=colour[st], ls="--", lw=1)
                seen["per_strategy_baseline"] = True
            drawn = _mark_breakeven(ax, bsub, st, pattern, metric, colour[st], levels.get(st))
            if drawn:
                seen[drawn] = True
        if levels and shared:
            ax.axhline(float(np.mean(list(levels.values()))), color="k", ls="--", lw=1)
            seen["baseline"] = True
        if metric == "savings_pct":
            ax.axhline(0.0, color="k", ls="--", lw=1)
        _axes_style(ax, metric, pattern)
    for ax in axes:  # after every set_yscale: setting a shared axis' scale resets its siblings' tickers
        _ticks(ax, metric)
    if all_zero:
        for ax in axes:
            ax.text(0.5, 0.75, "no work lost in any run", transform=ax.transAxes, ha="center", va="center",
                    fontsize=9, color="0.3")
    axes[0].set_ylabel(ylabel)
    handles = [Line2D([], [], color=colour[st], lw=1.4, label=st) for st in strategies
               if (sub["strategy"] == st).any()]
    handles += _legend_extras(metric, slack, seen)
    ncol = len(handles) if len(patterns) >= 3 else 2
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=7, frameon=False)
    title = meta.get("scenario", "")
    if combo:
        title += "  (" + ", ".join(f"{k}={v}" for k, v in combo.items()) + ")"
    fig.suptitle(title, fontsize=10)
    return fig


def _draw_curve(ax, c: pd.DataFrame, colour) -> bool:
    """The mean (solid between uncensored cells, dotted to censored ones) and its CI band; True if censored."""
    x, cens = c["rate"].to_numpy(), c["censored"].to_numpy()
    ax.plot(x, c["mean"], color=colour, lw=1.0, ls=":")
    ax.plot(x, np.where(cens, np.nan, c["mean"]), color=colour, lw=1.4)
    ax.fill_between(x, c["low"], c["high"], where=~cens, color=colour, alpha=0.2, lw=0, interpolate=False)
    if cens.any():
        ax.plot(x[cens], c["mean"][cens], ls="none", marker="o", ms=4, mfc="white", mec=colour, mew=1.0)
        before, after = np.r_[True, cens[:-1]], np.r_[cens[1:], True]
        alone = ~cens & before & after  # no solid segment reaches it: show it as a point
        ax.plot(x[alone], c["mean"][alone], ls="none", marker="o", ms=3, color=colour)
    return bool(cens.any())


def _axes_style(ax, metric: str, pattern: str) -> None:
    ax.set_xscale("log")
    if metric in ("cost_usd", "makespan_h"):
        ax.set_yscale("log")
    elif metric == "lost_h":
        # Lost work spans zero (saves that fit) to thousands of hours (runs re-simulated far past the
        # early-stop limit): linear below 1 h, logarithmic above, so neither hides the other.
        ax.set_yscale("symlog", linthresh=1.0)
    ax.set_title(pattern, fontsize=10)
    ax.set_xlabel("preemptions per hour of uptime")
    ax.grid(True, which="major", alpha=0.3)


def _ticks(ax, metric: str) -> None:
    """Plain numbers at 1, 2, 5 x 10^k on log axes; minor ticks unlabelled (labelling them dominates
    the drawing time)."""
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    if metric in ("cost_usd", "makespan_h"):
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0), numticks=15))
        ax.yaxis.set_major_formatter(plain)
    elif metric == "lost_h":
        ax.yaxis.set_major_formatter(plain)
    ax.xaxis.set_major_formatter(plain)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())


def _legend_extras(metric: str, slack: float, seen: dict) -> list:
    extra = []
    what = {"cost_usd": "on-demand", "makespan_h": "on-demand" + (f" x {slack:g}" if slack != 1 else "")}
    if seen["baseline"]:
        extra.append(Line2D([], [], color="k", ls="--", lw=1, label=what[metric]))
    if seen["per_strategy_baseline"]:
        extra.append(Line2D([], [], color="0.4", ls="--", lw=1, label=what[metric] + " (each strategy's own)"))
    if metric == "savings_pct":
        extra.append(Line2D([], [], color="k", ls="--", lw=1, label="break-even (0%)"))
    kind = "time" if metric == "makespan_h" else "cost"
    if seen["found"]:
        extra.append(Line2D([], [], color="0.3", marker="o", ms=5, ls="-", lw=0.8,
                            label=f"{kind} break-even, 95% CI"))
    if seen.get("censored_breakeven"):
        extra.append(Line2D([], [], color="0.3", marker="o", ms=5, mfc="white", ls="-", lw=0.8,
                            label=f"{kind} break-even at most (runs below it stopped early)"))
    if seen["censored"]:
        bound = "an upper" if metric == "savings_pct" else "a lower"
        extra.append(Line2D([], [], color="0.4", ls=":", marker="o", ms=4, mfc="white",
                            label=f"runs stopped early at the limit: {bound} bound"))
    return extra


def _mark_breakeven(ax, bsub, strategy, pattern, metric, colour, level) -> bool:
    """The break-even rate of `strategy` with its CI, on that strategy's own on-demand line.

    Returns what it drew: "found", "censored_breakeven" (an upper bound: runs below it stopped early; hollow
    marker) or False."""
    kind = {"cost_usd": "cost", "makespan_h": "time", "savings_pct": "cost"}.get(metric)
    if kind is None or bsub is None or not len(bsub):
        return False
    row = bsub[(bsub["strategy"] == strategy) & (bsub["pattern"] == pattern) & (bsub["metric"] == kind)]
    status = row["status"].iloc[0] if not row.empty else None
    if status not in ("found", "censored"):
        return False
    rate = float(row["breakeven_rate_per_h"].iloc[0])
    y = 0.0 if metric == "savings_pct" else level
    if y is None or not math.isfinite(rate):
        return False
    ax.errorbar([rate], [y], xerr=breakeven_xerr(rate, row["ci_low"].iloc[0], row["ci_high"].iloc[0]),
                fmt="o", color=colour, ms=5, capsize=3, zorder=5,
                mfc="white" if status == "censored" else colour)
    return "censored_breakeven" if status == "censored" else "found"


def breakeven_xerr(rate: float, low, high):
    """The error bar of a break-even marker: distances to the CI bounds, never negative.

    A bound one float step on the wrong side of the rate (interpolation) is the
    rate itself; an open side (NaN) gets no bar.
    """
    lo = float(low) if low is not None else math.nan
    hi = float(high) if high is not None else math.nan
    left = max(0.0, rate - lo) if math.isfinite(lo) else 0.0
    right = max(0.0, hi - rate) if math.isfinite(hi) else 0.0
    return [[left], [right]]


# -- maps --------------------------------------------------------------------------
def map_cells(part: pd.DataFrame, keys, v1, v2) -> tuple[np.ndarray, dict]:
    """One map panel from break-even rows: the grid of found rates (NaN elsewhere) and each
    other cell's text ('< 1' below the rates swept, '> 64' above, '<= 3.5' an upper bound where runs
    stopped early, else its status)."""
    k1, k2 = keys
    grid = np.full((len(v1), len(v2)), np.nan)
    notes = {}
    for _, r in part.iterrows():
        a, c = _index(v1, r[k1]), _index(v2, r[k2])
        if a is None or c is None:
            continue
        if r["status"] == "found" and np.isfinite(r["breakeven_rate_per_h"]):
            grid[a, c] = r["breakeven_rate_per_h"]
        elif r["status"] == "below_range":
            notes[(a, c)] = f"< {float(r['ci_high']):.3g}"
        elif r["status"] == "above_range":
            notes[(a, c)] = f"> {float(r['ci_low']):.3g}"
        elif r["status"] == "censored" and np.isfinite(r["breakeven_rate_per_h"]):
            notes[(a, c)] = f"<= {float(r['breakeven_rate_per_h']):.3g}"
        else:
            notes[(a, c)] = str(r["status"]).replace("_", " ")
    return grid, notes


def breakeven_map(brk, meta, keys, metric):
    """The break-even rate over the two varied keys, one panel per strategy x pattern."""
    b = brk[brk["metric"] == metric]
    if b.empty:
        return None
    k1, k2 = keys
    v1, v2 = _values(meta, k1), _values(meta, k2)
    strategies, patterns = meta["strategies"], meta["patterns"]
    fig, axes = plt.subplots(len(strategies), len(patterns), figsize=(3.4 * len(patterns) + 1.2,
                             2.4 * len(strategies) + 1.0), squeeze=False, layout="constrained")
    vals = b.loc[b["status"] == "found", "breakeven_rate_per_h"].to_numpy(dtype=float)
    finite = vals[np.isfinite(vals) & (vals > 0)]
    if finite.size and finite.min() < finite.max():
        norm = LogNorm(finite.min(), finite.max())
    elif finite.size:
        norm = Normalize(finite.min() * 0.5, finite.min() * 1.5)
    else:
        norm = None
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.92")
    im = None
    for i, st in enumerate(strategies):
        for j, p in enumerate(patterns):
            ax = axes[i][j]
            grid, notes = map_cells(b[(b["strategy"] == st) & (b["pattern"] == p)], keys, v1, v2)
            shown = ax.imshow(grid, origin="lower", aspect="auto", norm=norm, cmap=cmap)
            if np.isfinite(grid).any():
                im = shown
            for (a, c), t in notes.items():
                ax.text(c, a, t, ha="center", va="center", color="k", fontsize=7)
            _label_grid(ax, grid, v1, v2, "{:.3g}", lambda v: "k" if norm(v) > 0.6 else "w")
            ax.set_title(f"{st} / {p}", fontsize=9)
            if i == len(strategies) - 1:
                ax.set_xlabel(k2, fontsize=8)
            if j == 0:
                ax.set_ylabel(k1, fontsize=8)
    title = f"{meta.get('scenario', '')}: {metric} break-even rate, preemptions/h"
    if im is not None:
        bar = fig.colorbar(im, ax=axes, shrink=0.8, label=f"{metric} break-even (preemptions/h)")
        for axis in (bar.ax.yaxis.set_major_formatter, bar.ax.yaxis.set_minor_formatter):
            axis(FuncFormatter(lambda v, _: f"{v:g}"))
        symbols = (("below_range", "< below the rates swept"), ("above_range", "> above them"),
                   ("censored", "<= at most: runs below it stopped early"))
        keys_text = [t for st, t in symbols if (b["status"] == st).any()]
        if keys_text:
            title += "\n(grey: no break-even to colour; " + ", ".join(keys_text) + ")"
    else:
        title += "\n" + _no_crossing_text(b, metric)
    fig.suptitle(title, fontsize=9)
    return fig


def _no_crossing_text(b: pd.DataFrame, metric: str) -> str:
    """What a map without a single crossing says instead of a colour bar."""
    status = set(b["status"])
    loses = "Spot is slower than on-demand" if metric == "time" else "Spot costs more than on-demand"
    wins = "Spot is faster than on-demand" if metric == "time" else "Spot is cheaper than on-demand"
    if status == {"below_range"}:
        return f"no break-even in the rates swept: {loses} at every rate, even {b['ci_high'].min():.3g}/h"
    if status == {"above_range"}:
        return f"no break-even in the rates swept: {wins} at every rate, even {b['ci_low'].max():.3g}/h"
    return "no break-even in the rates swept (< below, > above them)"


def _values(meta, key):
    return [v for v in meta["vary"] if v["key"] == key][0]["values"]


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
    g = summary[summary["in_grid"].astype(str).str.lower() == "true"] if "in_grid" in summary else summary
    if g.empty:
        return None
    rates = np.array(sorted(set(g["rate_per_h"])), dtype=float)
    target = meta.get("scenario_rate_per_h") or float(np.exp(np.log(rates).mean()))
    rate = float(rates[np.argmin(np.abs(np.log(rates) - math.log(target)))])
    g = g[g["rate_per_h"] == rate]
    k1, k2 = keys
    v1, v2 = _values(meta, k1), _values(meta, k2)
    patterns = meta["patterns"]
    fig, axes = plt.subplots(1, len(patterns), figsize=(3.6 * len(patterns) + 1.2, 3.6), squeeze=False,
                             layout="constrained")
    grids = []
    for j, p in enumerate(patterns):
        grid = np.full((len(v1), len(v2)), np.nan)
        part = g[g["pattern"] == p]
        for (a_val, c_val), d in part.groupby([k1, k2]):
            a, c = _index(v1, a_val), _index(v2, c_val)
            if a is None or c is None or d.empty:
                continue
            od = float(d["ondemand_cost_usd_mean"].mean())
            grid[a, c] = 100.0 * (d["cost_usd_mean"].max() - d["cost_usd_mean"].min()) / od
        grids.append(grid)
    finite = np.concatenate([x[np.isfinite(x)] for x in grids])
    norm = Normalize(0.0, max(float(finite.max()), 1e-9)) if finite.size else Normalize(0, 1)
    im = None
    for j, (p, grid) in enumerate(zip(patterns, grids)):
        ax = axes[0][j]
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="magma_r", norm=norm)
        _label_grid(ax, grid, v1, v2, "{:.2g}", lambda v: "w" if norm(v) > 0.6 else "k")
        ax.set_xlabel(k2, fontsize=8)
        ax.set_title(p, fontsize=9)
    axes[0][0].set_ylabel(k1, fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.85, label="worst - best strategy\ncost (% of on-demand)")
    fig.suptitle(f"{meta.get('scenario', '')}: where the strategy matters, at {rate:.3g} preemptions/h",
                 fontsize=9)
    return fig


def _label_grid(ax, grid, v1, v2, fmt: str, color) -> None:
    """Write each finite value of a heat map into its cell (color: a function of the value) and label the ticks."""
    for a in range(len(v1)):
        for c in range(len(v2)):
            if np.isfinite(grid[a, c]):
                ax.text(c, a, fmt.format(grid[a, c]), ha="center", va="center", color=color(grid[a, c]),
                        fontsize=7)
    ax.set_xticks(range(len(v2)), [str(v) for v in v2], fontsize=7)
    ax.set_yticks(range(len(v1)), [str(v) for v in v1], fontsize=7)


# -- deadlines ---------------------------------------------------------------------
def deadline_panels(sub: pd.DataFrame, meta) -> list[tuple[str, float]]:
    """(pattern, rate) of every deadline panel: the sweep's patterns in order, the grid rates by value."""
    g = _grid_rows(sub)
    out = []
    for p in meta["patterns"]:
        rates = sorted(set(g.loc[g["pattern"] == p, "rate_per_h"].astype(float)))
        out += [(p, r) for r in rates]
    return out


def _grid_rows(sub: pd.DataFrame) -> pd.DataFrame:
    if "in_grid" not in sub:
        return sub
    return sub[sub["in_grid"].astype(str).str.lower() == "true"]


def _policies(sub: pd.DataFrame, meta) -> list[str]:
    """The policies to draw: the varied values in --vary order, else the scenario's own."""
    if POLICY_KEY in sub:
        varied = [str(v) for v in _values(meta, POLICY_KEY)] if any(v["key"] == POLICY_KEY for v in meta["vary"]) \
            else []
        present = [str(v) for v in dict.fromkeys(sub[POLICY_KEY])]
        return [v for v in varied if v in present] + [v for v in present if v not in varied]
    return [str(meta.get("scenario_values", {}).get("policy", {}).get("name", "spot_only"))]


def deadline_curve(sub: pd.DataFrame, pattern: str, rate: float, strategy: str, policy: str | None,
                   kind: str) -> pd.DataFrame:
    """One curve of a deadline panel, by deadline: mean, CI band, p95 (cost only) and censoring.

    kind "cost_vs_deadline": the cost ratio's mean, t-interval and p95; "deadlines_met": the share
    met with a 95% Wilson interval over the cell's replications.
    """
    d = _grid_rows(sub)
    d = d[(d["pattern"] == pattern) & np.isclose(d["rate_per_h"].astype(float), rate) & (d["strategy"] == strategy)]
    if policy is not None and POLICY_KEY in d:
        d = d[d[POLICY_KEY].astype(str) == policy]
    d = d.sort_values(DEADLINE_KEY)
    x = d[DEADLINE_KEY].to_numpy(dtype=float)
    censored = d["unfinished"].fillna(0).to_numpy() > 0
    if kind == "cost_vs_deadline":
        return pd.DataFrame({"deadline": x, "mean": d["cost_ratio_mean"].to_numpy(dtype=float),
                             "low": d["cost_ratio_ci_low"].to_numpy(dtype=float),
                             "high": d["cost_ratio_ci_high"].to_numpy(dtype=float),
                             "p95": d["cost_ratio_p95"].to_numpy(dtype=float), "censored": censored})
    share = d["met_deadline_mean"].to_numpy(dtype=float)
    low, high = wilson(share, d["replications"].to_numpy(dtype=float))
    return pd.DataFrame({"deadline": x, "mean": share, "low": low, "high": high, "censored": censored})


def wilson(share, n, z: float = 1.959963984540054):
    """95% Wilson score interval of a share of n runs (NaN where the share is): unlike a t-interval
    it stays inside [0, 1] and does not collapse to a point when every run met the deadline."""
    p = np.asarray(share, dtype=float)
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(np.clip(p * (1 - p) / n + z * z / (4 * n * n), 0.0, None))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _policy_colours(policies: list[str]) -> dict[str, str]:
    cycle = [c for c in plt.rcParams["axes.prop_cycle"].by_key()["color"] if to_hex(c) != "#000000"]
    out, i = {}, 0
    for p in policies:
        if p == FLOOR_POLICY:
            out[p] = "k"
        else:
            out[p] = cycle[i % len(cycle)]
            i += 1
    return out


def _policy_widths(policies: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    """Line widths and drawing order: the floor widest and beneath, then each policy narrower and above
    the one before, so that curves which coincide (every run met the deadline) show as nested stripes."""
    ordered = [p for p in policies if p == FLOOR_POLICY] + [p for p in policies if p != FLOOR_POLICY]
    rest = len(ordered) - (FLOOR_POLICY in policies)
    widths, order = {}, {}
    for i, p in enumerate(ordered):
        order[p] = i
        if p == FLOOR_POLICY:
            widths[p] = 1.1 + 0.55 * max(rest, 1)
        else:
            widths[p] = 1.1 + 0.55 * (len(ordered) - 1 - i)
    return widths, order


def _panel_makespan(sub: pd.DataFrame, pattern: str, rate: float, strategies) -> tuple[float, bool]:
    """The panel's on-demand makespan (h) for the 'x makespan' axis, and whether every strategy shares it."""
    d = _grid_rows(sub)
    d = d[(d["pattern"] == pattern) & np.isclose(d["rate_per_h"].astype(float), rate)]
    levels = []
    for st in strategies:
        v = d.loc[d["strategy"] == st, "ondemand_makespan_h_mean"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            levels.append(float(np.median(v)))
    if not levels:
        return math.nan, True
    return levels[0], max(levels) - min(levels) <= SAME_BASELINE_RTOL * max(levels)


def deadline_figure(sub: pd.DataFrame, meta, kind: str, combo: dict):
    """cost_vs_deadline or deadlines_met: a panel per (pattern, rate), a curve per policy and strategy."""
    panels = deadline_panels(sub, meta)
    shown = panels[:MAX_DEADLINE_PANELS]
    strategies = [st for st in meta["strategies"] if (sub["strategy"] == st).any()] or meta["strategies"]
    policies = _policies(sub, meta)
    colour = _policy_colours(policies)
    several = len(strategies) > 1
    widths, order = _policy_widths(policies)
    ncols = min(3, max(1, len(shown)))
    nrows = max(1, math.ceil(len(shown) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(4.4 * ncols, 6.8), 3.5 * nrows + 1.3), squeeze=False,
                             sharey=True, layout="constrained")  # wide enough for the legend under one panel
    flat = axes.ravel()
    cost = kind == "cost_vs_deadline"
    seen_censored = seen_p95 = False
    deadlines = sorted({float(v) for v in sub[DEADLINE_KEY]}) if len(sub) else []
    for ax, (pattern, rate) in zip(flat, shown):
        for pol in policies:
            floor = pol == FLOOR_POLICY
            lw, z = widths[pol], 3 + order[pol] * 0.01
            for i, st in enumerate(strategies):
                c = deadline_curve(sub, pattern, rate, st, pol, kind)
                if c.empty:
                    continue
                ls = STRATEGY_STYLES[i % len(STRATEGY_STYLES)] if several else "-"
                mk = STRATEGY_MARKERS[i % len(STRATEGY_MARKERS)] if several else "o"
                x, y = c["deadline"].to_numpy(), c["mean"].to_numpy()
                cens = c["censored"].to_numpy()
                ax.plot(x, y, color=colour[pol], ls=ls, lw=lw, marker=mk, ms=3.0 + 0.5 * lw, zorder=z)
                if cens.any():
                    ax.plot(x[cens], y[cens], ls="none", marker=mk, ms=6, mfc="white", mec=colour[pol], zorder=5)
                    seen_censored = True
                ax.fill_between(x, c["low"], c["high"], color=colour[pol], alpha=0.1 if floor or not cost else 0.16,
                                lw=0)
                if cost and np.isfinite(c["p95"]).any():
                    ax.plot(x, c["p95"], color=colour[pol], ls=(0, (4, 2)), lw=0.8, zorder=2)
                    seen_p95 = True
        if cost:
            ax.axhline(1.0, color="0.45", ls=(0, (1, 1.5)), lw=1.2, zorder=1)
            ax.text(0.98, 1.0, "all on-demand", transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                    fontsize=7, color="0.3")
        _deadline_axes(ax, sub, pattern, rate, strategies, deadlines, cost)
    for ax in flat[len(shown):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("cost / all on-demand cost" if cost else "share of runs that met the deadline")
    if cost:
        top = max([1.05] + [float(np.nanmax(line.get_ydata())) for ax in flat for line in ax.get_lines()
                            if np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any()])
        flat[0].set_ylim(0.0, top * 1.08)
    else:
        flat[0].set_ylim(-0.03, 1.08)
    handles = [Line2D([], [], color=colour[p], lw=widths[p],
                      label=f"{p} (the floor: cheapest in hindsight)" if p == FLOOR_POLICY else p)
               for p in policies]
    if several:
        handles += [Line2D([], [], color="0.3", ls=STRATEGY_STYLES[i % len(STRATEGY_STYLES)],
                           marker=STRATEGY_MARKERS[i % len(STRATEGY_MARKERS)], ms=3.5, lw=1.2,
                           label=f"checkpoint: {st}") for i, st in enumerate(strategies)]
    import matplotlib.patches as mpatches
    band = "mean, 95% CI of the mean" if cost else "share met, 95% Wilson interval"
    handles.append(mpatches.Patch(color="0.5", alpha=0.3, label=f"line: {band} (shaded)"))
    if cost and seen_p95:
        handles.append(Line2D([], [], color="0.3", ls=(0, (4, 2)), lw=0.8, label="p95 of the runs (thin dashed)"))
    if cost:
        handles.append(Line2D([], [], color="0.45", ls=(0, (1, 1.5)), lw=1.2, label="all on-demand (1.0)"))
    if seen_censored:
        handles.append(Line2D([], [], color="0.3", ls="none", marker="o", ms=6, mfc="white",
                              label="runs stopped early at the limit: " + ("a lower bound" if cost else "outcome unsure")))
    # Two legend columns per panel column: long labels fit a one-panel figure without clipping.
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 2 * ncols), fontsize=7,
               frameon=False)
    what = "cost as a fraction of all on-demand" if cost else "share of runs that met the deadline"
    title = f"{meta.get('scenario', '')}: {what} vs deadline"
    if combo:
        title += "  (" + ", ".join(f"{k}={v}" for k, v in combo.items()) + ")"
    if len(panels) > len(shown):
        title += f"\n(first {len(shown)} of {len(panels)} pattern x rate panels)"
    fig.suptitle(title, fontsize=10)
    return fig


def _deadline_axes(ax, sub, pattern, rate, strategies, deadlines, cost: bool) -> None:
    """Panel title, grid, deadline axis in hours below and as a multiple of the on-demand makespan above."""
    ax.set_title(f"{pattern}, {rate:g} preemptions/h", fontsize=9)
    ax.set_xlabel("deadline (h from submission)", fontsize=8)
    ax.grid(True, alpha=0.3)
    if len(deadlines) == 1:
        d = deadlines[0]
        ax.set_xlim(d * 0.9, d * 1.1)
    od, shared = _panel_makespan(sub, pattern, rate, strategies)
    if not (math.isfinite(od) and od > 0):
        return
    top = ax.secondary_xaxis("top", functions=(lambda x, od=od: x / od, lambda m, od=od: m * od))
    if 1 <= len(deadlines) <= 8:
        top.set_xticks([d / od for d in deadlines])
    top.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}x"))
    top.xaxis.set_minor_formatter(NullFormatter())
    top.tick_params(labelsize=7)
    whose = "" if shared or len(strategies) < 2 else f" ({strategies[0]}'s)"
    top.set_xlabel(f"deadline / on-demand makespan{whose} ({od:.3g} h)", fontsize=7)
