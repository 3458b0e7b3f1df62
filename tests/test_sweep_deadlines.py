"""Sweeps over deadlines and policies: the refusals, runs.csv and summary.csv columns, what must hold
between policies run on the same draws, and the deadline figures."""
import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.image import imread

from spotsim import plots
from spotsim import sweep as sw
from spotsim.baseline import ondemand_baseline
from spotsim.cli import main
from spotsim.config import load_scenario
from spotsim.results import PERCENTILES

SCENARIO = """\
name: tiny
job: {epochs: 10, epoch_s: 30}
vm: {startup_s: 30}
checkpoint: {every_epochs: 2}
"""
# The job's on-demand makespan is ~0.1014 h: 0.11 h is a tight deadline (~1.08x), 0.3 h a loose one (~3x).
DEADLINES = (0.11, 0.3)
POLICIES = ("spot_only", "on_demand", "greedy", "omniscient")
FAST = ["--rates", "2,30", "--strategies", "fixed", "--patterns", "poisson", "-n", "5", "--refine-steps", "0",
        "--jobs", "1"]
DEADLINE_FIGURES = {f"{n}.{f}" for n in ("cost_vs_deadline", "deadlines_met") for f in ("png", "pdf")}
TOL = 1e-9


def _figures(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix in (".png", ".pdf")}


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("scen") / "tiny.yaml"
    p.write_text(SCENARIO)
    return p


@pytest.fixture(scope="module")
def deadline_sweep(scenario_file, tmp_path_factory):
    """A sweep varying the deadline and the policy: (result, out, runs.csv, summary.csv)."""
    out = tmp_path_factory.mktemp("deadlines") / "out"
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), *FAST,
                                       "--vary", "job.deadline_h=" + ",".join(map(str, DEADLINES)),
                                       "--vary", "policy.name=" + ",".join(POLICIES), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    summary = pd.read_csv(out / "summary.csv")
    return result, out, runs, summary


