"""The supervisor: plays the cloud. It grants trainer "VMs" one lifetime at a time,
draws each lifetime's uptime from a spotsim interrupt pattern, sends SIGTERM when
it is up, SIGKILLs after the grace window, keeps capacity away as long as the
pattern says, waits the restart delay and starts the next trainer, until a
trainer reports all epochs done.

A trainer that dies without the supervisor's notice (SIGKILL from outside, the
OOM killer) is a preemption without notice: logged as a `kill` with
`notice: false`, and the next trainer resumes from the newest durable
checkpoint; only a crash loop (real/crashloop.py) stops the run. All durations
are read from the monotonic clock (real/runlog.py).
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from spotsim.interrupts import InterruptPattern

from . import exitcodes, faults
from .checkpoint import open_store
from .crashloop import CrashLoop
from .history import History
from .notices import CloudNotice, NoticeError, Source, Watcher, seen
from .progress import Follower, Progress
from .runconfig import RunConfig
from .runlog import LogMirror, RunLog

LOCK = ".supervisor.lock"
"""Held (flock) by the supervisor and inherited by its trainers: one run per directory at a time."""


class RunFailed(Exception):
    """A trainer stopped with an error the supervisor cannot fix by restarting."""


@dataclass
class Outcome:
    epochs_done: int
    lifetimes: int
    preemptions: int
    kills: int
    unnoticed: int
    """Trainers killed without notice (from outside the supervisor)."""
    run_s: float
    """Run time at the end (a resumed run's leaves out the time it was stopped)."""
    interrupted: bool
    vm_notice: CloudNotice | None = None
    """A cloud source's notice ended this VM's part of the run (the next VM goes on with --resume)."""


@dataclass(frozen=True)
class LifetimeEnd:
    code: int
    preempted: bool
    """The supervisor sent this lifetime's notice."""
    killed: bool
    """... and SIGKILLed the trainer at the end of the grace window."""
    vm_notice: CloudNotice | None = None
    """The cloud's notice (or the guest's shutdown) relayed to this trainer."""


class Supervisor:
    def __init__(self, cfg: RunConfig, pattern: InterruptPattern, seed: int, grace_s: float,
                 restart_delay_s: float, max_lifetimes: int = 1000, crash_loop: int = 3, poll_s: float = 0.05,
                 env: dict | None = None, say: Callable[[str], None] | None = None, notices: Source | None = None):
        """`say`: where console progress lines go (None: nowhere). `notices`: a cloud's notice source
        (real/notices): its notices, not `pattern`, preempt the trainer, and the cloud ends the VM."""
        self.cfg, self.pattern, self.seed = cfg, pattern, seed
        self.grace_s, self.restart_delay_s = grace_s, restart_delay_s
        self.max_lifetimes, self.crash_loop, self.poll_s = max_lifetimes, crash_loop, poll_s
        self.env, self.say = env, say
        self._stop = False
        self._stopping_child = False
        self.child: subprocess.Popen | None = None
        self.notices, self.watcher = notices, None
        self._shutdown: CloudNotice | None = None
        self.vm_notice: CloudNotice | None = None

    def _on_interrupt(self, signum, frame) -> None:
        if signum == signal.SIGTERM and self.notices is not None:
            # on a cloud VM a SIGTERM is the guest's shutdown (GCP: ACPI soft-off): a notice, not a stop
            if self._shutdown is None:
                self._shutdown = seen("shutdown")
            return
        self._stop = True

    def run(self, history: History | None = None) -> Outcome:
        """Run to the end; with `history` (read from the run's log), continue a stopped run."""
        out = Path(self.cfg.out)
        (out / "logs").mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(out)
        try:
            return self._run(history)
        finally:
            os.close(self._lock_fd)

    def _run(self, history: History | None) -> Outcome:
        cfg = self.cfg
        out = Path(cfg.out)
        now = time.monotonic()
        if history is None:
            cfg.run_start_wall = time.time()
            cfg.clock_origin = now
        else:
            cfg.clock_origin = now - history.last_t  # run time goes on; the stopped time is left out
        run_json = cfg.save()
        self.log = RunLog(cfg.events_path, cfg.clock_origin)
        self.follower, self.progress = Follower(), Progress(cfg.epochs)
        self.follower.new_lines(cfg.events_path, start_at_end=True)
        h = history or History(0, 0, 0, 0, 0.0, 0, False)
        if history is None:
            self.log.emit("run_start", epochs=cfg.epochs, strategy=cfg.checkpoint.get("strategy"),
                          pattern=self.pattern.name, rate_per_h=cfg.rate_per_h, seed=self.seed,
                          grace_s=self.notices.window_s if self.notices else self.grace_s,
                          restart_delay_s=self.restart_delay_s, model=cfg.model,
                          dataset=cfg.dataset, max_samples=cfg.max_samples, batch_size=cfg.batch_size,
                          emergency=cfg.emergency, async_checkpoint=cfg.async_checkpoint,
                          checkpoint=cfg.checkpoint, device=cfg.device, compile=cfg.compile,
                          compile_mode=cfg.compile_mode if cfg.compile else None, **self._notice_fields())
        elif self.say:
            self.say(f"resuming the run in {out}: {h.epochs_done} of {cfg.epochs} epochs done, "
                     f"{h.lifetimes} lifetimes so far")
        self._start_watcher(out)
        self.mirror = LogMirror(out, cfg.ckpt_dir)
        self._mirror()  # the run is known at --ckpt-dir from its start: a new machine can resume it
        old = {s: signal.signal(s, self._on_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
        lifetime, preemptions, kills, unnoticed = h.lifetimes, h.preemptions, h.kills, h.unnoticed
        started = 0
        done = False
        error = None
        try:
            stream = self.pattern.preemptions(np.random.default_rng(self.seed))
            for _ in range(lifetime):
                next(stream)  # the uptimes the stopped run drew: a resumed run goes on with the same sequence
            store = open_store(cfg.checkpoint_location, keep=cfg.keep)
            durable = store.newest_position()
            crash = CrashLoop(self.crash_loop)
            restart_delay = 0.0
            while not self._stop and started < self.max_lifetimes:
                if self._cloud_notice() is not None:
                    self.vm_notice = self._cloud_notice()  # between trainers: nobody to relay it to
                    break
                pre = next(stream)
                if pre.wait_before_s > 0 and not self._capacity_wait(pre.wait_before_s, lifetime + 1):
                    break
                lifetime += 1
                started += 1
                end = self._lifetime(lifetime, pre.uptime_s, run_json, out, restart_delay)
                preemptions += end.preempted
                kills += end.killed
                if end.code == exitcodes.DONE:
                    done = True
                    break
                if self._stop:
                    break
                if end.vm_notice is not None:
                    self.vm_notice = end.vm_notice
                    break
                now_durable = store.newest_position()
                progressed = now_durable is not None and (durable is None or now_durable > durable)
                durable = now_durable if progressed else durable
                noticed = end.preempted or end.code in (exitcodes.PREEMPTED, exitcodes.PREEMPTED_LOST)
                fatal = (exitcodes.FAILED, exitcodes.CONFIG, exitcodes.CHECKPOINT_FAILED)
                if end.code in fatal or (end.code >= 0 and not noticed):
                    error = (f"trainer of lifetime {lifetime} stopped: {exitcodes.describe(end.code)} "
                             f"(see {_log_path(out, lifetime)})")
                    tail = _tail(_log_path(out, lifetime))
                    if tail:
                        error += f": {tail}"
                    break
                if end.code < 0 and not end.preempted:
                    unnoticed += 1
                if crash.lifetime_ended(noticed, progressed):
                    error = (f"crash loop: {crash.streak} lifetimes in a row ended without notice and without "
                             f"saving any progress (last: lifetime {lifetime}, {exitcodes.describe(end.code)}); "
                             f"see {_log_path(out, lifetime)}")
                    break
                if pre.wait_s and not self._capacity_wait(pre.wait_s, lifetime + 1):
                    break
                if not self._sleep(self.restart_delay_s):
                    break
                restart_delay = self.restart_delay_s
        finally:
            for s, h_ in old.items():
                signal.signal(s, h_)
            if self.child is not None and self.child.poll() is None:
                self._stop_child()
            if self.watcher is not None:
                self.watcher.stop()
            epochs_done = self._epochs_done()
            run_s = self.log.t()
            self.log.emit("run_end", epochs_done=epochs_done, makespan_s=run_s, lifetimes=lifetime,
                          preemptions=preemptions, kills=kills, unnoticed_kills=unnoticed, completed=done,
                          interrupted=self._stop, error=error, **self._vm_fields())
            self.log.close()
            self._mirror()
            if self.vm_notice is not None:
                self._acknowledge()  # last: once acknowledged, the VM may go at any moment
            self._follow()
        if error:
            raise RunFailed(error)
        if not done and not self._stop and self.vm_notice is None:
            raise RunFailed(f"no progress to completion after {self.max_lifetimes} lifetimes (--max-lifetimes)")
        return Outcome(epochs_done, lifetime, preemptions, kills, unnoticed, run_s, self._stop, self.vm_notice)

    def _lifetime(self, lifetime: int, uptime: float, run_json: Path, out: Path,
                  restart_delay_s: float) -> LifetimeEnd:
        """Run one trainer until it exits, preempting it when its uptime is up."""
        env = dict(os.environ if self.env is None else self.env)
        log_path = _log_path(out, lifetime)
        when_paused = bool(faults.get("notice_when_paused"))
        spawn = time.monotonic()
        env["SPOTSIM_REAL_SPAWN_AT"] = repr(spawn)
        planned = None if uptime == float("inf") or when_paused else round(uptime, 6)
        extra = {"notice": "when the trainer pauses (fault hook)"} if when_paused else {}
        self.log.emit("vm_start", at=spawn, lifetime=lifetime, planned_uptime_s=planned,
                      restart_delay_s=round(restart_delay_s, 6), **extra)
        with open(log_path, "ab") as logf:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "real.train", str(run_json), "--lifetime", str(lifetime)],
                stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                pass_fds=(self._lock_fd,))
        child = self.child
        preempted = killed = False
        vm_notice = None
        while child.poll() is None:
            self._follow(lifetime, log_path)
            if self._stop:
                self._stop_child()
                break
            if self._cloud_notice() is not None:
                preempted, vm_notice = True, self._cloud_notice()
                self._relay(lifetime, spawn, vm_notice, log_path)
                break
            up = time.monotonic() - spawn
            if (not when_paused and up >= uptime) or (when_paused and _paused(log_path)):
                preempted = True
                killed = self._preempt(lifetime, spawn, up)
                break
            if self.watcher is not None:
                self.watcher.seen.wait(self.poll_s)  # a cloud's notice is relayed at once
            else:
                time.sleep(self.poll_s)
        code = child.wait()
        ended = time.monotonic()
        if code < 0 and not preempted and not self._stopping_child:
            try:
                sig = signal.Signals(-code).name
            except ValueError:
                sig = f"signal {-code}"
            self.log.emit("kill", at=ended, lifetime=lifetime, notice=False, signal=sig,
                          uptime_s=round(ended - spawn, 6))
        self.log.emit("process_exit", lifetime=lifetime, code=code, reason=exitcodes.describe(code))
        self.child = None
        self._stopping_child = False
        self._follow(lifetime, log_path)
        return LifetimeEnd(code, preempted, killed, vm_notice)

    def _preempt(self, lifetime: int, spawn: float, uptime: float) -> bool:
        """Send the notice (dated when the uptime was found up); SIGKILL after the grace window."""
        child = self.child
        self.log.emit("preempt_notice", at=spawn + uptime, lifetime=lifetime, direction="sent",
                      uptime_s=round(uptime, 6), notice_source="signal")
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=self.grace_s)
            return False
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            self.log.emit("kill", lifetime=lifetime, after_s=self.grace_s)
            return True

    # -- notices from the cloud (real/notices) --------------------------------------
    def _notice_fields(self) -> dict:
        if self.notices is None:
            return {"notice": "signal"}
        return {"notice": self.notices.name, "notice_url": self.notices.url, "notice_poll_s": self.notices.poll_s,
                "notice_long_poll": self.notices.long_poll}

    def _start_watcher(self, out: Path) -> None:
        if self.notices is None:
            return
        self.watcher = Watcher(self.notices, out / "logs" / "notices.log")
        self.watcher.start()
        if self.say:
            self.say(f"notices: from the {self.notices.describe()}; the cloud stops this VM "
                     f"(about {self.notices.window_s:g} s after its notice), and `real run --resume` continues "
                     f"the run on the next one")

    def _cloud_notice(self) -> CloudNotice | None:
        """The notice that ends this VM, if one came: the guest's shutdown SIGTERM or the cloud's."""
        if self._shutdown is not None:
            return self._shutdown
        return self.watcher.notice if self.watcher is not None else None

    def _relay(self, lifetime: int, spawn: float, n: CloudNotice, log_path: Path) -> None:
        """The cloud's notice becomes the trainer's SIGTERM. The cloud, not the supervisor, ends the
        VM: nothing is killed here; the trainer saves and exits, and the supervisor waits for it."""
        child = self.child
        now = time.monotonic()
        fields = {"notice_source": n.source, "notice_lag_s": round(n.lag_s(now), 6), "uptime_s": round(now - spawn, 6)}
        if n.poll_s is not None:
            fields["poll_s"] = n.poll_s
        if n.deadline_wall is not None:
            fields["time_left_s"] = round(n.deadline_wall - (n.seen_wall + now - n.seen_at), 6)
        fields.update({k: v for k, v in n.detail.items() if v is not None})
        self.log.emit("preempt_notice", at=now, lifetime=lifetime, direction="sent", **fields)
        child.send_signal(signal.SIGTERM)
        if self.say:
            left = f"; the cloud ends the VM in {fields['time_left_s']:.1f} s" if "time_left_s" in fields else ""
            self.say(f"lifetime {lifetime}: {n.source} notice relayed as SIGTERM "
                     f"{fields['notice_lag_s']:.2f} s after {'the cloud gave it' if n.notice_wall else 'it was seen'}"
                     f"{left}")
        while child.poll() is None:
            self._follow(lifetime, log_path)
            if self._stop:  # Ctrl-C meanwhile: the grace window of a stop, then SIGKILL
                try:
                    child.wait(timeout=self.grace_s)
                except subprocess.TimeoutExpired:
                    child.kill()
                break
            time.sleep(self.poll_s)

    def _acknowledge(self) -> None:
        """Azure: the trainer has exited with its state durable, and the log is complete (and copied
        to --ckpt-dir): the eviction may go ahead early."""
        n = self.watcher.notice if self.watcher is not None else None
        if n is None:
            return
        try:
            what = self.notices.acknowledge(n)
        except NoticeError as exc:
            self.watcher.log(f"acknowledgement failed: {exc}", console=True)
            return
        if what is not None:
            self.watcher.log(what, console=True)

    def _vm_fields(self) -> dict:
        if self.vm_notice is None:
            return {}
        return {"vm_preempted": self.vm_notice.source}

    def await_vm_end(self, margin_s: float = 60.0) -> bool:
        """After a cloud's notice: wait for the cloud to end this VM (a SIGTERM, SIGINT, or the SIGKILL
        nobody sees). True once a signal came (or the shutdown was already under way); False when the
        VM outlived the end the cloud announced by `margin_s`."""
        if self._shutdown is not None:
            return True
        n = self.vm_notice
        got: list[int] = []
        old = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            deadline = n.deadline_wall if n.deadline_wall is not None else n.seen_wall + self.notices.window_s
            end = time.monotonic() + max(0.0, deadline - time.time()) + margin_s
            if self.watcher is not None:
                self.watcher.log(f"waiting for the cloud to stop this VM (until {margin_s:g} s after the end "
                                 f"it announced)")
            while not got and time.monotonic() < end:
                time.sleep(0.05)
            return bool(got)
        finally:
            for s, h_ in old.items():
                signal.signal(s, h_)

    def _mirror(self) -> None:
        """Copy the log and run files to --ckpt-dir (if given); a failure is a console warning."""
        for w in self.mirror.copy():
            if self.say:
                self.say(f"warning: {w}")

    def _stop_child(self) -> None:
        """Ctrl-C: give the trainer its notice and grace window, as a preemption would."""
        self._stopping_child = True
        child = self.child
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def _sleep(self, seconds: float) -> bool:
        """Wait `seconds` (showing progress); False if the run was stopped meanwhile."""
        end = time.monotonic() + seconds
        while not self._stop and self._cloud_notice() is None and time.monotonic() < end:
            self._follow()
            time.sleep(max(0.0, min(self.poll_s, end - time.monotonic())))
        return not self._stop

    def _capacity_wait(self, seconds: float, lifetime: int) -> bool:
        """Capacity away for `seconds`, as the pattern says; logged when it is back."""
        t0 = time.monotonic()
        if not self._sleep(seconds):
            return False
        self.log.emit("capacity_back", wait_s=round(time.monotonic() - t0, 6), lifetime=lifetime,
                      reason="capacity")
        return True

    def _follow(self, lifetime: int | None = None, trainer_log: Path | None = None) -> None:
        """Show what happened since the last look: trainer warnings, then events."""
        if self.say is None:
            return
        while self.watcher is not None and not self.watcher.messages.empty():
            self.say(self.watcher.messages.get())
        if trainer_log is not None:
            for w in self.follower.warnings(trainer_log):
                self.say(f"lifetime {lifetime}: {w}")
        for e in self.follower.events(self.cfg.events_path):
            line = self.progress.line(e)
            if line:
                self.say(line)

    def _epochs_done(self) -> int:
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


def _lock(out: Path) -> int:
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunFailed(f"{out} is in use: a supervisor, or a trainer an earlier one left behind, still runs "
                        f"there; wait for it to end or stop it, then try again") from None
    return fd


def _log_path(out: Path, lifetime: int) -> Path:
    return out / "logs" / f"lifetime-{lifetime:03d}.log"


def _paused(path: Path) -> bool:
    try:
        return faults.PAUSED in path.read_text(errors="replace")
    except OSError:
        return False


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
