"""The figure of `spotsim traces --plot-dir`: a trace's empirical uptime CDF against each fitted pattern.

The empirical CDF is of the complete uptimes (the ones the KS statistics are
measured against); censored uptimes are left out of it, as they are of the KS.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from .errors import TraceError  # noqa: E402

COLOURS = {"poisson": "tab:blue", "weibull": "tab:orange", "bursty": "tab:green"}


def _hours_label(x, _pos) -> str:
    return f"{x:g}" if x >= 0.01 else f"{x:.0e}"


def plot_uptime_cdf(stats, path: str | Path) -> Path:
    """Write `stats`' uptime CDF figure (PNG) to `path`; refused when the trace has no complete uptime."""
    up_h = np.sort(np.asarray(stats.complete_uptimes_s, dtype=float)) / 3600.0
    if up_h.size == 0:
        raise TraceError(f"{stats.source}: no complete uptime to draw (no preemption after a grant seen "
                         f"in the trace)")
    positive = up_h[up_h > 0]
    lo = (positive.min() if positive.size else 1.0 / 3600.0) / 2.0
    hi = up_h.max() * 2.0
    fig, ax = plt.subplots(figsize=(7.0, 4.6), constrained_layout=True)
    ecdf = np.arange(1, up_h.size + 1) / up_h.size
    ax.step(np.concatenate(([lo], up_h, [hi])), np.concatenate(([0.0], ecdf, [1.0])), where="post", color="black",
            linewidth=1.8, label=f"trace: {up_h.size} complete uptimes")
    grid_h = np.geomspace(lo, hi, 400)
    for i, fit in enumerate(stats.fits):
        label = f"{fit.pattern}  KS {fit.ks:.3f}" + ("  (best)" if i == 0 else "")
        ax.plot(grid_h, np.asarray(fit.cdf(grid_h * 3600.0), dtype=float), color=COLOURS.get(fit.pattern),
                linewidth=2.4 if i == 0 else 1.4, linestyle="-" if i == 0 else "--", label=label)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(0.0, 1.02)
    ax.xaxis.set_major_formatter(FuncFormatter(_hours_label))
    ax.set_xlabel("uptime (grant to preemption), hours, log scale")
    ax.set_ylabel("share of uptimes <= x")
    censored = len(stats.censored_uptimes_s)
    ax.set_title(f"{stats.name}: uptime CDF\n{stats.preemptions} preemptions, "
                 f"{stats.rate_per_h:.3g} per available hour"
                 + (f", min {stats.min_nodes} nodes" if stats.min_nodes > 1 else ""), fontsize=10)
    if not stats.fits:
        ax.text(0.98, 0.04, f"no fits: {stats.fits_note}", transform=ax.transAxes, ha="right", fontsize=8,
                wrap=True)
    if censored:
        ax.text(0.02, 0.96, f"{censored} censored uptime(s) not drawn (used by the fits)",
                transform=ax.transAxes, va="top", fontsize=8, color="dimgray")
    ax.grid(True, which="major", alpha=0.3)
    aware = stats.fits and stats.fits[0].tick_s
    ax.legend(loc="lower right", fontsize=9, title_fontsize=8,
              title="KS (tick-aware): distance in whole ticks" if aware else "KS: distance to the trace's CDF")
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
