"""`spotsim sweep` and `spotsim plot` through click: outputs, figures, and one-line refusals."""
from pathlib import Path

import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from spotsim import sweep as sw
from spotsim.cli import main
from spotsim.sweep_cli import format_breakeven

SCENARIO = """\
name: tiny
job: {epochs: 8, epoch_s: 30}
vm: {startup_s: 30}
checkpoint: {every_epochs: 2}
"""
FAST = ["--rates", "1,8,40", "--strategies", "fixed,milestone", "--patterns", "poisson,bursty", "-n", "4",
        "--jobs", "1"]


@pytest.fixture
def scenario_file(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    return p


def _figures(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix in (".png", ".pdf")}


def _check_images(folder: Path, names) -> None:
    for name in names:
        path = folder / name
        data = path.read_bytes()
        assert len(data) > 1000, name
        if name.endswith(".png"):
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            assert imread(path).size > 0
        else:
            assert data[:5] == b"%PDF-" and b"%%EOF" in data[-64:]


@pytest.fixture(scope="module")
def two_key_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    scen = folder / "tiny.yaml"
    scen.write_text(SCENARIO)
    out = folder / "out"
    result = CliRunner().invoke(main, ["sweep", str(scen), *FAST, "--vary", "vm.startup_s=30",
                                       "--vary", "checkpoint.write_s=3,20", "--out", str(out)])
    return result, out


def test_sweep_writes_csvs_and_every_figure(two_key_sweep):
    """A sweep with two varied keys writes the three CSVs, the curves per combination and both maps, as PNG and PDF."""
    result, out = two_key_sweep
    assert result.exit_code == 0, result.output
    for name in ("runs.csv", "summary.csv", "breakeven.csv", "sweep.json"):
        assert (out / name).is_file()
    figs = _figures(out)
    curves = ["cost_vs_rate", "savings_vs_rate", "lost_vs_rate", "makespan_vs_rate"]
    combos = [f"__vm.startup_s={a}__checkpoint.write_s={b}" for a in (30,) for b in (3, 20)]
    expected = {f"{c}{k}.{fmt}" for c in curves for k in combos for fmt in ("png", "pdf")}
    expected |= {f"{m}.{fmt}" for m in ("breakeven_map_cost", "breakeven_map_time", "strategy_gap_map")
                 for fmt in ("png", "pdf")}
    assert figs == expected
    _check_images(out, figs)
    assert "break-even preemption rates per hour" in result.output


def test_plot_redraws_every_figure_from_the_csvs(two_key_sweep):
    """`spotsim plot DIR` recreates the same figure files, byte for byte, without simulating."""
    _, out = two_key_sweep
    before = {name: (out / name).read_bytes() for name in _figures(out)}
    for name in before:
        (out / name).unlink()
    (out / "runs.csv").rename(out / "runs.moved")  # proof that nothing is simulated or read from the runs
    try:
        result = CliRunner().invoke(main, ["plot", str(out)])
    finally:
        (out / "runs.moved").rename(out / "runs.csv")
    assert result.exit_code == 0, result.output
    assert _figures(out) == set(before)
    _check_images(out, before)
    assert all((out / n).read_bytes() == b for n, b in before.items())


def test_sweep_without_vary_writes_the_four_curves(scenario_file, tmp_path):
    """Without --vary: one file per curve figure and format, no maps."""
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), *FAST, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert _figures(out) == {f"{c}.{f}" for c in ("cost_vs_rate", "savings_vs_rate", "lost_vs_rate",
                                                  "makespan_vs_rate") for f in ("png", "pdf")}


def test_sweep_without_plots_into_a_used_folder_leaves_no_stale_figures(scenario_file, tmp_path):
    """--no-plots into a folder of an earlier sweep removes its figures: they would not match the new CSVs."""
    out = tmp_path / "o"
    assert CliRunner().invoke(main, ["sweep", str(scenario_file), *FAST, "--out", str(out)]).exit_code == 0
    assert _figures(out)
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), *FAST, "--no-plots", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert _figures(out) == set() and (out / "breakeven.csv").exists()


