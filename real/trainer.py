"""One trainer lifetime: start up, restore, train until done or preempted.

The loop asks the shared checkpoint strategy (spotsim.strategies) after every
step (`due`) and after every epoch's validation (`save_after_epoch`), with one
TrainingState updated in place. On a preemption notice it finishes the current
step, then writes an emergency checkpoint if emergency saving is on and there is
progress since the last durable checkpoint, and exits (codes: exitcodes.py).
"""
from __future__ import annotations

import json
import logging
import os
import random
import signal
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spotsim.strategies import TrainingState

from . import compile_cache, data, exitcodes, faults, storage
from .checkpoint import AsyncWriter, CheckpointWriteError, Written, open_store, to_cpu
from .runconfig import RunConfig
from .runlog import LogMirror, RunLog

log = logging.getLogger("real.trainer")
UPTIMES = "uptimes.json"
MODELS = ("resnet50", "resnet18", "tinycnn")
WARMUP_STEPS = 3
"""A lifetime's `warmup` event compares its first WARMUP_STEPS training steps (compilation,
allocator and autotuning warm-up) with the median of the next WARMUP_STEPS (steady state)."""


class TinyCNN(nn.Module):
    """Three conv-BN-ReLU blocks and a linear head (about 30,000 parameters), 100 classes: a model that
    torch.compile builds in seconds on a CPU, for tests and quick runs."""

    def __init__(self, num_classes: int = data.CLASSES):
        super().__init__()
        layers = []
        for cin, cout, stride in ((3, 16, 1), (16, 32, 2), (32, 64, 2)):
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.features(x))


def build_model(name: str):
    if name == "tinycnn":
        return TinyCNN()
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}")
    import torchvision

    return getattr(torchvision.models, name)(num_classes=data.CLASSES)


