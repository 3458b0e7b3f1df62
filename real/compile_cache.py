"""torch.compile's caches for a run that moves between machines: the compile artifacts and the
built kernels travel with the checkpoints, and each trainer compiles in a fresh local cache.

Two things travel, in one file. First torch's "Mega-Cache": `torch.compiler.save_cache_artifacts()`
gives the AOTAutograd and Inductor FX-graph cache entries (and, on a GPU, the Triton kernels
bundled into them) of everything compiled in this process as one portable byte string, and
`torch.compiler.load_cache_artifacts(bytes)` puts them into a new process's caches before it
compiles; it names no paths of the machine that made it, and torch keys each entry by its own
version, the graph and the device, so a stale entry misses instead of being used. It does not
carry the kernels those graphs call: on a CPU, the C++ sources Inductor generates and the shared
libraries g++ builds from them, which a new process would build again (most of a cold compile).
So, second, a tar of the build products in the lifetime's local Inductor cache directory: its
two-letter folders (generated .cpp/.py sources and the built .so, named by the hash of source
and compiler command, so an entry made by another compiler or for another CPU is a different
name, never a wrong hit) and `triton/` (Triton's compiled GPU kernels). Left out: `fxgraph/`
and `aotautograd/` (in the Mega-Cache), lock files and folders, temporaries, the `.load_ok`
markers of the CPU vector-ISA probes (whether a probe library loads is this machine's question)
and any file over MAX_FILE_BYTES. Members are sorted and their metadata fixed, so the same
kernels give the same bytes. Extracted into the fresh directory before anything compiles, an
existing .so is loaded instead of rebuilt. Measured on a CPU (README "Compiled training"): the
file is 1.04 MB for tinycnn (0.77 MB Mega-Cache, 0.27 MB gzipped kernels) and 3.33 MB for
ResNet-18 (2.39 + 0.94 MB); training and eval compile of a fresh process fall from 13.8-15.4 s
cold to 1.6-2.1 s restored for tinycnn and from 50-56 s to 2.9-5.7 s for ResNet-18, where the
Mega-Cache alone gave 10.6-13.0 s and 36 s. One file rather than a copy of the directory: the
store's atomic write (rename, or a single upload) keeps it whole.

The file (`CACHE_NAME`) is a header line with each part's sha256 and size, the torch version and
compile mode, then the two parts. It is written beside the checkpoints after a checkpoint, only
when torch compiled something since the last save and the bytes differ from those in the store.
A missing, corrupt or foreign file (another torch, an unsafe archive member) is a warning, never
an error: the trainer compiles cold. `fresh_local_cache` points Inductor and Triton at an empty
per-lifetime directory, so a lifetime on the same machine is no warmer than one on a new Spot VM,
whose /tmp is empty: only the restored file makes it warm.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import stat
import tarfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import storage

log = logging.getLogger("real.compile_cache")

CACHE_NAME = "compile-cache.bin"
"""The artifacts' file, in the checkpoint location (a directory or an object-store folder)."""
MAGIC = b"spotsim-compile-cache 2\n"
LOCAL_DIR = ".compile-tmp"
"""Per-lifetime local caches live in OUT/.compile-tmp/lifetime-NNN (removed at the trainer's exit)."""
_ENV = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
MAX_FILE_BYTES = 64 << 20
"""Larger files in the local cache (e.g. a precompiled header) are not carried: rebuilt if needed."""
_SKIP_TOP = frozenset({"fxgraph", "aotautograd", "locks"})
"""Top-level folders of the local cache not archived: the first two travel in the Mega-Cache."""
_SKIP_SUFFIX = (".lock", ".tmp", ".load_ok")


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
    """Bytes of Mega-Cache artifacts and kernel archive together."""
    seconds: float = 0.0
    reason: str | None = None
    """Why a file that was there was not used (logged as a warning)."""
    kernel_files: int = 0
    """Built kernels and their sources extracted into the local cache."""


def archive_kernels(local: str | os.PathLike) -> bytes:
    """The build products of a local Inductor/Triton cache directory as a gzipped tar (b"" when
    there are none): members in sorted order with fixed metadata, so the same files give the same
    bytes. See the module docstring for what is left out."""
    root = Path(local)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_TOP]
        for name in filenames:
            path = Path(dirpath) / name
            if name.endswith(_SKIP_SUFFIX) or name.startswith("tmp"):
                continue
            try:
                st = path.lstat()
            except OSError:  # removed meanwhile
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                continue
            files.append(((rel_dir / name).as_posix(), path, st.st_mode))
    if not files:
        return b""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path, mode in sorted(files):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), 0o755 if mode & 0o111 else 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def _members(archive: bytes) -> list[tuple[str, bytes, int]]:
    """(relative path, bytes, mode) of every member of an archive by `archive_kernels`;
    ValueError for anything that is not a plain file at a safe relative path."""
    out = []
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive)), mode="r:") as tar:
            for m in tar:
                p = PurePosixPath(m.name)
                if p.is_absolute() or ".." in p.parts or not p.parts or "\\" in m.name:
                    raise ValueError(f"unsafe path {m.name!r} in the kernel archive")
                if not m.isfile():
                    raise ValueError(f"{m.name!r} in the kernel archive is not a plain file")
                f = tar.extractfile(m)
                out.append((p.as_posix(), f.read() if f else b"", 0o755 if m.mode & 0o111 else 0o644))
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise ValueError(f"unreadable kernel archive: {storage.one_line(exc)}") from None
    return out


