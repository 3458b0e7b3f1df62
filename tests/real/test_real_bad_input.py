"""Bad input to `real run`: one clear message each, no traceback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from real.cli import main
from real.runconfig import RunConfig

pytestmark = pytest.mark.real


TINY = ["--model", "resnet18", "--max-samples", "32", "--batch-size", "16", "--device", "cpu", "--threads", "1",
        "--restart-delay", "0", "--max-lifetimes", "2"]
"""Should a refusal go missing, the run it lets through is tiny and bounded, not hours of training."""


def run(*args):
    return CliRunner().invoke(main, ["run", "--epochs", "1", *TINY, *args])


def assert_clear(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    for n in needles:
        assert n in result.output, result.output


def test_missing_dataset_names_both_ways_out(tmp_path):
    """CIFAR-100 absent: the message names --download and --dataset synthetic."""
    r = run("--dataset", "cifar100", "--data-root", str(tmp_path / "nodata"), "--out", str(tmp_path / "o"))
    assert_clear(r, "CIFAR-100 is not in", "--download", "--dataset synthetic")


def test_unwritable_out_is_refused(tmp_path):
    """An --out that cannot be created or written: refused with the OS reason."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = run("--dataset", "synthetic", "--out", str(blocker / "run"))
    assert_clear(r, "Invalid value for --out", "cannot write to", "Not a directory")


def test_negative_rate_is_refused(tmp_path):
    """A negative preemption rate is refused before anything runs."""
    r = run("--dataset", "synthetic", "--interrupts", "poisson", "--rate", "-3/h", "--out", str(tmp_path / "o"))
    assert_clear(r, "Invalid value for --rate", "cannot be negative")
    assert not (tmp_path / "o").exists()


def test_unknown_strategy_is_refused(tmp_path):
    """An unknown strategy is refused with the list of known ones."""
    r = run("--dataset", "synthetic", "--strategy", "sometimes", "--out", str(tmp_path / "o"))
    assert_clear(r, "Invalid value for '--strategy'", "'sometimes' is not one of", "milestone")


def assert_one_line(result, *needles, code=2):
    """Refused with one line of error (after click's usage lines), no traceback, nothing run."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for n in needles:
        assert n in errors[0], result.output


def test_absurd_rate_is_refused(tmp_path):
    """--rate 1e9/h (a mean uptime of microseconds) would restart trainers forever: refused, with the limit."""
    r = run("--dataset", "synthetic", "--interrupts", "poisson", "--rate", "1e9/h", "--out", str(tmp_path / "o"))
    assert_one_line(r, "Invalid value for --rate", "would never end", "at most 3600/h")
    assert not (tmp_path / "o").exists()


def test_min_interval_above_max_is_refused(tmp_path):
    """--min-interval-s 100 --max-interval-s 10 cannot bound an interval: refused, naming both."""
    r = run("--dataset", "synthetic", "--strategy", "adaptive", "--min-interval-s", "100", "--max-interval-s", "10",
            "--out", str(tmp_path / "o"))
    assert_one_line(r, "--min-interval-s", "above --max-interval-s 10")
    assert not (tmp_path / "o").exists()


def test_rate_without_a_pattern_is_refused(tmp_path):
    """A plain run is never preempted: --rate without --interrupts says so instead of being ignored."""
    r = run("--dataset", "synthetic", "--rate", "6/h", "--out", str(tmp_path / "o"))
    assert_one_line(r, "--rate needs a pattern", "--interrupts", "nothing is preempted")


def test_pattern_without_a_rate_is_refused(tmp_path):
    """--interrupts poisson without --rate (formerly 0/h: never preempted) is refused."""
    r = run("--dataset", "synthetic", "--interrupts", "poisson", "--out", str(tmp_path / "o"))
    assert_one_line(r, "--interrupts poisson needs --rate")


def test_resume_without_a_run_is_refused(tmp_path):
    """--resume into a directory holding no run: refused, saying how to start one."""
    r = CliRunner().invoke(main, ["run", "--resume", "--out", str(tmp_path / "none")])
    assert_one_line(r, "nothing to resume", "without --resume")


def stopped_run(out: Path, completed: bool) -> None:
    """A run directory as a stopped (or finished) `real run` leaves it: run.json and its log."""
    out.mkdir(parents=True)
    RunConfig(out=str(out), epochs=2, options={"rate": "6/h", "pattern": "poisson", "epochs": 2}).save()
    recs = [{"event": "run_start", "t": 0.0, "epochs": 2},
            {"event": "vm_start", "t": 0.0, "lifetime": 1},
            {"event": "run_end", "t": 9.0, "epochs_done": 2 if completed else 0, "completed": completed}]
    (out / "events.jsonl").write_text("".join(
        json.dumps({"schema": 1, "source": "real", **r}) + "\n" for r in recs))


def test_resume_with_other_options_is_refused(tmp_path):
    """--resume continues a run as it was started: a different --rate is refused, naming both values."""
    stopped_run(tmp_path / "o", completed=False)
    r = CliRunner().invoke(main, ["run", "--resume", "--rate", "12/h", "--out", str(tmp_path / "o")])
    assert_one_line(r, "--rate was 6/h, not 12/h")


def test_resume_of_a_completed_run_is_refused(tmp_path):
    """A run whose last run_end says completed has nothing to resume."""
    stopped_run(tmp_path / "o", completed=True)
    r = CliRunner().invoke(main, ["run", "--resume", "--out", str(tmp_path / "o")])
    assert_one_line(r, "completed run", "nothing to resume")


def test_new_run_into_a_used_directory_points_to_resume(tmp_path):
    """Without --resume, a directory that holds a run is refused, naming --resume."""
    stopped_run(tmp_path / "o", completed=False)
    r = run("--dataset", "synthetic", "--out", str(tmp_path / "o"))
    assert_one_line(r, "already holds a run", "--resume")
