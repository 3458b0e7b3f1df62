"""Checkpoints and logs in object storage, against real protocol servers on this machine:
moto's S3 server (s3fs) and the GCS emulator (gcsfs), plus file://.

No mocks of what is tested: the uploads, listings and deletes are real HTTP against
servers that implement the protocols; kills are real SIGKILLs, pinned to a phase of
a save by the fault hooks (`sigkill_mid_write`: half the payload handed to the
store, `sigkill_before_manifest`, `sigkill_after_manifest`) or to the trainer's
progress (`pause_after_steps`), never to wall-clock time.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from real_helpers import (PATIENCE_S, ROOT, SMALL, assert_same_weights, events, final_weights, of, paused, real,
                          wait_for)

from real import storage
from real.checkpoint import CheckpointWriteError, ObjectCheckpointStore, open_store
from real.cli import main as real_main

pytestmark = pytest.mark.real
pytest_plugins = ("storage_servers",)  # fixtures: s3_bucket, gcs_bucket, bucket

META = {"kind": "periodic", "eval_pending": False}
BIG = 5_000_000
"""float32s in a store-level test payload: 20 MB, three upload parts (8 MiB each), so a kill
half-way through cuts an upload in progress (one part sent)."""


def payload(seed: int, n: int = 1000) -> dict:
    import torch

    return {"schema": 1, "x": torch.randn(n, generator=torch.Generator().manual_seed(seed))}


def same(a: dict, b: dict) -> bool:
    import torch

    return torch.equal(a["x"], b["x"])


def objects(url: str) -> list[str]:
    return storage.Location(url).names()


# -- the store ---------------------------------------------------------------------
OPS = st.lists(st.sampled_from(["write", "write", "write", "truncate", "flip", "cut", "orphan"]),
               min_size=1, max_size=12)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, keep=st.integers(2, 3))
def test_resume_takes_the_newest_intact_checkpoint(bucket, ops, keep):
    """Whatever mix of saves, truncated or bit-flipped payloads, manifests never written (a save cut
    before it) and payloads no manifest names (a cut upload): load_latest returns the newest save whose
    manifest exists and whose payload matches its size and sha256, skipping the newer ones with their
    reason; each save leaves at most `keep` manifests, every one naming a payload of its own number."""
    url = bucket.url("prop")
    store = ObjectCheckpointStore(url, keep=keep)
    loc = storage.Location(url)
    state: dict[int, str] = {}   # seq -> "ok" | "bad" (payload damaged) | "cut" (no manifest)
    values: dict[int, int] = {}
    for i, op in enumerate(ops):
        newest = max(state, default=0)
        if op == "write":
            w = store.write(payload(i), {**META, "position": float(i)})
            seq = int(Path(w.path).name[5:11])
            assert seq == newest + 1
            state[seq], values[seq] = "ok", i
            manifested = sorted(s for s, v in state.items() if v != "cut")
            for s in manifested[:-keep] + [s for s, v in state.items() if v == "cut" and s < manifested[-1]]:
                del state[s]
            names = loc.names()
            assert sum(n.endswith(".json") for n in names) <= keep
        elif op == "orphan":  # an upload that got through but whose manifest never came
            loc.write(f"ckpt-{newest + 1:06d}-0000aaaa.pt", b"half an upload")
            state[newest + 1] = "cut"
        elif state.get(newest) == "ok":
            manifest = json.loads(loc.read(f"ckpt-{newest:06d}.json"))
            raw = loc.read(manifest["file"])
            if op == "truncate":
                loc.write(manifest["file"], raw[:len(raw) // 2])
            elif op == "flip":
                loc.write(manifest["file"], raw[:100] + bytes([raw[100] ^ 1]) + raw[101:])
            else:  # cut: as if the manifest had never been written
                loc.remove([f"ckpt-{newest:06d}.json"])
            state[newest] = "bad" if op != "cut" else "cut"
    for n in loc.names():
        if n.endswith(".json"):
            assert json.loads(loc.read(n))["file"].startswith(n[:-5] + "-")
    loaded = store.load_latest()
    good = [s for s, v in state.items() if v == "ok"]
    if not good:
        assert loaded is None
        return
    assert loaded is not None and same(loaded.payload, payload(values[max(good)]))
    assert len(loaded.skipped) == sum(1 for s in state if s > max(good))


@pytest.mark.parametrize("store_kind", ["s3", "gs"])
def test_truncated_and_corrupt_objects_are_skipped_with_a_warning(request, store_kind, caplog):
    """A truncated and a bit-flipped newer payload: resume takes the intact older one, bit for bit,
    and warns about each, saying why."""
    b = request.getfixturevalue("s3_bucket" if store_kind == "s3" else "gcs_bucket")
    url = b.url("corrupt")
    store = ObjectCheckpointStore(url)
    names = [Path(store.write(payload(k), {**META, "position": float(k)}).path).name for k in range(3)]
    loc = storage.Location(url)
    raw = loc.read(names[1])
    loc.write(names[1], raw[:500] + bytes([raw[500] ^ 0x10]) + raw[501:])
    loc.write(names[2], loc.read(names[2])[:1000])
    with caplog.at_level(logging.WARNING, logger="real.checkpoint"):
        loaded = ObjectCheckpointStore(url).load_latest()
    assert loaded.path == f"{url}/{names[0]}" and same(loaded.payload, payload(0))
    assert [n for n, _ in loaded.skipped] == [names[2], names[1]]
    assert loaded.skipped[0][1].startswith("truncated: 1000 bytes")
    assert loaded.skipped[1][1] == "checksum mismatch: the file is corrupt"
    assert f"skipping checkpoint {names[2]}: truncated" in caplog.text
    assert f"skipping checkpoint {names[1]}: checksum mismatch" in caplog.text


KILLER = """
import sys, torch
from real.checkpoint import open_store
store = open_store(sys.argv[1], keep=3)
x = torch.randn(int(sys.argv[2]), generator=torch.Generator().manual_seed(2))
store.write({"schema": 1, "x": x}, {"kind": "periodic", "position": 2.0, "eval_pending": False})
"""
PHASES = ("sigkill_mid_write", "sigkill_before_manifest", "sigkill_after_manifest")


@pytest.mark.parametrize("store_kind", ["s3", "gs", "file"])
def test_a_save_killed_in_any_phase_leaves_nothing_a_resume_would_trust(request, store_kind, tmp_path):
    """SIGKILL half-way through the payload upload, between payload and manifest, and after the
    manifest (three writers at once, each in its own folder holding one good checkpoint): the first
    two leave the good checkpoint the newest valid one, bit for bit (the cut upload is no object, or
    one that no manifest names and the next trainer removes); the third's checkpoint is complete."""
    if store_kind == "file":
        base = lambda tag: f"file://{tmp_path / tag}"
    else:
        b = request.getfixturevalue("s3_bucket" if store_kind == "s3" else "gcs_bucket")
        base = b.url
    urls = {phase: base(phase) for phase in PHASES}
    for url in urls.values():
        open_store(url).write(payload(1, BIG), {**META, "position": 1.0})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = {phase: subprocess.Popen([sys.executable, "-c", KILLER, url, str(BIG)], cwd=ROOT,
                                     env={**env, "SPOTSIM_REAL_FAULTS": f"{phase}=1"}, stderr=subprocess.PIPE,
                                     text=True)
             for phase, url in urls.items()}
    for phase, p in procs.items():
        _, err = p.communicate(timeout=PATIENCE_S)
        assert p.returncode == -signal.SIGKILL, f"{phase}: {err}"
    if store_kind == "s3":  # the kill really cut an S3 multipart upload in progress
        fs = request.getfixturevalue("s3_bucket").fs()
        cut = urls["sigkill_mid_write"].split("://", 1)[1].split("/", 1)[1]
        uploads = fs.list_multipart_uploads(fs.split_path(urls["sigkill_mid_write"])[0])
        assert any(u["Key"].startswith(cut + "/ckpt-000002-") for u in uploads), uploads
    if store_kind == "file":  # ... or left a half-written temporary file
        tmp = list((tmp_path / "sigkill_mid_write").glob(".ckpt-000002.pt.tmp"))
        assert tmp and 0 < tmp[0].stat().st_size < BIG * 4
    for phase, url in urls.items():
        store = open_store(url, keep=3)
        removed = store.remove_unfinished()
        loaded = store.load_latest()
        if phase == "sigkill_after_manifest":
            assert loaded.manifest["position"] == 2.0 and same(loaded.payload, payload(2, BIG)), phase
            assert removed == []
            continue
        assert loaded.manifest["position"] == 1.0 and same(loaded.payload, payload(1, BIG)), phase
        assert loaded.skipped == [], phase
        if phase == "sigkill_before_manifest":
            assert [n.split("-")[1] for n, _ in removed] == ["000002" if store_kind != "file" else "000002.pt"]
        left = [n for n in objects(url) if n.startswith("ckpt-")]
        assert sorted(left) == sorted(n for n in left if n.startswith("ckpt-000001")), (phase, left)
        w = store.write(payload(3), {**META, "position": 3.0})  # the next save goes on, numbered past the cut one
        assert Path(w.path).name.startswith("ckpt-00000")
        assert store.load_latest().manifest["position"] == 3.0


