"""Helpers for real-mode tests: small CPU runs in real trainer processes.

No test waits for wall-clock time to pass: preemptions and kills are pinned to
the trainer's progress (fault hooks in real/faults.py, e.g. `pause_after_steps`,
which holds a trainer at a known step until its notice comes), and the timeouts
below are only safety nets against a hang, far above what any machine needs.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from real.runconfig import RunConfig

ROOT = Path(__file__).resolve().parents[2]
PATIENCE_S = 300.0
"""Safety net for every wait: a hang fails the test instead of blocking the suite."""

SEED = 3
SMALL = ["--model", "resnet18", "--dataset", "synthetic", "--max-samples", "128", "--batch-size", "16",
         "--device", "cpu", "--threads", "1", "--seed", str(SEED), "--deterministic", "--restart-delay", "0.5",
         "--grace", "60"]
"""`real run` options giving the run small_config describes (8 steps per epoch)."""


def small_config(out: Path, **kw) -> RunConfig:
    """A tiny deterministic CPU run: ResNet-18, 128 synthetic images, batches of 16 (8 steps an epoch)."""
    base = dict(out=str(out), epochs=2, model="resnet18", dataset="synthetic", max_samples=128, device="cpu",
                batch_size=16, seed=SEED, threads=1, deterministic=True,
                checkpoint=dict(strategy="fixed", every_epochs=1, emergency=True), keep=3,
                run_start_wall=time.time(), clock_origin=time.monotonic())
    base.update(kw)
    cfg = RunConfig(**base)
    Path(out).mkdir(parents=True, exist_ok=True)
    cfg.save()
    return cfg


def wait_for(check, what: str, proc: subprocess.Popen | None = None, timeout: float = PATIENCE_S):
    """Poll `check()` until it returns something true; fail if `proc` ends first or on the safety net."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            got = check()
            if got:
                return got
            raise AssertionError(f"process exited ({proc.returncode}) before {what}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Trainer:
    """One real trainer process (python -m real.train) with its log file."""

    def __init__(self, cfg: RunConfig, lifetime: int = 1, faults: str = ""):
        self.cfg = cfg
        self.logfile = Path(cfg.out) / f"trainer-{lifetime}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SPOTSIM_REAL_FAULTS": faults}
        with open(self.logfile, "wb") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "real.train", str(Path(cfg.out) / "run.json"),
                                          "--lifetime", str(lifetime)], stdout=fh, stderr=subprocess.STDOUT,
                                         env=env, cwd=ROOT)

    def text(self) -> str:
        return self.logfile.read_text(errors="replace")

    def wait_log(self, needle: str, timeout: float = PATIENCE_S) -> None:
        """Block until `needle` appears in the log (fails if the process ends first)."""
        try:
            wait_for(lambda: needle in self.text(), repr(needle), self.proc, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{self.text()}") from None

    def signal(self, sig=signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = PATIENCE_S) -> int:
        return self.proc.wait(timeout=timeout)


def real(*args, faults: str = "") -> subprocess.Popen:
    """`real` through its CLI, in its own process (signals reach it as they would from a shell)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPOTSIM_REAL_FAULTS": faults}
    return subprocess.Popen([sys.executable, "-m", "real.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def paused(out, lifetime: int) -> bool:
    """The trainer of `lifetime` is held by the `pause_after_steps` hook."""
    p = Path(out) / "logs" / f"lifetime-{lifetime:03d}.log"
    return p.exists() and "paused after" in p.read_text(errors="replace")


def events(out) -> list[dict]:
    p = Path(out) / "events.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def of(evts, name, **match) -> list[dict]:
    return [e for e in evts if e["event"] == name and all(e.get(k) == v for k, v in match.items())]


def assert_same_weights(a: dict, b: dict) -> None:
    import torch

    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ after resume: {different[:5]}"


def final_weights(out) -> dict:
    import torch

    return torch.load(Path(out) / "final.pt", weights_only=True)


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> dict:
    """Final weights of an uninterrupted 2-epoch run (what every resumed run must end with)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    cfg = small_config(out, checkpoint=dict(strategy="none", emergency=True))
    t = Trainer(cfg)
    assert t.wait() == 0, t.text()
    return final_weights(out)


@pytest.fixture(scope="session")
def trained_one_epoch(tmp_path_factory) -> Path:
    """A run directory holding one durable checkpoint after epoch 1 (2 epochs requested)."""
    out = tmp_path_factory.mktemp("one-epoch") / "run"
    cfg = small_config(out, epochs=1)
    t = Trainer(cfg)
    assert t.wait() == 0, t.text()
    cfg.epochs = 2
    cfg.save()
    return out


@pytest.fixture
def copy_run(trained_one_epoch, tmp_path):
    """A private copy of the one-epoch run, with a fresh event log."""
    def make(**changes) -> RunConfig:
        dst = tmp_path / "run"
        shutil.copytree(trained_one_epoch, dst, ignore=shutil.ignore_patterns("*.log", "events.jsonl", "final.pt"))
        cfg = RunConfig.load(dst / "run.json")
        cfg.out = str(dst)
        for k, v in changes.items():
            setattr(cfg, k, v)
        cfg.save()
        return cfg
    return make
