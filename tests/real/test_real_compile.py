"""`real run --compile`: compiled training preempted and resumed exactly, its compile artifacts
and built kernels travelling with the checkpoints, and one `warmup` event per lifetime.

The compiled runs use the tiny CNN (`--model tinycnn`), 128 synthetic images in batches of 16
(8 steps an epoch), 3 epochs. One run is preempted twice at fixed progress (the
`pause_after_steps` hook holds each trainer until its SIGTERM): lifetime 1 compiles cold and
saves the cache file; then the test corrupts it, so lifetime 2 warns and compiles cold again
(and saves it anew); lifetime 3 restores it. What is asserted about the cache comes from the log:
torch's own FX-graph cache counters (hits and misses inside the first steps) and torch's own
compile-time accounting (compile_s of the warmup event and of a lifetime's first eval), never
from timing anything in the test. With the built kernels restored, a lifetime compiles in about a
tenth of a cold one's compile seconds (README "Compiled training"), so the comparison of the
logged seconds holds on a loaded machine too.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from real_helpers import (PATIENCE_S, ROOT, SEED, Trainer, assert_same_weights, events, final_weights, of, real,
                          small_config)

from real import compile_cache
from real.compile_cache import CACHE_NAME, CompileCache, archive_kernels, extract_kernels, pack, unpack
from real.summary import summarize
from spotsim.events import read_events

pytestmark = pytest.mark.real

TINY = ["--model", "tinycnn", "--dataset", "synthetic", "--max-samples", "128", "--batch-size", "16",
        "--device", "cpu", "--threads", "1", "--seed", str(SEED), "--deterministic", "--restart-delay", "0.5",
        "--grace", "60", "--strategy", "fixed", "--every-epochs", "1"]
EPOCHS = 3


@pytest.fixture(scope="module", autouse=True)
def quick_compiles():
    """The trainers skip Inductor's probe builds of each CPU vector ISA (several seconds of the
    compiler per process; the CPU's own flags decide instead): every run here compiles the same way,
    and nothing asserted depends on compile speed."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCHINDUCTOR_VEC_ISA_OK", "1")
        yield