def _by_policy(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One column per policy, one row per grid (rate, deadline, replication): the same draws side by side
    (bracket expansion adds rates per policy, so only the grid has every policy)."""
    runs = runs[runs["in_grid"]]
    return runs.pivot_table(index=["rate_per_h", "job.deadline_h", "replication"], columns="policy.name",
                            values=metric, aggfunc="first")


# -- refusals --------------------------------------------------------------------------
def test_the_test_deadlines_bracket_the_on_demand_makespan():
    """The tight deadline really is tight: just above the on-demand makespan (else the tests prove little)."""
    od_h = ondemand_baseline(load_scenario([], ["job.epochs=10", "job.epoch_s=30", "vm.startup_s=30",
                                                "checkpoint.every_epochs=2"]), 0)[0] / 3600.0
    assert od_h < DEADLINES[0] < 1.15 * od_h and DEADLINES[1] > 2.5 * od_h


def test_a_deadline_shorter_than_the_on_demand_makespan_is_refused_in_one_line(scenario_file, tmp_path):
    """--vary job.deadline_h with a value no schedule can meet: one line naming --vary and the value,
    before anything is simulated."""
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), *FAST, "--vary", "job.deadline_h=0.3,0.05",
                                       "--vary", "policy.name=greedy", "--out", str(out)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: --vary:") and "job.deadline_h=0.05" in lines[0]
    assert "on-demand makespan" in lines[0] and "Traceback" not in result.output
    assert not (out / "runs.csv").exists()


def test_a_policy_that_needs_a_deadline_is_refused_without_one(scenario_file, tmp_path):
    """--vary policy.name=greedy with no job.deadline_h: one line naming --vary and the policy."""
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), *FAST, "--vary", "policy.name=spot_only,greedy",
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --vary:") and "greedy" in lines[0], result.output


def test_young_daly_deadline_is_checked_at_every_grid_rate():
    """young_daly saves more often at higher rates, so its on-demand makespan grows with the rate: a deadline
    it meets at 2/h but not at 60/h is refused, naming the rate."""
    sets = ["job.epochs=10", "job.epoch_s=30", "vm.startup_s=30", "checkpoint.strategy=young_daly",
            "job.deadline_h=0.3"]
    spec = sw.SweepSpec(load_scenario([], sets), (2.0, 60.0), strategies=("young_daly",), patterns=("poisson",),
                        replications=2, vary=(("job.deadline_h", (0.3, 0.11)),))
    with pytest.raises(sw.SweepError, match=r"^--vary: job.deadline_h=0.11 .*at 60/h"):
        spec.validate()
    ok = sw.SweepSpec(load_scenario([], sets), (2.0, 30.0), strategies=("young_daly",), patterns=("poisson",),
                      replications=2, vary=(("job.deadline_h", (0.3, 0.11)),))
    ok.validate()
    # bracket expansion never goes where the deadline cannot be met: 0.11 h fails at 60/h, 0.3 h does not
    cells = [sw.Cell("poisson", v, 60.0, "young_daly", sw.EXPANSION) for v in (0, 1)]
    assert [c.vary_index for c in sw._meetable(ok, cells)] == [0]


def test_a_run_refused_in_a_worker_is_one_line_not_a_hang(tmp_path):
    """A ScenarioError raised inside a worker process (a run too long for its rate) ends the sweep with one
    line; it used to hang, its exception failing to unpickle in the parent."""
    scen = tmp_path / "long.yaml"
    scen.write_text("name: long\njob: {epochs: 100000, epoch_s: 38}\n")
    code = "import sys; from spotsim.cli import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", code, "sweep", str(scen), "--rates", "1000", "--strategies",
                           "fixed", "--patterns", "poisson", "-n", "2", "--refine-steps", "0", "--jobs", "2",
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "VM lifetimes" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    err = sw.SweepError("job.epoch_s = 38.0: too long")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


# -- the CSV files -------------------------------------------------------------------------
def test_runs_csv_prints_switches_as_integers_and_met_deadline_as_a_float(deadline_sweep):
    """runs.csv: `switches` is a count (no decimal point), `met_deadline` 1.0 / 0.0 / nan."""
    _, out, _, _ = deadline_sweep
    raw = pd.read_csv(out / "runs.csv", dtype=str, keep_default_na=False)
    assert raw["switches"].str.fullmatch(r"\d+").all()
    assert set(raw["met_deadline"]) <= {"1.0", "0.0", "nan"}
    assert "1.0" in set(raw["met_deadline"])


def test_summary_has_percentiles_of_cost_makespan_and_cost_ratio(deadline_sweep):
    """summary.csv: p5, p50, p95 of cost_usd, makespan_h and cost_ratio after their CI, in order, and equal
    to the percentiles of the cell's runs in runs.csv; none for the other metrics."""
    _, _, runs, summary = deadline_sweep
    cols = list(summary.columns)
    for m in sw.PERCENTILE_METRICS:
        i = cols.index(f"{m}_ci_high")
        assert cols[i + 1:i + 4] == [f"{m}_p{q}" for q in PERCENTILES]
        p5, p50, p95 = (summary[f"{m}_p{q}"] for q in PERCENTILES)
        ok = p50.notna()
        assert ok.all()
        assert (p5[ok] <= p50[ok] + TOL).all() and (p50[ok] <= p95[ok] + TOL).all()
    assert not any(c.startswith(("lost_h_p", "switches_p", "met_deadline_p")) for c in cols)
    keys = ["strategy", "pattern", "rate_per_h", "job.deadline_h", "policy.name"]
    want = runs.groupby(keys)["cost_ratio"].quantile(0.95)
    got = summary.set_index(keys)["cost_ratio_p95"].loc[want.index]
    assert np.allclose(got.to_numpy(), want.to_numpy())


def test_on_demand_costs_exactly_all_on_demand_and_meets_every_deadline(deadline_sweep):
    """The on_demand policy is the baseline itself: cost ratio 1 in every run (to rounding), no Spot, no
    switch, every deadline met; its summary shows share met 1 and p5 = p50 = p95 = 1."""
    _, _, runs, summary = deadline_sweep
    od = runs[runs["policy.name"] == "on_demand"]
    assert len(od) and np.allclose(od["cost_ratio"], 1.0, rtol=0, atol=1e-12)
    assert (od["met_deadline"] == 1.0).all() and (od["switches"] == 0).all() and (od["spot_h"] == 0).all()
    s = summary[summary["policy.name"] == "on_demand"]
    assert (s["met_deadline_mean"] == 1.0).all()
    for q in PERCENTILES:
        assert np.allclose(s[f"cost_ratio_p{q}"], 1.0, atol=1e-12)


def test_policies_and_deadlines_share_the_preemption_draws(deadline_sweep):
    """Seeds do not depend on the policy or the deadline: spot_only, which ignores the deadline, runs the
    same in every deadline's cell, and every policy's run of a replication has the same seed."""
    _, _, runs, _ = deadline_sweep
    seeds = runs.groupby(["rate_per_h", "replication"])["seed"].nunique()
    assert (seeds == 1).all()
    so = runs[runs["policy.name"] == "spot_only"]
    for metric in ("cost_usd", "makespan_h", "preemptions", "lost_h"):
        spread = so.groupby(["rate_per_h", "replication"])[metric].agg(lambda x: x.max() - x.min())
        assert (spread.abs() <= TOL).all(), metric


def test_greedy_meets_every_deadline_that_on_demand_meets(deadline_sweep):
    """greedy: every deadline on_demand meets is met, it moves to on-demand at most once and for good, and its
    on-demand hours never exceed a whole on-demand run plus a restore."""
    _, _, runs, _ = deadline_sweep
    met = _by_policy(runs, "met_deadline")
    assert (met["on_demand"] == 1.0).all()
    assert (met.loc[met["on_demand"] == 1.0, "greedy"] == 1.0).all()
    g = runs[runs["policy.name"] == "greedy"]
    assert (g["switches"] <= 1).all()
    restore_h = 20.0 / 3600.0  # checkpoint.restore_s at most (default 5 s)
    assert (g["ondemand_h"] <= g["ondemand_makespan_h"] + restore_h).all()


def test_greedy_is_cheaper_than_on_demand_when_the_deadline_is_loose(deadline_sweep):
    """With ~3x the on-demand makespan, greedy rides Spot: on average well below all on-demand at both rates."""
    _, _, _, summary = deadline_sweep
    s = summary[(summary["policy.name"] == "greedy") & (summary["job.deadline_h"] == DEADLINES[1])
                & summary["in_grid"]]
    assert len(s) == 2 and (s["cost_ratio_mean"] < 0.9).all()


def test_omniscient_is_the_floor_of_every_policy(deadline_sweep):
    """On the same draws, no policy's run that met the deadline costs less than the omniscient schedule's (a
    spot_only run that missed it may), and omniscient meets every deadline."""
    _, _, runs, _ = deadline_sweep
    cost = _by_policy(runs, "cost_usd")
    met = _by_policy(runs, "met_deadline")
    for p in POLICIES:
        kept = met[p] == 1.0
        assert kept.any(), p
        assert (cost[p][kept] >= cost["omniscient"][kept] - 1e-9).all(), p
    assert (_by_policy(runs, "met_deadline")["omniscient"] == 1.0).all()


# -- figures ---------------------------------------------------------------------------------
def test_deadline_figures_are_written_and_redrawn(deadline_sweep):
    """The sweep writes cost_vs_deadline and deadlines_met (PNG and PDF); `spotsim plot` draws them again,
    byte for byte, from the CSV files."""
    _, out, _, _ = deadline_sweep
    assert DEADLINE_FIGURES <= _figures(out)
    before = {n: (out / n).read_bytes() for n in DEADLINE_FIGURES}
    for n in DEADLINE_FIGURES:
        (out / n).unlink()
    result = CliRunner().invoke(main, ["plot", str(out)])
    assert result.exit_code == 0, result.output
    for n, data in before.items():
        assert (out / n).read_bytes() == data, n
        if n.endswith(".png"):
            assert imread(out / n).size > 0


def test_no_deadline_figures_without_a_varied_deadline_and_stale_ones_go(scenario_file, deadline_sweep, tmp_path):
    """Varying the policy under a fixed deadline draws no deadline figure, and removes those an earlier sweep
    left in the folder."""
    _, first, _, _ = deadline_sweep
    out = tmp_path / "o"
    out.mkdir()
    for n in DEADLINE_FIGURES:
        (out / n).write_bytes((first / n).read_bytes())
    (out / "cost_vs_deadline__vm.startup_s=30.png").write_bytes((first / "cost_vs_deadline.png").read_bytes())
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), *FAST, "--set", "job.deadline_h=0.2",
                                       "--vary", "policy.name=spot_only,greedy", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figs = _figures(out)
    assert figs and not any(f.startswith(("cost_vs_deadline", "deadlines_met")) for f in figs)


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for lg in fig.legends for t in lg.get_texts()]


