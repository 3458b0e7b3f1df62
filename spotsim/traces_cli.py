"""`spotsim traces`: preemption statistics and fitted patterns of real Spot traces.

Per trace: the preemption rate per available hour with its 95% CI, uptimes,
capacity waits, availability and the fitted patterns (trace_stats.py), as a
table or one JSON document. `-o` writes the best-fitting pattern as a scenario
fragment for `extends:` (one FILE only: several are refused, since one
scenario holds one pattern). `--plot-dir` writes one PNG per trace, named
`<folder>_<stem>.png` after the trace file (no figures without it).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import click
import yaml

from .config import build_scenario
from .errors import ScenarioError, SpotsimError, TraceError
from .interrupts.trace_io import CONVENTIONS, load_trace
from .sweep_cli import OneLineErrors
from .trace_stats import QUANTILES, TraceStats, summary_h, trace_stats

PATTERN_KEYS = {"poisson": ("rate_per_h",), "weibull": ("rate_per_h", "weibull_shape"),
                "bursty": ("rate_per_h", "burst_ratio", "burst_fraction", "burst_mean_s")}
"""The interrupts keys (config.Interrupts) each fitted pattern sets in a scenario."""


@click.command("traces", cls=OneLineErrors)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--min-nodes", default=1, show_default=True, type=click.IntRange(min=1),
              help="Live instances the job needs: a drop in the live count while it runs is a preemption, "
                   "and it waits while fewer are live.")
@click.option("--convention", type=click.Choice(CONVENTIONS), default="available", show_default=True,
              help="What a 1 means in a tick trace: an available instance, or a preempted one.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the best-fitting pattern and the mean capacity wait as a scenario fragment "
                   "(YAML, for `extends:`); one FILE only.")
@click.option("--plot-dir", type=click.Path(file_okay=False),
              help="Write one PNG per trace (<folder>_<stem>.png): the uptime CDF against each fitted pattern.")
def traces(files, min_nodes, convention, as_json, output, plot_dir):
    """Preemption rate, uptimes, capacity waits and fitted patterns of trace FILEs (tick JSON or event CSV)."""
    if output and len(files) > 1:
        raise click.ClickException(f"-o writes the scenario of one trace, but {len(files)} were given: "
                                   f"run once per trace file")
    try:
        _report(files, min_nodes, convention, as_json, output, plot_dir)
    except SpotsimError as exc:
        raise click.ClickException(str(exc)) from None


def _report(files, min_nodes, convention, as_json, output, plot_dir):
    all_stats = [trace_stats(replace(load_trace(f, convention), source=str(f)), min_nodes, convention=convention)
                 for f in files]  # named as the user gave them
    docs = [s.to_dict() for s in all_stats]
    notes: list[str] = []
    if output:
        write_fragment(all_stats[0], output)
        docs[0]["scenario"] = str(output)
        notes.append(f"wrote {output} (interrupts: {all_stats[0].fits[0].pattern}, extends-ready)")
    if plot_dir:
        from .trace_plots import plot_uptime_cdf  # matplotlib only when figures are asked for

        folder = Path(plot_dir)
        for s, doc, name in zip(all_stats, docs, figure_names(files)):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                doc["figure"] = str(plot_uptime_cdf(s, folder / name))
                notes.append(f"wrote {doc['figure']}")
            except TraceError as exc:
                doc["figure"] = None
                notes.append(f"no figure for {s.name}: {exc}")
            except OSError as exc:
                raise TraceError(f"--plot-dir {plot_dir}: cannot write {name} ({exc.strerror})") from None
    if as_json:
        click.echo(json.dumps({"traces": [_finite(d) for d in docs]}, allow_nan=False, indent=1))
        for note in notes:
            click.echo(note, err=True)
        return
    click.echo("\n\n".join(format_stats(s) for s in all_stats))
    for note in notes:
        click.echo(note)


def figure_names(files) -> list[str]:
    """One PNG name per trace file, <folder>_<stem>.png, numbered where two files would share one."""
    names = [f"{Path(f).parent.name}_{Path(f).stem}".lstrip("_") for f in files]
    out, seen = [], {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(f"{n}.png" if names.count(n) == 1 else f"{n}-{seen[n]}.png")
    return out


def _finite(x):
    """JSON-safe: non-finite floats as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _h(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _dist_line(durations_s, censored: int, what: str) -> str:
    d = summary_h(durations_s)
    if not d["count"]:
        return f"none complete ({censored} censored)"
    q = d["quantiles_h"]
    text = (f"n={d['count']}, mean {_h(d['mean_h'])} h, median {_h(d['median_h'])} h"
            + (f", CV {d['cv']:.2f}" if d["cv"] is not None and what == "uptime" else "")
            + f"; p{'/p'.join(map(str, QUANTILES))} " + " / ".join(_h(q[str(p)]) for p in QUANTILES) + " h")
    return text + (f"; {censored} censored" if censored else "")


def format_stats(s: TraceStats) -> str:
    """A readable table of one trace's statistics and fits (best marked with *)."""
    lo, hi = s.rate_ci95
    tick = f", {s.tick_s:g} s ticks" if s.tick_s else ""
    n_cens_up = len(s.censored_uptimes_s)
    n_cens_wait = sum(1 for w in s.waits if not w.complete)
    waits = [w.duration_s for w in s.waits if w.complete]
    zero = sum(1 for w in waits if w == 0)
    convention = f", {s.convention} convention" if s.tick_s else ""  # event traces have none
    lines = [f"trace {s.name} ({s.source}): {s.span_s / 3600:.1f} h{tick}, min {s.min_nodes} node(s)"
             f"{convention}",
             f"  {'available':<26} {s.availability:.1%} of the time ({s.available_s / 3600:.1f} h)",
             f"  {'preemptions':<26} {s.preemptions}",
             f"  {'rate per available hour':<26} {s.rate_per_h:.3g} [{lo:.3g}, {hi:.3g}] (exact 95% Poisson CI)",
             f"  {'uptime (complete)':<26} {_dist_line(s.complete_uptimes_s, n_cens_up, 'uptime')}",
             f"  {'capacity wait (complete)':<26} {_dist_line(waits, n_cens_wait, 'wait')}"
             + (f"; {zero} of 0 s (enough nodes left)" if zero else "")]
    if not s.fits:
        lines.append(f"  fitted patterns: unavailable: {s.fits_note}")
        return "\n".join(lines)
    aware = f", tick-aware: whole {s.tick_s:g} s ticks" if s.fits[0].tick_s else ""
    lines.append(f"  fitted patterns (KS vs the complete uptimes{aware}; * best):")
    for i, f in enumerate(s.fits):
        params = ", ".join(f"{k}={v:.4g}" + _ci(f.ci95.get(k)) for k, v in f.params.items())
        lines.append(f"  {'*' if i == 0 else ' '} {f.pattern:<8} KS {f.ks:.3f}  logL {f.log_likelihood:.1f}  {params}")
    written = written_fit(s)
    if written is not s.fits[0]:
        lines.append(f"  -o writes {written.pattern}: {s.fits[0].pattern}'s rate is not within {RATE_AGREEMENT:g}x of "
                     f"the trace's own (uptimes no tick saw, extrapolated)")
    return "\n".join(lines)


def _ci(ci) -> str:
    return f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""


# -- the scenario fragment ---------------------------------------------------
def _round(v: float) -> float:
    return float(f"{v:.6g}")


RATE_AGREEMENT = 2.0
"""A fit written as a scenario must put its rate within this factor of the trace's own 95% CI."""


def written_fit(s: TraceStats):
    """The fit `-o` writes: the best (smallest KS) whose rate agrees with the rate the trace shows.

    A tick-aware fit's rate counts uptimes too short for any tick to see; with a very heavy tail
    (weibull k ~0.2) that unseen part is extrapolated from the shape alone and can be ten times
    the observed rate. A scenario with it would claim preemptions the trace never showed, so such
    a fit is passed over for the next one that agrees (RATE_AGREEMENT); poisson if none does."""
    if not s.fits:
        raise TraceError(f"{s.source}: no pattern could be fitted ({s.fits_note}), so there is no "
                         f"scenario to write with -o")
    lo, hi = s.rate_ci95
    for fit in s.fits:
        if lo / RATE_AGREEMENT <= fit.params["rate_per_h"] <= hi * RATE_AGREEMENT:
            return fit
    return next((f for f in s.fits if f.pattern == "poisson"), s.fits[0])


def fragment_sections(s: TraceStats) -> dict:
    """The `interrupts:` and `capacity:` sections of the written fit (written_fit) and the mean complete wait."""
    best = written_fit(s)
    keys = PATTERN_KEYS.get(best.pattern)
    if keys is None:
        raise TraceError(f"{s.source}: the best fit is pattern {best.pattern!r}, which -o cannot write "
                         f"(known: {', '.join(PATTERN_KEYS)})")
    interrupts = {"pattern": best.pattern, **{k: _round(best.params[k]) for k in keys}}
    mean_wait = s.mean_wait_s
    capacity = ({"wait": "exponential", "wait_s": _round(mean_wait)} if mean_wait else
                {"wait": "none", "wait_s": 0.0})
    return {"interrupts": interrupts, "capacity": capacity}


def fragment_text(s: TraceStats) -> str:
    """The fragment as YAML, with a comment block naming the trace, the fit and its KS."""
    sections = fragment_sections(s)
    best = written_fit(s)
    lo, hi = s.rate_ci95
    waits = s.complete_waits_s
    others = ", ".join(f"{f.pattern} KS {f.ks:.3f}" for f in s.fits if f is not best) or "none"
    passed = [f for f in s.fits[:s.fits.index(best)]]
    aware = f" (tick-aware, {best.tick_s:g} s ticks)" if best.tick_s else ""
    wait_note = (f"exponential with the mean of {len(waits)} complete capacity waits "
                 f"({s.mean_wait_s / 3600:.3g} h; waits cut by the trace's ends left out)"
                 if sections["capacity"]["wait"] == "exponential"
                 else "no capacity wait was measured (no complete wait, or all of 0 s)")
    header = [
        "Scenario fragment written by `spotsim traces -o`: use it with `extends: <this file>`.",
        f"Source trace: {s.source}",
        f"  min_nodes {s.min_nodes}" + (f", {s.convention} convention" if s.tick_s else "")
        + f", {s.span_s / 3600:.1f} h observed, "
        f"{s.availability:.1%} available",
        f"  {s.preemptions} preemptions: {s.rate_per_h:.4g} per available hour [{lo:.4g}, {hi:.4g}] (95% CI)",
        *(f"Passed over: {f.pattern} (KS {f.ks:.4f}), its rate {f.params['rate_per_h']:.4g}/h is not within "
          f"{RATE_AGREEMENT:g}x of the trace's CI (uptimes no tick saw, extrapolated)" for f in passed),
        f"Written fit: {best.pattern}, KS {best.ks:.4f}{aware} against {len(s.complete_uptimes_s)} complete uptimes "
        f"({len(s.censored_uptimes_s)} censored); log-likelihood {best.log_likelihood:.2f}",
        "  fitted (95% CI): " + ", ".join(f"{k} {v:.4g}" + _ci(best.ci95.get(k)) for k, v in best.params.items()),
        f"  other fits: {others}",
        f"Capacity: {wait_note}",
    ]
    body = yaml.safe_dump(sections, sort_keys=False, default_flow_style=False)
    return "".join(f"# {line}\n" for line in header) + body


def write_fragment(s: TraceStats, path) -> None:
    """Write the fragment after checking that it loads as a scenario (over the built-in defaults)."""
    text = fragment_text(s)
    try:
        build_scenario([(str(path), yaml.safe_load(text))])
    except ScenarioError as exc:
        raise TraceError(f"{s.source}: the fitted {written_fit(s).pattern} pattern is not a valid scenario, "
                         f"so -o wrote nothing: {exc}") from None
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"-o {path}: cannot write ({exc.strerror})") from None
