"""Sweeps: rate parsing, seeding, determinism across workers, outputs, expansion, refinement,
re-simulation of runs stopped early, interruption, and the break-even against closed forms."""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotsim import sweep as sw
from spotsim.config import load_scenario
from spotsim.costs import renewal_breakeven_rate
from spotsim.results import METRICS

SMALL = ["job.epochs=8", "job.epoch_s=30", "vm.startup_s=30", "checkpoint.every_epochs=2"]


def small_spec(rates=(1.0, 8.0, 40.0), reps=6, **kw):
    """A quick sweep over a short job."""
    kw.setdefault("strategies", ("fixed", "milestone"))
    kw.setdefault("patterns", ("poisson", "bursty"))
    return sw.SweepSpec(load_scenario([], kw.pop("sets", SMALL)), tuple(rates), replications=reps, **kw)


# -- rate parsing --------------------------------------------------------------------
@given(lo=st.floats(0.01, 100.0), factor=st.floats(1.01, 300.0), n=st.integers(2, 60))
@settings(max_examples=80, deadline=None)
def test_log_range_is_geometric_with_exact_ends(lo, factor, n):
    """LO:HI:logN gives N increasing rates from LO to HI with a constant ratio."""
    hi = lo * factor
    rates = sw.parse_rates(f"{lo!r}:{hi!r}:log{n}")
    assert len(rates) == n and rates[0] == lo and rates[-1] == hi
    ratios = np.diff(np.log(rates))
    assert np.all(ratios > 0) and np.allclose(ratios, ratios[0], rtol=1e-6)


@given(lo=st.floats(0.01, 100.0), width=st.floats(0.5, 500.0), n=st.integers(2, 60))
@settings(max_examples=80, deadline=None)
def test_lin_range_is_evenly_spaced_with_exact_ends(lo, width, n):
    """LO:HI:linN gives N increasing rates from LO to HI with a constant step."""
    hi = lo + width
    rates = sw.parse_rates(f"{lo!r}:{hi!r}:lin{n}")
    assert len(rates) == n and rates[0] == lo and rates[-1] == hi
    steps = np.diff(rates)
    assert np.all(steps > 0) and np.allclose(steps, steps[0], rtol=1e-6)


@given(st.lists(st.floats(0.001, 1000.0), min_size=1, max_size=20))
def test_rate_list_is_sorted_and_deduplicated(values):
    """A comma list comes back sorted, without duplicates, value for value."""
    rates = sw.parse_rates(",".join(repr(v) for v in values))
    assert rates == sorted(set(values))


@pytest.mark.parametrize("text", ["", " , ", "1:2", "1:2:log", "2:1:log5", "0:4:log3", "1:4:sqrt3", "a,b",
                                  "1:4:log1", "-1,2", "nan", "1e-320", "1e-9,1", "inf"])
def test_bad_rate_strings_are_refused_naming_the_flag(text):
    """An empty list, a malformed range or a non-positive rate is a SweepError naming --rates."""
    with pytest.raises(sw.SweepError, match="^--rates"):
        sw.parse_rates(text)


def test_vary_refuses_unknown_keys_and_sweep_axes():
    """--vary accepts scenario keys only, not the sweep's own axes."""
    assert sw.parse_vary(["vm.startup_s=60,120"]) == [("vm.startup_s", (60, 120))]
    for bad in ["vm.startup=60", "interrupts.rate_per_h=1,2", "gpu=L4,T4", "vm.startup_s"]:
        with pytest.raises(sw.SweepError, match="^--vary"):
            sw.parse_vary([bad])


# -- seeding and determinism --------------------------------------------------------
def test_seed_depends_on_neither_strategy_nor_rate():
    """Common random numbers: a run's seed is the same for every strategy and every rate of its curve,
    and differs between replications, patterns and combinations."""
    spec = small_spec(vary=(("vm.startup_s", (30, 90)),))
    cells = [sw.Cell("poisson", 1, rate, st, role) for rate in (1.0, 8.0, 13.7)
             for st in ("fixed", "milestone") for role in (sw.GRID, sw.REFINEMENT)]
    assert {spec.seed_of(c, 3) for c in cells} == {(0, 2, 1, 3)}
    others = [spec.seed_of(sw.Cell("poisson", 1, 8.0, "fixed"), 4), spec.seed_of(sw.Cell("bursty", 1, 8.0, "fixed"), 3),
              spec.seed_of(sw.Cell("poisson", 0, 8.0, "fixed"), 3)]
    assert len(set(others) | {(0, 2, 1, 3)}) == 4