def cli_run(out, *extra) -> None:
    p = real("run", "--epochs", str(EPOCHS), "--out", str(out), *TINY, *extra)
    _, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 0, stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted compiled run through the CLI: its directory."""
    out = tmp_path_factory.mktemp("compiled-ref") / "run"
    cli_run(out, "--compile")
    return out


@pytest.fixture(scope="module")
def preempted(tmp_path_factory):
    """The compiled run preempted after 7 and 6 more steps, its cache corrupted in between:
    (run directory, the cache file's bytes after lifetime 1, trainer logs by lifetime)."""
    out = tmp_path_factory.mktemp("compiled-preempted") / "run"
    cfg = small_config(out, epochs=EPOCHS, model="tinycnn", compile=True)
    cache = out / "checkpoints" / CACHE_NAME
    logs = {}
    first = None
    for lifetime, steps in ((1, 7), (2, 6)):
        t = Trainer(cfg, lifetime, faults=f"pause_after_steps={steps}")
        t.wait_log("paused after")
        t.signal()
        assert t.wait() == 3, t.text()
        logs[lifetime] = t.text()
        if lifetime == 1:
            first = cache.read_bytes()
            cut = len(first) - len(unpack(first)[2]) // 2  # inside the kernel archive: a corrupt copy in the store
            cache.write_bytes(first[:cut] + bytes(b ^ 0xFF for b in first[cut:cut + 8]) + first[cut + 8:])
    t = Trainer(cfg, 3)
    assert t.wait() == 0, t.text()
    logs[3] = t.text()
    return out, first, logs


def warmups(out) -> dict[int, dict]:
    return {e["lifetime"]: e for e in of(events(out), "warmup")}


def test_preempted_compiled_run_ends_bit_identical_to_an_uninterrupted_one(preempted, reference):
    """Two SIGTERMs (after 7 steps, then 6 more), two resumes under compile: the final weights equal
    the uninterrupted compiled run's bit for bit, and are the plain module's (no `_orig_mod.` keys,
    so compiled and eager checkpoints are interchangeable)."""
    out, _, _ = preempted
    evts = events(out)
    assert [e["epoch"] for e in of(evts, "checkpoint", kind="emergency", ok=True)] == [0.875, 1.625]
    assert [e["from_epoch"] for e in of(evts, "resume")] == [0.0, 0.875, 1.625]
    assert [e["epoch"] for e in of(evts, "epoch_end")] == [1, 2, 3]
    ref = final_weights(reference)
    assert not any(k.startswith("_orig_mod.") for k in ref)
    assert_same_weights(ref, final_weights(out))


def test_cache_travels_beside_the_checkpoints_and_makes_the_next_lifetime_warm(preempted):
    """Lifetime 1 writes the artifacts and its built C++ kernels beside its checkpoint (header: torch
    version, mode, checksums); lifetime 3 loads them before compiling: every FX graph of its first
    steps comes from Inductor's cache (hits, no misses), where the cold lifetimes compiled every one
    (misses, no hits)."""
    import torch

    out, first, _ = preempted
    header, data, kernels = unpack(first)
    assert header["torch"] == torch.__version__ and header["mode"] == "default" and len(data) > 0
    names = tarfile.open(fileobj=io.BytesIO(gzip.decompress(kernels))).getnames()
    assert any(n.endswith(".so") for n in names) and any(n.endswith(".cpp") for n in names)
    assert not any(n.startswith(("fxgraph/", "aotautograd/", "locks/")) or n.endswith(".lock") for n in names)
    assert (out / "checkpoints" / CACHE_NAME).is_file()
    w = warmups(out)
    assert sorted(w) == [1, 2, 3]
    resumes = {e["lifetime"]: e for e in of(events(out), "resume")}
    assert [resumes[n]["compile_cache"] for n in (1, 2, 3)] == ["cold", "cold", "restored"]
    assert resumes[3]["compile_cache_bytes"] > 0 and resumes[3]["compile_cache_kernel_files"] > 0
    assert resumes[1]["compile_cache_kernel_files"] == resumes[2]["compile_cache_kernel_files"] == 0
    for n in (1, 2):
        assert w[n]["cache"] == "cold" and w[n]["graph_cache_hits"] == 0 and w[n]["graph_cache_misses"] > 0
    assert w[3]["cache"] == "restored" and w[3]["graph_cache_misses"] == 0
    assert w[3]["graph_cache_hits"] == w[1]["graph_cache_misses"]
    for e in w.values():  # measured by torch's own accounting, inside the first steps
        assert e["compile_measured"] == "torch" and 0 < e["compile_s"] <= e["first_s"]
        assert e["steps"] == 3 and e["mode"] == "default" and e["steady_step_s"] > 0
        assert e["warmup_s"] == pytest.approx(max(0.0, e["first_s"] - 3 * e["steady_step_s"] - e["compile_s"]),
                                              abs=1e-5)


def test_restored_lifetime_compiles_in_less_time_than_the_cold_ones(preempted):
    """The lifetime that restored the cache (warmup cache "restored") logged fewer compile seconds,
    training step and first eval together, than each cold lifetime (torch's own accounting, from
    the log): its kernels were loaded, not built. Lifetime 1 stopped before its first eval, so its
    training compile alone is already more than lifetime 3's training and eval compiles."""
    out, _, _ = preempted
    w = warmups(out)
    evals = {e["lifetime"]: e["compile_s"] for e in of(events(out), "epoch_end") if "compile_s" in e}
    assert sorted(evals) == [2, 3]
    total = {n: w[n]["compile_s"] + evals.get(n, 0.0) for n in w}
    (restored,) = [n for n in w if w[n]["cache"] == "restored"]
    cold = [n for n in w if w[n]["cache"] == "cold"]
    assert (restored, cold) == (3, [1, 2])
    for n in cold:
        assert total[restored] < total[n], total
    assert evals[3] < evals[2] and w[3]["compile_s"] < min(w[1]["compile_s"], w[2]["compile_s"])


def test_corrupt_cache_is_a_warning_and_a_cold_compile(preempted):
    """The corrupted file stops nothing: lifetime 2 says why it is unusable, compiles cold, saves
    the artifacts anew (lifetime 3 restores those) and the run finishes."""
    out, _, logs = preempted
    assert "compile cache: compile-cache.bin is unusable: checksum mismatch; compiling cold" in logs[2]
    (r2,) = of(events(out), "resume", lifetime=2)
    assert r2["compile_cache"] == "cold" and "checksum mismatch" in r2["compile_cache_error"]
    assert unpack((out / "checkpoints" / CACHE_NAME).read_bytes())[2]  # intact again, kernels included
    assert of(events(out), "epoch_end")[-1]["epoch"] == EPOCHS


def test_first_eval_of_a_compiled_lifetime_logs_its_compile(preempted, reference):
    """The first validation of a compiled lifetime compiles the eval graph: that epoch_end carries
    compile_s; later ones in the same lifetime do not."""
    for out in (preempted[0], reference):
        seen = set()
        for e in of(events(out), "epoch_end"):
            first = e["lifetime"] not in seen
            seen.add(e["lifetime"])
            assert ("compile_s" in e) == first, e
            if first:
                assert 0 < e["compile_s"] <= e["eval_s"]


def test_compiled_run_through_the_cli_logs_compile_and_summary_counts_it(reference, preempted):
    """`--compile` is recorded in run.json, run_start and process_start; `real summary` splits the
    lifetimes' compile seconds by cache state."""
    evts = read_events(reference / "events.jsonl")
    (start,) = of(evts, "run_start")
    assert start["compile"] is True and start["compile_mode"] == "default"
    assert all(e["compile"] is True for e in of(evts, "process_start"))
    assert json.loads((reference / "run.json").read_text())["compile"] is True
    assert (reference / "checkpoints" / CACHE_NAME).is_file()
    assert not (reference / compile_cache.LOCAL_DIR).exists()  # the lifetime's local cache is removed at exit
    s = summarize(preempted[0])
    assert s["compile_cold_s"]["n"] == 2 and s["compile_restored_s"]["n"] == 1
    assert s["eval_compile_s"]["n"] == 2  # lifetimes 2 and 3 each ran a first eval
    w = warmups(preempted[0])
    evals = sum(e["compile_s"] for e in of(events(preempted[0]), "epoch_end") if "compile_s" in e)
    assert s["compile_total_s"] == pytest.approx(sum(e["compile_s"] for e in w.values()) + evals)


def test_eager_run_logs_no_compile(tmp_path):
    """Without --compile: warmup says cache "none", compile_s 0, and no cache file is written."""
    out = tmp_path / "run"
    p = real("run", "--epochs", "1", "--out", str(out), *TINY)
    _, stderr = p.communicate(timeout=PATIENCE_S)
    assert p.returncode == 0, stderr
    evts = events(out)
    (start,) = of(evts, "run_start")
    assert start["compile"] is False and start["compile_mode"] is None
    (w,) = of(evts, "warmup")
    assert (w["cache"], w["compile_s"], w["mode"]) == ("none", 0.0, "eager")
    assert "graph_cache_hits" not in w
    assert all("compile_s" not in e for e in of(evts, "epoch_end"))
    assert not (out / "checkpoints" / CACHE_NAME).exists()
    assert summarize(out)["compile_total_s"] == 0


def test_compile_mode_without_compile_is_refused(tmp_path):
    p = subprocess.run([sys.executable, "-m", "real.cli", "run", "--epochs", "1", "--out", str(tmp_path / "r"),
                        "--compile-mode", "max-autotune", "--dataset", "synthetic"], check=False, cwd=ROOT,
                       capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 2 and "add --compile" in p.stderr


# -- the cache file, without compiling ---------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.binary(max_size=300),
       st.sampled_from(["default", "reduce-overhead", "max-autotune"]), st.data())
def test_any_damage_to_the_cache_file_is_detected(data, kernels, mode, draw):
    """pack/unpack round-trip (artifacts and kernel archive); a truncated file or any flipped byte
    is refused (ValueError)."""
    blob = pack(data, mode, kernels)
    header, back, kback = unpack(blob)
    assert (back, kback) == (data, kernels) and header["mode"] == mode
    cut = draw.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(ValueError):
        unpack(blob[:cut])
    i = draw.draw(st.integers(0, len(blob) - 1))
    flipped = blob[:i] + bytes([blob[i] ^ draw.draw(st.integers(1, 255))]) + blob[i + 1:]
    try:
        h2, d2, k2 = unpack(flipped)
    except ValueError:
        return
    # the only harmless flips are inside the header's JSON text that leave it the same meaning
    assert (d2, k2) == (data, kernels) and h2["sha256"] == header["sha256"]


def fake_local_cache(root) -> dict[str, bytes]:
    """A local Inductor cache as a compile leaves it; returns the files that should travel."""
    travel = {"ab/cabxyz.cpp": b"// kernel", "ab/cabxyz.so": b"\x7fELF kernel", "cd/ccdxyz.py": b"# wrapper",
              "triton/HASH/triton_poi_fused_0.cubin": b"cubin", "triton/HASH/triton_poi_fused_0.json": b"{}"}
    stay = {"fxgraph/fa/fabc/entry": b"in the Mega-Cache", "aotautograd/aab/entry": b"in the Mega-Cache",
            "locks/cabxyz.lock": b"", "ab/cabxyz.lock": b"", "ef/cefisa.so.load_ok": b"",
            "ef/tmpabc123": b"half-written", "gh/huge.so": b"x" * 2048}
    for rel, data in {**travel, **stay}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "ab/cabxyz.so").chmod(0o755)
    (root / "ab/link.so").symlink_to(root / "ab/cabxyz.so")
    return travel


def tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_kernel_archive_carries_the_build_products_only_and_is_deterministic(tmp_path, monkeypatch):
    """The archive holds the generated sources, built libraries and Triton kernels, not what the
    Mega-Cache carries, locks, temporaries, ISA-probe markers, links or files over the size limit;
    the same files give the same bytes whatever their timestamps; extracted into an empty directory
    they are the same files (executable bits kept), and files already there are left alone."""
    monkeypatch.setattr(compile_cache, "MAX_FILE_BYTES", 1024)
    src = tmp_path / "src"
    travel = fake_local_cache(src)
    first = archive_kernels(src)
    for p in src.rglob("*"):
        if p.is_file():
            os.utime(p, (1, 1))
    assert archive_kernels(src) == first
    dst = tmp_path / "dst"
    assert extract_kernels(first, dst) == len(travel)
    assert tree(dst) == travel
    assert os.access(dst / "ab/cabxyz.so", os.X_OK) and not os.access(dst / "ab/cabxyz.cpp", os.X_OK)
    (dst / "cd/ccdxyz.py").write_bytes(b"# newer")
    assert extract_kernels(first, dst) == 0 and (dst / "cd/ccdxyz.py").read_bytes() == b"# newer"
    assert archive_kernels(tmp_path / "empty") == b"" and extract_kernels(b"", dst) == 0


