"""Billing and lost work are computed once: calibration bills lifetimes with spotsim.billing, and
calibration's `measure` and `real summary` count lost work with calibrate/lost_work.py alike."""
from __future__ import annotations

import json
import math

import pytest

import calibrate.runs
import spotsim.billing
from calibrate.lost_work import lost_epochs, lost_epochs_by_lifetime
from calibrate.runs import measure, read_runs
from real.summary import summarize
from spotsim.config import Billing

from .conftest import ROOT

REAL_LOGS = sorted(p for p in ROOT.glob("results/**/events.jsonl"))
BILLING = Billing()


def _summary_total(path) -> tuple[float, int]:
    st = summarize(path)["lost_epochs_per_preemption"]
    return (st["mean"] * st["n"], st["n"]) if st else (0.0, 0)


def test_lost_epochs_is_notice_position_minus_next_resume():
    """Position at the notice minus where the next lifetime resumed, never negative; None where the log
    does not say (nothing trained yet, no position, no later resume)."""
    assert lost_epochs({"phase": "train", "position": 6.875}, {"from_epoch": 6.0}) == pytest.approx(0.875)
    assert lost_epochs({"phase": "train", "position": 2.0}, {"from_epoch": 3.0}) == 0.0
    assert lost_epochs({"phase": "startup", "position": 5.0}, {"from_epoch": 1.0}) is None
    assert lost_epochs({"phase": "restore", "position": 5.0}, {"from_epoch": 1.0}) is None
    assert lost_epochs({"phase": "train"}, {"from_epoch": 1.0}) is None
    assert lost_epochs({"phase": "train", "position": 5.0}, None) is None
    notices = {1: {"phase": "train", "position": 3.5}, 3: {"phase": "train", "position": 4.0}}
    resumes = {1: {"from_epoch": 0.0}, 2: {"from_epoch": 3.0}, 4: {"from_epoch": 2.0}}
    assert lost_epochs_by_lifetime(notices, resumes) == {1: 0.5, 3: 2.0}


@pytest.mark.parametrize("path", REAL_LOGS, ids=lambda p: str(p.relative_to(ROOT / "results")))
def test_calibration_and_real_summary_count_the_same_lost_work(path):
    """On every committed log with a run_end: the lost epochs `measure` counts equal the sum of
    `real summary`'s lost epochs per preemption."""
    runs = read_runs(path)
    if len(runs) != 1 or runs[0].end is None:
        pytest.skip("not one finished run")
    m = measure(runs[0], runs[0].window_s or 30.0, BILLING)
    total, _ = _summary_total(path)
    assert m.lost_epochs == pytest.approx(total, abs=1e-9)


def test_the_committed_logs_hold_lost_work_to_compare():
    """The comparison above is not vacuous: some committed run lost work at a preemption."""
    assert any(_summary_total(p)[0] > 0 for p in REAL_LOGS)


def test_a_notice_in_start_up_loses_nothing_in_both(tmp_path):
    """A notice that finds the trainer starting up (it has trained nothing) counts no lost work in
    calibration or in the real summary, whatever position it reports."""
    src = ROOT / "results" / "cpu" / "fixed-poisson-noemergency" / "events.jsonl"
    records = [json.loads(x) for x in src.read_text().splitlines()]
    notices = [r for r in records if r["event"] == "preempt_notice" and r["direction"] == "received"]
    assert notices
    for r in notices:
        r.update(phase="startup", position=r["position"] + 3.0)
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    run = read_runs(log)[0]
    assert measure(run, run.window_s, BILLING).lost_epochs == 0.0
    assert _summary_total(log) == (0.0, 0)


def test_measure_bills_with_the_simulators_rule(monkeypatch):
    """`measure` bills through spotsim.billing (no copy of the rule): each preempted lifetime by
    preempted_lifetime_billed_s, the last by lifetime_billed_s."""
    assert calibrate.runs.lifetime_billed_s is spotsim.billing.lifetime_billed_s
    assert calibrate.runs.preempted_lifetime_billed_s is spotsim.billing.preempted_lifetime_billed_s
    assert not hasattr(calibrate.runs, "billed_lifetime")
    run = read_runs(ROOT / "results" / "cpu" / "fixed-poisson" / "events.jsonl")[0]
    calls = []
    monkeypatch.setattr(calibrate.runs, "preempted_lifetime_billed_s",
                        lambda off, kill, billing: calls.append("preempted") or 0.0)
    monkeypatch.setattr(calibrate.runs, "lifetime_billed_s",
                        lambda d, billing, preempted: calls.append(("done", preempted)) or 0.0)
    measure(run, 30.0, BILLING)
    assert calls == ["preempted" if lt.preempted else ("done", False) for lt in run.lifetimes]


@pytest.mark.parametrize("name", ["fixed-poisson", "fixed-poisson-noemergency", "none-regular"])
def test_a_vm_is_billed_until_its_job_exits_inside_the_window(name):
    """Per-second billing without a minimum: a preempted lifetime is billed from its grant to the
    trainer's exit when the job exited inside the notice window (it saved, or had nothing to save,
    and shut its VM down), else to the window's end; the last lifetime to its exit."""
    run = read_runs(ROOT / "results" / "cpu" / name / "events.jsonl")[0]
    window = 30.0
    per_second = Billing(minimum_s=0.0, increment_s=1.0, free_if_preempted_within_s=0.0)
    expected = 0.0
    for lt in run.lifetimes:
        if lt.preempted:
            kill = float(lt.sent["t"]) - lt.start + window
            off = min(kill, float(lt.exit["t"]) - lt.start) if lt.exit is not None else kill
        else:
            off = float(lt.exit["t"]) - lt.start
        expected += math.ceil(off)
    assert any(lt.preempted and lt.exit is not None for lt in run.lifetimes)
    assert measure(run, window, per_second).billed_s == pytest.approx(expected)
