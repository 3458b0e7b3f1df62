"""Bad input to `real run`: one clear message each, no traceback."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from real.cli import main

pytestmark = pytest.mark.real


def run(*args):
    return CliRunner().invoke(main, ["run", "--epochs", "1", *args])


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
    r = run("--dataset", "synthetic", "--rate", "-3/h", "--out", str(tmp_path / "o"))
    assert_clear(r, "Invalid value for --rate", "cannot be negative")
    assert not (tmp_path / "o").exists()


def test_unknown_strategy_is_refused(tmp_path):
    """An unknown strategy is refused with the list of known ones."""
    r = run("--dataset", "synthetic", "--strategy", "sometimes", "--out", str(tmp_path / "o"))
    assert_clear(r, "Invalid value for '--strategy'", "'sometimes' is not one of", "milestone")