def test_an_upload_refused_by_the_store_is_a_clear_error_and_keeps_the_previous(s3_bucket):
    """Permission withdrawn mid-run (moto's IAM checks on, the writer's keys unknown to them): the
    save raises CheckpointWriteError with the store's reason in one line; the previous checkpoint
    stays the newest valid one."""
    from storage_servers import deny_all

    url = s3_bucket.url("refused")
    store = ObjectCheckpointStore(url)
    store.write(payload(1), {**META, "position": 1.0})
    _, allow = deny_all(s3_bucket)
    try:
        with pytest.raises(CheckpointWriteError) as err:
            store.write(payload(2), {**META, "position": 2.0})
    finally:
        allow()
    msg = str(err.value)
    assert msg.startswith("could not upload checkpoint") and url in msg and "\n" not in msg
    assert "Access Key Id you provided does not exist" in msg and "previous checkpoints are kept" in msg
    assert store.load_latest().manifest["position"] == 1.0


# -- the log copy and --resume on a new machine ---------------------------------------
def _log(n: int) -> list[bytes]:
    return [json.dumps({"schema": 1, "event": "run_start" if i == 0 else "vm_start", "t": float(i),
                        "wall": 1.7e9, "lifetime": i}).encode() + b"\n" for i in range(n)]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data())
