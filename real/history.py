"""What an earlier, stopped `real run` left in its event log: where `--resume` goes on from."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spotsim.events import read_events


@dataclass(frozen=True)
class History:
    lifetimes: int
    """Trainer lifetimes started so far (the next one is lifetimes + 1)."""
    preemptions: int
    kills: int
    """Trainers SIGKILLed at the end of their grace window."""
    unnoticed: int
    """Trainers killed without notice (from outside the supervisor)."""
    last_t: float
    """Run time of the last record: a resumed run's clock goes on from here."""
    epochs_done: int
    completed: bool
    """The last run_end says every epoch is done."""


def read_history(events_path: str | Path) -> History:
    """The totals of a run's log so far (raises spotsim EventLogError on a bad log)."""
    events = read_events(events_path)
    ends = [e for e in events if e["event"] == "run_end"]
    return History(
        lifetimes=max((int(e["lifetime"]) for e in events if e["event"] == "vm_start"), default=0),
        preemptions=sum(1 for e in events if e["event"] == "preempt_notice" and e["direction"] == "sent"),
        kills=sum(1 for e in events if e["event"] == "kill" and e.get("notice", True)),
        unnoticed=sum(1 for e in events if e["event"] == "kill" and e.get("notice") is False),
        last_t=max(float(e["t"]) for e in events),
        epochs_done=max((int(e["epoch"]) for e in events if e["event"] == "epoch_end"), default=0),
        completed=bool(ends and ends[-1].get("completed")),
    )
