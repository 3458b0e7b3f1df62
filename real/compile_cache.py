"""torch.compile's caches for a run that moves between machines: the compile artifacts travel
with the checkpoints, and each trainer compiles in a fresh local cache.

What travels is torch's "Mega-Cache": `torch.compiler.save_cache_artifacts()` gives the
AOTAutograd and Inductor FX-graph cache entries (and, on a GPU, the Triton kernels bundled
into them) of everything compiled in this process as one portable byte string, and
`torch.compiler.load_cache_artifacts(bytes)` puts them into a new process's caches before it
compiles. It is used instead of copying Inductor's cache directory because it is one object,
so the store's atomic write (rename, or a single upload) keeps it whole; it is small (0.8 MB
for tinycnn, 2.4 MB for ResNet-18; the directory holds every built kernel besides); it names
no paths of the machine that made it; and torch keys each entry by its own version, the graph
and the device, so a stale entry misses instead of being used. What it does not carry:
Dynamo's tracing, which every process redoes, and, on a CPU, the C++ kernels, which each new
process builds with the compiler again, so on a CPU it saves little (measured in README
"Compiled training").

The artifacts are saved beside the checkpoints (`CACHE_NAME`, a header line with their
sha256, size, torch version and compile mode, then the bytes), after a checkpoint, and only
when torch compiled something since the last save and the bytes differ from those in the
store. A missing, corrupt or foreign file is a warning, never an error: the trainer compiles
cold. `fresh_local_cache` points Inductor and Triton at an empty per-lifetime directory, so a
lifetime on the same machine is no warmer than one on a new Spot VM, whose /tmp is empty:
only the restored artifacts make it warm.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import storage

log = logging.getLogger("real.compile_cache")

CACHE_NAME = "compile-cache.bin"
"""The artifacts' file, in the checkpoint location (a directory or an object-store folder)."""
MAGIC = b"spotsim-compile-cache 1\n"
LOCAL_DIR = ".compile-tmp"
"""Per-lifetime local caches live in OUT/.compile-tmp/lifetime-NNN (removed at the trainer's exit)."""
_ENV = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")


def fresh_local_cache(out: str | os.PathLike, lifetime: int) -> Path:
    """Make an empty cache directory for this lifetime and point Inductor and Triton at it (the
    environment, read by torch when it compiles and inherited by its compile workers). Leftovers of
    earlier lifetimes (a SIGKILLed trainer cannot clean up) are removed: one trainer runs per run
    directory at a time (the supervisor's lock)."""
    root = Path(out) / LOCAL_DIR
    if root.is_dir():
        for old in root.iterdir():
            shutil.rmtree(old, ignore_errors=True)
    here = root / f"lifetime-{lifetime:03d}"
    (here / "triton").mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(here)
    os.environ["TRITON_CACHE_DIR"] = str(here / "triton")
    return here


def remove_local_cache(path: Path | None) -> None:
    """Stop torch's compile workers (they hold the directory) and remove it."""
    if path is None:
        return
    try:
        from torch._inductor.async_compile import shutdown_compile_workers

        shutdown_compile_workers()
    except Exception:  # no such API in this torch, or nothing started
        pass
    shutil.rmtree(path, ignore_errors=True)
    try:
        path.parent.rmdir()  # OUT/.compile-tmp, once empty
    except OSError:
        pass


def compile_seconds() -> float | None:
    """Seconds this process has spent in torch.compile so far (Dynamo's own accounting of whole
    frame and backward compiles, Inductor and the C++/Triton builds they wait for included), or
    None where this torch has no such accounting."""
    try:
        from torch._dynamo.utils import calculate_time_spent

        return float(calculate_time_spent()["total_wall_time"])
    except Exception:
        return None


def graph_cache_counts() -> tuple[int, int]:
    """(hits, misses) of Inductor's FX-graph cache in this process so far."""
    try:
        from torch._dynamo.utils import counters

        c = counters["inductor"]
        return int(c["fxgraph_cache_hit"]), int(c["fxgraph_cache_miss"])
    except Exception:
        return 0, 0