def evil_archive(name: str, kind: bytes = tarfile.REGTYPE) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        good = tarfile.TarInfo("ab/good.so")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.REGTYPE:
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return gzip.compress(buf.getvalue())


segment = st.text(st.sampled_from("abc._-"), min_size=1, max_size=4).filter(lambda t: t not in (".", ".."))


@settings(max_examples=40, deadline=None)
@given(st.lists(segment, max_size=3), st.lists(segment, max_size=3), st.sampled_from(["up", "absolute", "both"]))
def test_unsafe_archive_members_are_refused_before_anything_is_written(tmp_path_factory, before, after, how):
    """A member at an absolute path, or with `..` anywhere in it, or a link, is refused
    (ValueError) and nothing at all is extracted; through CompileCache.load it is a warning and
    a cold compile, before torch loads anything."""
    name = "/".join([*before, *([] if how == "absolute" else [".."]), *after, "x.so"])
    name = "/" + name if how != "up" else name
    dst = tmp_path_factory.mktemp("dst")
    for archive in (evil_archive(name), evil_archive("ab/link.so", tarfile.SYMTYPE),
                    evil_archive("ab/hard.so", tarfile.LNKTYPE)):
        with pytest.raises(ValueError):
            extract_kernels(archive, dst)
        assert list(dst.iterdir()) == []
    store = tmp_path_factory.mktemp("store")
    (store / CACHE_NAME).write_bytes(pack(b"artifacts", "default", evil_archive(name)))
    got = CompileCache(str(store), "default", local=dst).load(expected=True)
    assert got.status == "cold" and "unsafe path" in got.reason and list(dst.iterdir()) == []


