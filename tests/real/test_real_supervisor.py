"""The supervisor: real SIGTERMs at drawn times, restarts, resumes, a complete event log."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from real_helpers import ROOT, events, of

from spotsim.events import read_events

pytestmark = pytest.mark.real

SMALL = ["--model", "resnet18", "--dataset", "synthetic", "--max-samples", "128", "--batch-size", "16",
         "--device", "cpu", "--threads", "1", "--seed", "5", "--restart-delay", "0.5", "--grace", "20"]


def real(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "real.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, **kw)


def test_regular_high_rate_completes_with_ordered_log(tmp_path):
    """Preempted every 13 s: all epochs finish, and each SIGTERM, emergency save and resume appear in order."""
    out = tmp_path / "run"
    # 8 epochs of ~2.5 s on an idle 2-core machine need three 13 s lifetimes (~6 s of each is cold
    # start): at least two preemptions whatever the load (5 epochs could finish in two).
    p = real("run", "--strategy", "none", "--interrupts", "regular", "--rate", "277/h", "--epochs", "8",
             "--out", str(out), *SMALL)
    stdout, stderr = p.communicate(timeout=240)
    assert p.returncode == 0, stderr
    evts = read_events(out / "events.jsonl")  # schema-valid, every line
    assert all(e["source"] == "real" and "wall" in e and "pid" in e for e in evts)
    (end,) = of(evts, "run_end")
    assert end["completed"] and end["epochs_done"] == 8
    sent = of(evts, "preempt_notice", direction="sent")
    assert len(sent) >= 2 and end["preemptions"] == len(sent)
    assert [e["epoch"] for e in of(evts, "epoch_end")] == list(range(1, 9))
    for s in sent:
        n = s["lifetime"]
        chain = [evts.index(s)]
        (received,) = of(evts, "preempt_notice", direction="received", lifetime=n)
        chain.append(evts.index(received))
        if received["action"] == "emergency_save":
            (ck,) = of(evts, "checkpoint", kind="emergency", lifetime=n)
            assert ck["ok"]
            chain.append(evts.index(ck))
        chain.append(evts.index(of(evts, "process_exit", lifetime=n)[0]))
        chain.append(evts.index(of(evts, "vm_start", lifetime=n + 1)[0]))
        (resume,) = of(evts, "resume", lifetime=n + 1)
        chain.append(evts.index(resume))
        assert chain == sorted(chain), f"events of preemption {n} out of order"
        if received["action"] == "emergency_save":
            assert resume["from_epoch"] == ck["epoch"]
    assert sum(1 for e in of(evts, "preempt_notice", direction="received") if e["action"] == "emergency_save") >= 1
    assert "preemptions: " in stdout and "notice_to_durable_s: " in stdout


def test_ctrl_c_stops_supervisor_and_trainer_cleanly(tmp_path):
    """SIGINT to the supervisor: the trainer gets SIGTERM and its grace, the log ends with run_end, exit 130."""
    out = tmp_path / "run"
    p = real("run", "--strategy", "none", "--interrupts", "none", "--epochs", "50", "--out", str(out), *SMALL)
    deadline = time.time() + 90
    while not of(events(out), "resume"):
        assert time.time() < deadline and p.poll() is None
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr
    evts = read_events(out / "events.jsonl")
    assert evts[-1]["event"] == "run_end" and evts[-1]["interrupted"] is True
    (exit_,) = of(evts, "process_exit")
    assert exit_["code"] == 3  # the trainer saved and exited on its own, within the grace window
    assert of(evts, "checkpoint", kind="emergency", ok=True)
