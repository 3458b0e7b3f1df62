"""`real` commands: run (supervisor + trainers) and summary. Thin: parse, check, delegate."""
from __future__ import annotations

import json
import math
import os
import re
import sys
import uuid
from pathlib import Path

import click

from click.core import ParameterSource

from spotsim.config import Checkpoint, Interrupts
from spotsim.errors import SpotsimError
from spotsim.interrupts import PATTERNS, build_pattern
from spotsim.strategies import STRATEGIES

from . import data
from .runconfig import COMPILE_MODES, RunConfig

MAX_RATE_PER_H = 3600.0
"""A mean uptime under a second: no trainer gets through start-up (Python, torch, data,
model) that fast, so a run at a higher rate would restart forever."""
RATE_PATTERNS = ("regular", "poisson", "bursty", "weibull")
RESUME_FREE = ("out", "resume", "quiet", "metadata_url", "notice_poll_s")
"""Options a `--resume` may give freely; every other one comes from the stopped run."""

_RATE = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*(?:/\s*(h|hr|hour|min|m|s))?\s*$")
_PER = {None: 1.0, "h": 1.0, "hr": 1.0, "hour": 1.0, "min": 60.0, "m": 60.0, "s": 3600.0}


def parse_rate(text: str) -> float:
    """'6/h' (or '6', '0.5/min', '0.01/s') -> preemptions per hour; refuses negatives."""
    m = _RATE.match(text or "")
    if not m:
        raise click.BadParameter(f"{text!r} is not a rate; write it as preemptions per hour, e.g. 6/h",
                                 param_hint="--rate")
    rate = float(m.group(1)) * _PER[m.group(2)]
    if rate < 0 or not math.isfinite(rate):
        raise click.BadParameter(f"{text!r}: a preemption rate cannot be negative; use 0 for none",
                                 param_hint="--rate")
    if rate > MAX_RATE_PER_H:
        raise click.BadParameter(f"{text!r} is {rate:.4g} preemptions per hour, a mean uptime of "
                                 f"{3600.0 / rate:.2g} s: no trainer gets through start-up that fast, so the "
                                 f"run would never end; use at most {MAX_RATE_PER_H:g}/h", param_hint="--rate")
    return rate


def _check_out(out: Path) -> None:
    if (out / "events.jsonl").exists():
        raise click.BadParameter(f"{out} already holds a run (events.jsonl); add --resume to continue it, "
                                 f"or choose a new directory", param_hint="--out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise click.BadParameter(f"cannot write to {out}: {exc.strerror or exc}", param_hint="--out") from None


@click.group()
def main():
    """Real mode: really preempted training with checkpoints, measured."""


@main.command()
@click.option("--strategy", type=click.Choice(sorted(STRATEGIES)), default="fixed", show_default=True,
              help="checkpoint strategy (spotsim.strategies)")
@click.option("--every-epochs", type=click.IntRange(min=1), help="fixed: checkpoint every N epochs (default 5)")
@click.option("--every-s", type=click.FloatRange(min=0, min_open=True), help="fixed: every T seconds of training")
@click.option("--emergency/--no-emergency", default=True, show_default=True,
              help="write an emergency checkpoint on SIGTERM")
@click.option("--write-s", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="adaptive/young_daly: checkpoint write time assumed before one is measured")
@click.option("--prior-mtbf-s", type=click.FloatRange(min=0, min_open=True), default=3600.0, show_default=True)
@click.option("--ema-alpha", type=click.FloatRange(min=0, max=1, min_open=True), default=0.3, show_default=True)
@click.option("--min-interval-s", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True)
@click.option("--max-interval-s", type=click.FloatRange(min=0, min_open=True), default=3600.0, show_default=True)
@click.option("--keep", type=click.IntRange(min=2), default=3, show_default=True, help="checkpoints kept (>= 2)")
@click.option("--ckpt-dir", help="where checkpoints go: a directory, file://, gs://, s3:// or az:// (default "
                                 "OUT/checkpoints); the log and run files are copied there too, so `--resume "
                                 "--ckpt-dir URL` continues the run on a new machine (object stores need "
                                 "pip install 'spotsim[cloud]')")
@click.option("--async-checkpoint", is_flag=True, help="copy to CPU memory, write in a background thread")
@click.option("--interrupts", "pattern", type=click.Choice(sorted(PATTERNS)), default="none", show_default=True,
              help="when the supervisor preempts the trainer; none: never (a baseline run)")
@click.option("--notice", type=click.Choice(["signal", "gcp", "aws", "azure"]), default="signal", show_default=True,
              help="where preemption notices come from: signal (this supervisor injects them, per --interrupts), "
                   "or the cloud's metadata service on a Spot VM (gcp, aws, azure): the cloud then ends the VM, "
                   "and `real run --resume` continues on the next")
@click.option("--metadata-url", help="the metadata server's address for --notice gcp|aws|azure "
                                     "(default: the cloud's own; for tests and proxies)")
@click.option("--notice-poll-s", type=click.FloatRange(min=0, min_open=True),
              help="seconds between metadata polls (aws 5, azure 1); gcp long-polls and asks again after "
                   "this long (60)")
@click.option("--rate", help="mean preemptions per hour of uptime, e.g. 6/h; needed by "
                             + ", ".join(RATE_PATTERNS) + f" (at most {MAX_RATE_PER_H:g}/h)")
@click.option("--trace", type=click.Path(dir_okay=False), help="trace file for --interrupts trace")
@click.option("--burst-ratio", type=click.FloatRange(min=1), default=10.0, show_default=True)
@click.option("--burst-fraction", type=click.FloatRange(min=0, max=0.999, min_open=True), default=0.1,
              show_default=True)
@click.option("--burst-mean-s", type=click.FloatRange(min=0, min_open=True), default=900.0, show_default=True)
@click.option("--weibull-shape", type=click.FloatRange(min=0.05, max=20), default=0.7, show_default=True)
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="seconds from SIGTERM to SIGKILL (GCP: 30)")
@click.option("--restart-delay", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="seconds between a trainer's end and the next one's start")
@click.option("--epochs", type=click.IntRange(min=1), help="epochs to train (required, except with --resume)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="run directory")
@click.option("--dataset", type=click.Choice(["cifar100", "synthetic"]), default="cifar100", show_default=True)
@click.option("--data-root", type=click.Path(file_okay=False), default="data", show_default=True)
@click.option("--download", is_flag=True, help="download CIFAR-100 into --data-root if missing")
@click.option("--max-samples", type=click.IntRange(min=1), help="use only the first N training images")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--model", type=click.Choice(["resnet50", "resnet18", "tinycnn"]), default="resnet50", show_default=True,
              help="tinycnn: a three-layer CNN that compiles in seconds on a CPU (tests, quick runs)")
