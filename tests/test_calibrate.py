"""`spotsim calibrate`: simulated logs of a known job fitted back, gaps filled and said, bad logs refused."""
from __future__ import annotations

import json

import pytest

from calibrate.fit import fit
from calibrate.runs import read_runs
from spotsim.config import load_scenario

from .calibrate_helpers import invoke, simulated_logs


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    """Four simulated runs of the KNOWN job and the scenario calibrated from them."""
    tmp = tmp_path_factory.mktemp("known")
    logs = simulated_logs(tmp)
    out = tmp / "calibrated" / "known.yaml"
    r = invoke("calibrate", *logs, "-o", out)
    assert r.exit_code == 0, r.output
    return logs, out, r.output


def test_round_trip_recovers_known_parameters(known):
    """Logs written by the simulator are calibrated back to the parameters that wrote them."""
    _, out, _ = known
    s = load_scenario([out])
    assert s.job.epochs == 24
    assert s.job.epoch_s == pytest.approx(30.0, rel=0.05)
    assert s.job.epoch_jitter == pytest.approx(0.1, abs=0.03)
    assert s.job.eval_s == pytest.approx(3.0)
    assert s.checkpoint.write_s == pytest.approx(4.0)
    assert s.checkpoint.restore_s == pytest.approx(6.0)
    assert s.checkpoint.emergency_s == pytest.approx(2.0)
    assert (s.checkpoint.strategy, s.checkpoint.every_epochs, s.checkpoint.emergency) == ("fixed", 3, True)
    assert s.vm.startup_s == pytest.approx(50.0)
    assert s.vm.notice_s == pytest.approx(30.0)
    assert (s.capacity.wait, s.capacity.wait_s) == ("fixed", pytest.approx(20.0))
    assert s.accuracy.a_max == pytest.approx(0.7, abs=0.03)
    assert s.accuracy.a_0 == pytest.approx(0.05, abs=0.05)
    assert s.accuracy.tau_epochs == pytest.approx(6.0, rel=0.25)
    assert s.accuracy.noise_sd == pytest.approx(0.01, abs=0.005)


def test_every_fitted_value_says_its_evidence(known):
    """Each value line of the YAML carries a comment: how many observations (n=), or DEFAULT."""
    _, out, _ = known
    for line in out.read_text().splitlines():
        if line.startswith("  ") and ":" in line:
            assert " # " in line, line
            comment = line.split(" # ", 1)[1]
            assert "n=" in comment or "DEFAULT" in comment, line


def test_checkpoint_bytes_give_a_write_rate(tmp_path):
    """Checkpoints that log their size give MB and MB/s in the write_s comment, for other model sizes."""
    log = simulated_logs(tmp_path, seeds=(1,))[0]
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    for rec in lines:
        if rec["event"] == "checkpoint":
            rec["bytes"] = 200_000_000
    log.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "b.yaml"
    assert invoke("calibrate", log, "-o", out).exit_code == 0
    write_line = next(x for x in out.read_text().splitlines() if x.startswith("  write_s:"))
    assert "200 MB per checkpoint" in write_line and "MB/s" in write_line


def test_missing_measurements_fall_back_to_defaults_and_say_so(tmp_path):
    """A log with no preemption and no checkpoint keeps the defaults for those, in a comment and a note."""
    logs = simulated_logs(tmp_path, seeds=(1,), sets=("interrupts.pattern=none", "interrupts.rate_per_h=0",
                                                      "checkpoint.strategy=none"))
    out = tmp_path / "bare.yaml"
    r = invoke("calibrate", *logs, "-o", out)
    assert r.exit_code == 0, r.output
    text = out.read_text()
    for key in ("write_s", "restore_s", "emergency_write_s"):
        line = next(x for x in text.splitlines() if x.startswith(f"  {key}:"))
        assert "DEFAULT" in line
        assert f"note: checkpoint.{key}" in r.output
    assert "no preemption in the logs" in r.output
    s = load_scenario([out])
    assert s.checkpoint.restore_s == 5.0 and s.job.epoch_s == pytest.approx(30.0, rel=0.05)


def test_fit_reports_several_runs_of_one_job(known):
    """The fit reads every run of every log and keeps the job's identity (none for simulated logs)."""
    logs, _, _ = known
    runs = [r for p in logs for r in read_runs(p)]
    cal = fit(runs)
    assert cal.runs == 4 and cal.sources == ("sim",) and cal.identity == {}


def _valid_lines(tmp_path):
    return simulated_logs(tmp_path, seeds=(1,))[0].read_text().splitlines()


def test_empty_log_is_refused(tmp_path):
    """An empty event log: one line naming the file, no traceback."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = invoke("calibrate", empty, "-o", tmp_path / "x.yaml")
    assert r.exit_code == 1 and "empty.jsonl" in r.output and "empty" in r.output


def test_other_schema_version_is_refused(tmp_path):
    """A log of another schema version: the file, the line and both versions."""
    lines = _valid_lines(tmp_path)
    rec = json.loads(lines[2])
    rec["schema"] = 2
    lines[2] = json.dumps(rec)
    log = tmp_path / "v2.jsonl"
    log.write_text("\n".join(lines) + "\n")
    r = invoke("calibrate", log, "-o", tmp_path / "x.yaml")
    assert r.exit_code == 1 and "v2.jsonl:3" in r.output and "schema version 2" in r.output


def test_truncated_last_line_is_refused_with_its_line(tmp_path):
    """A log cut off in its last line: file:line and that the line is truncated."""
    lines = _valid_lines(tmp_path)
    log = tmp_path / "cut.jsonl"
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])
    r = invoke("calibrate", log, "-o", tmp_path / "x.yaml")
    assert r.exit_code == 1 and f"cut.jsonl:{len(lines)}" in r.output and "truncated" in r.output


def test_log_without_run_start_is_refused(tmp_path):
    """A log whose first event is not run_start (a fragment) is refused with its first line."""
    lines = _valid_lines(tmp_path)
    log = tmp_path / "frag.jsonl"
    log.write_text("\n".join(lines[1:]) + "\n")
    r = invoke("calibrate", log, "-o", tmp_path / "x.yaml")
    assert r.exit_code == 1 and "frag.jsonl:1" in r.output and "run_start" in r.output
