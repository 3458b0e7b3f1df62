"""Helpers for real-mode tests: small CPU runs in real trainer processes."""
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


def small_config(out: Path, **kw) -> RunConfig:
    """A tiny deterministic CPU run: ResNet-18, 128 synthetic images, batches of 16."""
    base = dict(out=str(out), epochs=2, model="resnet18", dataset="synthetic", max_samples=128, device="cpu",
                batch_size=16, seed=3, threads=1, deterministic=True,
                checkpoint=dict(strategy="fixed", every_epochs=1, emergency=True), keep=3,
                run_start_wall=time.time())
    base.update(kw)
    cfg = RunConfig(**base)
    Path(out).mkdir(parents=True, exist_ok=True)
    cfg.save()
    return cfg


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

    def wait_log(self, needle: str, timeout: float = 60.0) -> None:
        """Block until `needle` appears in the log (fails if the process ends first)."""
        end = time.time() + timeout
        while time.time() < end:
            if needle in self.text():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"trainer exited ({self.proc.returncode}) before logging {needle!r}:\n{self.text()}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {needle!r}:\n{self.text()}")

    def signal(self, sig=signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 120.0) -> int:
        return self.proc.wait(timeout=timeout)


def events(out) -> list[dict]:
    p = Path(out) / "events.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def of(evts, name, **match) -> list[dict]:
    return [e for e in evts if e["event"] == name and all(e.get(k) == v for k, v in match.items())]


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