@click.option("--compile", is_flag=True,
              help="run the model under torch.compile; its compile artifacts are saved beside the checkpoints "
                   "and loaded by the next trainer before it compiles")
@click.option("--compile-mode", type=click.Choice(COMPILE_MODES), default="default",
              show_default=True, help="torch.compile's mode (with --compile)")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="peak learning rate (0.1 x batch/128)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads per trainer")
@click.option("--deterministic", is_flag=True, help="deterministic kernels (bit-exact resume on CPU)")
@click.option("--max-lifetimes", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--crash-loop", type=click.IntRange(min=1), default=3, show_default=True,
              help="stop after this many lifetimes in a row that die without notice and save nothing new")
@click.option("--resume", is_flag=True, help="continue the stopped run in --out, with the options it was started with")
@click.option("--quiet", is_flag=True, help="no progress on the console: print only the summary")
def run(**opts):
    """Train with real preemptions: SIGTERM at times drawn from --interrupts (at --rate), SIGKILL
    after --grace. Without --interrupts nothing preempts the trainer (a baseline run); a trainer
    killed without notice is restarted from its newest durable checkpoint either way."""
    ctx = click.get_current_context()
    history = saved = None
    if ctx.get_parameter_source("compile_mode") == ParameterSource.COMMANDLINE and not opts["compile"] \
            and not opts["resume"]:
        raise click.UsageError("--compile-mode chooses how --compile compiles: add --compile")
    opts = _absolute_paths(opts)
    if opts["resume"]:
        opts, history, saved = _resumed(ctx, opts)
    _start(opts, history, saved)


