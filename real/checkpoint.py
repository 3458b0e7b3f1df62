"""Checkpoint files that are either complete and verified, or ignored.

A checkpoint is two files in one directory: `ckpt-NNNNNN.pt` (a torch.save of
plain state dicts, all tensors on the CPU) and its manifest `ckpt-NNNNNN.json`
(bytes, sha256, position). Each is written to a temporary name, flushed,
fsynced and renamed, then the directory is fsynced; the manifest goes last and
is the completion marker (as torchtitan's). Resume takes the newest checkpoint
whose manifest exists and whose file has the manifest's size and checksum;
others are skipped with a warning. The last `keep` (>= 2) are kept, since the
newest may be the one being written when the machine dies. A `.pt` whose
manifest was never written (the process died between the two renames) is
removed by the next trainer's clean-up and by every prune: it can never become
valid, and at 100+ MB each such files would fill the disk. One writer at a time
per directory (the supervisor's lock) makes that safe.

In an object store (`ObjectCheckpointStore`, `--ckpt-dir gs://|s3://|az://...`)
there is no rename: the payload is uploaded under a name no other write uses
(`ckpt-NNNNNN-<random>.pt`), then the manifest `ckpt-NNNNNN.json` naming it;
the manifest, one small upload that the store makes visible whole or not at all,
is again the completion marker. An upload cut by a kill leaves at most an object
no manifest names, which is ignored and removed. `open_store` picks the class
for a `--ckpt-dir` (a plain path or file:// is a local directory, as above).
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import re
import signal
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import faults, storage

log = logging.getLogger("real.checkpoint")

CHECKPOINT_SCHEMA = 1
_NAME = re.compile(r"^ckpt-(\d{6})\.(pt|json)$")
_CHUNK = 4 << 20
_PART = 8 << 20
"""Object-store uploads go in parts of this size (S3's minimum is 5 MiB; GCS wants 256 KiB multiples)."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be made durable; the previous ones are untouched."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


@dataclass(frozen=True)
class Written:
    path: str
    bytes: int
    seconds: float
    """Serialise + write + fsync + rename, as measured by the writer."""
    done_at: float
    """`time.monotonic()` reading at which the checkpoint became durable."""
    serialise_s: float | None = None
    """torch.save into memory and its sha256."""
    upload_s: float | None = None
    """Object stores: payload and manifest uploads, until the store had both (None: a local write)."""


@dataclass(frozen=True)
class Loaded:
    payload: dict
    path: str
    manifest: dict
    skipped: list
    """(file name, reason) of newer checkpoints that were not valid."""


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointStore:
    """The checkpoint directory of one run."""

    def __init__(self, directory: str | os.PathLike, keep: int = 3):
        if keep < 2:
            raise ValueError("keep must be at least 2: the newest checkpoint may be half written")
        self.dir = Path(directory)
        self.keep = keep
        self.dir.mkdir(parents=True, exist_ok=True)
        self._writes = 0

    # -- writing -----------------------------------------------------------------
    def remove_unfinished(self) -> list[tuple[str, str]]:
        """Delete leftovers of writes that never finished (a killed process): temporary
        files, and checkpoint files without a manifest. Returns (name, why) for each."""
        gone = []
        for p in sorted(self.dir.glob(".*.tmp")):
            p.unlink(missing_ok=True)
            gone.append((p.name, "left by a write that never finished"))
        for s in self._orphans(newer_than=-1):
            name = f"ckpt-{s:06d}.pt"
            (self.dir / name).unlink(missing_ok=True)
            gone.append((name, "its manifest was never written (the write was cut between the two renames)"))
        return gone

    def _orphans(self, newer_than: int = -1) -> list[int]:
        """Sequence numbers above `newer_than` whose `.pt` exists without its manifest."""
        return [s for s in self._seqs() if s > newer_than and (self.dir / f"ckpt-{s:06d}.pt").exists()
                and not (self.dir / f"ckpt-{s:06d}.json").exists()]

    def newest_position(self) -> tuple[float, bool] | None:
        """(position in epochs, validation done) of the newest manifest, or None: how far a
        restart would resume, read from manifests only (no checksum: cheap, for progress checks)."""
        best = None
        for s in self._seqs():
            try:
                m = json.loads((self.dir / f"ckpt-{s:06d}.json").read_text())
                key = (float(m["position"]), not m.get("eval_pending", False))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            best = key if best is None else max(best, key)
        return best

    def _seqs(self) -> list[int]:
        seqs = set()
        for p in self.dir.iterdir():
            m = _NAME.match(p.name)
            if m:
                seqs.add(int(m.group(1)))
        return sorted(seqs)

    def _write_file(self, final: Path, data: bytes | memoryview, slow_s: float = 0.0) -> None:
        tmp = self.dir / f".{final.name}.tmp"
        fail_at = None
        if faults.get("enospc_on_write") == self._writes and final.suffix == ".pt":
            fail_at = len(data) // 2
        kill_at = None
        if faults.get("sigkill_mid_write") == self._writes and final.suffix == ".pt":
            kill_at = len(data) // 2
        chunks = max(1, -(-len(data) // _CHUNK))
        try:
            with open(tmp, "wb") as fh:
                if final.suffix == ".pt":
                    log.info("writing %s", final.name)
                view = memoryview(data)
                for i in range(0, len(data), _CHUNK):
                    if fail_at is not None and i + _CHUNK > fail_at:
                        fh.write(view[i:fail_at])
                        fh.flush()
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
                    fh.write(view[i:i + _CHUNK])
                    if kill_at is not None and i + _CHUNK >= kill_at:
                        fh.flush()
                        os.kill(os.getpid(), signal.SIGKILL)  # fault hook: die half-way through the write
                    if slow_s:
                        time.sleep(slow_s / chunks)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def write(self, payload: dict, meta: dict) -> Written:
        """Serialise `payload` (CPU tensors) and make it durable; prune old ones.

        Raises CheckpointWriteError (with the OS reason) if any step fails, after
        removing what it wrote; the previous checkpoints stay valid.
        """
        import torch

        self._writes += 1
        t0 = time.perf_counter()
        seq = (self._seqs() or [0])[-1] + 1
        pt = self.dir / f"ckpt-{seq:06d}.pt"
        try:
            buf = io.BytesIO()
            torch.save(payload, buf)
            data = buf.getbuffer()
            digest = hashlib.sha256(data).hexdigest()
            serialise_s = time.perf_counter() - t0
            self._write_file(pt, data, faults.get("slow_write_s"))
            if faults.get("sigkill_before_manifest") == self._writes:
                os.kill(os.getpid(), signal.SIGKILL)  # fault hook: die between the two renames
            manifest = {"schema": CHECKPOINT_SCHEMA, "file": pt.name, "bytes": len(data), "sha256": digest,
                        "wall": time.time(), **meta}
            self._write_file(pt.with_suffix(".json"), json.dumps(manifest, indent=1).encode())
            _fsync_dir(self.dir)
            if faults.get("sigkill_after_manifest") == self._writes:
                os.kill(os.getpid(), signal.SIGKILL)  # fault hook: die once durable, before pruning
        except OSError as exc:
            pt.unlink(missing_ok=True)
            reason = exc.strerror or str(exc)
            raise CheckpointWriteError(exc.errno, f"could not write checkpoint {pt}: {reason}"
                                       f" (errno {errno.errorcode.get(exc.errno, exc.errno)}); "
                                       f"previous checkpoints are kept") from exc
        seconds = time.perf_counter() - t0
        done_at = time.monotonic()
        self._prune()
        return Written(str(pt), len(data), seconds, done_at, serialise_s=serialise_s)

    def _prune(self) -> None:
        valid = [s for s in self._seqs() if (self.dir / f"ckpt-{s:06d}.json").exists()]
        for s in valid[:-self.keep]:
            for suffix in (".json", ".pt"):  # manifest first: a half-pruned one is simply invalid
                (self.dir / f"ckpt-{s:06d}{suffix}").unlink(missing_ok=True)
        for s in self._orphans():
            if valid and s < valid[-1]:  # older than the newest complete one: never to be finished
                log.warning("removing ckpt-%06d.pt: its manifest was never written", s)
                (self.dir / f"ckpt-{s:06d}.pt").unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------
    def verify(self, seq: int) -> tuple[dict | None, bytes | None, str]:
        """(manifest, file bytes, "") if checkpoint `seq` is complete and intact, else a reason."""
        pt, js = self.dir / f"ckpt-{seq:06d}.pt", self.dir / f"ckpt-{seq:06d}.json"
        if not js.exists():
            return None, None, "no manifest (the write never completed)"
        try:
            manifest = json.loads(js.read_text())
            size, digest = int(manifest["bytes"]), manifest["sha256"]
        except (ValueError, KeyError, TypeError):
            return None, None, "unreadable manifest"
        if not pt.exists():
            return None, None, "the checkpoint file is missing"
        data = pt.read_bytes()
        return _matching(manifest, data, size, digest)

    def load_latest(self) -> Loaded | None:
        """The newest valid checkpoint (tensors on the CPU), or None; warns about skipped ones."""
        import torch

        skipped = []
        for seq in reversed(self._seqs()):
            name = f"ckpt-{seq:06d}.pt"
            manifest, data, why = self.verify(seq)
            if manifest is not None:
                try:
                    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
                except Exception as exc:  # a checksum-valid file that torch cannot read
                    why = f"unloadable: {exc}"
                else:
                    if payload.get("schema") != CHECKPOINT_SCHEMA:
                        why = f"checkpoint schema {payload.get('schema')!r}, this code reads {CHECKPOINT_SCHEMA}"
                    else:
                        return Loaded(payload, str(self.dir / name), manifest, skipped)
            log.warning("skipping checkpoint %s: %s", name, why)
            skipped.append((name, why))
        return None


_OBJECT = re.compile(r"^ckpt-(\d{6})(?:-([0-9a-f]+))?\.(pt|json)$")


class ObjectCheckpointStore:
    """The checkpoints of one run in an object-store folder (gs://, s3://, az://), with the
    interface of CheckpointStore; see the module docstring for how a write stays safe."""

    def __init__(self, url: str, keep: int = 3):
        if keep < 2:
            raise ValueError("keep must be at least 2: the newest checkpoint may be half written")
        self.loc = storage.Location(url)
        self.dir = str(url)
        self.keep = keep
        self._writes = 0

    def _listing(self) -> tuple[dict[int, str], dict[int, list[str]]]:
        """(sequence -> manifest name, sequence -> payload names), as the store lists them now."""
        manifests: dict[int, str] = {}
        payloads: dict[int, list[str]] = {}
        for name in self.loc.names():
            m = _OBJECT.match(name)
            if m is None:
                continue
            seq = int(m.group(1))
            if m.group(3) == "json":
                if m.group(2) is None:  # a manifest is ckpt-NNNNNN.json; anything else is not ours
                    manifests[seq] = name
            else:
                payloads.setdefault(seq, []).append(name)
        return manifests, payloads

    def _seqs(self) -> list[int]:
        manifests, payloads = self._listing()
        return sorted(set(manifests) | set(payloads))

    def _manifest(self, name: str) -> dict | None:
        """The parsed manifest, or None if it is gone or unreadable."""
        raw = self.loc.read(name)
        try:
            m = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        return m if isinstance(m, dict) else None

    # -- writing -----------------------------------------------------------------
    def remove_unfinished(self) -> list[tuple[str, str]]:
        """Delete payloads that no manifest names (uploads cut by a kill). Returns (name, why) for each."""
        manifests, payloads = self._listing()
        gone = []
        for seq, names in sorted(payloads.items()):
            named = None
            if seq in manifests:
                m = self._manifest(manifests[seq])
                if m is None:
                    continue  # unreadable manifest: load_latest reports it; prune removes it with its payload
                named = m.get("file")
            gone += [(n, "its manifest was never written (the upload was cut before the manifest)")
                     for n in names if n != named]
        self.loc.remove([n for n, _ in gone])
        return gone

    def newest_position(self) -> tuple[float, bool] | None:
        """As CheckpointStore.newest_position: from manifests only."""
        best = None
        for name in self._listing()[0].values():
            m = self._manifest(name)
            try:
                key = (float(m["position"]), not m.get("eval_pending", False))
            except (KeyError, TypeError, ValueError):
                continue
            best = key if best is None else max(best, key)
        return best

    def _upload(self, name: str, data: memoryview, slow_s: float = 0.0) -> None:
        """Stream `data` to the object `name` in parts; on any failure the upload is abandoned
        (an unfinished multipart or resumable upload never becomes an object)."""
        kill_at = len(data) // 2 if faults.get("sigkill_mid_write") == self._writes else None
        chunks = max(1, -(-len(data) // _CHUNK))
        log.info("uploading %s", name)
        fh = self.loc.fs.open(self.loc.key(name), "wb", block_size=_PART)
        try:
            for i in range(0, len(data), _CHUNK):
                fh.write(data[i:i + _CHUNK])
                if kill_at is not None and i + _CHUNK >= kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)  # fault hook: die half-way through the upload
                if slow_s:
                    time.sleep(slow_s / chunks)
        except BaseException:
            try:
                fh.discard()
            finally:
                fh.closed = True  # so that garbage collection does not commit what was written
            raise
        fh.close()

    def write(self, payload: dict, meta: dict) -> Written:
        """Serialise `payload`, upload it and then its manifest; prune old pairs.

        Raises CheckpointWriteError (with the store's reason) if the payload or the
        manifest could not be uploaded; the previous checkpoints stay valid.
        """
        import torch

        self._writes += 1
        t0 = time.perf_counter()
        name = "?"
        try:
            manifests, payloads = self._listing()
            seq = max([0, *manifests, *payloads]) + 1
            name = f"ckpt-{seq:06d}-{uuid.uuid4().hex[:12]}.pt"
            buf = io.BytesIO()
            torch.save(payload, buf)
            data = buf.getbuffer()
            digest = hashlib.sha256(data).hexdigest()
            serialise_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            self._upload(name, data, faults.get("slow_write_s"))
            if faults.get("sigkill_before_manifest") == self._writes:
                os.kill(os.getpid(), signal.SIGKILL)  # fault hook: die between payload and manifest
            manifest = {"schema": CHECKPOINT_SCHEMA, "file": name, "bytes": len(data), "sha256": digest,
                        "wall": time.time(), **meta}
            self.loc.write(f"ckpt-{seq:06d}.json", json.dumps(manifest, indent=1).encode())
            upload_s = time.perf_counter() - t1
            if faults.get("sigkill_after_manifest") == self._writes:
                os.kill(os.getpid(), signal.SIGKILL)  # fault hook: die once durable, before pruning
        except Exception as exc:
            if name != "?":
                try:
                    self.loc.remove([name])
                except Exception:
                    pass  # an orphan at worst: the next trainer removes it
            code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EIO
            what = self.loc.url(name) if name != "?" else f"to {self.dir}"
            raise CheckpointWriteError(code, f"could not upload checkpoint {what}: "
                                             f"{storage.one_line(exc)}; previous checkpoints are kept") from exc
        seconds = time.perf_counter() - t0
        done_at = time.monotonic()
        try:
            self._prune()
        except Exception as exc:  # the checkpoint is durable; old ones are pruned next time
            log.warning("could not prune old checkpoints in %s: %s", self.dir, storage.one_line(exc))
        return Written(self.loc.url(name), len(data), seconds, done_at, serialise_s=serialise_s,
                       upload_s=upload_s)

    def _prune(self) -> None:
        manifests, payloads = self._listing()
        done = sorted(manifests)
        old = done[:-self.keep]
        # manifests first: a half-pruned checkpoint is simply invalid
        self.loc.remove([manifests[s] for s in old])
        orphans = [s for s in payloads if s not in manifests and done and s < done[-1]]
        for s in orphans:
            log.warning("removing %s: its manifest was never written", ", ".join(payloads[s]))
        self.loc.remove([n for s in (*old, *orphans) for n in payloads.get(s, [])])

    # -- reading -----------------------------------------------------------------
    def _verify(self, manifest_name: str | None) -> tuple[dict | None, bytes | None, str]:
        if manifest_name is None:
            return None, None, "no manifest (the write never completed)"
        manifest = self._manifest(manifest_name)
        try:
            size, digest, name = int(manifest["bytes"]), manifest["sha256"], manifest["file"]
        except (KeyError, TypeError, ValueError):
            return None, None, "unreadable manifest"
        m = _OBJECT.match(str(name))
        if m is None or m.group(3) != "pt" or m.group(1) != manifest_name[5:11]:
            return None, None, f"the manifest names {name!r}, not a checkpoint of its own"
        data = self.loc.read(name)
        if data is None:
            return None, None, "the checkpoint file is missing"
        return _matching(manifest, data, size, digest)

    def load_latest(self) -> Loaded | None:
        """The newest valid checkpoint (tensors on the CPU), or None; warns about skipped ones."""
        manifests, payloads = self._listing()
        skipped = []
        for seq in sorted(set(manifests) | set(payloads), reverse=True):
            manifest, data, why = self._verify(manifests.get(seq))
            name = (manifest or {}).get("file") or (payloads.get(seq) or [manifests.get(seq)])[0]
            if manifest is not None:
                payload, why = _unpack(data)
                if payload is not None:
                    return Loaded(payload, self.loc.url(name), manifest, skipped)
            log.warning("skipping checkpoint %s: %s", name, why)
            skipped.append((name, why))
        return None


def _unpack(data: bytes) -> tuple[dict | None, str]:
    """(payload, "") of checksum-valid bytes, or (None, why torch or the schema refuses them)."""
    import torch

    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as exc:
        return None, f"unloadable: {exc}"
    if not isinstance(payload, dict) or payload.get("schema") != CHECKPOINT_SCHEMA:
        schema = payload.get("schema") if isinstance(payload, dict) else None
        return None, f"checkpoint schema {schema!r}, this code reads {CHECKPOINT_SCHEMA}"
    return payload, ""


def open_store(location: str, keep: int = 3):
    """The checkpoint store of a `--ckpt-dir`: ObjectCheckpointStore for an object-store URL,
    CheckpointStore for a directory (a plain path or file://)."""
    if storage.is_remote(location):
        return ObjectCheckpointStore(location, keep)
    return CheckpointStore(storage.local_path(location), keep)


def _matching(manifest: dict, data: bytes, size: int, digest: str) -> tuple[dict | None, bytes | None, str]:
    """(manifest, data, "") when `data` has the manifest's size and sha256, else (None, None, why not)."""
    if len(data) != size:
        return None, None, f"truncated: {len(data)} bytes, the manifest says {size}"
    if hashlib.sha256(data).hexdigest() != digest:
        return None, None, "checksum mismatch: the file is corrupt"
    return manifest, data, ""


def to_cpu(obj):
    """A deep copy of a state-dict tree with every tensor copied to CPU memory."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


class AsyncWriter:
    """Writes snapshots in one background thread; at most one write in flight."""

    def __init__(self, store: CheckpointStore):
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ckpt-writer")
        self.pending: Future | None = None
        self.pending_meta: dict | None = None

    def submit(self, payload: dict, meta: dict) -> None:
        self.pending = self._pool.submit(self.store.write, payload, meta)
        self.pending_meta = meta

    def done(self) -> bool:
        return self.pending is not None and self.pending.done()

    def join(self):
        """Wait for the write in flight; returns (meta, Written or the exception), or None."""
        if self.pending is None:
            return None
        fut, meta = self.pending, self.pending_meta
        self.pending = self.pending_meta = None
        try:
            return meta, fut.result()
        except Exception as exc:
            return meta, exc

    def close(self) -> None:
        self._pool.shutdown(wait=True)
