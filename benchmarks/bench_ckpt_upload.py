"""Notice-to-durable time of a checkpoint in an object store, against local protocol servers.

What a trainer does between acting on a notice and the checkpoint being durable:
copy the state to CPU memory (`to_cpu`), serialise it (torch.save + sha256), upload
the payload and then its manifest (real/checkpoint.py's ObjectCheckpointStore).
Payloads are real trainer-shaped states: ResNet-18 (about 90 MB: weights plus SGD
momentum, as `real run` saves on CPU) and ResNet-50 (about 190 MB, as on the H100),
after one real training step. Stores: moto's S3 server (s3fs) and the GCS emulator
(gcsfs), each in its own process on this machine, and a local directory (fsync +
rename) for comparison. A local server measures the client's and the protocol's
cost (serialising, hashing, multipart or resumable upload, HTTP), not a cloud
network: on a VM, add the payload size over the VM's bandwidth to the bucket.

Usage: python benchmarks/bench_ckpt_upload.py [--reps N] [--models resnet18,resnet50] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no server on port {port}")


def start_servers() -> tuple[dict, list[subprocess.Popen]]:
    """moto (S3) and the GCS emulator in their own processes; fsspec configured for both."""
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"  # the emulator speaks no gRPC
    s3_port, gcs_port = free_port(), free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], **quiet),
             subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                               "--port", str(gcs_port), "--in-memory", "-q"], **quiet)]
    wait_port(s3_port, procs[0])
    wait_port(gcs_port, procs[1])
    import fsspec.config

    fsspec.config.conf["s3"] = {"endpoint_url": f"http://127.0.0.1:{s3_port}", "key": "bench", "secret": "bench"}
    fsspec.config.conf["gcs"] = {"endpoint_url": f"http://127.0.0.1:{gcs_port}", "token": "anon",
                                 "project": "bench"}
    import fsspec

    fsspec.filesystem("s3").mkdir("bench")
    fsspec.filesystem("gs").mkdir("bench")
    return {"s3": "s3://bench", "gs": "gs://bench"}, procs


def trainer_state(model_name: str) -> dict:
    """A `real run` checkpoint's payload after one SGD step (momentum buffers filled)."""
    import torch
    import torch.nn.functional as F

    from real.trainer import build_model

    torch.manual_seed(0)
    model = build_model(model_name)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss = F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.randint(0, 100, (4,)))
    loss.backward()
    opt.step()
    return {"schema": 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "position": {"epoch": 1, "step": 3, "eval_pending": False}}


def measure(location: str, state: dict, reps: int) -> dict:
    from real.checkpoint import open_store, to_cpu

    store = open_store(location, keep=2)
    rows = []
    for i in range(reps):
        t0 = time.perf_counter()
        payload = to_cpu(state)
        copy_s = time.perf_counter() - t0
        w = store.write(payload, {"kind": "emergency", "position": float(i), "eval_pending": False})
        rows.append({"to_cpu_s": copy_s, "serialise_s": w.serialise_s, "upload_s": w.upload_s,
                     "write_s": w.seconds, "notice_to_durable_s": copy_s + w.seconds, "mb": w.bytes / 1e6})
    out = {"n": reps, "mb": rows[0]["mb"]}
    for k in ("to_cpu_s", "serialise_s", "upload_s", "write_s", "notice_to_durable_s"):
        v = [r[k] for r in rows if r[k] is not None]
        if v:
            out[k] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--models", default="resnet18,resnet50")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    urls, procs = start_servers()
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                          f"Python {platform.python_version()}, torch {torch.__version__}", "runs": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.models.split(","):
                state = trainer_state(name)
                for store, url in (("local dir", f"{tmp}/{name}"), ("S3 (moto)", f"{urls['s3']}/{name}"),
                                   ("GCS (emulator)", f"{urls['gs']}/{name}")):
                    r = measure(url, state, args.reps)
                    results["runs"].append({"model": name, "store": store, **r})
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(results["machine"])
    print(f"{'model':9} {'MB':>6} {'store':15} {'to_cpu':>7} {'serialise':>9} {'upload':>7} "
          f"{'notice->durable (median, min-max)':>34}")
    for r in results["runs"]:
        up = r.get("upload_s", {}).get("median")
        nd = r["notice_to_durable_s"]
        print(f"{r['model']:9} {r['mb']:6.1f} {r['store']:15} {r['to_cpu_s']['median']:7.3f} "
              f"{r['serialise_s']['median']:9.3f} {f'{up:.3f}' if up is not None else '-':>7} "
              f"{nd['median']:10.3f} s ({nd['min']:.3f}-{nd['max']:.3f}, n={r['n']})")


if __name__ == "__main__":
    main()