def _resumed(ctx, given: dict):
    """The stopped run's options (given ones must agree), its history and its run.json."""
    from spotsim.errors import EventLogError

    from .history import read_history

    out = given["out"]
    if given.get("ckpt_dir"):
        _fetch_run(given["ckpt_dir"], out)
    if not (out / "events.jsonl").is_file() or not (out / "run.json").is_file():
        raise click.BadParameter(f"nothing to resume in {out} (no events.jsonl and run.json); "
                                 f"start a run there without --resume", param_hint="--out")
    try:
        saved = RunConfig.load(out / "run.json")
    except (OSError, ValueError, TypeError) as exc:
        raise click.BadParameter(f"{out / 'run.json'} is unreadable ({exc}); the run cannot be resumed",
                                 param_hint="--out") from None
    if not saved.options:
        raise click.BadParameter(f"{out} was started by a version of `real run` that did not record its "
                                 f"options; it cannot be resumed", param_hint="--out")
    if saved.options.get("ckpt_dir") and not given.get("ckpt_dir"):
        _fetch_run(saved.options["ckpt_dir"], out)  # another machine may have gone further
        saved = RunConfig.load(out / "run.json")
    for name, value in given.items():
        if name in RESUME_FREE or ctx.get_parameter_source(name) != ParameterSource.COMMANDLINE:
            continue
        if _plain(value) != saved.options.get(name):
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(f"--resume continues the run as it was started: {flag} was "
                                   f"{saved.options.get(name)}, not {value}; leave {flag} out")
    try:
        history = read_history(out / "events.jsonl")
    except EventLogError as exc:
        raise click.ClickException(f"cannot resume: {exc}") from None
    if history.completed:
        raise click.UsageError(f"{out} holds a completed run ({history.epochs_done} epochs): nothing to resume")
    return {**saved.options, **{k: given[k] for k in RESUME_FREE}}, history, saved


def _absolute_paths(opts: dict) -> dict:
    """Paths the run reads, made absolute, so a `--resume` from elsewhere finds them."""
    opts = {**opts, **{k: str(Path(opts[k]).resolve()) for k in ("data_root", "trace") if opts.get(k)}}
    if opts.get("ckpt_dir"):
        from .storage import StorageError, normalise

        try:
            opts["ckpt_dir"] = normalise(opts["ckpt_dir"])
        except StorageError as exc:
            raise click.BadParameter(str(exc), param_hint="--ckpt-dir") from None
    return opts


def _fetch_run(location: str, out: Path) -> None:
    """Bring the run kept at --ckpt-dir into --out (a new machine), or check that they agree."""
    from .storage import StorageError, fetch_run

    try:
        fetch_run(location, out)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None


def _check_ckpt_dir(location: str | None, resuming: bool) -> None:
    """--ckpt-dir can be written, and a new run does not land on another run's checkpoints."""
    if not location:
        return
    from .storage import StorageError, check_writable, holds_run

    try:
        check_writable(location)
        if not resuming and holds_run(location):
            raise click.BadParameter(f"{location} already holds a run (its log or checkpoints); add --resume "
                                     f"to continue it, or choose a new --ckpt-dir", param_hint="--ckpt-dir")
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None


def _plain(value):
    return str(value) if isinstance(value, Path) else value


