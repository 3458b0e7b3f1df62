"""Notices from the cloud: `real run --notice gcp|aws|azure` against local servers that speak each
metadata protocol as documented (metadata_servers.py), with real trainer processes and signals.

Speed-independent: the notice is given once the trainer is held after 3 of its 8 steps
(`pause_after_steps`); the test then plays the cloud. It waits for the trainer to save and
exit, which must happen inside the window the cloud documents (FACTS.md "Preemption notice":
GCP 30 s, AWS 120 s, Azure at least 30 s; here the save takes about a second), and then ends
the "VM" with the SIGTERM of the guest's shutdown, killing what is left when the window closes.
The window is the cloud's rule, not a guess at this machine's speed.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from metadata_servers import AwsServer, AzureServer, GcpServer
from real_helpers import PATIENCE_S, SMALL, events, of, paused, real, wait_for

from real import notices
from real.cli import main
from real.notices.base import http_date, iso_time
from real.notices.http import endpoint, request
from real.summary import format_summary, summarize
from spotsim.events import read_events

pytestmark = pytest.mark.real

WINDOW_S = {"gcp": 30.0, "aws": 120.0, "azure": 30.0}
POLL_S = {"gcp": "5", "aws": "0.2", "azure": "0.2"}
"""Short polls keep the tests short; gcp's is the long-poll's timeout_sec."""


def start(out: Path, cloud: str, server, *extra: str, faults: str = "pause_after_steps=3"):
    return real("run", "--strategy", "none", "--epochs", "1", "--notice", cloud, "--metadata-url", server.url,
                "--notice-poll-s", POLL_S[cloud], "--out", str(out), *SMALL, *extra, faults=faults)


def notices_log(out: Path) -> str:
    p = Path(out) / "logs" / "notices.log"
    return p.read_text() if p.exists() else ""


def the_cloud_preempts(p, out: Path, cloud: str, give_notice) -> tuple[str, str]:
    """Give the notice once lifetime 1 is held mid-epoch; then, as the cloud does, end the VM: the
    guest's shutdown SIGTERM once the run waits for it, SIGKILL for whatever runs when the window closes."""
    wait_for(lambda: paused(out, 1), "the trainer to be held after 3 steps", p)
    give_notice()
    try:
        wait_for(lambda: "waiting for the cloud to stop this VM" in notices_log(out),
                 f"the trainer to save and exit inside {cloud}'s {WINDOW_S[cloud]:g} s window", p,
                 timeout=WINDOW_S[cloud])
        p.send_signal(signal.SIGTERM)
        return p.communicate(timeout=WINDOW_S[cloud])
    finally:
        for pid in [p.pid] + [e["pid"] for e in of(events(out), "process_start")]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def assert_saved_inside_the_window(out: Path, cloud: str) -> dict:
    """One notice relayed mid-epoch, saved and durable inside the cloud's window, the trainer out with
    code 3, the VM's part of the run logged as ended by the cloud. Returns the relayed notice."""
    evts = read_events(Path(out) / "events.jsonl")  # schema-valid, every line
    (sent,) = of(evts, "preempt_notice", direction="sent")
    (received,) = of(evts, "preempt_notice", direction="received")
    (ck,) = of(evts, "checkpoint", kind="emergency", ok=True)
    (exit_,) = of(evts, "process_exit", lifetime=1)
    assert sent["notice_source"] == sent.get("notice_source") and sent["notice_source"] in (cloud, "shutdown")
    assert (received["phase"], received["action"], ck["epoch"], exit_["code"]) == ("train", "emergency_save", 0.375, 3)
    chain = [evts.index(x) for x in (sent, received, ck, exit_)]
    assert chain == sorted(chain), "notice, receipt, save and exit out of order"
    assert sent["notice_lag_s"] >= 0
    notice_t = sent["t"] - sent["notice_lag_s"]  # the cloud's notice on the run's clock
    assert ck["t"] - notice_t < WINDOW_S[cloud], "the save was durable only after the cloud's window"
    end = evts[-1]
    assert end["event"] == "run_end" and end["completed"] is False and end["interrupted"] is False
    assert end["vm_preempted"] == sent["notice_source"] and end["error"] is None
    assert not of(evts, "kill")
    return sent


