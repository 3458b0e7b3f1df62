"""Faults with nothing lost: kills mid-write, corrupt files, signals in every phase, a full disk.

Speed-independent: every signal is sent once the trainer has logged that it reached
the phase in question, and the fault hooks hold that phase open for seconds of sleep
(not of computation), so a 4x faster or 3x slower machine lands in the same phase.
"""
from __future__ import annotations

import signal
from pathlib import Path

import pytest
from real_helpers import Trainer, assert_same_weights, events, final_weights, of, small_config, wait_for

from real.checkpoint import CheckpointStore

pytestmark = pytest.mark.real


def store(cfg) -> CheckpointStore:
    return CheckpointStore(Path(cfg.out) / "checkpoints", keep=cfg.keep)


def latest_position(cfg) -> tuple[str, dict]:
    loaded = store(cfg).load_latest()
    assert loaded is not None, "no valid checkpoint left"
    return Path(loaded.path).name, loaded.payload["position"]


def test_sigkill_during_checkpoint_write_keeps_previous(copy_run):
    """SIGKILL while a checkpoint is being written: the previous one stays valid and a new trainer resumes from it."""
    cfg = copy_run()
    t = Trainer(cfg, faults="slow_write_s=30")
    t.wait_log("writing ckpt-000002.pt")  # the periodic save after epoch 2 has its file open; it sleeps 30 s
    t.signal(signal.SIGKILL)
    assert t.wait() == -signal.SIGKILL
    leftovers = list((Path(cfg.out) / "checkpoints").glob(".*.tmp"))
    assert leftovers, "the killed write should have left a temporary file"
    assert latest_position(cfg) == ("ckpt-000001.pt", {"epoch": 1, "step": 0, "eval_pending": False,
                                                        "steps_per_epoch": 8})
    t2 = Trainer(cfg, lifetime=2)
    assert t2.wait() == 0, t2.text()
    (resume,) = of(events(cfg.out), "resume", lifetime=2)
    assert (resume["checkpoint"], resume["from_epoch"]) == ("ckpt-000001.pt", 1.0)
    assert not list((Path(cfg.out) / "checkpoints").glob(".*.tmp"))