def test_resume_takes_the_longer_of_the_local_and_the_copied_log(n, data):
    """Local log and the copy at --ckpt-dir, each some prefix of one run's log (the copy may end in
    a line cut while it was appended): fetch_run leaves the longer in --out, whole lines only; two
    logs that went different ways after their common start are refused."""
    lines = _log(n)
    i = data.draw(st.integers(0, n), label="local lines")
    j = data.draw(st.integers(0, n), label="copied lines")
    cut = data.draw(st.booleans(), label="copy ends in a cut line")
    fork = data.draw(st.booleans(), label="local went another way") and 1 < i and 1 < j
    with tempfile.TemporaryDirectory() as tmp:
        loc, out = Path(tmp) / "ckpt", Path(tmp) / "out"
        loc.mkdir()
        local = b"".join(lines[:i])
        if fork:
            local = b"".join(lines[:i - 1]) + b'{"schema": 1, "event": "kill", "t": 99.0}\n'
        if i:
            out.mkdir()
            (out / "events.jsonl").write_bytes(local)
        if j:
            (loc / "events.jsonl").write_bytes(b"".join(lines[:j]) + (b'{"schema": 1, "ev' if cut else b""))
            (loc / "run.json").write_text("{}")
        if not i and not j:
            with pytest.raises(storage.StorageError, match="nothing to resume"):
                storage.fetch_run(str(loc), out)
            return
        copy = b"".join(lines[:j])
        if fork and not (copy.startswith(local) or local.startswith(copy)):
            with pytest.raises(storage.StorageError, match="went different ways"):
                storage.fetch_run(str(loc), out)
            return
        storage.fetch_run(str(loc), out)
        assert (out / "events.jsonl").read_bytes() == max(local, copy, key=len)


def bucket_events(url: str) -> list[dict]:
    raw = storage.Location(url).read("events.jsonl") or b""
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