def extract_kernels(archive: bytes, local: str | os.PathLike) -> int:
    """Write the members of `archive` under `local` (all are checked before any is written: no
    absolute paths, no `..`, plain files only); existing files are kept. Returns the files written.
    ValueError if the archive is unusable."""
    if not archive:
        return 0
    members = _members(archive)
    root = Path(local)
    n = 0
    for rel, data, mode in members:
        path = root / rel
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        n += 1
    return n


def pack(data: bytes, mode: str, kernels: bytes = b"") -> bytes:
    """The file's bytes: MAGIC, a JSON header line, the Mega-Cache artifacts, the kernel archive."""
    import torch

    header = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "torch": torch.__version__,
              "mode": mode, "kernels_sha256": hashlib.sha256(kernels).hexdigest(), "kernels_bytes": len(kernels)}
    return MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + data + kernels


def unpack(blob: bytes) -> tuple[dict, bytes, bytes]:
    """(header, artifacts, kernel archive) of a file written by `pack`; ValueError saying what is wrong."""
    if not blob.startswith(MAGIC):
        raise ValueError("not a compile-cache file (bad magic)")
    line, sep, rest = blob[len(MAGIC):].partition(b"\n")
    if not sep:
        raise ValueError("truncated header")
    try:
        header = json.loads(line)
        size, digest = int(header["bytes"]), str(header["sha256"])
        ksize, kdigest = int(header["kernels_bytes"]), str(header["kernels_sha256"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("unreadable header") from None
    if size < 0 or ksize < 0 or len(rest) != size + ksize:
        raise ValueError(f"truncated: {len(rest)} bytes, the header says {size} + {ksize}")
    data, kernels = rest[:size], rest[size:]
    if hashlib.sha256(data).hexdigest() != digest or hashlib.sha256(kernels).hexdigest() != kdigest:
        raise ValueError("checksum mismatch")
    return header, data, kernels


class CompileCache:
    """The compile artifacts and built kernels of one run at its checkpoint location; `local` is
    this lifetime's Inductor cache directory (`fresh_local_cache`), None to carry no kernels."""

    def __init__(self, location: str, mode: str, local: str | os.PathLike | None = None):
        self.location, self.mode = location, mode
        self.local = Path(local) if local is not None else None
        self.loc = storage.Location(location)
        self.stored_sha: str | None = None
        """sha256 of artifacts and kernels in the store as this process last read or wrote them."""
        self._compile_mark: float | None = None
        """compile_seconds() when the store was last brought up to date."""

    def load(self, expected: bool) -> Loaded:
        """Extract the stored kernels into the local cache and load the stored artifacts into
        torch's caches; call before the first compiled call. `expected`: a checkpoint was
        restored, so a missing file is worth a warning."""
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
            header, data, kernels = unpack(blob)
            if self.local is not None and kernels:
                _members(kernels)  # every member checked before torch loads anything
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
        n = 0
        if self.local is not None:
            try:
                n = extract_kernels(kernels, self.local)
            except (OSError, ValueError) as exc:  # the graphs are loaded: their kernels get rebuilt
                log.warning("compile cache: could not extract the kernels of %s: %s; they will be rebuilt",
                            CACHE_NAME, storage.one_line(exc))
        self.stored_sha = _digest(data, kernels)
        return Loaded("restored", bytes=len(data) + len(kernels), seconds=time.perf_counter() - t0,
                      kernel_files=n)

    def _cold(self, reason: str, t0: float) -> Loaded:
        log.warning("compile cache: %s; compiling cold", reason)
        return Loaded("cold", seconds=time.perf_counter() - t0, reason=reason)

    def save_if_changed(self) -> int | None:
        """Write the artifacts of this process and the local cache's kernels to the store if torch
        compiled since the last look and they differ from what the store holds. Returns the bytes
        written, or None. A failure is a warning: the checkpoints, which a resume needs, are
        already durable."""
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
        try:
            kernels = archive_kernels(self.local) if self.local is not None else b""
        except OSError as exc:
            log.warning("compile cache: could not archive the built kernels: %s", storage.one_line(exc))
            kernels = b""
        sha = _digest(data, kernels)
        if sha == self.stored_sha:
            self._compile_mark = mark
            return None
        try:
            self.loc.write(CACHE_NAME, pack(data, self.mode, kernels))
        except Exception as exc:
            log.warning("compile cache: could not write %s: %s", self.loc.url(CACHE_NAME), storage.one_line(exc))
            return None
        self.stored_sha, self._compile_mark = sha, mark
        return len(data) + len(kernels)


def _digest(data: bytes, kernels: bytes) -> str:
    return hashlib.sha256(hashlib.sha256(data).digest() + hashlib.sha256(kernels).digest()).hexdigest()