def test_deadline_figure_legends_say_what_lines_and_bands_are(deadline_sweep):
    """The cost figure's legend names every policy, the floor, the CI band, the p95 line and all on-demand;
    the share figure's its interval."""
    _, out, _, _ = deadline_sweep
    summary, _, meta = plots.load(out)
    cost = plots.deadline_figure(summary, meta, "cost_vs_deadline", {})
    texts = _legend_texts(cost)
    for want in ("spot_only", "on_demand", "greedy", "omniscient (the floor", "95% CI", "p95", "all on-demand"):
        assert any(want in t for t in texts), want
    # omniscient is black, the others are not
    lines = [h for lg in cost.legends for h in lg.legend_handles]
    colour = {t: h.get_color() for t, h in zip(texts, lines) if hasattr(h, "get_color")}
    assert [c for t, c in colour.items() if t.startswith("omniscient")] == ["k"]
    assert all(c != "k" for t, c in colour.items() if t in ("spot_only", "on_demand", "greedy"))
    met = plots.deadline_figure(summary, meta, "deadlines_met", {})
    assert any("Wilson" in t for t in _legend_texts(met))
    top = [ax.get_ylim()[1] for ax in met.axes if ax.get_visible()]
    assert min(top) > 1.0  # a share of 1 is not clipped at the frame
    plots.plt.close(cost)
    plots.plt.close(met)


