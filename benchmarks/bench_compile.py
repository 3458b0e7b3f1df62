"""torch.compile on a CPU as a preempted trainer meets it: cold compile, compile with the saved
cache restored (Mega-Cache and built kernels, or the Mega-Cache alone), and eager vs compiled step
time.

Each measurement is a fresh process with its own empty Inductor/Triton cache directory, as a
trainer lifetime on a new Spot VM (real/compile_cache.py): `cold` compiles the training step and
the eval graph with nothing cached and saves the cache file as the trainer does
(CompileCache.save_if_changed: Mega-Cache artifacts and the local cache's kernel archive);
`restored` loads it (CompileCache.load: kernels extracted into the empty directory, artifacts
into torch) before compiling the same model; `mega` loads the Mega-Cache part only (what the
trainer carried before the kernels travelled); `eager` runs without compile. Compile seconds are torch's own
accounting (real.compile_cache.compile_seconds) over the first training step and the first eval;
step times are medians of the steps after the first WARMUP_STEPS. Models are real.trainer's,
batches of synthetic CIFAR-shaped data, SGD as the trainer uses it.

Usage: python benchmarks/bench_compile.py [--models tinycnn,resnet18] [--batch 16] [--steps 8]
       [--threads 1] [--reps 1] [--modes eager,cold,restored,mega] [--json]
(TORCHINDUCTOR_COMPILE_THREADS in the environment goes to the children; default torch's own.)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def child(mode: str, model: str, art: str, batch: int, steps: int, threads: int) -> dict:
    """One fresh process's measurement (runs in the child)."""
    from real import compile_cache

    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        here = compile_cache.fresh_local_cache(tmp, 1)
        import torch
        import torch.nn.functional as F

        from real.trainer import WARMUP_STEPS, build_model

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        load_s, loaded, kernel_files = 0.0, 0, 0
        if mode in ("restored", "mega"):
            got = compile_cache.CompileCache(art, "default", local=here if mode == "restored" else None).load(True)
            if got.status != "restored":
                raise SystemExit(f"cache not restored: {got.reason}")
            load_s, loaded, kernel_files = got.seconds, got.bytes, got.kernel_files
        net = build_model(model)
        m = torch.compile(net) if mode != "eager" else net
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 100, (batch,))
        times, first_compile = [], None
        for i in range(max(steps, WARMUP_STEPS + 1)):
            c0 = compile_cache.compile_seconds()
            t0 = time.perf_counter()
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
            times.append(time.perf_counter() - t0)
            if i == 0:
                first_compile = compile_cache.compile_seconds() - c0
        net.eval()
        c0 = compile_cache.compile_seconds()
        t0 = time.perf_counter()
        with torch.no_grad():
            m(torch.randn(200, 3, 32, 32))
        eval_first_s = time.perf_counter() - t0
        eval_compile = compile_cache.compile_seconds() - c0
        saved, mega_bytes, kernel_bytes = 0, 0, 0
        if mode == "cold":
            saved = compile_cache.CompileCache(art, "default", local=here).save_if_changed() or 0
            _, mega, kernels = compile_cache.unpack((Path(art) / compile_cache.CACHE_NAME).read_bytes())
            mega_bytes, kernel_bytes = len(mega), len(kernels)
        hits, misses = compile_cache.graph_cache_counts()
        compile_cache.remove_local_cache(here)
        return {"mode": mode, "model": model, "first_step_s": times[0],
                "train_compile_s": first_compile if mode != "eager" else 0.0,
                "eval_compile_s": eval_compile if mode != "eager" else 0.0, "eval_first_s": eval_first_s,
                "steady_step_s": statistics.median(times[WARMUP_STEPS:]), "artifacts_bytes": saved or loaded,
                "load_s": load_s, "kernel_files": kernel_files,
                "mega_bytes": mega_bytes, "kernel_bytes": kernel_bytes, "graph_cache_hits": hits, "graph_cache_misses": misses}


def run_child(mode, model, art, args) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--models", model, "--art", art, "--batch", str(args.batch),
           "--steps", str(args.steps), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode:
        raise SystemExit(f"{mode} {model} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="tinycnn,resnet18")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--modes", default="eager,cold,restored,mega",
                   help="in this order per model and rep; restored and mega need a cold before them")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child")
    p.add_argument("--art")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.models, args.art, args.batch, args.steps, args.threads)))
        return
    import torch

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-compile-art-") as tmp:
        for model in args.models.split(","):
            for rep in range(args.reps):
                art = str(Path(tmp) / f"{model}-{rep}")
                for mode in args.modes.split(","):
                    rows.append(run_child(mode, model, art, args))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{args.threads} torch thread(s), batch {args.batch}, TORCHINDUCTOR_COMPILE_THREADS="
          f"{os.environ.get('TORCHINDUCTOR_COMPILE_THREADS', 'torch default')}")
    print(f"{'model':9} {'mode':9} {'train compile s':>15} {'eval compile s':>14} {'first step s':>12} "
          f"{'steady step s':>13} {'artifacts':>10} {'FX hits/misses':>14}")
    for r in rows:
        print(f"{r['model']:9} {r['mode']:9} {r['train_compile_s']:15.2f} {r['eval_compile_s']:14.2f} "
              f"{r['first_step_s']:12.2f} {r['steady_step_s']:13.4f} {r['artifacts_bytes'] / 1e6:9.2f}M "
              f"{r['graph_cache_hits']:>6}/{r['graph_cache_misses']:<6}")
    for r in rows:
        if r["mode"] == "cold":
            print(f"{r['model']}: cache file {r['artifacts_bytes'] / 1e6:.2f} MB = Mega-Cache "
                  f"{r['mega_bytes'] / 1e6:.2f} MB + kernel archive {r['kernel_bytes'] / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
