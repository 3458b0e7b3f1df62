"""`spotsim traces` through the CLI: tables, JSON, the scenario fragment, figures and refusals."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from spotsim.cli import main
from spotsim.config import load_scenario

from .conftest import shared_trace

AWS = "aws-spot-traces/availability/1-node/aws-02-15-2023"


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def ticks(tmp_path, data, gap=60, name="t.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"metadata": {"gap_seconds": gap}, "data": [int(x) for x in data]}))
    return path


def synthetic(tmp_path, name="zone.json", lifetimes=120, seed=3):
    """A 1-node tick trace of alternating runs: up a geometric number of ticks (mean 30), down (mean 5)."""
    rng = np.random.default_rng(seed)
    data = []
    for _ in range(lifetimes):
        data += [1] * int(rng.geometric(1 / 30)) + [0] * int(rng.geometric(1 / 5))
    return ticks(tmp_path, data, name=name)


def one_line_error(result, *needles):
    assert result.exit_code != 0
    text = result.output.strip()
    assert "\n" not in text and text.startswith("Error:"), text
    for n in needles:
        assert n in text, text


def test_shipped_zones_match_the_readme():
    """The two extreme AWS V100 zones of aws-02-15-2023 give the README's 0.10 and 1.39 preemptions per
    available hour, its 17% and 91% availability, and 2-sided CIs holding their rates."""
    east = shared_trace(f"{AWS}/us-east-1a_v100_1.json")
    west = shared_trace(f"{AWS}/us-west-2b_v100_1.json")
    r = invoke("traces", east, west, "--json")
    assert r.exit_code == 0, r.output
    a, b = json.loads(r.stdout)["traces"]
    assert round(a["rate_per_h"]["value"], 2) == 1.39 and round(b["rate_per_h"]["value"], 2) == 0.10
    assert round(a["availability"], 2) == 0.17 and round(b["availability"], 2) == 0.90
    for t in (a, b):
        lo, hi = t["rate_per_h"]["ci95"]
        assert lo < t["rate_per_h"]["value"] < hi
        assert 0.3 <= round(t["uptime"]["median_h"], 1) <= 1.3
        assert t["fits"] and t["fits"][0]["best"] and t["best_pattern"] == t["fits"][0]["pattern"]
        assert [f["ks"] for f in t["fits"]] == sorted(f["ks"] for f in t["fits"])


def test_table_names_rate_fits_and_best(tmp_path):
    """The table shows the rate with its CI, the uptimes, the waits, availability and every fit, the best
    marked with *."""
    r = invoke("traces", synthetic(tmp_path))
    assert r.exit_code == 0, r.output
    out = r.output
    for label in ("rate per available hour", "exact 95% Poisson CI", "uptime (complete)", "CV",
                  "capacity wait (complete)", "available", "fitted patterns", "KS"):
        assert label in out
    assert "tick-aware: whole 60 s ticks" in out
    fit_lines = [line for line in out.splitlines() if " KS " in line]
    assert len(fit_lines) >= 2 and fit_lines[0].lstrip().startswith("*")
    assert sum(line.lstrip().startswith("*") for line in fit_lines) == 1


def test_json_min_nodes_on_hand_made_trace(tmp_path):
    """--json with --min-nodes: one document whose values are the hand-computed ones (see
    test_trace_stats.test_multi_node_trace_with_min_nodes)."""
    f = ticks(tmp_path, [4, 4, 3, 1, 2, 4, 0, 4], gap=10)
    r = invoke("traces", f, "--min-nodes", "4", "--json")
    assert r.exit_code == 0, r.output
    (t,) = json.loads(r.stdout)["traces"]
    assert t["min_nodes"] == 4 and t["preemptions"] == 2 and t["availability"] == 0.5
    assert t["rate_per_h"]["value"] == pytest.approx(2 / (40 / 3600))
    assert t["wait"]["count"] == 2 and t["wait"]["mean_h"] == pytest.approx(20 / 3600)
    assert t["uptime"]["count"] == 1 and t["uptime"]["censored"] == 2


def test_never_preempting_trace_reports_without_fits(tmp_path):
    """A trace with no preemption prints its statistics (rate 0 with an upper bound) and says the fits
    are unavailable; -o on it is refused in one line."""
    f = ticks(tmp_path, [0, 1, 1, 1, 1])
    r = invoke("traces", f)
    assert r.exit_code == 0, r.output
    assert "rate per available hour    0 [0, " in r.output and "fitted patterns: unavailable" in r.output
    one_line_error(invoke("traces", f, "-o", tmp_path / "s.yaml"), "no pattern could be fitted")
    assert not (tmp_path / "s.yaml").exists()


def test_fragment_loads_and_extends(tmp_path):
    """-o writes the best fit (interrupts) and the mean complete wait (exponential capacity) with a comment
    block naming the trace and the fit's KS; it loads as a scenario, and another scenario extends it."""
    f = synthetic(tmp_path)
    frag = tmp_path / "zone-fit.yaml"
    r = invoke("traces", f, "-o", frag, "--json")
    assert r.exit_code == 0, r.output
    (t,) = json.loads(r.stdout)["traces"]
    best = t["fits"][0]
    text = frag.read_text()
    assert str(f) in text and f"Written fit: {best['pattern']}, KS {best['ks']:.4f} (tick-aware, 60 s ticks)" in text
    assert best["ks_tick_s"] == 60.0
    s = load_scenario([frag])
    assert s.interrupts.pattern == best["pattern"]
    assert s.interrupts.rate_per_h == pytest.approx(best["params"]["rate_per_h"], rel=1e-5)
    assert s.capacity.wait == "exponential"
    assert s.capacity.wait_s == pytest.approx(t["wait"]["mean_h"] * 3600, rel=1e-5)
    child = tmp_path / "job.yaml"
    child.write_text("extends: zone-fit.yaml\njob:\n  epochs: 7\n")
    c = load_scenario([child])
    assert c.job.epochs == 7 and c.interrupts == s.interrupts and c.capacity == s.capacity


