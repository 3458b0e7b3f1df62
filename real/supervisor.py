"""The supervisor: plays the cloud. It grants trainer "VMs" one lifetime at a time,
draws each lifetime's uptime from a spotsim interrupt pattern, sends SIGTERM when
it is up, SIGKILLs after the grace window, waits the restart delay and starts the
next trainer, until a trainer reports all epochs done."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spotsim.interrupts import InterruptPattern

from . import exitcodes
from .runconfig import RunConfig
from .runlog import RunLog

log = logging.getLogger("real.supervisor")


class RunFailed(Exception):
    """A trainer stopped with an error the supervisor cannot fix by restarting."""


@dataclass
class Outcome:
    epochs_done: int
    lifetimes: int
    preemptions: int
    kills: int
    wall_s: float
    interrupted: bool


class Supervisor:
    def __init__(self, cfg: RunConfig, pattern: InterruptPattern, seed: int, grace_s: float,
                 restart_delay_s: float, max_lifetimes: int = 1000, poll_s: float = 0.05,
                 env: dict | None = None):
        self.cfg, self.pattern, self.seed = cfg, pattern, seed
        self.grace_s, self.restart_delay_s = grace_s, restart_delay_s
        self.max_lifetimes, self.poll_s = max_lifetimes, poll_s
        self.env = env
        self._stop = False
        self.child: subprocess.Popen | None = None

    def _on_interrupt(self, signum, frame) -> None:
        self._stop = True

    def run(self) -> Outcome:
        cfg = self.cfg
        out = Path(cfg.out)
        (out / "logs").mkdir(parents=True, exist_ok=True)
        cfg.run_start_wall = time.time()
        run_json = cfg.save()
        self.log = RunLog(cfg.events_path, cfg.run_start_wall)
        self.log.emit("run_start", epochs=cfg.epochs, strategy=cfg.checkpoint.get("strategy"),
                      pattern=self.pattern.name, rate_per_h=cfg.rate_per_h, seed=self.seed,
                      grace_s=self.grace_s, restart_delay_s=self.restart_delay_s, model=cfg.model,
                      dataset=cfg.dataset, max_samples=cfg.max_samples, batch_size=cfg.batch_size,
                      emergency=cfg.emergency, async_checkpoint=cfg.async_checkpoint,
                      checkpoint=cfg.checkpoint, device=cfg.device)
        old = {s: signal.signal(s, self._on_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
        preemptions = kills = 0
        lifetime = 0
        done = False
        error = None
        try:
            stream = self.pattern.preemptions(np.random.default_rng(self.seed))
            while not self._stop and lifetime < self.max_lifetimes:
                lifetime += 1
                uptime = next(stream).uptime_s
                code, preempted, killed = self._lifetime(lifetime, uptime, run_json, out)
                preemptions += preempted
                kills += killed
                if code == exitcodes.DONE:
                    done = True
                    break
                fatal = code in (exitcodes.FAILED, exitcodes.CONFIG, exitcodes.CHECKPOINT_FAILED) or not preempted
                if fatal and not self._stop:
                    error = (f"trainer of lifetime {lifetime} stopped: {exitcodes.describe(code)} "
                             f"(see {out / 'logs' / f'lifetime-{lifetime:03d}.log'})")
                    tail = _tail(out / "logs" / f"lifetime-{lifetime:03d}.log")
                    if tail:
                        error += f": {tail}"
                    break
                if self._stop:
                    break
                t0 = time.time()
                while time.time() - t0 < self.restart_delay_s and not self._stop:
                    time.sleep(min(self.poll_s, self.restart_delay_s))
                if self._stop:
                    break
                self.log.emit("capacity_back", wait_s=round(time.time() - t0, 6), lifetime=lifetime + 1)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            if self.child is not None and self.child.poll() is None:
                self._stop_child()
            epochs_done = self._epochs_done()
            wall = time.time() - cfg.run_start_wall
            self.log.emit("run_end", epochs_done=epochs_done, makespan_s=round(wall, 6), lifetimes=lifetime,
                          preemptions=preemptions, kills=kills, completed=done, interrupted=self._stop,
                          error=error)
            self.log.close()
        if error:
            raise RunFailed(error)
        if not done and not self._stop:
            raise RunFailed(f"no progress to completion after {self.max_lifetimes} lifetimes (--max-lifetimes)")
        return Outcome(epochs_done, lifetime, preemptions, kills, wall, self._stop)

    def _lifetime(self, lifetime: int, uptime: float, run_json: Path, out: Path) -> tuple[int, int, int]:
        """Run one trainer; returns (exit code, preempted 0/1, killed 0/1)."""
        env = dict(os.environ if self.env is None else self.env)
        spawn = time.time()
        env["SPOTSIM_REAL_SPAWN_WALL"] = repr(spawn)
        self.log.emit("vm_start", wall=spawn, lifetime=lifetime,
                      planned_uptime_s=None if uptime == float("inf") else round(uptime, 6))
        with open(out / "logs" / f"lifetime-{lifetime:03d}.log", "ab") as logf:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "real.train", str(run_json), "--lifetime", str(lifetime)],
                stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        child = self.child
        preempted = killed = 0
        while child.poll() is None:
            if self._stop:
                self._stop_child()
                break
            if time.time() - spawn >= uptime:
                preempted = 1
                killed = self._preempt(lifetime, time.time() - spawn)
                break
            time.sleep(self.poll_s)
        code = child.wait()
        self.log.emit("process_exit", lifetime=lifetime, code=code, reason=exitcodes.describe(code))
        self.child = None
        return code, preempted, killed

    def _preempt(self, lifetime: int, uptime: float) -> int:
        child = self.child
        self.log.emit("preempt_notice", lifetime=lifetime, direction="sent", uptime_s=round(uptime, 6))
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=self.grace_s)
            return 0
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            self.log.emit("kill", lifetime=lifetime, after_s=self.grace_s)
            return 1

    def _stop_child(self) -> None:
        """Ctrl-C: give the trainer its notice and grace window, as a preemption would."""
        child = self.child
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def _epochs_done(self) -> int:
        import json

        best = 0
        try:
            with open(self.cfg.events_path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if rec.get("event") == "epoch_end":
                        best = max(best, int(rec["epoch"]))
        except OSError:
            pass
        return best


def _tail(path: Path) -> str:
    """The last ERROR line of a trainer log (the reason it stopped), if any."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errs = [ln.split(" ERROR ", 1)[1] for ln in lines if " ERROR " in ln]
    if errs:
        return errs[-1]
    return lines[-1] if lines else ""
