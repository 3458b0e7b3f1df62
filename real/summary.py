"""Measured figures of one real run, computed from its events.jsonl."""
from __future__ import annotations

import statistics
from pathlib import Path

from calibrate.lost_work import lost_epochs_by_lifetime
from spotsim.events import read_events


def _stats(values) -> dict | None:
    v = [float(x) for x in values if x is not None]
    if not v:
        return None
    return {"n": len(v), "mean": statistics.fmean(v), "median": statistics.median(v), "min": min(v), "max": max(v)}


def summarize(run_dir: str | Path) -> dict:
    """The figures `real summary` prints: a dict of plain numbers (None where not measured).

    - epoch_train_s: training seconds of epochs trained in one piece (no restart inside);
    - checkpoint_{write,stall}_s, checkpoint_mb: periodic and emergency saves that succeeded;
    - restore_s: resumes that loaded a checkpoint; cold_start_s: trainer spawn to first step;
    - notice_to_durable_s: per preemption, from the notice to the state being durable (an
      emergency save, or a periodic save in progress, finishing; 0 if nothing was new);
      the notice is the supervisor's SIGTERM, or with a cloud source the cloud's notice
      (the SIGTERM's `t` minus its `notice_lag_s`); preemptions whose work was lost are left out;
    - notice_source: where the run's notices came from (`signal`: the supervisor, or `gcp`,
      `aws`, `azure`); notices_by_source counts the notices relayed by source (`shutdown`: a
      SIGTERM to the supervisor on a cloud VM); notice_lag_s: per cloud notice, from the
      cloud's notice (AWS: its `time` minus 2 min; Azure: NotBefore minus 30 s; GCP says no
      time: when the poll saw it) to the trainer's SIGTERM;
    - lost_epochs / lost_s per preemption that interrupted training: position at the notice
      minus where the next trainer that got going resumed, in epochs and in seconds of
      training (x the median epoch time);
    - preemptions count the supervisor's notices; preemptions_without_notice the trainers
      killed from outside (logged as `kill` with `notice: false`); kills the trainers
      SIGKILLed at the end of their grace window;
    - capacity_wait_s: time capacity stayed away (patterns that model it); restart_delay_s:
      the supervisor's --restart-delay between lifetimes, which is not a capacity wait;
    - compile / compile_mode: whether the run used torch.compile; from the lifetimes' warmup
      events: compile_cold_s and compile_restored_s (training graph, per lifetime, without and
      with the compile cache restored), eval_compile_s (the eval graph, epoch_end compile_s),
      warmup_s (first steps' excess beyond steady speed and compilation), and compile_total_s /
      warmup_total_s over all lifetimes.
    """
    path = Path(run_dir)
    events = read_events(path / "events.jsonl" if path.is_dir() else path)
    by = lambda name: [e for e in events if e["event"] == name]
    start = next(iter(by("run_start")), {})
    end = next(reversed(by("run_end")), None)  # a resumed run logs one per session; the last is the run's
    epochs = by("epoch_end")
    whole = [e["train_s"] for e in epochs if not e.get("split")]
    ckpts = [e for e in by("checkpoint") if e["ok"]]
    resumes = by("resume")
    received = by("preempt_notice")
    sent = [e for e in received if e["direction"] == "sent"]
    received = [e for e in received if e["direction"] == "received"]
    emergency = {e.get("lifetime"): e for e in ckpts if e["kind"] == "emergency"}
    warmups = by("warmup")
    eval_compiles = [e["compile_s"] for e in epochs if e.get("compile_s")]

    epoch_med = statistics.median(whole) if whole else None
    latency, lost_epochs = [], []
    resume_by_lifetime = {e["lifetime"]: e for e in resumes}
    lost_at = lost_epochs_by_lifetime({r["lifetime"]: r for r in received}, resume_by_lifetime)
    sent_by_lifetime = {e["lifetime"]: e for e in sent}
    for r in received:
        lt = r["lifetime"]
        s = sent_by_lifetime.get(lt, r)  # measured from the supervisor's SIGTERM where there was one
        t0 = s["t"] - (s.get("notice_lag_s") or 0.0)  # ... or from the cloud's notice before it
        if r.get("action") == "already_durable":
            # durable when the signal came, or once the periodic save in progress finished
            done = [e["t"] for e in ckpts if e.get("lifetime") == lt and e["t"] >= s["t"]]
            latency.append(max(done) - t0 if done else s["t"] - t0)
        elif lt in emergency:
            latency.append(emergency[lt]["t"] - t0)
        lost = lost_at.get(lt)  # counted by calibrate.lost_work, as calibration counts it
        if lost is not None:
            lost_epochs.append(lost)
    return {
        "run": str(run_dir),
        "strategy": start.get("strategy"), "pattern": start.get("pattern"), "rate_per_h": start.get("rate_per_h"),
        "notice_source": start.get("notice") or "signal",
        "notices_by_source": {k: sum(1 for e in sent if e.get("notice_source", "signal") == k)
                              for k in sorted({e.get("notice_source", "signal") for e in sent})},
        "model": start.get("model"), "dataset": start.get("dataset"), "async_checkpoint": start.get("async_checkpoint"),
        "epochs_requested": start.get("epochs"),
        "epochs_done": max((e["epoch"] for e in epochs), default=0),
        "completed": end.get("completed") if end else None,
        "wall_s": end.get("makespan_s") if end else (events[-1]["t"] if events else None),
        "lifetimes": len(by("vm_start")),
        "preemptions": len(sent),
        "preemptions_without_notice": sum(1 for e in by("kill") if e.get("notice") is False),
        "kills": sum(1 for e in by("kill") if e.get("notice") is not False),
        "final_val_acc": epochs[-1]["val_acc"] if epochs else None,
        "epoch_train_s": _stats(whole),
        "epoch_eval_s": _stats(e["eval_s"] for e in epochs),
        "checkpoints_periodic": sum(1 for e in ckpts if e["kind"] == "periodic"),
        "checkpoints_emergency": sum(1 for e in ckpts if e["kind"] == "emergency"),
        "checkpoints_failed": sum(1 for e in by("checkpoint") if not e["ok"]),
        "checkpoint_write_s": _stats(e["seconds"] for e in ckpts),
        "checkpoint_stall_s": _stats(e.get("stall_s") for e in ckpts),
        "checkpoint_mb": _stats(e["bytes"] / 1e6 for e in ckpts if e.get("bytes") is not None),
        "restore_s": _stats(e["restore_s"] for e in resumes if e.get("checkpoint")),
        "cold_start_s": _stats(e.get("cold_start_s") for e in resumes),
        "notice_to_durable_s": _stats(latency),
        "notice_lag_s": _stats(e.get("notice_lag_s") for e in sent),
        "lost_epochs_per_preemption": _stats(lost_epochs),
        "lost_s_per_preemption": _stats(x * epoch_med for x in lost_epochs) if epoch_med else None,
        "capacity_wait_s": sum(e["wait_s"] for e in by("capacity_back") if not _restart_delay(e)),
        "restart_delay_s": (sum(e.get("restart_delay_s") or 0.0 for e in by("vm_start"))
                            + sum(e["wait_s"] for e in by("capacity_back") if _restart_delay(e))),
        "compile": bool(start.get("compile")), "compile_mode": start.get("compile_mode"),
        "compile_cold_s": _stats(e["compile_s"] for e in warmups if e.get("cache") == "cold"),
        "compile_restored_s": _stats(e["compile_s"] for e in warmups if e.get("cache") == "restored"),
        "eval_compile_s": _stats(eval_compiles),
        "warmup_s": _stats(e["warmup_s"] for e in warmups),
        "compile_total_s": sum(e["compile_s"] for e in warmups) + sum(eval_compiles),
        "warmup_total_s": sum(e["warmup_s"] for e in warmups),
    }


def _restart_delay(capacity_back: dict) -> bool:
    """Supervisors before the `reason` field logged their restart delay as a capacity_back."""
    return capacity_back.get("source") == "real" and "reason" not in capacity_back


def format_summary(s: dict) -> str:
    """Lines of `name: value` for people; statistics as mean (median, min-max, n)."""
    lines = []
    for k, v in s.items():
        if isinstance(v, dict) and "mean" in v:
            v = (f"{v['mean']:.4g} (median {v['median']:.4g}, {v['min']:.4g}-{v['max']:.4g}, n={v['n']})")
        elif isinstance(v, dict):
            v = ", ".join(f"{name} {n}" for name, n in v.items()) or "-"
        elif isinstance(v, float):
            v = f"{v:.4g}"
        elif v is None:
            v = "-"
        lines.append(f"{k}: {v}")
    return "\n".join(lines)