def test_rates_are_paired_by_replication():
    """At one replication, Poisson uptimes at twice the rate are exactly half as long: every rate of a
    curve (a refinement rate included) draws the same random numbers, so differences are paired."""
    from spotsim.events import EventLog
    from spotsim.model import simulate
    spec = small_spec(strategies=("fixed",), patterns=("poisson",))
    uptimes = {}
    for rate in (5.0, 10.0):
        cell = sw.Cell("poisson", 0, rate, "fixed")
        log = EventLog(keep=True)
        simulate(spec.cell_scenario(cell), spec.seed_of(cell, 3), events=log)
        uptimes[rate] = [r["uptime_s"] for r in log.records
                         if r["event"] == "preempt_notice" and r.get("direction") == "sent"]
    assert len(uptimes[10.0]) >= 2
    n = min(len(u) for u in uptimes.values())
    assert np.allclose(np.array(uptimes[5.0][:n]) / 2.0, uptimes[10.0][:n], rtol=1e-9)


def test_strategies_see_the_same_preemption_times():
    """At one (cell, replication) every strategy meets the same sequence of VM uptimes."""
    from spotsim.events import EventLog
    from spotsim.model import simulate
    spec = small_spec(rates=(20.0,), strategies=("none", "fixed", "adaptive"), patterns=("poisson",))
    uptimes = {}
    for strategy in spec.strategies:
        cell = sw.Cell("poisson", 0, 20.0, strategy)
        log = EventLog(keep=True)
        simulate(spec.cell_scenario(cell), spec.seed_of(cell, 3), events=log)
        uptimes[strategy] = [r["uptime_s"] for r in log.records
                             if r["event"] == "preempt_notice" and r.get("direction") == "sent"]
    n = min(len(u) for u in uptimes.values())
    assert n >= 2
    assert uptimes["none"][:n] == uptimes["fixed"][:n] == uptimes["adaptive"][:n]


def test_jobs_1_and_2_give_byte_identical_outputs(tmp_path):
    """runs.csv, summary.csv and breakeven.csv do not depend on the number of workers."""
    spec = small_spec(rates=(2.0, 30.0), reps=60, vary=(("vm.startup_s", (30, 90)),))
    sw.run_sweep(spec, tmp_path / "one", jobs=1)
    sw.run_sweep(spec, tmp_path / "two", jobs=2)
    for name in ("runs.csv", "summary.csv", "breakeven.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


# -- outputs ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    spec = small_spec(vary=(("checkpoint.write_s", (3, 20)),))
    outcome = sw.run_sweep(spec, out, jobs=1)
    return spec, out, outcome


def test_runs_csv_schema(small_sweep):
    """runs.csv: one row per run with strategy, pattern, rate, varied keys, replication, seed and every metric."""
    spec, out, outcome = small_sweep
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.columns) == ["strategy", "pattern", "rate_per_h", "checkpoint.write_s", "replication", "seed",
                                  "in_grid", "finished", *METRICS, "limit_ratio"]
    assert len(runs) == outcome.runs == outcome.cells * spec.replications
    grid = runs[runs["in_grid"]]
    assert len(grid) == len(spec.grid()) * spec.replications
    assert set(grid["rate_per_h"]) == set(spec.rates)
    assert set(runs["checkpoint.write_s"]) == {3, 20}
    assert runs["seed"].str.fullmatch(r"\d+:\d+:\d+:\d+").all()
    assert runs.groupby(["strategy", "pattern", "rate_per_h", "checkpoint.write_s"]).size().eq(spec.replications).all()
    assert set(runs["limit_ratio"]) <= {spec.limit_ratio, spec.rerun_limit_ratio}
    keys = ["strategy", "pattern", "rate_per_h", "checkpoint.write_s", "replication"]
    assert list(runs[keys].itertuples(index=False)) == sorted(runs[keys].itertuples(index=False),
                                                              key=lambda r: (spec.patterns.index(r[1]), r[3], r[2],
                                                                             spec.strategies.index(r[0]), r[4]))