def test_gcp_notice_mid_epoch_is_saved_inside_the_window_and_the_next_vm_resumes(tmp_path):
    """GCP: instance/preempted turns TRUE during a long-poll mid-epoch; the trainer's emergency save is
    durable well inside 30 s, `real run` waits for the VM to be stopped and exits 3; every request
    carried Metadata-Flavor (the server refuses others); the next VM's `real run --resume` finishes
    from the emergency checkpoint, and the summary reports the source and the lag."""
    out = tmp_path / "run"
    with GcpServer() as vm1:
        p = start(out, "gcp", vm1)
        stdout, stderr = the_cloud_preempts(p, out, "gcp", vm1.preempt)
        assert p.returncode == 3, stderr
        assert all(r["headers"].get("metadata-flavor") == "Google" for r in vm1.requests)
        assert any("wait_for_change=true" in r["query"] for r in vm1.requests)
    sent = assert_saved_inside_the_window(out, "gcp")
    assert sent["notice_source"] == "gcp" and 0 < sent["time_left_s"] <= 30.0 and "poll_s" not in sent
    assert "this VM was preempted (gcp notice)" in stderr and f"real run --resume --out {out}" in stderr
    assert "lifetime 1: gcp notice relayed as SIGTERM" in stderr
    assert "notice_source: gcp\n" in stdout and "notices_by_source: gcp 1\n" in stdout
    assert "NOTICE" in notices_log(out)

    with GcpServer() as vm2:  # the next VM: its own metadata server, no notice
        p = real("run", "--resume", "--out", str(out), "--notice", "gcp", "--metadata-url", vm2.url,
                 "--notice-poll-s", "5")
        stdout, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 0, stderr
    evts = read_events(out / "events.jsonl")
    (resume,) = of(evts, "resume", lifetime=2)
    (ck,) = of(evts, "checkpoint", kind="emergency")
    assert (resume["checkpoint"], resume["from_epoch"]) == (ck["path"], 0.375)
    assert evts[-1]["event"] == "run_end" and evts[-1]["completed"] is True and "vm_preempted" not in evts[-1]
    s = summarize(out)
    assert (s["notice_source"], s["notices_by_source"], s["preemptions"]) == ("gcp", {"gcp": 1}, 1)
    assert s["notice_lag_s"]["n"] == 1 and s["notice_to_durable_s"]["n"] == 1
    assert s["notice_to_durable_s"]["max"] < WINDOW_S["gcp"]


def test_aws_interruption_notice_after_a_rebalance_warning(tmp_path):
    """AWS IMDSv2: a rebalance recommendation is logged as an early warning and nothing stops; the
    interruption notice two minutes before `time` is relayed (lag measured from `time` - 120 s), saved
    inside the window; every GET carried a token the server had issued, every PUT the TTL header."""
    out = tmp_path / "run"
    when = []
    with AwsServer() as imds:
        p = start(out, "aws", imds)
        wait_for(lambda: paused(out, 1), "the trainer to be held after 3 steps", p)
        imds.rebalance()
        wait_for(lambda: "early warning: AWS rebalance recommendation" in notices_log(out), "the warning", p)
        assert not of(events(out), "preempt_notice")
        _, stderr = the_cloud_preempts(p, out, "aws", lambda: when.append(imds.interrupt()))
        assert p.returncode == 3, stderr
        puts = [r for r in imds.requests if r["method"] == "PUT"]
        gets = [r for r in imds.requests if r["method"] == "GET"]
        assert puts and all(r["headers"].get("x-aws-ec2-metadata-token-ttl-seconds") == "21600" for r in puts)
        assert len(gets) >= 2 and all(r["headers"].get("x-aws-ec2-metadata-token") in imds.tokens for r in gets)
    sent = assert_saved_inside_the_window(out, "aws")
    assert (sent["notice_source"], sent["cloud_action"], sent["cloud_time"], sent["poll_s"]) == (
        "aws", "terminate", when[0], 0.2)
    assert 0 < sent["time_left_s"] <= 120.0 and sent["rebalance_s"] >= 0
    assert "notices: early warning: AWS rebalance recommendation" in stderr


def test_azure_preempt_is_acknowledged_once_the_save_is_durable(tmp_path):
    """Azure Scheduled Events: a Preempt naming this VM is relayed (lag from NotBefore - 30 s); the
    supervisor POSTs StartRequests with its EventId once, after the emergency checkpoint is durable
    and the run's log complete (the server reads the log when the POST arrives: once approved, the
    VM may go at any moment); every request carried Metadata: true."""
    out = tmp_path / "run"
    posted = []
    with AzureServer() as imds:
        imds.on_ack = lambda: ([e["epoch"] for e in of(events(out), "checkpoint", kind="emergency", ok=True)],
                               [e["event"] for e in events(out)][-1])
        p = start(out, "azure", imds)
        _, stderr = the_cloud_preempts(p, out, "azure", lambda: posted.append(imds.preempt()))
        assert p.returncode == 3, stderr
        assert all(r["headers"].get("metadata") == "true" for r in imds.requests)
        acks = imds.acks
    sent = assert_saved_inside_the_window(out, "azure")
    (event,) = posted
    assert (sent["event_id"], sent["cloud_time"]) == (event["EventId"], event["NotBefore"])
    assert 0 < sent["time_left_s"] <= 30.0
    assert acks == [{"ids": [event["EventId"]], "seen": ([0.375], "run_end")}]
    assert f"event {event['EventId']} acknowledged" in stderr


