"""Figures of a sweep: censored cells marked, each break-even on its own baseline, stale files removed,
maps without a crossing say so, and broken sweep folders refused in one line."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from spotsim import plots
from spotsim import sweep as sw
from spotsim.cli import main
from spotsim.config import load_scenario

TINY = """\
name: tiny
job: {epochs: 8, epoch_s: 30}
vm: {startup_s: 30}
checkpoint: {every_epochs: 2}
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A tiny finished sweep (two strategies, one pattern, three rates, four replications)."""
    folder = tmp_path_factory.mktemp("plots")
    scen = folder / "tiny.yaml"
    scen.write_text(TINY)
    spec = sw.SweepSpec(load_scenario([scen]), (1.0, 8.0, 40.0), strategies=("fixed", "milestone"),
                        patterns=("poisson",), replications=4)
    sw.run_sweep(spec, folder / "out", jobs=1)
    return folder / "out"


@pytest.fixture
def sweep_copy(swept, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(swept, out)
    return out


def _strategy_colour(meta, strategy):
    colours = __import__("matplotlib.pyplot").pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    return colours[meta["strategies"].index(strategy) % len(colours)]


def test_curve_marks_cells_with_runs_stopped_early(swept):
    """A cell whose summary row counts unfinished runs is flagged censored in the curve data; others are not."""
    summary, _, _ = plots.load(swept)
    summary = summary.copy()
    summary["unfinished"] = 0
    hit = summary.index[(summary["strategy"] == "fixed") & (summary["rate_per_h"] == 40.0)]
    summary.loc[hit, "unfinished"] = 3
    c = plots.curve(summary, "poisson", "fixed", "cost_usd")
    assert list(c["rate"]) == sorted(c["rate"]) and {1.0, 8.0, 40.0} <= set(c["rate"])
    assert list(c["censored"]) == list(c["rate"] == 40.0)
    assert not plots.curve(summary, "poisson", "milestone", "cost_usd")["censored"].any()


def test_censored_cells_get_a_legend_entry_only_when_present(swept):
    """The figure's legend names runs stopped early exactly when some cell has them, as a bound."""
    summary, brk, meta = plots.load(swept)
    summary = summary.copy()

    def legend_texts(df, metric):
        fig = plots.curve_figure(df, brk, meta, metric, "y", {})
        texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        plots.plt.close(fig)
        return texts

    summary["unfinished"] = 0
    assert not any("stopped early" in t for t in legend_texts(summary, "cost_usd"))
    summary.loc[summary.index[-1], "unfinished"] = 1
    assert any("stopped early" in t and "lower bound" in t for t in legend_texts(summary, "cost_usd"))
    assert any("stopped early" in t and "upper bound" in t for t in legend_texts(summary, "savings_pct"))


def test_each_breakeven_marker_sits_on_its_own_strategys_baseline(swept):
    """With different on-demand baselines, each strategy's cost break-even marker is drawn at its own level."""
    summary, _, meta = plots.load(swept)
    summary = summary.copy()
    before = plots.baselines(summary, "poisson", meta["strategies"], "cost_usd")
    mil = summary["strategy"] == "milestone"
    summary.loc[mil, "ondemand_cost_usd_mean"] = summary.loc[mil, "ondemand_cost_usd_mean"] * 1.3
    rows = [{"strategy": st, "pattern": "poisson", "metric": "cost", "breakeven_rate_per_h": 5.0,
             "ci_low": 4.0, "ci_high": 6.0, "status": "found"} for st in ("fixed", "milestone")]
    levels = plots.baselines(summary, "poisson", meta["strategies"], "cost_usd")
    assert levels["milestone"] == pytest.approx(1.3 * before["milestone"], rel=1e-9)
    assert levels["fixed"] == before["fixed"]
    fig = plots.curve_figure(summary, pd.DataFrame(rows), meta, "cost_usd", "y", {})
    ax = fig.axes[0]
    for st in ("fixed", "milestone"):
        colour = _strategy_colour(meta, st)
        markers = [ln for ln in ax.lines if ln.get_marker() == "o" and ln.get_color() == colour
                   and list(ln.get_xdata()) == [5.0]]
        assert len(markers) == 1, st
        assert markers[0].get_ydata()[0] == pytest.approx(levels[st])
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--" and ln.get_color() == colour]
        assert dashed and dashed[0].get_ydata()[0] == pytest.approx(levels[st])
    plots.plt.close(fig)