def test_summary_csv_schema(small_sweep):
    """summary.csv: per cell, the number of runs and mean with 95% CI of every metric, CI around the mean."""
    spec, out, outcome = small_sweep
    summary = pd.read_csv(out / "summary.csv")
    head = ["strategy", "pattern", "rate_per_h", "checkpoint.write_s", "in_grid", "replications", "unfinished"]
    assert list(summary.columns[:len(head)]) == head
    for k in METRICS:
        for suffix in ("mean", "ci_low", "ci_high"):
            assert f"{k}_{suffix}" in summary.columns
        ok = summary[f"{k}_mean"].notna()
        assert (summary.loc[ok, f"{k}_ci_low"] <= summary.loc[ok, f"{k}_mean"] + 1e-12).all()
        assert (summary.loc[ok, f"{k}_mean"] <= summary.loc[ok, f"{k}_ci_high"] + 1e-12).all()
    assert summary.columns[-1] == "resimulated"
    assert len(summary) == outcome.cells
    runs = pd.read_csv(out / "runs.csv")
    means = runs.groupby(["strategy", "pattern", "rate_per_h", "checkpoint.write_s"])["cost_usd"].mean()
    s = summary.set_index(["strategy", "pattern", "rate_per_h", "checkpoint.write_s"])["cost_usd_mean"]
    assert np.allclose(s.loc[means.index], means)


def test_breakeven_csv_schema(small_sweep):
    """breakeven.csv: one row per strategy, pattern, varied value and metric, with a status and consistent CI."""
    spec, out, _ = small_sweep
    b = pd.read_csv(out / "breakeven.csv")
    assert list(b.columns) == ["strategy", "pattern", "checkpoint.write_s", "metric", "breakeven_rate_per_h",
                               "ci_low", "ci_high", "status", "bracket_low", "bracket_high", "refinement",
                               "censored_runs"]
    assert len(b) == len(spec.strategies) * len(spec.patterns) * 2 * 2
    assert set(b["metric"]) == {"cost", "time"}
    assert set(b["status"]) <= {"found", "above_range", "below_range", "censored"}
    found = b[b["status"] == "found"]
    assert len(found)
    assert (found["ci_low"] <= found["bracket_low"]).all() and (found["bracket_low"] < found["breakeven_rate_per_h"]).all()
    assert (found["breakeven_rate_per_h"] <= found["bracket_high"]).all()
    assert ((found["bracket_high"] <= found["ci_high"]) | found["ci_high"].isna()).all()
    assert set(found["refinement"].dropna()) <= {"converged", "step_limit"}
    assert b.loc[b["status"] != "found", "breakeven_rate_per_h"].isna().all()
    assert (b["censored_runs"] == 0).all()


def test_bracket_expansion_reaches_past_the_requested_rates(tmp_path):
    """A curve that does not cross inside the requested rates gets doubled rates, marked out of grid."""
    spec = small_spec(rates=(0.5, 1.0), reps=4, strategies=("fixed",), patterns=("poisson",))
    outcome = sw.run_sweep(spec, tmp_path, jobs=1)
    assert outcome.expanded_rates[:2] == [2.0, 4.0]
    b = pd.read_csv(tmp_path / "breakeven.csv").set_index("metric")
    assert b.loc["cost", "status"] == "found" and b.loc["cost", "breakeven_rate_per_h"] > 1.0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(outcome.expanded_rates) <= set(runs.loc[~runs["in_grid"], "rate_per_h"])


def test_expansion_stops_at_the_cap_when_spot_always_wins(tmp_path):
    """With free Spot time the cost curve never crosses: expansion goes to the cap, then above_range."""
    sets = SMALL + ["prices.spot_per_h=0", "vm.startup_s=1", "checkpoint.restore_s=0"]
    spec = small_spec(rates=(100.0, 400.0), reps=3, strategies=("fixed",), patterns=("poisson",), sets=sets)
    outcome = sw.run_sweep(spec, tmp_path, jobs=1)
    assert outcome.expanded_rates == [800.0, 1024.0]
    b = pd.read_csv(tmp_path / "breakeven.csv").set_index("metric")
    assert b.loc["cost", "status"] == "above_range" and b.loc["cost", "ci_low"] == 1024.0