def test_deadline_figure_caps_its_panels_and_uses_the_scenarios_policy(deadline_sweep):
    """More than MAX_DEADLINE_PANELS (pattern, rate) panels: the first ones only, said in the title. Without
    policy.name among the varied keys, the one curve is the scenario's own policy."""
    _, out, _, _ = deadline_sweep
    summary, _, meta = plots.load(out)
    g = summary[(summary["policy.name"] == "greedy") & summary["in_grid"]].drop(columns=["policy.name"])
    one = g[g["rate_per_h"] == 2.0]
    many = pd.concat([one.assign(rate_per_h=float(r)) for r in range(1, plots.MAX_DEADLINE_PANELS + 3)])
    meta = {**meta, "vary": [v for v in meta["vary"] if v["key"] != "policy.name"],
            "scenario_values": {**meta["scenario_values"], "policy": {"name": "greedy"}}}
    fig = plots.deadline_figure(many, meta, "cost_vs_deadline", {})
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert len(panels) == plots.MAX_DEADLINE_PANELS
    assert f"first {plots.MAX_DEADLINE_PANELS} of {plots.MAX_DEADLINE_PANELS + 2}" in fig._suptitle.get_text()
    assert "greedy" in _legend_texts(fig)
    plots.plt.close(fig)


# -- invariants of the pieces ------------------------------------------------------------------
KEYS = ("job.deadline_h", "policy.name", "policy.margin_s", "vm.startup_s", "checkpoint.write_s")


@given(st.lists(st.tuples(st.sampled_from(KEYS), st.integers(1, 3)), min_size=1, max_size=4,
                unique_by=lambda kv: kv[0]))
@settings(max_examples=60, deadline=None)
def test_seed_ignores_exactly_the_paired_keys(vary):
    """Two combinations share a seed iff they agree on every varied key that is not a deadline or policy key;
    with no such key varied, every combination shares one."""
    spec = sw.SweepSpec(load_scenario([], []), (1.0,), vary=tuple((k, tuple(range(n))) for k, n in vary))
    combos = spec.combos()
    unpaired = [k for k, _ in vary if not k.startswith(sw.PAIRED_KEY_PREFIXES)]
    seeds = [spec.seed_of(sw.Cell("poisson", v, 1.0, "fixed"), 0) for v in range(len(combos))]
    for a in range(len(combos)):
        for b in range(len(combos)):
            same = all(combos[a][k] == combos[b][k] for k in unpaired)
            assert (seeds[a] == seeds[b]) == same
    assert sorted({s[2] for s in seeds}) == list(range(math.prod(n for k, n in vary if k in unpaired)))


@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)), min_size=1, max_size=40))
@settings(max_examples=100, deadline=None)
def test_percentiles_skip_nan_and_are_ordered(values):
    """The summary's percentiles are those of the runs with a value, in order; all NaN gives NaN."""
    got = sw.percentiles(values)
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        assert all(math.isnan(v) for v in got)
        return
    assert np.allclose(got, np.percentile(finite, PERCENTILES))
    assert min(finite) <= got[0] <= got[1] <= got[2] <= max(finite)


@given(st.integers(1, 500), st.data())
@settings(max_examples=100, deadline=None)
def test_wilson_interval_holds_the_share_inside_zero_one(n, data):
    """The share-met band holds the observed share, stays in [0, 1], and is not a point at 0 or 1."""
    k = data.draw(st.integers(0, n))
    low, high = plots.wilson(np.array([k / n]), np.array([n]))
    assert 0.0 <= low[0] <= k / n + 1e-12 and k / n - 1e-12 <= high[0] <= 1.0
    assert high[0] - low[0] > 0


def test_a_run_stopped_before_its_deadline_has_an_unknown_outcome():
    """Stopped early past the deadline: missed (0). Stopped before it: unknown (NaN), not a miss."""
    past = sw._stopped({"met_deadline": False, "deadline_slack_h": -0.5})
    before = sw._stopped({"met_deadline": False, "deadline_slack_h": 0.5})
    none = sw._stopped({"met_deadline": None, "deadline_slack_h": None})
    assert past["met_deadline"] is False and before["met_deadline"] is None and none["met_deadline"] is None
    kept = sw._abandoned({"met_deadline": False, "deadline_slack_h": -0.5, "cost_usd": 3.0, "finished": False})
    assert kept["met_deadline"] is False and kept["deadline_slack_h"] == -0.5 and math.isnan(kept["cost_usd"])