class Trainer:
    def __init__(self, cfg: RunConfig, lifetime: int, notice, spawn_at: float):
        """`spawn_at`: the `time.monotonic()` reading at which the supervisor spawned this process."""
        self.cfg, self.lifetime, self.notice, self.spawn_at = cfg, lifetime, notice, spawn_at
        self.log = RunLog(cfg.events_path, cfg.clock_origin)
        self.state = TrainingState()
        self.epoch = self.step = 0
        self.eval_pending = False
        self.durable = (0, 0, False)  # position a restart would resume from
        self.total_train_s = 0.0
        self.marker_train_s = 0.0      # total_train_s when the last checkpoint was taken
        self.ep_train_s = self.loss_sum = 0.0
        self.loss_n = 0
        self.ep_split = False
        self.writer: AsyncWriter | None = None
        self.log_steps = bool(faults.get("log_steps", lifetime=lifetime))
        self.pause_after_steps = int(faults.get("pause_after_steps", -1, lifetime=lifetime))
        self.steps_here = 0            # training steps taken in this lifetime
        self.mirror = LogMirror(cfg.out, cfg.ckpt_dir)  # log copies at --ckpt-dir, after each checkpoint
        self.local_cache = None        # this lifetime's Inductor/Triton cache directory (--compile)
        self.ccache: compile_cache.CompileCache | None = None
        self.cache_status = "none"     # warmup.cache: none (eager), cold, restored
        self.step_times: list[float] = []      # the lifetime's first 2 x WARMUP_STEPS step times
        self.step_compile_s: list[float] = []  # ... and torch's compile seconds inside each
        self.step_graph_cache = [0, 0]  # Inductor FX-graph cache (hits, misses) inside those first steps

    # -- helpers -----------------------------------------------------------------
    @property
    def position(self) -> tuple[int, int, bool]:
        return (self.epoch, self.step, self.eval_pending)

    def frac(self, pos=None) -> float:
        e, s, pending = pos or self.position
        return round(e + (1.0 if pending else s / self.spe), 6)

    def _uptimes_file(self) -> Path:
        loc = self.cfg.checkpoint_location
        # an object store gets its copy with the log (one upload less before an emergency save)
        return Path(self.cfg.out) / UPTIMES if storage.is_remote(loc) else storage.local_path(loc) / UPTIMES

    def _read_uptimes(self) -> list[float]:
        try:
            return [float(u) for u in json.loads(self._uptimes_file().read_text())["uptimes_s"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def _write_uptimes(self) -> None:
        p = self._uptimes_file()
        tmp = p.with_name(f".{p.name}.tmp")
        with open(tmp, "w") as fh:
            json.dump({"uptimes_s": self.state.uptimes_s}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)

    # -- lifetime ------------------------------------------------------------------
    def run(self) -> int:
        try:
            return self._run()
        finally:
            if self.writer is not None:
                self.writer.close()
            self.mirror.flush(timeout=120.0)
            self.log.close()
            compile_cache.remove_local_cache(self.local_cache)

    def _run(self) -> int:
        cfg = self.cfg
        self.log.emit("process_start", lifetime=self.lifetime, spawn_t=self.log.t(self.spawn_at),
                      model=cfg.model, dataset=cfg.dataset, device=cfg.device,
                      async_checkpoint=cfg.async_checkpoint, emergency=cfg.emergency,
                      compile=cfg.compile, compile_mode=cfg.compile_mode if cfg.compile else None)
        if faults.get("sigkill_at_start", lifetime=self.lifetime):
            os.kill(os.getpid(), signal.SIGKILL)  # fault hook: the OOM killer at start-up
        self.store = open_store(cfg.checkpoint_location, keep=cfg.keep)
        for name, why in self.store.remove_unfinished():
            log.warning("removed %s: %s", name, why)
        self.state.uptimes_s = self._read_uptimes()
        if faults.get("slow_startup_s", lifetime=self.lifetime):
            # start-up goes on; the notice is acted on after it
            time.sleep(faults.get("slow_startup_s", lifetime=self.lifetime))
        if self.notice:
            return self._preempted()
        rc = self._setup()
        if rc is not None:
            return rc
        if self.notice:
            return self._preempted()
        self.notice.phase = "restore"
        rc = self._restore()
        if rc is not None:
            return rc
        if self.notice:
            return self._preempted()
        self.notice.phase = "train"
        return self._loop()

    def _setup(self) -> int | None:
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(cfg.device)
        cuda = self.device.type == "cuda"
        if cfg.compile:
            # before anything compiles: a cache as empty as a new VM's; only restored artifacts warm it
            self.local_cache = compile_cache.fresh_local_cache(cfg.out, self.lifetime)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif cuda:
            torch.backends.cudnn.benchmark = True
        random.seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        torch.manual_seed(cfg.seed)
        t0 = time.perf_counter()
        try:
            arrays = data.load(cfg.dataset, cfg.data_root, cfg.seed, cfg.max_samples)
        except data.DatasetMissing as exc:
            log.error("%s", exc)
            return exitcodes.CONFIG
        self.train_x = torch.from_numpy(arrays.train_x).to(self.device)
        self.train_y = torch.from_numpy(arrays.train_y).to(self.device)
        self.val_x = torch.from_numpy(arrays.val_x).to(self.device)
        self.val_y = torch.from_numpy(arrays.val_y).to(self.device)
        self.data_s = time.perf_counter() - t0
        self.spe = len(self.train_x) // cfg.batch_size
        if self.spe < 1:
            log.error("batch size %d is larger than the %d training samples", cfg.batch_size, len(self.train_x))
            return exitcodes.CONFIG
        self.mean = torch.tensor(data.MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(data.STD, device=self.device).view(1, 3, 1, 1)
        self.net = build_model(cfg.model).to(self.device)  # the plain module: its state_dict is the checkpoint's
        self.mem_format = torch.channels_last if cuda else torch.contiguous_format
        self.net = self.net.to(memory_format=self.mem_format)
        # the module the loop calls: compiled on its first call (training) and first eval
        self.model = torch.compile(self.net, mode=cfg.compile_mode) if cfg.compile else self.net
        lr = cfg.lr or 0.1 * cfg.batch_size / 128
        self.opt = torch.optim.SGD(self.net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=cfg.epochs)
        self.amp = cuda
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.strategy = cfg.strategy()
        if cfg.async_checkpoint:
            self.writer = AsyncWriter(self.store)
        return None

    # -- checkpoint payload --------------------------------------------------------
    def _payload(self) -> dict:
        cfg = self.cfg
        return {
            "schema": 1,
            "model": self.net.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "position": {"epoch": self.epoch, "step": self.step, "eval_pending": self.eval_pending,
                         "steps_per_epoch": self.spe},
            "sampler": {"seed": cfg.seed, "epoch": self.epoch, "step": self.step, "n": len(self.train_x)},
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None},
            "accum": {"epoch_train_s": self.ep_train_s, "loss_sum": self.loss_sum, "loss_n": self.loss_n},
            "strategy": {"best_val_acc": self.state.best_val_acc, "last_val_acc": self.state.last_val_acc,
                         "uptimes_s": list(self.state.uptimes_s),
                         "checkpoint_write_s": self.state.checkpoint_write_s},
            "config": self._identity(),
            "compile": {"compile": cfg.compile, "mode": cfg.compile_mode if cfg.compile else None},
        }

    def _identity(self) -> dict:
        c = self.cfg
        return {"model": c.model, "dataset": c.dataset, "max_samples": c.max_samples,
                "batch_size": c.batch_size, "seed": c.seed, "epochs": c.epochs}

    def _restore(self) -> int | None:
        t0 = time.perf_counter()
        log.info("restoring: looking for the newest valid checkpoint in %s", self.store.dir)
        loaded = self.store.load_latest()
        if faults.get("slow_restore_s", lifetime=self.lifetime):
            time.sleep(faults.get("slow_restore_s", lifetime=self.lifetime))
        ckpt_name = None
        if loaded is not None:
            p = loaded.payload
            mine, theirs = self._identity(), dict(p["config"])
            theirs["epochs"] = mine["epochs"]  # a run may be extended
            if mine != theirs:
                log.error("checkpoint %s was made by a different run (%s); this run is %s; use a new --out",
                          loaded.path, p["config"], mine)
                return exitcodes.CONFIG
            self.net.load_state_dict(p["model"])
            self.opt.load_state_dict(p["optimizer"])
            self.sched.load_state_dict(p["scheduler"])
            self.scaler.load_state_dict(p["scaler"])
            pos = p["position"]
            self.epoch, self.step, self.eval_pending = pos["epoch"], pos["step"], pos["eval_pending"]
            random.setstate(p["rng"]["python"])
            np.random.set_state(p["rng"]["numpy"])
            torch.set_rng_state(p["rng"]["torch"])
            if p["rng"]["cuda"] is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state_all(p["rng"]["cuda"])
            a = p["accum"]
            self.ep_train_s, self.loss_sum, self.loss_n = a["epoch_train_s"], a["loss_sum"], a["loss_n"]
            self.ep_split = self.step > 0 or self.eval_pending
            s = p["strategy"]
            self.state.epoch = self.epoch
            self.state.best_val_acc, self.state.last_val_acc = s["best_val_acc"], s["last_val_acc"]
            self.state.checkpoint_write_s = s["checkpoint_write_s"]
            if len(s["uptimes_s"]) > len(self.state.uptimes_s):
                self.state.uptimes_s = list(s["uptimes_s"])
            self.durable = self.position
            ckpt_name = Path(loaded.path).name
            log.info("resuming from %s at epoch %.3f%s", loaded.path, self.frac(),
                     " (validation pending)" if self.eval_pending else "")
        else:
            log.info("no valid checkpoint in %s: starting from scratch", self.store.dir)
        restore_s = time.perf_counter() - t0
        cache = {}
        if self.cfg.compile:
            # before the first compiled call; a missing or bad file only means compiling cold
            self.ccache = compile_cache.CompileCache(self.cfg.checkpoint_location, self.cfg.compile_mode,
                                                     local=self.local_cache)
            got = self.ccache.load(expected=loaded is not None)
            self.cache_status = got.status
            cache = {"compile_cache": got.status, "compile_cache_bytes": got.bytes,
                     "compile_cache_load_s": round(got.seconds, 6), "compile_cache_kernel_files": got.kernel_files}
            if got.reason:
                cache["compile_cache_error"] = got.reason
        if self.notice:
            return None  # the caller exits; nothing new to save
        self.log.emit("resume", lifetime=self.lifetime, from_epoch=self.frac(), restore_s=round(restore_s, 6),
                      checkpoint=ckpt_name, eval_pending=self.eval_pending,
                      skipped=[f"{n}: {why}" for n, why in (loaded.skipped if loaded else [])],
                      cold_start_s=round(time.monotonic() - self.spawn_at, 6), data_s=round(self.data_s, 6),
                      **cache)
        return None

    # -- saving --------------------------------------------------------------------
    def _checkpoint_event(self, kind: str, meta: dict, result, stall_s: float, extra: dict | None = None) -> None:
        fields = dict(kind=kind, ok=isinstance(result, Written), epoch=meta["position"],
                      eval_pending=meta["eval_pending"], stall_s=round(stall_s, 6),
                      async_write=meta["async"], lifetime=self.lifetime, **(extra or {}))
        if isinstance(result, Written):
            fields.update(seconds=round(result.seconds, 6), bytes=result.bytes, path=Path(result.path).name)
            fields.update({k: round(v, 6) for k, v in (("serialise_s", result.serialise_s),
                                                        ("upload_s", result.upload_s)) if v is not None})
            self.log.emit("checkpoint", at=result.done_at, **fields)
            self.mirror.request()
        else:
            fields.update(seconds=None, error=str(result))
            self.log.emit("checkpoint", **fields)

    def _finish_async(self) -> int | None:
        """Join the background write, if any; record it. Returns an exit code on failure."""
        if self.writer is None or self.writer.pending is None:
            return None
        meta, result = self.writer.join()
        self._checkpoint_event("periodic", meta, result, meta["stall_s"])
        if isinstance(result, Written):
            self.durable = meta["pos"]
            return None
        log.error("%s", result)
        return exitcodes.CHECKPOINT_FAILED

    def _save(self, kind: str) -> int | None:
        """Checkpoint now. Returns an exit code if the write failed, else None."""
        t0 = time.perf_counter()
        rc = self._finish_async()
        if rc is not None:
            return rc
        prev = self.notice.phase
        self.notice.phase = "checkpoint"
        pos = self.position
        meta = {"kind": kind, "position": self.frac(pos), "eval_pending": self.eval_pending,
                "pos": pos, "async": bool(self.writer) and kind == "periodic"}
        payload = to_cpu(self._payload())
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        manifest_meta = {k: meta[k] for k in ("kind", "position", "eval_pending")}
        if meta["async"]:
            meta["stall_s"] = time.perf_counter() - t0
            self.writer.submit(payload, manifest_meta)
            self.writer.pending_meta = meta
            self.marker_train_s = self.total_train_s
            # the snapshot is taken: training from here on is "since the checkpoint"; the stall is
            # what an asynchronous save costs the loop, the write time a time-based strategy plans with
            self.state.record_checkpoint(kind, meta["stall_s"])
            self._save_compile_cache()
            self.notice.phase = prev
            return None
        try:
            result = self.store.write(payload, manifest_meta)
        except CheckpointWriteError as exc:
            result = exc
        stall = time.perf_counter() - t0
        self.notice.phase = prev
        extra = {}
        if kind == "emergency" and isinstance(result, Written):
            extra["notice_to_durable_s"] = round(result.done_at - self.notice.received_at, 6)
        self._checkpoint_event(kind, meta, result, stall, extra)
        if not isinstance(result, Written):
            log.error("%s", result)
            return exitcodes.CHECKPOINT_FAILED
        self.durable = pos
        self.marker_train_s = self.total_train_s
        self.state.record_checkpoint(kind, stall)
        self._save_compile_cache()
        return None

    def _save_compile_cache(self) -> None:
        """Beside a checkpoint: the compile artifacts, if torch compiled something new (real/compile_cache.py)."""
        if self.ccache is None:
            return
        prev = self.notice.phase
        self.notice.phase = "checkpoint"
        t0 = time.perf_counter()
        n = self.ccache.save_if_changed()
        if n is not None:
            log.info("compile cache saved: %d bytes in %.3f s", n, time.perf_counter() - t0)
        self.notice.phase = prev

    # -- preemption ---------------------------------------------------------------
    def _preempted(self) -> int:
        n = self.notice
        noticed = time.monotonic()
        uptime = n.received_at - self.spawn_at
        self.state.uptimes_s.append(round(uptime, 6))
        try:
            self._write_uptimes()
        except OSError as exc:
            log.warning("could not record the uptime: %s", exc)
        rc = self._finish_async() if self.writer is not None else None
        dirty = self.position != self.durable
        if not dirty:
            action = "already_durable"
        elif self.cfg.emergency and rc is None:
            action = "emergency_save"
        else:
            action = "exit_without_save"
        has_pos = n.phase_at_receipt not in ("startup", "restore")  # else nothing was trained here
        self.log.emit("preempt_notice", at=n.received_at, lifetime=self.lifetime, direction="received",
                      uptime_s=round(uptime, 6), phase=n.phase_at_receipt, noticed_s=round(noticed - n.received_at, 6),
                      action=action, position=self.frac() if has_pos else None,
                      train_s_since_checkpoint=round(self.total_train_s - self.marker_train_s, 6))
        log.info("SIGTERM received during %s: %s", n.phase_at_receipt, action.replace("_", " "))
        if action == "already_durable":
            self._save_compile_cache()  # e.g. an eval compiled since the last checkpoint
            return exitcodes.PREEMPTED
        if action == "exit_without_save":
            return exitcodes.PREEMPTED_LOST
        return exitcodes.PREEMPTED if self._save("emergency") is None else exitcodes.PREEMPTED_LOST

    def _pause(self) -> int | None:
        """Fault hook `pause_after_steps`: idle until the notice, recording a background
        write that finishes meanwhile (so the log shows it before anyone kills us)."""
        log.info("%s %d steps, waiting for the notice", faults.PAUSED, self.steps_here)
        while not self.notice:
            if self.writer is not None and self.writer.done():
                rc = self._finish_async()
                if rc is not None:
                    return rc
            time.sleep(0.01)
        return None

    # -- training -----------------------------------------------------------------
    def _train_step(self, order) -> tuple[float, float]:
        measure = len(self.step_times) < 2 * WARMUP_STEPS
        c0 = compile_cache.compile_seconds() if measure else None
        g0 = compile_cache.graph_cache_counts() if measure and self.cfg.compile else (0, 0)
        t0 = time.perf_counter()
        if self.cfg.compile and self.cfg.compile_mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # CUDA graphs: the previous step's outputs are done with
        bs = self.cfg.batch_size
        idx = order[self.step * bs:(self.step + 1) * bs].to(self.device)
        x = data.augment(self.train_x[idx], self.cfg.seed, self.epoch, self.step, self.mean, self.std)
        x = x.contiguous(memory_format=self.mem_format)
        y = self.train_y[idx]
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            loss = F.cross_entropy(self.model(x), y)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        lv = float(loss.item())  # also waits for the step to finish on the GPU
        dt = time.perf_counter() - t0
        if measure:
            c1 = compile_cache.compile_seconds()
            if self.cfg.compile and len(self.step_times) < WARMUP_STEPS:
                g1 = compile_cache.graph_cache_counts()
                self.step_graph_cache = [n + b - a for n, a, b in zip(self.step_graph_cache, g0, g1)]
            self.step_times.append(dt)
            self.step_compile_s.append(None if c0 is None or c1 is None else max(0.0, c1 - c0))
            if len(self.step_times) == 2 * WARMUP_STEPS:
                self._emit_warmup()
        return dt, lv

    def _emit_warmup(self) -> None:
        """The lifetime's warm-up, once: its first WARMUP_STEPS steps against the next WARMUP_STEPS."""
        n = WARMUP_STEPS
        first, steady = self.step_times[:n], self.step_times[n:]
        first_s, steady_s = sum(first), statistics.median(steady)
        measured = self.step_compile_s[:n]
        if not self.cfg.compile:
            compile_s, source = 0.0, "eager"
        elif all(c is not None for c in measured):
            compile_s, source = sum(measured), "torch"
        else:  # no compile-time accounting in this torch: the first step's excess over a steady one
            compile_s, source = max(0.0, first[0] - steady_s), "first_step_excess"
        extra = {}
        if self.cfg.compile:  # FX graphs taken from Inductor's cache (restored artifacts) or compiled anew
            extra = {"graph_cache_hits": self.step_graph_cache[0], "graph_cache_misses": self.step_graph_cache[1]}
        self.log.emit("warmup", lifetime=self.lifetime, steps=n, first_s=round(first_s, 6),
                      steady_step_s=round(steady_s, 6), compile_s=round(compile_s, 6),
                      warmup_s=round(max(0.0, first_s - n * steady_s - compile_s), 6), cache=self.cache_status,
                      mode=self.cfg.compile_mode if self.cfg.compile else "eager", compile_measured=source, **extra)

    def _evaluate(self) -> float | None:
        """Validation accuracy, or None if a notice arrived (the eval is abandoned)."""
        self.net.eval()
        correct = 0
        try:
            with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                for i in range(0, len(self.val_x), 500):
                    if self.notice:
                        return None
                    x = data.normalise(self.val_x[i:i + 500], self.mean, self.std)
                    out = self.model(x.contiguous(memory_format=self.mem_format))
                    correct += int((out.argmax(1) == self.val_y[i:i + 500]).sum())
        finally:
            self.net.train()
        return correct / len(self.val_x)

    def _loop(self) -> int:
        cfg, st = self.cfg, self.state
        self.net.train()
        order = None
        while self.epoch < cfg.epochs:
            if not self.eval_pending:
                order = data.epoch_order(len(self.train_x), cfg.seed, self.epoch)
                while self.step < self.spe:
                    dt, lv = self._train_step(order)
                    self.step += 1
                    self.total_train_s += dt
                    self.ep_train_s += dt
                    self.loss_sum += lv
                    self.loss_n += 1
                    st.train_s_since_checkpoint = self.total_train_s - self.marker_train_s
                    if self.writer is not None and self.writer.done():
                        rc = self._finish_async()
                        if rc is not None:
                            return rc
                    if self.log_steps:
                        log.info("step %d.%d done", self.epoch, self.step)
                    if self.step == self.spe:
                        self.eval_pending = True  # trained; the emergency save says "eval pending"
                    self.steps_here += 1
                    if self.steps_here == self.pause_after_steps:
                        rc = self._pause()
                        if rc is not None:
                            return rc
                    if self.notice:
                        return self._preempted()
                    if self.strategy.due(st):
                        rc = self._save("periodic")
                        if rc is not None:
                            return rc
                        if self.notice:
                            return self._preempted()
                self.eval_pending = True
            self.notice.phase = "eval"
            c0 = compile_cache.compile_seconds() if cfg.compile else None
            t0 = time.perf_counter()
            acc = self._evaluate()
            eval_s = time.perf_counter() - t0
            c1 = compile_cache.compile_seconds() if cfg.compile else None
            eval_compile = {}
            if c0 is not None and c1 is not None and c1 > c0:
                eval_compile["compile_s"] = round(c1 - c0, 6)  # this eval compiled the eval graph
            self.notice.phase = "train"
            if acc is None:
                return self._preempted()
            self.epoch += 1
            self.step = 0
            self.eval_pending = False
            st.epoch = self.epoch
            if st.last_val_acc is not None:
                st.best_val_acc = st.last_val_acc if st.best_val_acc is None else max(st.best_val_acc, st.last_val_acc)
            st.last_val_acc = acc
            self.sched.step()
            self.log.emit("epoch_end", epoch=self.epoch, train_s=round(self.ep_train_s, 6), eval_s=round(eval_s, 6),
                          val_acc=acc, loss=self.loss_sum / max(1, self.loss_n), split=self.ep_split,
                          lifetime=self.lifetime, steps=self.spe, **eval_compile)
            log.info("epoch %d: loss %.4f, val acc %.4f, %.2f s train, %.2f s eval", self.epoch,
                     self.loss_sum / max(1, self.loss_n), acc, self.ep_train_s, eval_s)
            self.ep_train_s = self.loss_sum = 0.0
            self.loss_n = 0
            self.ep_split = False
            if self.strategy.save_after_epoch(st):
                rc = self._save("periodic")
                if rc is not None:
                    return rc
            if self.notice:
                return self._preempted()
        rc = self._finish_async()
        if rc is not None:
            return rc
        self._write_final()
        return exitcodes.DONE

    def _write_final(self) -> None:
        final = Path(self.cfg.out) / "final.pt"
        tmp = final.with_name(".final.pt.tmp")
        with open(tmp, "wb") as fh:
            torch.save(to_cpu(self.net.state_dict()), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