@pytest.mark.parametrize("args, flag", [
    (["--rates", ""], "--rates"),
    (["--rates", " , "], "--rates"),
    (["--rates", "1:64:exp5"], "--rates"),
    (["--rates", "8:2:log5"], "--rates"),
    (["--rates", "1e-320"], "--rates"),
    (["--strategies", "fixed,yolo"], "--strategies"),
    (["--strategies", ""], "--strategies"),
    (["--patterns", "none"], "--patterns"),
    (["--vary", "vm.boot_s=1,2"], "--vary"),
    (["--vary", "checkpoint.write_s=-3,5"], "--vary"),
    (["--limit-ratio", "nan"], "--limit-ratio"),
    (["--limit-ratio", "inf"], "--limit-ratio"),
    (["--limit-ratio", "1"], "--limit-ratio"),
    (["--limit-ratio", "abc"], "--limit-ratio"),
    (["--replications", "0"], "--replications"),
    (["-n", "100000000"], "--replications"),
    (["--jobs", "100000"], "--jobs"),
    (["--refine-steps", "-1"], "--refine-steps"),
    (["--seed", "x"], "--seed"),
    (["--no-such-flag"], "--no-such-flag"),
])
def test_bad_flags_give_one_line_naming_the_flag(scenario_file, tmp_path, args, flag):
    """A refused flag is one line of output that names it, with a non-zero exit, no traceback, and
    nothing simulated (no runs.csv)."""
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert flag in lines[0] and lines[0].startswith("Error:")
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "o" / "runs.csv").exists()


def test_unwritable_out_is_one_line_before_simulating(scenario_file, tmp_path):
    """--out where no folder can be made (below a file) is refused in one line naming --out; nothing runs."""
    (tmp_path / "file").write_text("keep me")
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), *FAST, "--out", str(tmp_path / "file" / "o")])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --out: cannot write into"), result.output
    assert "simulating" not in result.output and (tmp_path / "file").read_text() == "keep me"


def test_breakeven_table_says_when_a_crossing_is_censored_or_its_bracket_coarse(tmp_path):
    """The printed table marks a censored crossing as an upper bound and a bracket wider than its CI."""
    path = tmp_path / "breakeven.csv"
    path.write_text("strategy,pattern,metric,breakeven_rate_per_h,ci_low,ci_high,status,bracket_low,bracket_high,"
                    "refinement,censored_runs\n"
                    "fixed,poisson,cost,12.5,11.0,14.0,found,12.0,13.0,converged,0\n"
                    "milestone,poisson,cost,1.6,1.5,1.7,censored,1.55,1.65,converged,4\n"
                    "adaptive,poisson,cost,9.0,6.0,16.0,found,6.0,16.0,step_limit,0\n")
    text = format_breakeven(path)
    lines = text.splitlines()
    assert "12.5 [11, 14]" in lines[1] and "wider" not in lines[1]
    assert "at most 1.6 [1.5, 1.7]" in lines[2] and "4 run(s)" in lines[2]
    assert "bracket still wider than the CI" in lines[3]
    assert lines[-1].startswith("note: 1 bracket(s)")


def test_plot_of_a_folder_without_a_sweep_is_one_line(tmp_path):
    """`spotsim plot` on a folder that holds no sweep says so in one line."""
    result = CliRunner().invoke(main, ["plot", str(tmp_path)])
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1 and "summary.csv" in result.output


def test_interrupted_sweep_says_so_and_exits_non_zero(scenario_file, tmp_path, monkeypatch):
    """Ctrl-C: a one-line note of the cells kept on disk and exit status 130."""
    real = sw.run_sweep

    def interrupted(spec, out, jobs=None, progress=None):
        def stop(n, planned):
            raise KeyboardInterrupt
        return real(spec, out, jobs=jobs, progress=stop)

    monkeypatch.setattr(sw, "run_sweep", interrupted)
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), *FAST, "--out", str(out)])
    assert result.exit_code == 130
    assert "interrupted: 1 of 12 cells complete" in result.output
    assert (out / "runs.csv").is_file() and (out / "summary.csv").is_file()