def _start(opts: dict, history, saved: RunConfig | None) -> None:
    """Check the options, then run the supervisor (a new run, or `history`'s continuation)."""
    from .supervisor import RunFailed, Supervisor

    (strategy, every_epochs, every_s, emergency, write_s, prior_mtbf_s, ema_alpha, min_interval_s, max_interval_s,
     keep, async_checkpoint, pattern, rate, trace, burst_ratio, burst_fraction, burst_mean_s, weibull_shape, grace,
     restart_delay, epochs, out, dataset, data_root, download, max_samples, device, model, batch_size, lr, seed,
     threads, deterministic, max_lifetimes, crash_loop, quiet) = (opts[k] for k in (
        "strategy", "every_epochs", "every_s", "emergency", "write_s", "prior_mtbf_s", "ema_alpha",
        "min_interval_s", "max_interval_s", "keep", "async_checkpoint", "pattern", "rate", "trace", "burst_ratio",
        "burst_fraction", "burst_mean_s", "weibull_shape", "grace", "restart_delay", "epochs", "out", "dataset",
        "data_root", "download", "max_samples", "device", "model", "batch_size", "lr", "seed", "threads",
        "deterministic", "max_lifetimes", "crash_loop", "quiet"))
    out = Path(out)
    if epochs is None:
        raise click.UsageError("Missing option '--epochs' (how many epochs to train)")
    notices = _notice_source(opts, pattern)
    if rate is not None and pattern == "none":
        raise click.UsageError("--rate needs a pattern that preempts: add --interrupts "
                               + " or ".join(RATE_PATTERNS) + " (without --interrupts nothing is preempted)")
    if rate is None and pattern in RATE_PATTERNS:
        raise click.UsageError(f"--interrupts {pattern} needs --rate: mean preemptions per hour of uptime, e.g. 6/h")
    rate_per_h = parse_rate(rate) if rate is not None else 0.0
    if min_interval_s > max_interval_s:
        raise click.BadParameter(f"{min_interval_s:g} is above --max-interval-s {max_interval_s:g}: the adaptive "
                                 f"interval lies between the two, so the minimum cannot exceed the maximum",
                                 param_hint="--min-interval-s")
    if strategy == "fixed" and every_epochs and every_s:
        raise click.UsageError("give --every-epochs or --every-s, not both")
    if every_s is not None:
        every_epochs = None
    elif every_epochs is None:
        every_epochs = 5
    ckpt = dict(strategy=strategy, every_epochs=every_epochs, every_s=every_s, write_s=write_s,
                emergency=emergency, prior_mtbf_s=prior_mtbf_s, ema_alpha=ema_alpha,
                min_interval_s=min_interval_s, max_interval_s=max_interval_s)
    Checkpoint(**ckpt)
    if pattern == "trace" and not trace:
        raise click.UsageError("--interrupts trace needs --trace FILE")
    try:
        # A trace's drop is the kill, so its notice comes --grace seconds before it (docs/traces.md);
        # a trace without --rate keeps its own rate, and --rate 0 means never, as in the simulator.
        pat = build_pattern(Interrupts(pattern=pattern, rate_per_h=None if rate is None else rate_per_h,
                                       trace=trace, burst_ratio=burst_ratio, burst_fraction=burst_fraction,
                                       burst_mean_s=burst_mean_s, weibull_shape=weibull_shape), notice_s=grace)
    except SpotsimError as exc:
        raise click.UsageError(str(exc)) from None
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise click.BadParameter("no CUDA device is visible; use --device cpu or auto", param_hint="--device")
    if dataset == "cifar100" and not data.cifar_present(data_root):
        if not download:
            raise click.UsageError(data.missing_message(data_root))
        try:
            data.download_cifar(data_root)
        except Exception as exc:  # no network, disk full, ...
            raise click.ClickException(f"could not download CIFAR-100 into {data_root}: {exc}. "
                                       f"Use --dataset synthetic to run without it.") from None
    if notices is not None:
        _probe(notices)
    _check_ckpt_dir(opts.get("ckpt_dir"), resuming=history is not None)
    if history is None:
        _check_out(out)
    cfg = RunConfig(out=str(out.resolve()), epochs=epochs, model=model, dataset=dataset,
                    data_root=str(Path(data_root).resolve()), max_samples=max_samples, device=device,
                    batch_size=batch_size, lr=lr, seed=seed, threads=threads, deterministic=deterministic,
                    checkpoint=ckpt, keep=keep, async_checkpoint=async_checkpoint, rate_per_h=rate_per_h,
                    options={k: _plain(v) for k, v in opts.items() if k not in RESUME_FREE})
    cfg.ckpt_dir = opts.get("ckpt_dir")
    cfg.compile = bool(opts.get("compile"))
    cfg.compile_mode = opts.get("compile_mode") or "default"
    if saved is not None:
        cfg.run_start_wall = saved.run_start_wall
    try:
        cfg.strategy()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    say = None if quiet else (lambda line: click.echo(line, err=True))
    sup = Supervisor(cfg, pat, seed, grace, restart_delay, max_lifetimes, crash_loop, say=say, notices=notices,
                     env={**os.environ, "PYTHONPATH": os.pathsep.join(
                         filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))})
    try:
        outcome = sup.run(history)
    except RunFailed as exc:
        raise click.ClickException(str(exc)) from None
    from .summary import format_summary, summarize

    click.echo(format_summary(summarize(out)))
    if outcome.vm_notice is not None:
        _vm_preempted(sup, outcome.vm_notice, out)
    if outcome.interrupted:
        click.echo(f"interrupted: the run stopped before all epochs were done; "
                   f"`real run --resume --out {out}` continues it", err=True)
        sys.exit(130)


def _notice_source(opts: dict, pattern: str):
    """The cloud notice source the options ask for (None for --notice signal); refuses mixtures."""
    from .notices import build

    name = opts.get("notice") or "signal"
    if name == "signal":
        for key in ("metadata_url", "notice_poll_s"):
            if opts.get(key) is not None:
                raise click.UsageError(f"--{key.replace('_', '-')} is for a cloud's notices: add --notice gcp, "
                                       f"aws or azure (with --notice signal this supervisor sends them)")
        return None
    if pattern != "none":
        raise click.UsageError(f"--notice {name} takes preemptions from the cloud; --interrupts {pattern} would "
                               f"inject more: use one or the other")
    try:
        return build(name, opts.get("metadata_url"), opts.get("notice_poll_s"))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--metadata-url") from None