def test_hopeless_free_runs_are_abandoned_not_endless(tmp_path):
    """AWS first-hour-free billing with uptimes shorter than start-up: runs are abandoned (NaN cost, finished
    false) with a makespan lower bound, instead of running forever."""
    sets = SMALL + ["cloud=aws", "gpu=V100", "vm.startup_s=90"]
    spec = small_spec(rates=(60.0,), reps=3, strategies=("fixed",), patterns=("regular",), sets=sets)
    sw.run_sweep(spec, tmp_path, jobs=1)
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert (~runs["finished"]).all() and runs["cost_usd"].isna().all()
    assert (runs["time_ratio"] > 3).all()
    b = pd.read_csv(tmp_path / "breakeven.csv").set_index("metric")
    assert b.loc["cost", "status"] == "above_range" and math.isnan(b.loc["cost", "ci_low"])


def test_interrupted_sweep_leaves_complete_cells(tmp_path):
    """Ctrl-C mid-sweep: runs.csv holds whole cells only, summary.csv covers them, and the error says how many."""
    spec = small_spec(reps=4)
    calls = []

    def progress(n, planned):
        calls.append(n)
        if len(calls) == 5:
            raise KeyboardInterrupt

    with pytest.raises(sw.SweepInterrupted) as info:
        sw.run_sweep(spec, tmp_path, jobs=1, progress=progress)
    assert info.value.cells_done == 5 < info.value.cells_total
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 5 * spec.replications
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 5
    assert not (tmp_path / "breakeven.csv").exists()


def test_sweep_interrupted_while_refining_leaves_consistent_files(tmp_path):
    """Ctrl-C during refinement or re-simulation: runs.csv holds whole cells with their final rows,
    summary.csv agrees with it cell for cell, and sweep.json says the sweep is incomplete."""
    spec = small_spec(rates=(1.0, 8.0, 40.0), reps=20)
    grid_runs = len(spec.grid()) * spec.replications
    done = [0]

    def progress(n, planned):
        done[0] += n
        if done[0] > grid_runs + 2 * sw.CHUNK_REPLICATIONS:
            raise KeyboardInterrupt

    with pytest.raises(sw.SweepInterrupted) as info:
        sw.run_sweep(spec, tmp_path, jobs=1, progress=progress)
    assert info.value.cells_done > len(spec.grid())  # it was past the grid
    runs = pd.read_csv(tmp_path / "runs.csv")
    summary = pd.read_csv(tmp_path / "summary.csv")
    keys = ["strategy", "pattern", "rate_per_h"]
    assert runs.groupby(keys).size().eq(spec.replications).all()
    assert len(summary) == info.value.cells_done == runs.groupby(keys).ngroups
    means = runs.groupby(keys)["cost_usd"].mean()
    assert np.allclose(summary.set_index(keys)["cost_usd_mean"].loc[means.index], means, equal_nan=True)
    assert summary.set_index(keys)["unfinished"].loc[means.index].tolist() == \
        (~runs["finished"]).groupby([runs[k] for k in keys]).sum().loc[means.index].tolist()
    assert not pd.read_json(tmp_path / "sweep.json", typ="series")["complete"]
    assert not (tmp_path / "breakeven.csv").exists()


# -- runs stopped early ----------------------------------------------------------------
def test_a_larger_limit_leaves_finished_runs_unchanged():
    """What re-simulation relies on: a run that finishes under the early stop gives the same metrics
    under a larger limit (the limit only ends runs), so only the stopped runs need re-running."""
    from spotsim.model import simulate
    s = load_scenario([], SMALL + ["interrupts.rate_per_h=60", "checkpoint.strategy=none",
                                   "checkpoint.every_epochs=null", "checkpoint.write_s=60"])
    finished = stopped = 0
    for rep in range(30):
        short, long = simulate(s, (1, rep), limit_ratio=3.0), simulate(s, (1, rep), limit_ratio=1000.0)
        if short.finished:
            finished += 1
            a, b = short.metrics(), long.metrics()
            assert a.keys() == b.keys()
            assert all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a), (a, b)
        else:
            stopped += 1
            assert long.makespan_h >= short.makespan_h
    assert finished and stopped