def test_the_guest_shutdown_sigterm_is_a_notice_on_a_cloud_vm(tmp_path):
    """GCP's ACPI soft-off reaches the supervisor as a SIGTERM (before the metadata poll saw anything):
    with a cloud source that is a notice, not a stop. The trainer gets it, saves inside the window,
    and `real run` exits 3 at once (the shutdown is already under way)."""
    out = tmp_path / "run"
    with GcpServer() as vm:
        p = start(out, "gcp", vm)
        try:
            wait_for(lambda: paused(out, 1), "the trainer to be held after 3 steps", p)
            p.send_signal(signal.SIGTERM)
            _, stderr = p.communicate(timeout=WINDOW_S["gcp"])
        finally:
            p.kill()
    assert p.returncode == 3, stderr
    sent = assert_saved_inside_the_window(out, "gcp")
    assert sent["notice_source"] == "shutdown" and "time_left_s" not in sent
    assert "waiting for the cloud" not in notices_log(out)


# -- the protocols: refusals as the real servers refuse, and what the sources send -------------------
def test_gcp_server_refuses_without_the_header_and_the_source_sends_it():
    """No `Metadata-Flavor: Google` (or an X-Forwarded-For): 403. The source's probe and long-poll pass
    and see the flip; a long-poll with a stale ETag answers at once."""
    with GcpServer() as g:
        ep = endpoint(g.url)
        path = "/computeMetadata/v1/instance/preempted"
        assert request(ep, "GET", path).status == 403
        assert request(ep, "GET", path, {"Metadata-Flavor": "Google", "X-Forwarded-For": "1.2.3.4"}).status == 403
        r = request(ep, "GET", path, {"Metadata-Flavor": "Google"})
        assert (r.status, r.text(), r.headers["metadata-flavor"]) == (200, "FALSE", "Google")
        src = notices.build("gcp", g.url, 5)
        assert notices.probe(src) is None and src.etag == r.headers["etag"]
        g.preempt()  # before the long-poll starts: its last_etag is stale, so it answers at once
        n = src.check()
        assert n is not None and n.source == "gcp" and n.notice_wall is None
        stale = request(ep, "GET", f"{path}?wait_for_change=true&last_etag={r.headers['etag']}",
                        {"Metadata-Flavor": "Google"})
        assert stale.text() == "TRUE"


def test_aws_server_refuses_without_a_token_and_the_source_renews_it():
    """IMDSv2: a GET without a token, or with one it never issued, is 401; a token PUT without its TTL
    header (or with a TTL out of 1-21600) is 400. The source gets a token first and, when the server
    forgets its tokens, gets a new one and goes on."""
    with AwsServer() as imds:
        ep = endpoint(imds.url)
        action = "/latest/meta-data/spot/instance-action"
        assert request(ep, "GET", action).status == 401
        assert request(ep, "GET", action, {"X-aws-ec2-metadata-token": "made-up"}).status == 401
        assert request(ep, "PUT", "/latest/api/token").status == 400
        assert request(ep, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "0"}).status == 400
        src = notices.build("aws", imds.url, 0.2)
        assert notices.probe(src) is None
        imds.tokens.clear()  # expired or revoked
        assert src.check() is None
        imds.interrupt(action="stop")
        n = src.check()
        assert n.detail["cloud_action"] == "stop" and n.deadline_wall - n.notice_wall == 120.0
        tokens = [r["headers"].get("x-aws-ec2-metadata-token") for r in imds.requests if r["method"] == "GET"]
        assert len([r for r in imds.requests if r["method"] == "PUT" and r["headers"].get(
            "x-aws-ec2-metadata-token-ttl-seconds") == "21600"]) == 2
        assert tokens[-1] in imds.tokens


