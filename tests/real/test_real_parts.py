"""Real mode's small parts, without training: the crash-loop rule, the run clock, the summary's
accounting of waits, the console lines."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from real.crashloop import CrashLoop
from real.progress import Progress
from real.runlog import RunLog
from real.summary import summarize

ROOT = Path(__file__).resolve().parents[2]


@given(st.integers(1, 5), st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40))
def test_crash_loop_is_limit_unnoticed_lifetimes_in_a_row_without_progress(limit, ends):
    """Stops exactly when the last `limit` lifetimes that were not preempted with notice, since the
    last one that made progress, number `limit`; lifetimes with notice neither count nor clear it."""
    loop = CrashLoop(limit)
    streak = 0
    for noticed, progressed in ends:
        streak = 0 if progressed else streak + (not noticed)
        assert loop.lifetime_ended(noticed, progressed) == (streak >= limit)


def test_run_time_comes_from_the_monotonic_clock(tmp_path, monkeypatch):
    """A wall-clock step (here: the wall clock jumps back a day) bends no `t`: run time is read from
    time.monotonic; `wall` follows the wall clock."""
    clock = {"mono": 100.0, "wall": 1.7e9}
    monkeypatch.setattr(time, "monotonic", lambda: clock["mono"])
    monkeypatch.setattr(time, "time", lambda: clock["wall"])
    log = RunLog(tmp_path / "events.jsonl", clock_origin=90.0)
    a = log.emit("run_start", epochs=1)
    clock.update(mono=107.5, wall=1.7e9 - 86400)
    b = log.emit("vm_start", lifetime=1)
    log.close()
    assert (a["t"], b["t"]) == (10.0, 17.5)
    assert b["wall"] == 1.7e9 - 86400


def write_log(path: Path, records: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    base = {"schema": 1, "source": "real", "wall": 0.0, "pid": 1}
    (path / "events.jsonl").write_text("".join(json.dumps({**base, **r}) + "\n" for r in records))
    return path


def test_summary_counts_restart_delays_apart_from_capacity_waits(tmp_path):
    """Restart delays (vm_start.restart_delay_s) are not capacity waits; capacity_back events with
    reason "capacity" are: 2 x 0.5 s of delay, 30 s of capacity wait."""
    run = write_log(tmp_path / "run", [
        {"event": "run_start", "t": 0.0, "epochs": 1},
        {"event": "vm_start", "t": 0.0, "lifetime": 1, "restart_delay_s": 0.0},
        {"event": "preempt_notice", "t": 5.0, "lifetime": 1, "direction": "sent"},
        {"event": "capacity_back", "t": 36.0, "wait_s": 30.0, "lifetime": 2, "reason": "capacity"},
        {"event": "vm_start", "t": 36.5, "lifetime": 2, "restart_delay_s": 0.5},
        {"event": "kill", "t": 40.0, "lifetime": 2, "notice": False},
        {"event": "vm_start", "t": 40.5, "lifetime": 3, "restart_delay_s": 0.5},
        {"event": "run_end", "t": 50.0, "epochs_done": 1, "completed": True},
    ])
    s = summarize(run)
    assert (s["capacity_wait_s"], s["restart_delay_s"]) == (30.0, 1.0)
    assert (s["preemptions"], s["preemptions_without_notice"], s["kills"]) == (1, 1, 0)


@pytest.mark.parametrize("name", ["fixed-regular", "adaptive-poisson"])
def test_summary_of_a_committed_log_reads_old_restart_delays_as_such(name):
    """Logs of earlier supervisors carry their restart delays as capacity_back without a reason:
    they count as restart delay, and capacity_wait_s is 0 (the supervisor modelled no capacity)."""
    run = ROOT / "results" / "cpu" / name
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]
    delays = [e["wait_s"] for e in events if e["event"] == "capacity_back"]
    assert delays, "the committed log should hold restarts"
    s = summarize(run)
    assert s["capacity_wait_s"] == 0
    assert s["restart_delay_s"] == pytest.approx(sum(delays))


def test_console_line_for_every_event_a_user_waits_for():
    """Each event of a lifetime gives one line naming the lifetime; a plain run says nothing preempts it."""
    p = Progress(epochs=8)
    plain = p.line({"event": "run_start", "epochs": 8, "strategy": "fixed", "pattern": "none", "rate_per_h": 0.0})
    assert "no preemptions will be injected" in plain
    lines = [p.line(e) for e in (
        {"event": "vm_start", "lifetime": 2, "planned_uptime_s": 13.0},
        {"event": "resume", "lifetime": 2, "checkpoint": "ckpt-000001.pt", "from_epoch": 1.5, "cold_start_s": 5.0},
        {"event": "epoch_end", "lifetime": 2, "epoch": 3, "train_s": 2.5, "val_acc": 0.25, "loss": 3.2},
        {"event": "checkpoint", "lifetime": 2, "kind": "periodic", "ok": True, "epoch": 3.0, "seconds": 0.2,
         "bytes": 45e6},
        {"event": "preempt_notice", "lifetime": 2, "direction": "sent", "uptime_s": 13.0},
        {"event": "kill", "lifetime": 2, "after_s": 30.0},
        {"event": "process_exit", "lifetime": 2, "code": -9, "reason": "killed by SIGKILL"})]
    assert all(line.startswith("lifetime 2") for line in lines), lines
    assert "epoch 3/8 done" in lines[2] and "45.0 MB" in lines[3] and "13.0 s" in lines[4]