# A job with no checkpoint that can succeed (the emergency save is off): every preemption loses all
# work, so a run is a geometric number of attempts at start-up + work, and its cost has a heavy tail:
# near the break-even many runs pass 3x the on-demand cost. Its expected billed time is the renewal
# set-up time of d = start-up + work (renewal_expected_billed with work 0); with nothing to save, the
# job exits at the notice (save_and_exit), so a window bills nothing (save_s 0).
HEAVY_TAIL = ["job.epochs=20", "job.epoch_s=30", "job.eval_s=0", "job.step_s=0", "checkpoint.strategy=none",
              "checkpoint.every_epochs=null", "checkpoint.emergency=false", "checkpoint.restore_s=0",
              "vm.startup_s=60", "vm.notice_s=30", "billing.minimum_s=0", "billing.increment_s=0",
              "prices.spot_per_h=0.3", "prices.ondemand_per_h=1.0", "interrupts.pattern=poisson"]
HEAVY_TAIL_ARGS = dict(work_s=0.0, startup_s=660.0, restore_s=0.0, notice_s=30.0, save_s=0.0)


def test_runs_stopped_early_below_the_breakeven_are_resimulated(tmp_path):
    """No run below the break-even stays stopped early: each is re-simulated with its own seed under
    RERUN_LIMIT_RATIO (so it equals a direct simulation with that limit), and the CI holds the
    closed-form break-even."""
    from spotsim.model import simulate
    spec = sw.SweepSpec(load_scenario([], HEAVY_TAIL), tuple(sw.parse_rates("0.25:64:log20")),
                        strategies=("none",), patterns=("poisson",), replications=200, seed=3)
    outcome = sw.run_sweep(spec, tmp_path, jobs=2)
    b = pd.read_csv(tmp_path / "breakeven.csv").set_index("metric").loc["cost"]
    runs = pd.read_csv(tmp_path / "runs.csv")
    exact = renewal_breakeven_rate(spot_per_h=0.3, ondemand_per_h=1.0, **HEAVY_TAIL_ARGS)
    assert b["status"] == "found" and b["censored_runs"] == 0
    assert b["ci_low"] <= exact <= b["ci_high"], (b.to_dict(), exact)
    below = runs[runs["rate_per_h"] < b["breakeven_rate_per_h"]]
    assert below["finished"].all()
    rerun = runs[runs["limit_ratio"] == sw.RERUN_LIMIT_RATIO]
    assert outcome.resimulated_runs == len(rerun) > 0
    row = rerun.iloc[0]
    cell = sw.Cell("poisson", 0, float(row["rate_per_h"]), "none")
    direct = simulate(spec.cell_scenario(cell), spec.seed_of(cell, int(row["replication"])),
                      limit_ratio=sw.RERUN_LIMIT_RATIO)
    assert direct.finished and row["cost_usd"] == pytest.approx(direct.cost_usd, rel=1e-12)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["resimulated"].sum() == len(rerun)


# -- the break-even must not depend on the grid -------------------------------------------
# The renewal case (strategy none, emergency saves that fit, Poisson, no waits, continuous billing;
# save_and_exit bills each window as the 5 s save) with a start-up long against the interval between
# preemptions at the break-even (300 s vs ~290 s): the excess is convex in log(rate), so a chord
# across a log6 gap lands far below the root. 200 epochs keep the CI near +-4% with 60 replications,
# narrower than the gap between the closed form and the same form billed to each window's end.
CURVED = ["job.epochs=200", "job.epoch_s=30", "job.eval_s=0", "job.step_s=0", "checkpoint.strategy=none",
          "checkpoint.every_epochs=null", "checkpoint.write_s=5", "checkpoint.restore_s=60", "vm.startup_s=300",
          "vm.notice_s=30", "billing.minimum_s=0", "billing.increment_s=0", "prices.spot_per_h=0.3",
          "prices.ondemand_per_h=1.0"]
CURVED_ARGS = dict(work_s=6000.0, startup_s=300.0, restore_s=60.0, notice_s=30.0, save_s=5.0)


@pytest.fixture(scope="module")
def two_grids(tmp_path_factory):
    """The curved renewal job swept at log6 and log20 over 0.25-64/h, Poisson and regular."""
    out = {}
    for grid in ("0.25:64:log6", "0.25:64:log20"):
        folder = tmp_path_factory.mktemp(grid.replace(":", "_"))
        spec = sw.SweepSpec(load_scenario([], CURVED), tuple(sw.parse_rates(grid)), strategies=("none",),
                            patterns=("poisson", "regular"), replications=60, seed=11)
        sw.run_sweep(spec, folder, jobs=2)
        out[grid] = pd.read_csv(folder / "breakeven.csv").set_index(["pattern", "metric"])
    return out