def gone(pid: int) -> bool:
    """The process has ended (a zombie counts: its parent was killed and nobody reaped it yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_new_vm_continues_after_the_old_one_was_deleted_mid_upload(s3_bucket, reference, tmp_path):
    """VM 1 checkpoints at epoch 1 to S3, trains on, and is deleted: its supervisor SIGKILLed, its
    trainer's emergency save SIGKILLed half-way through the upload. A new VM with an empty --out
    resumes from the bucket alone: same run (its run_start), lifetimes counted on, position epoch 1,
    and final weights bit-identical to an uninterrupted run; the bucket ends with the new VM's log
    and final weights, and no object that no manifest names."""
    url = s3_bucket.url("deleted")
    vm1, vm2 = tmp_path / "vm1", tmp_path / "vm2"
    p = real("run", "--strategy", "fixed", "--every-epochs", "1", "--epochs", "2", "--quiet", "--ckpt-dir", url,
             "--out", str(vm1), *SMALL, faults="pause_after_steps=11,sigkill_mid_write=2")
    wait_for(lambda: paused(vm1, 1), "lifetime 1 to be held at epoch 1.375", p)
    wait_for(lambda: of(bucket_events(url), "checkpoint"), "the log copy after the first checkpoint", p)
    (start,) = of(events(vm1), "process_start", lifetime=1)
    p.kill()
    p.communicate(timeout=PATIENCE_S)
    os.kill(start["pid"], signal.SIGTERM)  # the trainer saves, and dies half-way through the upload
    wait_for(lambda: gone(start["pid"]), "the trainer to die in its upload")
    assert "uploading ckpt-000002-" in (vm1 / "logs" / "lifetime-001.log").read_text()
    assert not [n for n in objects(url) if n.startswith("ckpt-000002")]
    copied = bucket_events(url)
    assert not of(copied, "preempt_notice") and not of(copied, "run_end")  # the VM went without a word

    p = real("run", "--resume", "--ckpt-dir", url, "--out", str(vm2))
    _, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 0, stderr
    evts = events(vm2)
    assert evts[0] == events(vm1)[0] and len(of(evts, "run_start")) == 1
    assert [e["lifetime"] for e in of(evts, "vm_start")] == [1, 2]
    (resume,) = of(evts, "resume", lifetime=2)
    (first,) = of(evts, "checkpoint", lifetime=1)
    assert (resume["checkpoint"], resume["from_epoch"]) == (first["path"], 1.0)
    assert first["path"].startswith("ckpt-000001-") and first["upload_s"] > 0 and first["serialise_s"] > 0
    assert evts[-1]["event"] == "run_end" and evts[-1]["completed"] is True
    assert_same_weights(reference, final_weights(vm2))
    loc = storage.Location(url)
    assert loc.read("events.jsonl") == (vm2 / "events.jsonl").read_bytes()
    assert loc.read("final.pt") == (vm2 / "final.pt").read_bytes(), (stderr, objects(url))
    named = {json.loads(loc.read(n))["file"] for n in objects(url) if n.endswith(".json") and n.startswith("ckpt")}
    assert {n for n in objects(url) if n.endswith(".pt") and n.startswith("ckpt")} == named


@pytest.mark.parametrize("store_kind", ["gs", "file"])
def test_new_vm_continues_after_a_preemption(request, store_kind, reference, tmp_path):
    """VM 1's supervisor gets SIGTERM 3 steps in (a shutdown): the trainer's emergency save goes to
    the store, upload timed apart from serialisation, and the log is copied at exit. A new VM with an
    empty --out resumes there at epoch 0.375 and ends bit-identical to an uninterrupted run."""
    if store_kind == "file":
        url = f"file://{tmp_path / 'bucket'}"
    else:
        url = request.getfixturevalue("gcs_bucket").url("preempted")
    vm1, vm2 = tmp_path / "vm1", tmp_path / "vm2"
    p = real("run", "--strategy", "none", "--epochs", "2", "--quiet", "--ckpt-dir", url, "--out", str(vm1),
             *SMALL, faults="pause_after_steps@1=3")
    wait_for(lambda: paused(vm1, 1), "lifetime 1 to be held after 3 steps", p)
    p.send_signal(signal.SIGTERM)
    _, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 130, stderr
    copied = bucket_events(url)
    assert copied == events(vm1) and copied[-1]["event"] == "run_end"
    (ck,) = of(copied, "checkpoint", kind="emergency", ok=True)
    assert ck["epoch"] == 0.375 and ck["serialise_s"] > 0 and ck["notice_to_durable_s"] > 0
    if store_kind == "gs":
        assert ck["upload_s"] > 0 and ck["seconds"] >= ck["serialise_s"] + ck["upload_s"] - 1e-5
    else:
        assert "upload_s" not in ck  # a directory: written, fsynced and renamed as ever

    p = real("run", "--resume", "--ckpt-dir", url, "--out", str(vm2))
    _, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 0, stderr
    evts = events(vm2)
    assert evts[:len(copied)] == copied
    (resume,) = of(evts, "resume", lifetime=2)
    assert (resume["checkpoint"], resume["from_epoch"]) == (ck["path"], 0.375)
    assert_same_weights(reference, final_weights(vm2))


# -- bad input: one line each, before anything trains ----------------------------------
TINY = ["--model", "resnet18", "--dataset", "synthetic", "--max-samples", "32", "--batch-size", "16",
        "--device", "cpu", "--threads", "1", "--restart-delay", "0", "--max-lifetimes", "2", "--epochs", "1"]


def one_error(result, *needles) -> str:
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for n in needles:
        assert n in errors[0], result.output
    return errors[0]


@pytest.mark.parametrize("store_kind", ["s3", "gs"])
def test_a_bucket_that_does_not_exist_is_refused_before_training(request, store_kind, tmp_path):
    b = request.getfixturevalue("s3_bucket" if store_kind == "s3" else "gcs_bucket")
    r = CliRunner().invoke(real_main, ["run", *TINY, "--ckpt-dir", f"{b.scheme}://no-such-bucket/x",
                                       "--out", str(tmp_path / "o")])
    one_error(r, f"--ckpt-dir {b.scheme}://no-such-bucket/x", "the bucket 'no-such-bucket' does not exist")
    assert not (tmp_path / "o").exists()


def test_a_bucket_without_permission_is_refused_before_training(s3_bucket, tmp_path, monkeypatch):
    """moto with IAM checks on, keys of a user without any policy: refused, naming the permission."""
    import fsspec.config
    from storage_servers import deny_all

    keys, allow = deny_all(s3_bucket)
    monkeypatch.setitem(fsspec.config.conf, "s3", {**fsspec.config.conf["s3"], "key": keys[0], "secret": keys[1]})
    try:
        r = CliRunner().invoke(real_main, ["run", *TINY, "--ckpt-dir", s3_bucket.url("denied"),
                                           "--out", str(tmp_path / "o")])
    finally:
        allow()
    one_error(r, "no permission to write there", "Access Denied")
    assert not (tmp_path / "o").exists()


def stopped_run_at(url: str, started: float) -> None:
    """The files a stopped `real run --ckpt-dir url` leaves there."""
    loc = storage.Location(url)
    loc.write("run.json", json.dumps({"out": "/elsewhere", "epochs": 2, "options": {"epochs": 2, "ckpt_dir": url}})
              .encode())
    recs = [{"event": "run_start", "t": 0.0, "epochs": 2, "wall": started},
            {"event": "vm_start", "t": 0.0, "lifetime": 1, "wall": started}]
    loc.write("events.jsonl", "".join(json.dumps({"schema": 1, "source": "real", **r}) + "\n" for r in recs).encode())


def test_resume_from_an_empty_folder_is_refused(s3_bucket, tmp_path):
    url = s3_bucket.url("empty")
    r = CliRunner().invoke(real_main, ["run", "--resume", "--ckpt-dir", url, "--out", str(tmp_path / "o")])
    one_error(r, f"nothing to resume in --ckpt-dir {url}", "without --resume")


def test_resume_from_another_runs_folder_is_refused(s3_bucket, tmp_path):
    """--out holds one run, --ckpt-dir another's log: refused, with both start times; a folder with
    checkpoints but no run log is refused too."""
    mine, theirs = s3_bucket.url("mine"), s3_bucket.url("theirs")
    stopped_run_at(mine, 1.7e9)
    stopped_run_at(theirs, 1.8e9)
    out = tmp_path / "o"
    storage.fetch_run(mine, out)
    r = CliRunner().invoke(real_main, ["run", "--resume", "--ckpt-dir", theirs, "--out", str(out)])
    one_error(r, f"--ckpt-dir {theirs} holds another run's log (started 2027-01-15", "than", "2023-11-14")
    bare = s3_bucket.url("bare")
    storage.Location(bare).write("ckpt-000001.json", b"{}")
    r = CliRunner().invoke(real_main, ["run", "--resume", "--ckpt-dir", bare, "--out", str(tmp_path / "new")])
    one_error(r, "holds checkpoints but no run log")


def test_a_new_run_into_a_used_folder_points_to_resume(gcs_bucket, tmp_path):
    url = gcs_bucket.url("used")
    stopped_run_at(url, 1.7e9)
    r = CliRunner().invoke(real_main, ["run", *TINY, "--ckpt-dir", url, "--out", str(tmp_path / "o")])
    one_error(r, "already holds a run", "--resume")
    assert not (tmp_path / "o").exists()


def test_a_missing_client_names_the_extra(tmp_path, monkeypatch):
    """az:// without adlfs installed (here: made unimportable): the message names the extra to install."""
    monkeypatch.setitem(sys.modules, "adlfs", None)
    r = CliRunner().invoke(real_main, ["run", *TINY, "--ckpt-dir", "az://container/run", "--out", str(tmp_path)])
    one_error(r, "az:// needs the adlfs package", "pip install 'spotsim[cloud]'")


