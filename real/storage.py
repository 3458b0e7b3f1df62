"""Where a run keeps its checkpoints and the copies of its logs: a local directory or an
object-store folder, named by `--ckpt-dir`.

A location is a plain path or `file://PATH` (a local directory: written with
fsync and rename, as real/checkpoint.py always did), or `gs://`, `s3://`,
`az://` (also `gcs://`, `abfs://`, `abfss://`) through fsspec with gcsfs, s3fs
or adlfs, the `cloud` extra. Those packages are imported only when such a URL
is used; a missing one is named with the command that installs it. Endpoints
and credentials come from each package's own configuration (environment,
metadata server, config files) or fsspec's `FSSPEC_<PROTOCOL>` variables, so a
test or a proxy points them elsewhere without code.

Besides checkpoints, a location holds copies of the run's files (`RUN_FILES`,
written by real/runlog.py's LogMirror) so that `real run --resume --ckpt-dir URL`
on a new machine finds the run's options and log there (`fetch_run`).
"""
from __future__ import annotations

import importlib
import json
import os
import re
import uuid
from pathlib import Path

CLOUD_EXTRA = "pip install 'spotsim[cloud]'"
_PACKAGE = {"gs": "gcsfs", "gcs": "gcsfs", "s3": "s3fs", "s3a": "s3fs", "az": "adlfs", "abfs": "adlfs",
            "abfss": "adlfs"}
"""URL scheme -> the fsspec implementation it needs."""
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

EVENTS, RUN_JSON, UPTIMES, FINAL = "events.jsonl", "run.json", "uptimes.json", "final.pt"
RUN_FILES = (RUN_JSON, EVENTS, UPTIMES)
"""What a new machine needs to continue a run, besides its checkpoints."""


class StorageError(Exception):
    """A location that cannot be used, said in one line."""


def scheme(location: str) -> str:
    """The URL scheme of `location`, lower case ('' for a plain path)."""
    m = _SCHEME.match(str(location))
    return m.group(1).lower() if m else ""


def is_remote(location: str | os.PathLike | None) -> bool:
    """An object-store URL (not a local path or file://)."""
    return location is not None and scheme(str(location)) in _PACKAGE


def local_path(location: str | os.PathLike) -> Path:
    """The directory of a plain path or a file:// URL."""
    text = str(location)
    return Path(text[len("file://"):] if scheme(text) == "file" else text)


def normalise(location: str) -> str:
    """The canonical spelling of a location (recorded in run.json, compared by --resume):
    local paths absolute, URLs without a trailing slash. Refuses unknown schemes."""
    s = scheme(location)
    if s and s != "file" and s not in _PACKAGE:
        raise StorageError(f"{location}: unsupported scheme {s}://; use a directory, file://, gs://, s3:// or az://")
    if not s or s == "file":
        path = str(local_path(location).expanduser().resolve())
        return f"file://{path}" if s else path
    root = location[len(s) + 3:].strip("/")
    if not root:
        raise StorageError(f"{location}: name a bucket (and a folder), e.g. {s}://my-bucket/runs/one")
    return f"{s}://{root}"