@dataclass(frozen=True)
class Loaded:
    status: str
    """"restored" (artifacts loaded) or "cold" (none, or unusable: see `reason`)."""
    bytes: int = 0
    seconds: float = 0.0
    reason: str | None = None
    """Why a file that was there was not used (logged as a warning)."""


def pack(data: bytes, mode: str) -> bytes:
    """The file's bytes: MAGIC, a JSON header line, the artifacts."""
    import torch

    header = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "torch": torch.__version__,
              "mode": mode}
    return MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + data


def unpack(blob: bytes) -> tuple[dict, bytes]:
    """(header, artifacts) of a file written by `pack`; ValueError saying what is wrong."""
    if not blob.startswith(MAGIC):
        raise ValueError("not a compile-cache file (bad magic)")
    line, sep, data = blob[len(MAGIC):].partition(b"\n")
    if not sep:
        raise ValueError("truncated header")
    try:
        header = json.loads(line)
        size, digest = int(header["bytes"]), str(header["sha256"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("unreadable header") from None
    if len(data) != size:
        raise ValueError(f"truncated: {len(data)} bytes, the header says {size}")
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError("checksum mismatch")
    return header, data


class CompileCache:
    """The compile artifacts of one run at its checkpoint location."""

    def __init__(self, location: str, mode: str):
        self.location, self.mode = location, mode
        self.loc = storage.Location(location)
        self.stored_sha: str | None = None
        """sha256 of the artifacts in the store as this process last read or wrote them."""
        self._compile_mark: float | None = None
        """compile_seconds() when the store was last brought up to date."""

    def load(self, expected: bool) -> Loaded:
        """Load the stored artifacts into torch's caches; call before the first compiled call.
        `expected`: a checkpoint was restored, so a missing file is worth a warning."""
        import torch

        t0 = time.perf_counter()
        try:
            blob = self.loc.read(CACHE_NAME)
        except Exception as exc:  # an unreachable store must not stop the resume
            return self._cold(f"cannot read {self.loc.url(CACHE_NAME)}: {storage.one_line(exc)}", t0)
        if blob is None:
            if expected:
                return self._cold(f"no {CACHE_NAME} beside the checkpoint", t0)
            return Loaded("cold", seconds=time.perf_counter() - t0)
        try:
            header, data = unpack(blob)
        except ValueError as exc:
            return self._cold(f"{CACHE_NAME} is unusable: {exc}", t0)
        if header.get("torch") != torch.__version__:
            return self._cold(f"{CACHE_NAME} was made by torch {header.get('torch')}, this is torch "
                              f"{torch.__version__}", t0)
        try:
            info = torch.compiler.load_cache_artifacts(data)
        except Exception as exc:
            return self._cold(f"torch could not load {CACHE_NAME}: {storage.one_line(exc)}", t0)
        if info is None:
            return self._cold(f"torch found no artifacts in {CACHE_NAME}", t0)
        self.stored_sha = header["sha256"]
        return Loaded("restored", bytes=len(data), seconds=time.perf_counter() - t0)

    def _cold(self, reason: str, t0: float) -> Loaded:
        log.warning("compile cache: %s; compiling cold", reason)
        return Loaded("cold", seconds=time.perf_counter() - t0, reason=reason)

    def save_if_changed(self) -> int | None:
        """Write the artifacts of this process to the store if torch compiled since the last look
        and they differ from what the store holds. Returns the bytes written, or None. A failure is
        a warning: the checkpoints, which a resume needs, are already durable."""
        import torch

        mark = compile_seconds()
        if mark is not None and mark == self._compile_mark:
            return None  # nothing compiled since the store was brought up to date
        try:
            got = torch.compiler.save_cache_artifacts()
        except Exception as exc:
            log.warning("compile cache: torch could not serialise its artifacts: %s", storage.one_line(exc))
            return None
        if got is None:
            return None  # nothing compiled yet
        data = got[0]
        sha = hashlib.sha256(data).hexdigest()
        if sha == self.stored_sha:
            self._compile_mark = mark
            return None
        try:
            self.loc.write(CACHE_NAME, pack(data, self.mode))
        except Exception as exc:
            log.warning("compile cache: could not write %s: %s", self.loc.url(CACHE_NAME), storage.one_line(exc))
            return None
        self.stored_sha, self._compile_mark = sha, mark
        return len(data)