def test_cache_is_written_only_when_it_changed(tmp_path, monkeypatch, caplog):
    """save_if_changed serialises only after torch compiled something new, and writes only bytes
    the store does not hold; a missing file is a warning only when a checkpoint was restored."""
    import torch

    state = {"compile_s": 1.0, "bytes": b"A" * 10, "calls": 0}

    def fake_save():
        state["calls"] += 1
        return state["bytes"], None

    monkeypatch.setattr(torch.compiler, "save_cache_artifacts", fake_save)
    monkeypatch.setattr(compile_cache, "compile_seconds", lambda: state["compile_s"])
    cc = CompileCache(str(tmp_path), "default")
    assert cc.load(expected=False).status == "cold" and not caplog.records
    assert cc.load(expected=True).reason and "no compile-cache.bin" in caplog.text
    assert cc.save_if_changed() == 10
    assert cc.save_if_changed() is None and state["calls"] == 1  # nothing compiled since
    state["compile_s"] = 2.0
    assert cc.save_if_changed() is None and state["calls"] == 2  # compiled, same bytes: not rewritten
    state.update(compile_s=3.0, bytes=b"B" * 12)
    assert cc.save_if_changed() == 12
    assert unpack((tmp_path / CACHE_NAME).read_bytes())[1:] == (b"B" * 12, b"")
    assert [p.name for p in tmp_path.iterdir()] == [CACHE_NAME]  # no temporary left behind
    local = tmp_path / "local"  # with a local cache: new kernels alone are a change
    store = tmp_path / "with-kernels"
    cc = CompileCache(str(store), "default", local=local)
    state["compile_s"] = 4.0
    written = cc.save_if_changed()
    assert written == 12 and unpack((store / CACHE_NAME).read_bytes())[2] == b""
    (local / "ab").mkdir(parents=True)
    (local / "ab/cabxyz.so").write_bytes(b"kernel")
    assert cc.save_if_changed() is None  # nothing compiled since: not even looked at
    state["compile_s"] = 5.0
    written = cc.save_if_changed()
    kernels = unpack((store / CACHE_NAME).read_bytes())[2]
    assert written == 12 + len(kernels) and kernels == archive_kernels(local)
    state["compile_s"] = 6.0
    assert cc.save_if_changed() is None  # same artifacts, same kernels
    (tmp_path / CACHE_NAME).write_bytes(b"garbage")
    got = CompileCache(str(tmp_path), "default").load(expected=True)
    assert got.status == "cold" and "bad magic" in got.reason
