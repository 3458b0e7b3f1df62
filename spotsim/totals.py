"""The running totals of one simulated run: seconds by category and counts.

The time categories partition the makespan: first start-up + work + later
start-ups + restores + aborted validation + checkpoint writes + idle notice
time + capacity waits = makespan (a property test holds the simulator to it).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Totals:
    makespan_s: float = 0.0
    finished: bool = False
    billed_s: float = 0.0
    work_s: float = 0.0
    """Training and validation performed, lost work included."""
    first_startup_s: float = 0.0
    """The first lifetime's start-up (on-demand pays it too)."""
    startup_s: float = 0.0
    """Start-ups of the later lifetimes (a restart overhead)."""
    restore_s: float = 0.0
    aborted_eval_s: float = 0.0
    """Validation cut short by a notice: redone after the resume."""
    checkpoint_s: float = 0.0
    notice_idle_s: float = 0.0
    """Notice-window time after the job stopped: the VM is off (or idles) until the window ends."""
    wait_s: float = 0.0
    """Capacity away: before a grant, or after a kill (not billed)."""
    checkpoints: int = 0
    checkpoints_failed: int = 0
    emergency_ok: int = 0
    emergency_failed: int = 0
    preemptions: int = 0
    lifetimes: int = 0
    lost_s: list[float] = field(default_factory=list)
    """Work lost at each preemption (progress since the last durable checkpoint)."""

    @property
    def restart_s(self) -> float:
        """What restarts cost: later start-ups, restores and validation redone."""
        return self.startup_s + self.restore_s + self.aborted_eval_s
