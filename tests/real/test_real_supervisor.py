"""The supervisor through the `real` CLI: real SIGTERMs, restarts, resumes, a complete event log.

Speed-independent: preemptions come when the trainer has trained a fixed number of
steps (`pause_after_steps` holds it there, `notice_when_paused` sends the notice
then), kills and stops when a trainer has logged that it is held; the one test of
a drawn uptime keeps its trainer in start-up (a fixed sleep) past that uptime.
Timeouts are safety nets only.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from real_helpers import (PATIENCE_S, SMALL, assert_same_weights, events, final_weights, of, paused, real,
                          wait_for)

from spotsim.events import read_events

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def preempted_run(tmp_path_factory):
    """A 2-epoch run preempted after 6 and 12 steps (8 steps an epoch): (out, stdout, stderr)."""
    out = tmp_path_factory.mktemp("preempted") / "run"
    p = real("run", "--strategy", "none", "--interrupts", "regular", "--rate", "1/h", "--epochs", "2",
             "--out", str(out), *SMALL, faults="pause_after_steps=6,notice_when_paused=1")
    stdout, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 0, stderr
    return out, stdout, stderr


def test_preempted_run_completes_with_ordered_log(preempted_run):
    """Preempted twice at fixed progress: all epochs finish, and each SIGTERM, emergency save,
    exit, restart and resume appear in order."""
    out, _, _ = preempted_run
    evts = read_events(out / "events.jsonl")  # schema-valid, every line
    assert all(e["source"] == "real" and "wall" in e and "pid" in e for e in evts)
    (end,) = of(evts, "run_end")
    assert end["completed"] and end["epochs_done"] == 2
    sent = of(evts, "preempt_notice", direction="sent")
    assert len(sent) == 2 == end["preemptions"]
    assert [e["epoch"] for e in of(evts, "epoch_end")] == [1, 2]
    assert [e["epoch"] for e in of(evts, "checkpoint", kind="emergency", ok=True)] == [0.75, 1.5]
    for s in sent:
        n = s["lifetime"]
        (received,) = of(evts, "preempt_notice", direction="received", lifetime=n)
        assert received["action"] == "emergency_save"
        (ck,) = of(evts, "checkpoint", kind="emergency", lifetime=n)
        (resume,) = of(evts, "resume", lifetime=n + 1)
        chain = [evts.index(x) for x in (s, received, ck, of(evts, "process_exit", lifetime=n)[0],
                                         of(evts, "vm_start", lifetime=n + 1)[0], resume)]
        assert chain == sorted(chain), f"events of preemption {n} out of order"
        times = [evts[i]["t"] for i in chain]  # one monotonic clock across the processes
        assert times == sorted(times), f"times of preemption {n} out of order"
        assert resume["from_epoch"] == ck["epoch"]


def test_console_shows_progress(preempted_run):
    """Without --quiet the console tells lifetimes, notices, checkpoints, epochs and the end;
    the summary goes to stdout."""
    _, stdout, stderr = preempted_run
    for line in ("run started: 2 epochs, strategy none; preemptions: regular at 1/h",
                 "lifetime 1 started", "lifetime 1: started from scratch",
                 "lifetime 1: notice heard during train: emergency save",
                 "lifetime 1: emergency checkpoint at epoch 0.750 durable",
                 "lifetime 2: resumed from ckpt-000001.pt at epoch 0.750",
                 "epoch 1/2 done", "epoch 2/2 done", "lifetime 3: trainer exited (done)",
                 "run complete: 2 epochs in 3 lifetimes, 2 preemptions"):
        assert line in stderr, stderr
    assert "lifetime 1: preemption notice (SIGTERM) after" in stderr
    assert "preemptions: 2" in stdout and "notice_to_durable_s: " in stdout


def test_summary_tells_restart_delay_from_capacity_wait(preempted_run):
    """Two restarts 0.5 s apart: 1 s of restart delay, no capacity wait (the pattern models none)."""
    out, stdout, _ = preempted_run
    from real.summary import summarize

    s = summarize(out)
    assert s["capacity_wait_s"] == 0
    assert s["restart_delay_s"] == pytest.approx(1.0)
    assert "capacity_wait_s: 0\n" in stdout


def test_drawn_uptime_ends_in_sigterm(tmp_path):
    """regular at 1800/h: the notice comes 2 s after the grant (the trainer is held in start-up for
    4 s, so it lands there on any machine); --max-lifetimes 1 then stops the run with the reason."""
    out = tmp_path / "run"
    p = real("run", "--interrupts", "regular", "--rate", "1800/h", "--epochs", "1", "--max-lifetimes", "1",
             "--quiet", "--out", str(out), *SMALL, faults="slow_startup_s=4")
    stdout, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 1, stderr
    assert stderr.strip().splitlines() == ["Error: no progress to completion after 1 lifetimes (--max-lifetimes)"]
    evts = read_events(out / "events.jsonl")
    (vm,) = of(evts, "vm_start")
    (sent,) = of(evts, "preempt_notice", direction="sent")
    assert vm["planned_uptime_s"] == 2.0 and sent["uptime_s"] >= 2.0
    assert sent["t"] - vm["t"] == pytest.approx(sent["uptime_s"], abs=2e-6)  # one monotonic clock
    (received,) = of(evts, "preempt_notice", direction="received")
    assert (received["phase"], received["action"]) == ("startup", "already_durable")
    assert of(evts, "process_exit")[0]["code"] == 3
    assert evts[-1]["event"] == "run_end" and evts[-1]["completed"] is False


def test_ctrl_c_stops_supervisor_and_trainer_cleanly(tmp_path):
    """SIGINT to the supervisor: the trainer gets SIGTERM and its grace, saves, the log ends with run_end,
    exit 130; the console said no preemptions would be injected (a plain run)."""
    out = tmp_path / "run"
    p = real("run", "--strategy", "none", "--epochs", "50", "--out", str(out), *SMALL,
             faults="pause_after_steps=2")
    wait_for(lambda: paused(out, 1), "the trainer to be held after 2 steps", p)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "no preemptions will be injected (--interrupts none)" in stderr
    evts = read_events(out / "events.jsonl")
    assert evts[-1]["event"] == "run_end" and evts[-1]["interrupted"] is True
    assert not of(evts, "preempt_notice", direction="sent")
    (exit_,) = of(evts, "process_exit")
    assert exit_["code"] == 3  # the trainer saved and exited on its own, within the grace window
    (ck,) = of(evts, "checkpoint", kind="emergency", ok=True)
    assert ck["epoch"] == 0.25


def trainer_pid(out, lifetime: int) -> int:
    (start,) = of(events(out), "process_start", lifetime=lifetime)
    return start["pid"]


def test_trainer_killed_without_notice_restarts_from_durable_checkpoint(reference, tmp_path):
    """SIGKILL to the trainer from outside the supervisor (1.5 epochs in, checkpoint at 1.0): logged
    as a preemption without notice; the next trainer resumes from epoch 1 and the run ends complete,
    bit-identical to an uninterrupted run."""
    out = tmp_path / "run"
    p = real("run", "--strategy", "fixed", "--every-epochs", "1", "--epochs", "2", "--out", str(out), *SMALL,
             faults="pause_after_steps@1=12")
    wait_for(lambda: paused(out, 1), "lifetime 1 to be held at epoch 1.5", p)
    os.kill(trainer_pid(out, 1), signal.SIGKILL)
    stdout, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 0, stderr
    evts = read_events(out / "events.jsonl")
    (kill,) = of(evts, "kill")
    assert (kill["lifetime"], kill["notice"], kill["signal"]) == (1, False, "SIGKILL")
    assert of(evts, "process_exit", lifetime=1)[0]["code"] == -signal.SIGKILL
    assert not of(evts, "preempt_notice")
    (resume,) = of(evts, "resume", lifetime=2)
    assert (resume["checkpoint"], resume["from_epoch"]) == ("ckpt-000001.pt", 1.0)
    (end,) = of(evts, "run_end")
    assert end["completed"] and end["unnoticed_kills"] == 1 and end["preemptions"] == 0
    assert "lifetime 1: killed without notice (SIGKILL)" in stderr
    assert "preemptions_without_notice: 1" in stdout
    assert_same_weights(reference, final_weights(out))


def test_crash_loop_stops_the_run_with_the_reason(tmp_path):
    """Trainers that die without notice before saving anything, three times in a row: the run stops,
    saying why in one line; --quiet leaves nothing else on the console."""
    out = tmp_path / "run"
    p = real("run", "--epochs", "1", "--quiet", "--out", str(out), *SMALL, faults="sigkill_at_start=1")
    stdout, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 1 and stdout == ""
    (line,) = stderr.strip().splitlines()
    assert line.startswith("Error: crash loop: 3 lifetimes in a row ended without notice and without saving "
                           "any progress (last: lifetime 3, killed by SIGKILL)"), line
    evts = read_events(out / "events.jsonl")
    assert [e["lifetime"] for e in of(evts, "kill", notice=False)] == [1, 2, 3]
    assert len(of(evts, "vm_start")) == 3
    assert evts[-1]["event"] == "run_end" and "crash loop" in evts[-1]["error"]


def test_resume_after_the_supervisor_was_stopped(reference, tmp_path):
    """SIGTERM to the supervisor mid-run, then `real run --resume`: the run goes on in the same
    directory (skipping, with a warning on the console, a checkpoint corrupted meanwhile) and ends
    bit-identical to an uninterrupted run, with one run_start and lifetimes counted on."""
    out = tmp_path / "run"
    p = real("run", "--strategy", "fixed", "--every-epochs", "1", "--epochs", "2", "--quiet", "--out", str(out),
             *SMALL, faults="pause_after_steps@1=11")
    wait_for(lambda: paused(out, 1), "lifetime 1 to be held at epoch 1.375", p)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 130, stderr
    assert f"real run --resume --out {out}" in stderr
    first = events(out)
    assert [e["epoch"] for e in of(first, "checkpoint", ok=True)] == [1.0, 1.375]
    emergency = Path(out) / "checkpoints" / of(first, "checkpoint", kind="emergency")[0]["path"]
    raw = bytearray(emergency.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    emergency.write_bytes(bytes(raw))

    p = real("run", "--resume", "--out", str(out))
    stdout, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 0, stderr
    assert "resuming the run in" in stderr and "1 of 2 epochs done" in stderr
    assert f"lifetime 2: warning: skipping checkpoint {emergency.name}: checksum mismatch" in stderr
    evts = read_events(out / "events.jsonl")
    assert len(of(evts, "run_start")) == 1 and [e["lifetime"] for e in of(evts, "vm_start")] == [1, 2]
    (resume,) = of(evts, "resume", lifetime=2)
    assert (resume["checkpoint"], resume["from_epoch"]) == ("ckpt-000001.pt", 1.0)
    assert evts[-1]["event"] == "run_end" and evts[-1]["completed"] is True
    stopped_t = of(evts, "run_end")[0]["t"]
    assert of(evts, "vm_start", lifetime=2)[0]["t"] >= stopped_t  # run time goes on from the stop
    assert "completed: True" in stdout and "lifetimes: 2" in stdout
    assert_same_weights(reference, final_weights(out))