def test_an_unknown_scheme_is_refused(tmp_path):
    r = CliRunner().invoke(real_main, ["run", *TINY, "--ckpt-dir", "ftp://host/run", "--out", str(tmp_path / "o")])
    one_error(r, "unsupported scheme ftp://")


# -- calibrate and validate read the bucket --------------------------------------------
RUNS = ("fixed-poisson", "adaptive-poisson")


@pytest.mark.parametrize("store_kind", ["s3", "gs"])
def test_calibrate_and_validate_read_logs_from_a_bucket(request, store_kind, tmp_path):
    """Two committed CPU-campaign logs copied to a bucket folder: `spotsim calibrate URL` (a folder of
    run folders) writes the same scenario as from the local files, and `spotsim validate` replays the
    runs under their own names; a URL without a log is one line of error."""
    from spotsim.cli import main as spotsim_main

    local = [ROOT / "results" / "cpu" / r for r in RUNS]
    if not all((p / "events.jsonl").is_file() for p in local):
        pytest.skip("the committed CPU campaign logs (results/cpu) are absent")
    b = request.getfixturevalue("s3_bucket" if store_kind == "s3" else "gcs_bucket")
    url = b.url("campaign")
    for p in local:
        storage.Location(url).write(f"{p.name}/events.jsonl", (p / "events.jsonl").read_bytes())
    run = CliRunner().invoke
    remote, here = tmp_path / "remote" / "scenario.yaml", tmp_path / "local" / "scenario.yaml"
    a = run(spotsim_main, ["calibrate", url, "-o", str(remote)])
    assert a.exit_code == 0, a.output
    c = run(spotsim_main, ["calibrate", *map(str, sorted(local)), "-o", str(here)])
    assert c.exit_code == 0, c.output
    body = lambda p: [ln for ln in p.read_text().splitlines() if not ln.startswith("#   ")]
    assert body(remote) == body(here)
    assert f"#   {url}" in remote.read_text()
    assert a.output.replace(str(remote), "X") == c.output.replace(str(here), "X")
    v = run(spotsim_main, ["validate", "--scenario", str(remote), f"{url}/{RUNS[0]}",
                           f"{url}/{RUNS[1]}/events.jsonl", "--out", str(tmp_path / "v"), "--max-error", "1000",
                           "--json"])
    assert v.exit_code == 0, v.output
    assert sorted(r for r in RUNS if r in (tmp_path / "v" / "validation.csv").read_text()) == sorted(RUNS)
    missing = run(spotsim_main, ["calibrate", f"{url}/nothing-here", "-o", str(tmp_path / "x.yaml")])
    assert missing.exit_code == 1 and f"{url}/nothing-here" in missing.output and "no event log" in missing.output
