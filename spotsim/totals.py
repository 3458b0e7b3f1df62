"""The running totals of one simulated run: seconds by category and counts.

The time categories partition the makespan: first start-up + work + later
start-ups + restores + compilation + warm-up + aborted validation + checkpoint
writes (the time they block training) + idle notice time + capacity waits = makespan (a property test holds the simulator to it).
With zones, transfers of the checkpoint between regions are one more category
(part of what restarts cost), and the zone ledger (zones/ledger.py) keeps the
dollars: each zone's prices and the egress.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Totals:
    makespan_s: float = 0.0
    finished: bool = False
    billed_s: float = 0.0
    """Billed seconds on both markets: spot_billed_s + ondemand_billed_s."""
    spot_billed_s: float = 0.0
    ondemand_billed_s: float = 0.0
    work_s: float = 0.0
    """Training and validation performed, lost work included."""
    first_startup_s: float = 0.0
    """The first lifetime's start-up (on-demand pays it too)."""
    startup_s: float = 0.0
    """Start-ups of the later lifetimes (a restart overhead)."""
    restore_s: float = 0.0
    compile_s: float = 0.0
    """torch.compile in every lifetime (less where the compile cache was restored)."""
    warmup_s: float = 0.0
    """The first steps' extra time in every lifetime (job.warmup_s)."""
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
    switches: int = 0
    """Lifetimes on another market than the lifetime before (Spot to on-demand or back)."""
    lost_s: list[float] = field(default_factory=list)
    """Work lost at each preemption (progress since the last durable checkpoint)."""
    transfer_s: float = 0.0
    """Moving the checkpoint to another region after a start-up (zones)."""
    zones: object = None
    """The zone ledger of a run with zones (zones/ledger.ZoneLedger), else None."""

    def bill(self, seconds: float, spot: bool) -> None:
        """Add one lifetime's billed seconds to its market."""
        self.billed_s += seconds
        if spot:
            self.spot_billed_s += seconds
        else:
            self.ondemand_billed_s += seconds

    def cost_usd(self, prices) -> float:
        """What the billed seconds cost at `prices` (config.Prices); with zones, at each zone's prices,
        egress included (the ledger's)."""
        if self.zones is not None:
            return self.zones.cost_usd()
        return (self.spot_billed_s * prices.spot_per_h + self.ondemand_billed_s * prices.ondemand_per_h) / 3600.0

    @property
    def restart_s(self) -> float:
        """What restarts cost: later start-ups, restores, validation redone and moving the checkpoint."""
        return self.startup_s + self.restore_s + self.aborted_eval_s + self.transfer_s