def test_poisson_breakeven_holds_the_closed_form_at_both_grids(two_grids):
    """At log6 and at log20 the Poisson cost break-even's CI holds the renewal closed form, each
    grid's point lies in the other's CI, and the bracket is narrower than the CI."""
    exact = renewal_breakeven_rate(spot_per_h=0.3, ondemand_per_h=1.0, **CURVED_ARGS)
    rows = {g: b.loc[("poisson", "cost")] for g, b in two_grids.items()}
    for g, b in rows.items():
        assert b["status"] == "found" and b["refinement"] == "converged", g
        assert b["ci_low"] <= exact <= b["ci_high"], (g, b.to_dict(), exact)
        assert b["bracket_high"] / b["bracket_low"] <= b["ci_high"] / b["ci_low"]
    a, c = rows.values()
    assert c["ci_low"] <= a["breakeven_rate_per_h"] <= c["ci_high"]
    assert a["ci_low"] <= c["breakeven_rate_per_h"] <= a["ci_high"]


def test_regular_breakeven_ci_is_a_narrow_bracket_at_both_grids(two_grids):
    """Regular preemptions make runs deterministic: the CI holds the final bracket (at most ~2% wide
    after refinement) and 1% on each side of the point, never a point, and each grid's CI holds the
    other's point."""
    rows = [b.loc[("regular", "cost")] for b in two_grids.values()]
    for b in rows:
        assert b["status"] == "found" and b["refinement"] == "converged"
        assert b["bracket_high"] <= b["bracket_low"] * 1.0202
        assert b["ci_low"] <= b["bracket_low"] < b["breakeven_rate_per_h"] <= b["bracket_high"] <= b["ci_high"]
        assert b["ci_low"] * 1.0199 < b["ci_high"] <= b["ci_low"] * 1.031
    a, c = rows
    assert c["ci_low"] <= a["breakeven_rate_per_h"] <= c["ci_high"]
    assert a["ci_low"] <= c["breakeven_rate_per_h"] <= a["ci_high"]


def test_refine_steps_zero_keeps_the_grid_and_says_the_bracket_is_coarse(tmp_path):
    """With refinement off, no rate is added and breakeven.csv says the bracket is still wider than the CI."""
    spec = sw.SweepSpec(load_scenario([], CURVED), tuple(sw.parse_rates("0.25:64:log6")), strategies=("none",),
                        patterns=("poisson",), replications=30, seed=11, refine_steps=0)
    outcome = sw.run_sweep(spec, tmp_path, jobs=1)
    assert outcome.refined_cells == 0 and outcome.cells == 6
    b = pd.read_csv(tmp_path / "breakeven.csv").set_index("metric").loc["cost"]
    assert b["status"] == "found" and b["refinement"] == "step_limit"


# -- refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [math.nan, math.inf, -math.inf, 1.0, 0.5, -3.0])
def test_limit_ratio_must_be_a_finite_number_above_one(ratio, tmp_path):
    """A NaN limit would never stop a hopeless run (a hang): it is refused before anything runs."""
    spec = small_spec(limit_ratio=ratio)
    with pytest.raises(sw.SweepError, match="^--limit-ratio"):
        sw.run_sweep(spec, tmp_path / "o", jobs=1)
    assert not (tmp_path / "o").exists()


def test_unwritable_out_is_refused_before_simulating(tmp_path, monkeypatch):
    """--out below a file, or in a folder that refuses writes, is one SweepError naming --out."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(sw.SweepError, match="^--out: cannot write into .*file.*Not a directory"):
        sw.run_sweep(small_spec(), tmp_path / "file" / "out", jobs=1)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(sw.Path, "mkdir", refuse)
    with pytest.raises(sw.SweepError, match="^--out: .*Permission denied"):
        sw.prepare_out(tmp_path / "read-only" / "out")


def test_too_many_replications_are_refused():
    """Every run's metrics are kept in memory: more than MAX_REPLICATIONS per cell is refused."""
    with pytest.raises(sw.SweepError, match="^--replications"):
        small_spec(reps=sw.MAX_REPLICATIONS + 1).validate()
