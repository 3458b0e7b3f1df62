"""Sweeps over zones through the CLI: one rate per curve (the zones' own), the trace pattern, figures against
the varied value instead of the rate."""
import csv
import json

import pytest
from click.testing import CliRunner

from spotsim.cli import main
from spotsim.config import load_scenario
from spotsim.zones.market import zone_patterns

from .test_zones_sim import TINY


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def zones_file(tmp_path):
    zones = [{"name": n, "trace": TINY, "region": n} for n in ("a", "b", "c")]
    f = tmp_path / "zones.yaml"
    f.write_text("job: {epochs: 8}\nzones: " + json.dumps(zones) + "\n")
    return f


SWEEP = ["--strategies", "fixed,milestone", "-n", "3", "--jobs", "1", "--refine-steps", "0"]


def test_a_zones_sweep_runs_each_combination_at_the_zones_own_rate(zones_file, tmp_path):
    """--rates does not apply to zones: every cell of a combination runs at its zones' own mean rate (pooled
    over the allowed zones for failover), with the trace pattern only, and no bracket expansion."""
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["sweep", str(zones_file), *SWEEP, "--rates", "1,2,4", "--vary",
                                  "policy.zones=stay,failover", "--vary", "policy.zones_allowed=1,3",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    runs = _rows(out / "runs.csv")
    assert {x["pattern"] for x in runs} == {"trace"}
    for policy in ("stay", "failover"):
        for allowed in ("1", "3"):
            s = load_scenario([zones_file], [f"policy.zones={policy}", f"policy.zones_allowed={allowed}"])
            rates = {float(x["rate_per_h"]) for x in runs
                     if x["policy.zones"] == policy and x["policy.zones_allowed"] == allowed}
            assert rates == {zone_patterns(s).mean_rate_per_h}, (policy, allowed)
    assert len(runs) == 2 * 2 * 2 * 3  # combinations x strategies x replications: nothing expanded
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["own_rate"] is True and meta["expanded_rates"] == []
    figures = sorted(p.name for p in out.glob("*.png"))
    assert figures == ["cost_vs_value.png", "makespan_vs_value.png"]


def test_a_zones_sweep_refuses_another_pattern_in_one_line(zones_file, tmp_path):
    r = CliRunner().invoke(main, ["sweep", str(zones_file), *SWEEP, "--patterns", "poisson",
                                  "--out", str(tmp_path / "o")])
    lines = r.output.strip().splitlines()
    assert r.exit_code != 0 and len(lines) == 1, r.output
    assert "--patterns" in lines[0] and "trace" in lines[0]


def test_a_plain_sweep_still_draws_rate_curves(tmp_path):
    """Without zones or buckets the rate axis stays, with its curves (own_rate false)."""
    f = tmp_path / "plain.yaml"
    f.write_text("job: {epochs: 6, epoch_s: 30}\n")
    out = tmp_path / "plain"
    r = CliRunner().invoke(main, ["sweep", str(f), "--strategies", "fixed", "--patterns", "poisson", "-n", "3",
                                  "--jobs", "1", "--rates", "1,4", "--refine-steps", "0", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "sweep.json").read_text())["own_rate"] is False
    assert (out / "cost_vs_rate.png").is_file() and not (out / "cost_vs_value.png").exists()


def test_run_table_shows_the_zones_metrics(zones_file):
    """`spotsim run` on a zones scenario names the zones and their policy (not one Spot price) and shows
    moves, transfers and the Spot hours in each zone; the hours add up to the Spot hours billed."""
    r = CliRunner().invoke(main, ["run", str(zones_file), "-n", "3", "--set", "policy.zones=cheapest"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "3 zones (cheapest)" in lines[0] and "Spot $" not in lines[0]
    assert any(line.strip().startswith("checkpoint moves between regions") for line in lines)
    hours = {line.split()[2]: float(line.split()[3]) for line in lines if line.strip().startswith("Spot in ")}
    assert set(hours) == {"a", "b", "c"}
    spot = next(line for line in lines if line.strip().startswith("billed on Spot"))
    assert sum(hours.values()) == pytest.approx(float(spot.split()[3]), rel=1e-3)