def test_truncated_and_bitflipped_checkpoints_are_skipped_with_a_warning(copy_run):
    """A truncated and a bit-flipped newer checkpoint are refused; the trainer resumes from the intact one and says why."""
    cfg = copy_run()
    st = store(cfg)
    good = st.load_latest()
    st.write(good.payload, {"kind": "periodic"})   # ckpt-000002: will be bit-flipped
    st.write(good.payload, {"kind": "periodic"})   # ckpt-000003: will be truncated
    d = Path(cfg.out) / "checkpoints"
    raw = bytearray((d / "ckpt-000002.pt").read_bytes())
    raw[len(raw) // 2] ^= 0x10
    (d / "ckpt-000002.pt").write_bytes(bytes(raw))
    with open(d / "ckpt-000003.pt", "r+b") as fh:
        fh.truncate(1000)
    cfg.epochs = 1  # only resume, nothing to train
    cfg.save()
    t = Trainer(cfg)
    assert t.wait() == 0, t.text()
    (resume,) = of(events(cfg.out), "resume")
    assert resume["checkpoint"] == "ckpt-000001.pt"
    assert [s.split(":")[0] for s in resume["skipped"]] == ["ckpt-000003.pt", "ckpt-000002.pt"]
    assert "truncated" in resume["skipped"][0] and "checksum" in resume["skipped"][1]
    log = t.text()
    assert "WARNING skipping checkpoint ckpt-000003.pt: truncated" in log
    assert "WARNING skipping checkpoint ckpt-000002.pt: checksum mismatch" in log


def test_sigterm_during_startup_exits_resumable(copy_run):
    """SIGTERM during start-up: exit code 3 at once, no save, the last checkpoint untouched."""
    cfg = copy_run()
    ckpts = lambda: sorted(p.name for p in (Path(cfg.out) / "checkpoints").glob("*ckpt-*"))
    before = ckpts()
    t = Trainer(cfg, faults="slow_startup_s=4")
    wait_for(lambda: of(events(cfg.out), "process_start"), "process_start", t.proc, timeout=60)
    t.signal()  # the trainer sleeps 4 s in start-up after process_start, whatever its speed
    assert t.wait(timeout=40) == 3, t.text()
    (notice,) = of(events(cfg.out), "preempt_notice", direction="received")
    assert (notice["phase"], notice["action"]) == ("startup", "already_durable")
    assert not of(events(cfg.out), "checkpoint")
    assert ckpts() == before
    assert latest_position(cfg)[1]["epoch"] == 1


def test_sigterm_during_restore_exits_resumable(copy_run):
    """SIGTERM during the restore: the restore finishes, nothing is written, the checkpoint is still the newest."""
    cfg = copy_run()
    t = Trainer(cfg, faults="slow_restore_s=4")
    t.wait_log("restoring:")
    t.signal()
    assert t.wait() == 3, t.text()
    (notice,) = of(events(cfg.out), "preempt_notice", direction="received")
    assert (notice["phase"], notice["action"]) == ("restore", "already_durable")
    assert not of(events(cfg.out), "checkpoint")
    assert latest_position(cfg)[0] == "ckpt-000001.pt"


def test_sigterm_during_periodic_save_lets_it_finish_without_emergency_save(copy_run):
    """SIGTERM during a periodic save: the save completes, no emergency save follows, exit code 3."""
    cfg = copy_run()
    t = Trainer(cfg, faults="slow_write_s=4")
    t.wait_log("writing ckpt-000002.pt")  # the periodic save is under way, and sleeps 4 s
    t.signal()
    assert t.wait() == 3, t.text()
    evts = events(cfg.out)
    (ck,) = of(evts, "checkpoint")
    assert (ck["kind"], ck["ok"], ck["epoch"]) == ("periodic", True, 2.0)
    (notice,) = of(evts, "preempt_notice", direction="received")
    assert (notice["phase"], notice["action"]) == ("checkpoint", "already_durable")
    assert notice["t"] < ck["t"], "the signal should have arrived while the save was being written"
    assert latest_position(cfg)[1]["epoch"] == 2


def test_full_disk_gives_clear_error_and_keeps_previous_checkpoint(copy_run):
    """A write failing with ENOSPC: exit code 5, a one-line reason, no partial file, the previous checkpoint kept."""
    cfg = copy_run()
    t = Trainer(cfg, faults="enospc_on_write=1")
    assert t.wait() == 5, t.text()
    log = t.text()
    assert "ERROR could not write checkpoint" in log and "No space left on device (errno ENOSPC)" in log
    assert "Traceback" not in log
    (ck,) = of(events(cfg.out), "checkpoint")
    assert ck["ok"] is False and "No space left" in ck["error"]
    d = Path(cfg.out) / "checkpoints"
    assert not list(d.glob(".*.tmp")) and not (d / "ckpt-000002.pt").exists()
    assert latest_position(cfg)[0] == "ckpt-000001.pt"


def test_checkpoint_without_manifest_is_removed(copy_run):
    """A trainer killed between the two renames leaves a .pt with no manifest: the next trainer
    removes it (with a warning), resumes from the previous checkpoint, and finishes."""
    cfg = copy_run()
    d = Path(cfg.out) / "checkpoints"
    t = Trainer(cfg, faults="sigkill_before_manifest=1")  # really SIGKILLed, by itself, after the rename
    assert t.wait() == -signal.SIGKILL, t.text()
    assert (d / "ckpt-000002.pt").exists() and not (d / "ckpt-000002.json").exists()
    t2 = Trainer(cfg, lifetime=2)
    assert t2.wait() == 0, t2.text()
    assert "WARNING removed ckpt-000002.pt: its manifest was never written" in t2.text()
    (resume,) = of(events(cfg.out), "resume", lifetime=2)
    assert resume["checkpoint"] == "ckpt-000001.pt"
    assert all(p.with_suffix(".json").exists() for p in d.glob("ckpt-*.pt")), sorted(d.iterdir())
    assert latest_position(cfg)[1]["epoch"] == 2


def test_old_checkpoint_without_manifest_is_pruned(copy_run):
    """A manifest-less .pt older than the newest complete checkpoint is pruned by the next save."""
    cfg = copy_run()
    d = Path(cfg.out) / "checkpoints"
    st = store(cfg)
    good = st.load_latest()
    st.write(good.payload, {"kind": "periodic"})          # ckpt-000002
    (d / "ckpt-000002.json").unlink()                     # as if cut between the two renames
    st.write(good.payload, {"kind": "periodic"})          # ckpt-000003: prunes the orphan
    assert not (d / "ckpt-000002.pt").exists()
    assert (d / "ckpt-000001.pt").exists() and (d / "ckpt-000003.json").exists()


def test_async_save_then_sigkill_resumes_bit_exact(reference, tmp_path):
    """--async-checkpoint: the background save after epoch 1 becomes durable, the trainer is SIGKILLed
    3 steps later; the next trainer resumes from that save and ends bit-identical to an uninterrupted run."""
    out = tmp_path / "run"
    cfg = small_config(out, async_checkpoint=True)
    t = Trainer(cfg, faults="pause_after_steps=11")  # epoch 1 (8 steps), its async save, 3 steps more
    t.wait_log("paused after")  # while paused, a finished background write is joined and logged
    (ck,) = wait_for(lambda: of(events(out), "checkpoint"), "the asynchronous checkpoint", t.proc)
    assert (ck["kind"], ck["ok"], ck["async_write"], ck["epoch"]) == ("periodic", True, True, 1.0)
    t.signal(signal.SIGKILL)
    assert t.wait() == -signal.SIGKILL
    t2 = Trainer(cfg, lifetime=2)
    assert t2.wait() == 0, t2.text()
    (resume,) = of(events(out), "resume", lifetime=2)
    assert (resume["checkpoint"], resume["from_epoch"]) == (ck["path"], 1.0)
    assert_same_weights(reference, final_weights(out))