def _probe(source) -> None:
    """Ask the metadata server once before anything trains: an unreachable one is an error within seconds."""
    from .notices import NoticeError, probe

    try:
        probe(source)
    except NoticeError as exc:
        raise click.ClickException(str(exc)) from None


VM_PREEMPTED = 3
"""`real run`'s exit status when a cloud's notice ended this VM's part of the run."""


def _vm_preempted(sup, notice, out: Path) -> None:
    """This VM's part of the run is over: wait for the cloud to end the VM, then exit 3."""
    click.echo(f"this VM was preempted ({notice.source} notice); the trainer's state is saved. "
               f"`real run --resume --out {out}` continues the run on the next VM", err=True)
    if not sup.await_vm_end():
        click.echo("the cloud announced the end of this VM, but it is still running long after; stopping here",
                   err=True)
    sys.exit(VM_PREEMPTED)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--cloud", type=click.Choice(["gcp", "aws", "azure"]), required=True,
              help="where the Spot VMs run; their notices come from this cloud's metadata service")
@click.option("--gpu", required=True, help="the accelerator as SkyPilot names it: NAME or NAME:COUNT, e.g. L4")
@click.option("--bucket", required=True,
              help="where checkpoints and the log go, BUCKET/NAME: gs:// for gcp, s3:// for aws, az:// for azure")
@click.option("--name", help="the run's name: the job's and its folder's in --bucket (default spotsim-<8 hex>); "
                             "launching the same name again continues that run")
@click.option("--region", help="keep the VMs in this region (default: any; SkyPilot moves on where Spot runs out)")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="the spotsim source folder SkyPilot copies to each VM (default: the one `real` runs from)")
@click.option("--max-restarts-on-errors", type=click.IntRange(min=0), default=0, show_default=True,
              help="restarts after a failure that is not a preemption (preemptions are always recovered)")
@click.option("--cross-cloud-bucket", is_flag=True, help="accept a bucket of another cloud than --cloud (warns)")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="where to write the task YAML ('-': standard output)")
@click.option("--go", is_flag=True, help="launch it too: sky jobs launch OUTPUT -y (needs SkyPilot)")
@click.argument("run_options", nargs=-1, type=click.UNPROCESSED)
def launch(cloud, gpu, bucket, name, region, workdir, max_restarts_on_errors, cross_cloud_bucket, output, go,
           run_options):
    """Write a SkyPilot managed-job task that trains with `real run` on Spot VMs and recovers from
    preemptions: RUN_OPTIONS are `real run` options (--epochs, --strategy, ...), passed on to the
    first VM; later VMs resume from --bucket. --go launches it with `sky jobs launch`."""
    import subprocess

    from . import launch as launching

    if go and output == "-":
        raise click.UsageError("--go launches the task from a file: give -o FILE")
    try:
        plan = launching.plan(cloud, gpu, bucket, list(run_options), run, name=name, region=region,
                              workdir=workdir, max_restarts_on_errors=max_restarts_on_errors,
                              cross_cloud=cross_cloud_bucket)
    except launching.LaunchError as exc:
        if exc.option is None:
            raise click.UsageError(str(exc)) from None
        raise click.BadParameter(str(exc), param_hint=exc.option) from None
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    text = launching.to_yaml(plan)
    if output == "-":
        click.echo(text, nl=False)
    else:
        try:
            Path(output).write_text(text)
        except OSError as exc:
            raise click.BadParameter(f"cannot write {output}: {exc.strerror or exc}", param_hint="--output") from None
        click.echo(f"wrote {output}: run {plan.name} on {cloud} Spot VMs ({gpu}), checkpoints and log in "
                   f"{plan.ckpt_dir}", err=True)
    if not go:
        if output != "-":
            click.echo(f"launch it with: sky jobs launch {output} -y", err=True)
        return
    sky = launching.find_sky()
    if sky is None:
        raise click.ClickException(f"SkyPilot is not installed, so nothing was launched: "
                                   f"{launching.SKY_EXTRA}, then sky jobs launch {output} -y")
    code = subprocess.call([sky, "jobs", "launch", str(output), "-y"])
    if code:
        sys.exit(code)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
def summary(run_dir, as_json):
    """Print the measured figures of a run directory (or its events.jsonl)."""
    from .summary import format_summary, summarize

    try:
        s = summarize(run_dir)
    except SpotsimError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(s, indent=1) if as_json else format_summary(s))


if __name__ == "__main__":
    main()