def test_a_censored_breakeven_is_a_hollow_marker_with_its_own_legend_entry(swept):
    """A break-even reported as censored (an upper bound: runs below it stopped early) is drawn hollow,
    and the legend says it is an upper bound; a found one is filled."""
    summary, _, meta = plots.load(swept)
    rows = [{"strategy": st, "pattern": "poisson", "metric": "cost", "breakeven_rate_per_h": 5.0,
             "ci_low": 4.0, "ci_high": 6.0, "status": status}
            for st, status in (("fixed", "found"), ("milestone", "censored"))]
    fig = plots.curve_figure(summary, pd.DataFrame(rows), meta, "cost_usd", "y", {})
    markers = {ln.get_color(): ln.get_markerfacecolor() for ln in fig.axes[0].lines
               if ln.get_marker() == "o" and list(ln.get_xdata()) == [5.0]}
    assert markers[_strategy_colour(meta, "milestone")] == "white"
    assert markers[_strategy_colour(meta, "fixed")] == _strategy_colour(meta, "fixed")
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert any("at most" in t for t in texts) and any(t == "cost break-even, 95% CI" for t in texts)
    plots.plt.close(fig)


@pytest.mark.parametrize("rate", [5.556282866785161, 1.0, 34.09975567444176])
def test_breakeven_ci_bound_a_float_step_off_gives_a_non_negative_bar(rate):
    """A CI bound one float step on the wrong side of the rate gives a zero, not negative, error bar."""
    below, above = math.nextafter(rate, 0.0), math.nextafter(rate, math.inf)
    (left,), (right,) = plots.breakeven_xerr(rate, above, below)
    assert left == 0.0 and right == 0.0
    (left,), (right,) = plots.breakeven_xerr(rate, rate * 0.9, rate * 1.2)
    assert left == pytest.approx(rate * 0.1) and right == pytest.approx(rate * 0.2)
    assert plots.breakeven_xerr(rate, math.nan, math.nan) == [[0.0], [0.0]]


def test_plot_survives_a_ci_bound_one_float_step_below_the_rate(sweep_copy):
    """`spotsim plot` draws a break-even whose ci_high is one float step below its rate (interpolation)."""
    b = pd.read_csv(sweep_copy / "breakeven.csv")
    rate = 5.556282866785161
    b.loc[0, ["breakeven_rate_per_h", "ci_low", "ci_high", "status"]] = [rate, rate, math.nextafter(rate, 0),
                                                                         "found"]
    b.to_csv(sweep_copy / "breakeven.csv", index=False)
    r = CliRunner().invoke(main, ["plot", str(sweep_copy)])
    assert r.exit_code == 0, r.output
    assert (sweep_copy / "cost_vs_rate.png").stat().st_size > 1000


def test_replotting_removes_figures_the_sweep_does_not_draw(sweep_copy):
    """Figure files of an earlier sweep in the folder (other combinations, maps) are removed; other files stay."""
    stale = ["cost_vs_rate__vm.startup_s=99.png", "lost_vs_rate__vm.startup_s=99.pdf", "breakeven_map_cost.png",
             "strategy_gap_map.pdf"]
    kept = ["notes.png", "cost_vs_rate_draft.pdf", "summary.csv"]
    for name in stale + kept[:2]:
        (sweep_copy / name).write_bytes(b"old")
    written = plots.plot_sweep(sweep_copy)
    names = {p.name for p in sweep_copy.iterdir()}
    assert not names & set(stale)
    assert set(kept) <= names
    assert {p.name for p in written} == {f"{c}.{f}" for c in plots.CURVES for f in plots.FORMATS}


def _map_rows(status, keys=("vm.startup_s", "checkpoint.write_s")):
    rows = []
    for st in ("fixed", "milestone"):
        for a in (30, 90):
            for c in (3, 30):
                rate, lo, hi = (math.nan, math.nan, 1.0) if status == "below_range" else (10.0 + a / c, 8.0, 12.0)
                rows.append({"strategy": st, "pattern": "poisson", keys[0]: a, keys[1]: c, "metric": "time",
                             "breakeven_rate_per_h": rate, "ci_low": lo, "ci_high": hi, "status": status})
    return pd.DataFrame(rows)