def test_azure_server_refuses_without_the_header_and_other_vms_events_are_only_logged():
    """No `Metadata: true`: 400, for reads and for acknowledgements alike. A Preempt that names other
    VMs is logged, not acted on; one naming this VM is the notice."""
    with AzureServer() as imds:
        ep = endpoint(imds.url)
        path = "/metadata/scheduledevents?api-version=2020-07-01"
        r = request(ep, "GET", path)
        assert r.status == 400 and "Required metadata header" in r.text()
        assert request(ep, "GET", "/metadata/scheduledevents", {"Metadata": "true"}).status == 400
        assert request(ep, "POST", path, body=b'{"StartRequests": []}').status == 400
        src = notices.build("azure", imds.url, 0.2)
        assert notices.probe(src) is None and src.vm == AzureServer.VM
        imds.preempt(resources=["another-vm"])
        assert src.check() is None and "for other VMs: logged only" in src.warnings[0]
        mine = imds.preempt(not_before_in_s=45)
        n = src.check()
        assert n.detail["event_id"] == mine["EventId"] and n.deadline_wall - n.notice_wall == 30.0


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_cloud_times_are_read_as_the_clouds_write_them(when):
    """AWS's ISO `...Z` and Azure's RFC 1123 `..., dd Mon yyyy hh:mm:ss GMT` give the same Unix time."""
    t = when.replace(tzinfo=UTC, microsecond=0).timestamp()
    assert iso_time(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))) == t
    assert http_date(formatdate(t, usegmt=True)) == t


# -- bad input --------------------------------------------------------------------------------------------
TINY = ["--epochs", "1", "--dataset", "synthetic", "--model", "resnet18", "--max-samples", "32", "--batch-size",
        "16", "--device", "cpu", "--threads", "1", "--max-lifetimes", "1"]


def one_error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_unreachable_metadata_url_is_a_clear_error_before_training(tmp_path):
    """Nobody listening, or a server that accepts and never answers: one line naming the server and
    the way out, before the run directory is even made (the trainer never starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    r = CliRunner().invoke(main, ["run", *TINY, "--notice", "gcp", "--metadata-url", f"http://127.0.0.1:{closed}",
                                  "--out", str(tmp_path / "o")])
    line = one_error_line(r, 1)
    assert "cannot reach the GCP metadata server" in line and "--metadata-url" in line and "Connection refused" in line
    assert not (tmp_path / "o").exists()
    with socket.socket() as mute:  # accepts (the kernel's backlog), never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen(1)
        t0 = time.monotonic()
        r = CliRunner().invoke(main, ["run", *TINY, "--notice", "aws", "--metadata-url",
                                      f"http://127.0.0.1:{mute.getsockname()[1]}", "--out", str(tmp_path / "o")])
        waited = time.monotonic() - t0
    line = one_error_line(r, 1)
    assert "cannot reach the AWS metadata server" in line and "no answer" in line
    assert waited < 60, "the probe should give up after its timeout of seconds"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, needles", [
    (["--notice", "gcp", "--interrupts", "poisson"], ["--notice gcp takes preemptions from the cloud",
                                                      "--interrupts poisson"]),
    (["--notice", "aws", "--interrupts", "poisson", "--rate", "6/h"], ["--notice aws", "use one or the other"]),
    (["--metadata-url", "http://127.0.0.1:1"], ["--metadata-url is for a cloud's notices", "--notice gcp"]),
    (["--notice", "azure", "--metadata-url", "https://example.org"], ["--metadata-url", "not an http://host"]),
], ids=["gcp+poisson", "aws+poisson+rate", "url-without-cloud", "https-url"])
def test_mixed_or_bad_notice_options_are_refused_in_one_line(tmp_path, args, needles):
    r = CliRunner().invoke(main, ["run", *TINY, *args, "--out", str(tmp_path / "o")])
    line = one_error_line(r, 2)
    for n in needles:
        assert n in line, line
    assert not (tmp_path / "o").exists()


def test_summary_measures_from_the_clouds_notice(tmp_path):
    """`real summary`: with a cloud source, notice-to-durable counts from the cloud's notice (the
    SIGTERM's t minus its notice_lag_s), not from the relay; the source and the lag are reported."""
    base = {"schema": 1, "source": "real", "wall": 0.0, "pid": 1}
    recs = [{"event": "run_start", "t": 0.0, "epochs": 1, "notice": "aws"},
            {"event": "vm_start", "t": 0.0, "lifetime": 1},
            {"event": "preempt_notice", "t": 10.0, "lifetime": 1, "direction": "sent", "notice_source": "aws",
             "notice_lag_s": 2.5},
            {"event": "preempt_notice", "t": 10.01, "lifetime": 1, "direction": "received",
             "action": "emergency_save", "position": 0.5},
            {"event": "checkpoint", "t": 11.0, "lifetime": 1, "kind": "emergency", "ok": True, "epoch": 0.5,
             "seconds": 0.9}]
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text("".join(json.dumps({**base, **r}) + "\n" for r in recs))
    s = summarize(run)
    assert (s["notice_source"], s["notices_by_source"]) == ("aws", {"aws": 1})
    assert s["notice_lag_s"]["mean"] == 2.5 and s["notice_to_durable_s"]["mean"] == pytest.approx(3.5)
    assert "notices_by_source: aws 1\n" in format_summary(s)