def filesystem(location: str):
    """(fsspec filesystem, root path without the scheme) of an object-store URL."""
    s = scheme(location)
    package = _PACKAGE[s]
    try:
        importlib.import_module("fsspec")
        importlib.import_module(package)
    except ImportError:
        raise StorageError(f"{location}: {s}:// needs the {package} package: {CLOUD_EXTRA}") from None
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(location)
    return fs, root.rstrip("/")


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (object-store errors often carry a whole response)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class Location:
    """A folder that is a local directory or an object-store prefix: whole files in and out.

    Local writes go to a temporary name, are fsynced and renamed, then the
    directory is fsynced; object-store writes are single uploads, which the
    store makes visible all at once or not at all.
    """

    def __init__(self, location: str):
        self.location = str(location)
        self.remote = is_remote(self.location)
        if self.remote:
            self.fs, self.root = filesystem(self.location)
        else:
            self.dir = local_path(self.location)

    def __str__(self) -> str:
        return self.location

    def url(self, name: str) -> str:
        return f"{self.location.rstrip('/')}/{name}"

    def key(self, name: str) -> str:
        """The fsspec path of `name` (object stores)."""
        return f"{self.root}/{name}" if self.root else name

    def names(self) -> list[str]:
        """Names of the files directly in the folder (fresh: no cached listing)."""
        if not self.remote:
            try:
                return sorted(p.name for p in self.dir.iterdir() if p.is_file())
            except FileNotFoundError:
                return []
        self.fs.invalidate_cache(self.root)
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return []
        return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") != "directory")

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None if it is not there."""
        if not self.remote:
            try:
                return (self.dir / name).read_bytes()
            except FileNotFoundError:
                return None
        self.fs.invalidate_cache(self.key(name))  # a cached listing must not hide a newer object
        try:
            return self.fs.cat_file(self.key(name))
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        """Replace the file `name` by `data`, all at once."""
        if self.remote:
            self.fs.pipe_file(self.key(name), data)
            return
        final = self.dir / name
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, names: list[str]) -> None:
        if not names:
            return
        if not self.remote:
            for n in names:
                (self.dir / n).unlink(missing_ok=True)
            return
        try:
            self.fs.rm([self.key(n) for n in names])
        except FileNotFoundError:
            pass


def check_writable(location: str) -> None:
    """Write and delete a probe file; a StorageError says in one line why that failed
    (no such bucket, no permission, unreachable), before any training starts."""
    s = scheme(location) or "a directory"
    try:
        loc = Location(location)
        probe = f".spotsim-probe-{uuid.uuid4().hex}"
        loc.write(probe, b"probe")
        loc.remove([probe])
    except StorageError:
        raise
    except FileNotFoundError as exc:
        if is_remote(location):
            bucket = location[len(scheme(location)) + 3:].split("/", 1)[0]
            raise StorageError(f"--ckpt-dir {location}: the bucket {bucket!r} does not exist "
                               f"(or this account may not see it): {one_line(exc)}") from None
        raise StorageError(f"--ckpt-dir {location}: cannot write there: {exc.strerror or one_line(exc)}") from None
    except PermissionError as exc:
        raise StorageError(f"--ckpt-dir {location}: no permission to write there: "
                           f"{exc.strerror or one_line(exc)}") from None
    except OSError as exc:
        raise StorageError(f"--ckpt-dir {location}: cannot write there ({s}): "
                           f"{exc.strerror or one_line(exc)}") from None
    except Exception as exc:  # an object-store client's own error (bad credentials, endpoint)
        raise StorageError(f"--ckpt-dir {location}: cannot write there ({s}): "
                           f"{type(exc).__name__}: {one_line(exc)}") from None


_CKPT = re.compile(r"^ckpt-\d{6}(?:-[0-9a-f]+)?\.(?:pt|json)$")


def holds_run(location: str) -> bool:
    """The location already holds a run's log or checkpoints."""
    return any(n in (EVENTS, RUN_JSON) or _CKPT.match(n) for n in Location(location).names())


def _first_line(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0]


def _whole_lines(data: bytes) -> bytes:
    """Complete lines only: a log copied while a line was being appended ends cut."""
    cut = data.rfind(b"\n")
    return data[:cut + 1] if cut >= 0 else b""


def _started(log: bytes) -> str:
    try:
        rec = json.loads(_first_line(log))
        import time
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(rec["wall"])))
    except (ValueError, KeyError, TypeError):
        return "at an unknown time"


def fetch_run(location: str, out: Path) -> str:
    """Make `out` hold the newest copy of the run kept at `location`, for --resume.

    A new machine (empty `out`) gets run.json, events.jsonl and uptimes.json from
    the location. Where `out` already holds the run (a VM stopped with its disk),
    the longer of the two logs wins, provided both are the same run's (same first
    record) and one continues the other. Returns what was done, for the console;
    raises StorageError when there is nothing to resume or the two are different runs.
    """
    loc = Location(location)
    try:
        remote_log = loc.read(EVENTS)
        remote_log = _whole_lines(remote_log) if remote_log else None
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"--ckpt-dir {location}: cannot read it: {one_line(exc)}") from None
    local_file = Path(out) / EVENTS
    local_log = local_file.read_bytes() if local_file.is_file() else None
    if remote_log is None:
        if local_log is not None:
            return "the local log is the newest copy"
        if holds_run(location):
            raise StorageError(f"--ckpt-dir {location} holds checkpoints but no run log ({EVENTS}, {RUN_JSON}): "
                               f"it was not written by `real run --ckpt-dir`, or is another run's; nothing to resume")
        raise StorageError(f"nothing to resume in --ckpt-dir {location} (no {EVENTS} and {RUN_JSON} there); "
                           f"start a run there without --resume")
    if local_log is not None:
        if _first_line(local_log) != _first_line(remote_log):
            raise StorageError(f"--ckpt-dir {location} holds another run's log (started {_started(remote_log)}) "
                               f"than {out} (started {_started(local_log)}); give the --ckpt-dir that run used, "
                               f"or resume with an empty --out")
        local_log = _whole_lines(local_log)
        if local_log.startswith(remote_log):
            return "the local log is the newest copy"
        if not remote_log.startswith(local_log):
            raise StorageError(f"the logs in {out} and in --ckpt-dir {location} went different ways after "
                               f"their common start (two machines continued the run); resume with an empty "
                               f"--out to continue from the one in {location}")
    run_json = loc.read(RUN_JSON)
    if run_json is None:
        raise StorageError(f"--ckpt-dir {location} holds {EVENTS} but no {RUN_JSON}: the run's options are "
                           f"unknown, so it cannot be resumed")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    uptimes = loc.read(UPTIMES)
    files = {RUN_JSON: run_json, EVENTS: remote_log, **({UPTIMES: uptimes} if uptimes is not None else {})}
    for name, data in files.items():
        Location(str(out)).write(name, data)
    return f"fetched {', '.join(files)} from {location}"