META = {"scenario": "tiny", "strategies": ["fixed", "milestone"], "patterns": ["poisson"],
        "vary": [{"key": "vm.startup_s", "values": [30, 90]}, {"key": "checkpoint.write_s", "values": [3, 30]}]}


def test_map_with_no_crossing_says_so_instead_of_a_colour_bar():
    """A time map whose every cell is below the rates swept has no colour bar; its title says Spot loses
    at every rate, and each cell shows '< lowest rate'."""
    keys = ["vm.startup_s", "checkpoint.write_s"]
    fig = plots.breakeven_map(_map_rows("below_range"), META, keys, "time")
    assert len(fig.axes) == 2  # a panel per strategy x pattern, no colour bar
    title = fig._suptitle.get_text()
    assert "no break-even in the rates swept" in title and "at every rate, even 1/h" in title
    assert {t.get_text() for t in fig.axes[0].texts} == {"< 1"}
    plots.plt.close(fig)
    fig = plots.breakeven_map(_map_rows("found"), META, keys, "time")
    assert len(fig.axes) == 3  # with a crossing somewhere: the panels and a colour bar
    plots.plt.close(fig)


def test_map_cells_say_which_side_of_the_range():
    """Cells without a crossing show '< lowest' or '> highest' rate swept, a censored one '<= its bound';
    found cells hold the rate."""
    part = pd.DataFrame([
        {"a": 1, "b": 1, "status": "found", "breakeven_rate_per_h": 7.5, "ci_low": 7, "ci_high": 8},
        {"a": 1, "b": 2, "status": "below_range", "breakeven_rate_per_h": math.nan, "ci_low": math.nan,
         "ci_high": 0.25},
        {"a": 2, "b": 1, "status": "above_range", "breakeven_rate_per_h": math.nan, "ci_low": 64.0,
         "ci_high": math.nan},
        {"a": 2, "b": 2, "status": "censored", "breakeven_rate_per_h": 3.5, "ci_low": 3.0, "ci_high": 4.0},
    ])
    grid, notes = plots.map_cells(part, ("a", "b"), [1, 2], [1, 2])
    assert grid[0, 0] == 7.5 and np.isnan(grid[0, 1]) and np.isnan(grid[1, 0]) and np.isnan(grid[1, 1])
    assert notes == {(0, 1): "< 0.25", (1, 0): "> 64", (1, 1): "<= 3.5"}


def _one_line_error(out):
    r = CliRunner().invoke(main, ["plot", str(out)])
    assert r.exit_code != 0
    assert "Traceback" not in r.output and not isinstance(r.exception, (ValueError, KeyError, TypeError))
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), r.output
    return lines[0]


@pytest.mark.parametrize("text", ["{not json", "[]", json.dumps({"strategies": "fixed", "patterns": []}), ""])
def test_plot_of_a_corrupt_sweep_json_is_one_line(sweep_copy, text):
    """A sweep.json that is not JSON, or not the sweep's: one line naming the file, non-zero exit."""
    (sweep_copy / "sweep.json").write_text(text)
    assert "sweep.json" in _one_line_error(sweep_copy)


def test_plot_of_an_empty_breakeven_csv_is_one_line(sweep_copy):
    """An empty breakeven.csv (not even a header): one line naming it, non-zero exit, nothing drawn."""
    (sweep_copy / "breakeven.csv").write_text("")
    before = {p.name: p.stat().st_mtime_ns for p in sweep_copy.iterdir()}
    line = _one_line_error(sweep_copy)
    assert "breakeven.csv" in line and "empty" in line
    assert {p.name: p.stat().st_mtime_ns for p in sweep_copy.iterdir()} == before


@pytest.mark.parametrize("text, says", [("", "empty"), ("strategy,pattern\n", "missing"),
                                        ("a,b\n1,2,3,4\n\"x", "not a CSV")])
def test_plot_of_a_broken_summary_csv_is_one_line(sweep_copy, text, says):
    """An empty, foreign or malformed summary.csv: one line naming it."""
    (sweep_copy / "summary.csv").write_text(text)
    line = _one_line_error(sweep_copy)
    assert "summary.csv" in line and says in line