def test_fragment_from_a_shipped_zone(tmp_path):
    """The fragment of a real zone loads, with the zone's fitted rate near its measured one."""
    f = shared_trace(f"{AWS}/us-east-2b_v100_1.json")
    r = invoke("traces", f, "-o", tmp_path / "z.yaml")
    assert r.exit_code == 0, r.output
    s = load_scenario([tmp_path / "z.yaml"])
    assert 0.1 < s.interrupts.rate_per_h < 0.5 and s.capacity.wait_s > 0


def test_several_files_with_o_refused(tmp_path):
    """-o holds one pattern: with several FILEs it is refused in one line before anything is read."""
    a, b = synthetic(tmp_path, "a.json"), synthetic(tmp_path, "b.json")
    one_line_error(invoke("traces", a, b, "-o", tmp_path / "s.yaml"), "one trace", "2 were given")


def test_plot_dir_writes_one_png_per_trace(tmp_path):
    """--plot-dir writes <folder>_<stem>.png per trace (a PNG file); a trace with no complete uptime gets
    no figure and a note saying why."""
    a = synthetic(tmp_path, "a.json")
    flat = ticks(tmp_path, [1, 1, 1], name="flat.json")
    out = tmp_path / "figs"
    r = invoke("traces", a, flat, "--plot-dir", out)
    assert r.exit_code == 0, r.output
    png = out / f"{tmp_path.name}_a.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == [png.name]
    assert f"no figure for {tmp_path.name}/flat" in r.output


@pytest.mark.parametrize("content, needle", [
    ("", "not valid JSON"),
    ("garbage, not a trace", "not valid JSON"),
    ('{"metadata": {"gap_seconds": 60}, "data": []}', "non-empty list"),
    ('{"metadata": {"gap_seconds": 60}, "data": ["up", "down"]}', "whole numbers"),
    ('[1, 0, 1]', "expected a tick trace"),
])
def test_bad_trace_is_one_line(tmp_path, content, needle):
    """An empty or garbage trace is refused in one line naming the file and the problem."""
    f = tmp_path / "bad.json"
    f.write_text(content)
    one_line_error(invoke("traces", f), needle, "bad.json")


def test_no_uptime_at_all_is_one_line(tmp_path):
    """A trace that is never available (or never at --min-nodes, or inverted by --convention) is one line."""
    one_line_error(invoke("traces", ticks(tmp_path, [0, 0, 0])), "never available")
    one_line_error(invoke("traces", ticks(tmp_path, [1, 1, 1]), "--convention", "preempted"), "never available")
    one_line_error(invoke("traces", ticks(tmp_path, [2, 1, 2]), "--min-nodes", "3"), "never 3 live")
    one_line_error(invoke("traces", tmp_path / "missing.json"), "does not exist")
    one_line_error(invoke("traces", ticks(tmp_path, [1, 0]), "--min-nodes", "0"), "--min-nodes")


def test_fragment_passes_over_a_fit_whose_rate_the_trace_does_not_show():
    """A fit whose rate lies beyond RATE_AGREEMENT x the trace's own CI (a tick-aware heavy tail
    extrapolated below one tick) is not written: the next fit that agrees is, and the comment says why."""
    from dataclasses import replace

    from spotsim.interrupts.trace_io import CountSeries
    from spotsim.pattern_fit import fit_poisson
    from spotsim.trace_stats import trace_stats
    from spotsim.traces_cli import RATE_AGREEMENT, fragment_text, written_fit

    rng = np.random.default_rng(5)
    ticks = []
    for _ in range(60):
        ticks += [1] * int(rng.integers(1, 12)) + [0] * int(rng.integers(1, 4))
    st = trace_stats(CountSeries.from_ticks(ticks, 60.0, "synthetic"))
    lo, hi = st.rate_ci95
    honest = st.fits[0]
    wild = replace(fit_poisson(st.complete_uptimes_s), params={"rate_per_h": hi * RATE_AGREEMENT * 3})
    st = replace(st, fits=(wild, *st.fits))
    assert written_fit(st) is honest
    text = fragment_text(st)
    assert "Passed over: poisson" in text and f"Written fit: {honest.pattern}" in text
    assert lo / RATE_AGREEMENT <= written_fit(st).params["rate_per_h"] <= hi * RATE_AGREEMENT
