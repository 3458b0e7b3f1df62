"""Sweeps: rate parsing, seeding, determinism across workers, outputs, expansion, interruption."""
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
                                  "1:4:log1", "-1,2", "nan"])
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
def test_seed_does_not_depend_on_strategy():
    """Common random numbers: the seed of a run is the same for every strategy of its cell."""
    spec = small_spec()
    a, b = sw.Cell("poisson", 0, 8.0, 1, "fixed"), sw.Cell("poisson", 0, 8.0, 1, "milestone")
    assert spec.seed_of(a, 3) == spec.seed_of(b, 3) == (0, 2, 1, 0, 3)


def test_strategies_see_the_same_preemption_times():
    """At one (cell, replication) every strategy meets the same sequence of VM uptimes."""
    from spotsim.events import EventLog
    from spotsim.model import simulate
    spec = small_spec(rates=(20.0,), strategies=("none", "fixed", "adaptive"), patterns=("poisson",))
    uptimes = {}
    for strategy in spec.strategies:
        cell = sw.Cell("poisson", 0, 20.0, 0, strategy)
        log = EventLog(keep=True)
        simulate(spec.cell_scenario(cell), spec.seed_of(cell, 2), events=log)
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
                                  "in_grid", "finished", *METRICS]
    assert len(runs) == outcome.runs == outcome.cells * spec.replications
    grid = runs[runs["in_grid"]]
    assert len(grid) == len(spec.grid()) * spec.replications
    assert set(grid["rate_per_h"]) == set(spec.rates)
    assert set(runs["checkpoint.write_s"]) == {3, 20}
    assert runs["seed"].str.fullmatch(r"\d+:\d+:\d+:\d+:\d+").all()
    assert runs.groupby(["strategy", "pattern", "rate_per_h", "checkpoint.write_s"]).size().eq(spec.replications).all()


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
                               "ci_low", "ci_high", "status"]
    assert len(b) == len(spec.strategies) * len(spec.patterns) * 2 * 2
    assert set(b["metric"]) == {"cost", "time"}
    assert set(b["status"]) <= {"found", "above_range", "below_range"}
    found = b[b["status"] == "found"]
    assert (found["ci_low"] <= found["breakeven_rate_per_h"]).all()
    assert ((found["breakeven_rate_per_h"] <= found["ci_high"]) | found["ci_high"].isna()).all()
    assert b.loc[b["status"] != "found", "breakeven_rate_per_h"].isna().all()


def test_bracket_expansion_reaches_past_the_requested_rates(tmp_path):
    """A curve that does not cross inside the requested rates gets doubled rates, marked out of grid."""
    spec = small_spec(rates=(0.5, 1.0), reps=4, strategies=("fixed",), patterns=("poisson",))
    outcome = sw.run_sweep(spec, tmp_path, jobs=1)
    assert outcome.expanded_rates[:2] == [2.0, 4.0]
    b = pd.read_csv(tmp_path / "breakeven.csv").set_index("metric")
    assert b.loc["cost", "status"] == "found" and b.loc["cost", "breakeven_rate_per_h"] > 1.0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs.loc[~runs["in_grid"], "rate_per_h"]) == set(outcome.expanded_rates)


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


# -- the closed form -----------------------------------------------------------------
def test_sweep_breakeven_agrees_with_renewal_closed_form(tmp_path):
    """In the renewal case the sweep's cost break-even rate brackets the closed-form one within its CI."""
    from tests.test_breakeven import RENEWAL, RENEWAL_ARGS
    spec = sw.SweepSpec(load_scenario([], RENEWAL), tuple(sw.parse_rates("25:75:lin11")), strategies=("none",),
                        patterns=("poisson",), replications=150, seed=11)
    sw.run_sweep(spec, tmp_path, jobs=2)
    b = pd.read_csv(tmp_path / "breakeven.csv").set_index("metric").loc["cost"]
    exact = renewal_breakeven_rate(spot_per_h=0.3, ondemand_per_h=1.0, **RENEWAL_ARGS)
    assert b["status"] == "found"
    assert b["ci_low"] <= exact <= b["ci_high"], (b.to_dict(), exact)
    assert abs(b["breakeven_rate_per_h"] / exact - 1) < 0.1
