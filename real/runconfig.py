"""What a trainer needs to know about its run: written by the supervisor as
DIR/run.json, read by every trainer process it spawns."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from spotsim.config import Checkpoint
from spotsim.strategies import CheckpointStrategy, build_strategy

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
"""torch.compile's modes `real run --compile-mode` offers."""


@dataclass
class RunConfig:
    out: str
    epochs: int
    model: str = "resnet50"
    dataset: str = "synthetic"
    data_root: str = "data"
    max_samples: int | None = None
    device: str = "auto"
    batch_size: int = 128
    lr: float | None = None
    """Peak learning rate; default 0.1 x batch_size / 128."""
    seed: int = 0
    threads: int | None = None
    """CPU threads for torch (None: torch's default)."""
    deterministic: bool = False
    checkpoint: dict = field(default_factory=dict)
    """Fields of spotsim.config.Checkpoint: strategy, every_epochs, every_s, emergency, ..."""
    keep: int = 3
    async_checkpoint: bool = False
    rate_per_h: float = 0.0
    run_start_wall: float = 0.0
    """Unix time of the run's start (logged; durations never use it)."""
    clock_origin: float = 0.0
    """The `time.monotonic()` reading at which run time (events' `t`) would be 0; a
    `--resume` moves it so that `t` goes on from where the stopped run left off."""
    options: dict = field(default_factory=dict)
    """The `real run` options the run was started with, so `--resume` continues it as it was."""
    ckpt_dir: str | None = None
    """`--ckpt-dir`: a directory or an object-store URL (real/storage.py); None: OUT/checkpoints."""
    compile: bool = False
    """`--compile`: the model runs under torch.compile; its artifacts travel with the checkpoints
    (real/compile_cache.py)."""
    compile_mode: str = "default"
    """torch.compile's mode: default, reduce-overhead or max-autotune."""

    @property
    def emergency(self) -> bool:
        return bool(self.checkpoint.get("emergency", True))

    def strategy(self) -> CheckpointStrategy:
        return build_strategy(Checkpoint(**self.checkpoint), self.rate_per_h)

    @property
    def events_path(self) -> Path:
        return Path(self.out) / "events.jsonl"

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.out) / "checkpoints"

    @property
    def checkpoint_location(self) -> str:
        """Where checkpoints go: `ckpt_dir`, else the run's own checkpoints/ directory."""
        return self.ckpt_dir or str(self.checkpoint_dir)

    def save(self, path: str | Path | None = None) -> Path:
        p = Path(path or Path(self.out) / "run.json")
        p.write_text(json.dumps(dataclasses.asdict(self), indent=1))
        return p

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        return cls(**json.loads(Path(path).read_text()))
