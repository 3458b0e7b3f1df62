"""Console progress of a real run: one line per thing a user waits for.

`Progress.line` turns an event record into a sentence (or None for events not
worth a line); `Follower` reads what the run's processes appended since it last
looked: new event records, and WARNING/ERROR lines of trainer logs (a skipped
corrupt checkpoint, a removed half-written file). The supervisor feeds both to
the sink the CLI gives it; library code prints nothing.
"""
from __future__ import annotations

import json
from pathlib import Path


class Progress:
    def __init__(self, epochs: int):
        self.epochs = epochs

    def line(self, e: dict) -> str | None:
        name, lt = e["event"], e.get("lifetime")
        if name == "run_start":
            if e.get("pattern") == "none" or not (e.get("rate_per_h") or e.get("pattern") == "trace"):
                how = "no preemptions will be injected (--interrupts none)"
            else:
                how = f"preemptions: {e.get('pattern')}" + (f" at {e['rate_per_h']:g}/h" if e.get("rate_per_h") else "")
            return f"run started: {e['epochs']} epochs, strategy {e.get('strategy')}; {how}"
        if name == "vm_start":
            up = e.get("planned_uptime_s")
            plan = (f"notice planned after {up:.1f} s of uptime" if up is not None
                    else f"notice {e['notice']}" if e.get("notice") else "no notice planned")
            return f"lifetime {lt} started ({plan})"
        if name == "resume":
            where = (f"resumed from {e['checkpoint']} at epoch {e['from_epoch']:.3f}" if e.get("checkpoint")
                     else "started from scratch")
            return f"lifetime {lt}: {where} ({e.get('cold_start_s', 0):.1f} s after spawn)"
        if name == "epoch_end":
            return (f"lifetime {lt}: epoch {e['epoch']}/{self.epochs} done: val acc {e['val_acc']:.4f}, "
                    f"{e['train_s']:.1f} s training" + (f", loss {e['loss']:.4g}" if e.get("loss") is not None else ""))
        if name == "checkpoint":
            what = f"lifetime {lt}: {e['kind']} checkpoint at epoch {e['epoch']:.3f}"
            if not e["ok"]:
                return f"{what} FAILED: {e.get('error')}"
            size = f"{e['bytes'] / 1e6:.1f} MB in " if e.get("bytes") is not None else ""
            return f"{what} durable ({size}{e['seconds']:.2f} s)"
        if name == "preempt_notice":
            if e["direction"] == "sent":
                return f"lifetime {lt}: preemption notice (SIGTERM) after {e.get('uptime_s', 0):.1f} s of uptime"
            return f"lifetime {lt}: notice heard during {e.get('phase')}: {str(e.get('action')).replace('_', ' ')}"
        if name == "kill":
            if e.get("notice") is False:
                return (f"lifetime {lt}: killed without notice ({e.get('signal')}) after {e.get('uptime_s', 0):.1f} s: "
                        f"a preemption without notice; the next lifetime resumes from the newest durable checkpoint")
            return f"lifetime {lt}: still running {e.get('after_s', 0):g} s after the notice: SIGKILL"
        if name == "process_exit":
            return f"lifetime {lt}: trainer exited ({e.get('reason', e['code'])})"
        if name == "capacity_back":
            return f"capacity back after {e['wait_s']:.1f} s"
        if name == "run_end":
            if e.get("completed"):
                return (f"run complete: {e['epochs_done']} epochs in {e.get('lifetimes')} lifetimes, "
                        f"{e.get('preemptions', 0)} preemptions, {e.get('makespan_s', 0):.1f} s")
            why = e.get("error") or ("stopped by a signal to the supervisor; `real run --resume` continues it"
                                     if e.get("interrupted") else "stopped")
            return f"run stopped at epoch {e['epochs_done']}: {why}"
        return None


class Follower:
    """Reads files other processes append to, from where it last stopped, whole lines only."""

    def __init__(self):
        self._offsets: dict[Path, int] = {}

    def new_lines(self, path: Path, start_at_end: bool = False) -> list[str]:
        path = Path(path)
        if path not in self._offsets:
            self._offsets[path] = path.stat().st_size if start_at_end and path.exists() else 0
        try:
            with open(path, "rb") as fh:
                fh.seek(self._offsets[path])
                chunk = fh.read()
        except OSError:
            return []
        whole = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits for the next look
        self._offsets[path] += len(whole)
        return whole.decode("utf-8", "replace").splitlines()

    def events(self, path: Path, start_at_end: bool = False) -> list[dict]:
        out = []
        for line in self.new_lines(path, start_at_end):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def warnings(self, path: Path) -> list[str]:
        """WARNING and ERROR messages among a trainer log's new lines."""
        out = []
        for line in self.new_lines(path):
            for level in (" WARNING ", " ERROR "):
                if level in line:
                    out.append(f"{level.strip().lower()}: {line.split(level, 1)[1]}")
        return out
