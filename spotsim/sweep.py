"""Sweeps: a grid of scenarios x replications, seeded, run in worker processes.

A sweep is the factorial grid pattern x varied-keys combination x rate x
strategy, each cell simulated `replications` times. Every run's seed is
(base_seed, pattern_index, rate_index, vary_index, replication): it does not
depend on the strategy, so strategies compared in one cell see the same
preemption times (common random numbers), nor on the worker count or the
order of execution. Work goes to worker processes in chunks of replications;
results come back in task order, and each cell's rows are written to
runs.csv (and flushed) as soon as the cell is complete, so an interrupted
sweep leaves complete cells on disk.

After the requested grid, the break-even curves that have not crossed (or
whose CI is still open above) get higher rates, doubling up to
breakeven.EXPANSION_CAP_PER_H (bracket expansion), for every strategy of the
(pattern, combination) group. Expansion rates take rate indices after the
requested ones.

Two limits keep hopeless runs cheap. Runs stop early (`finished=False`,
metrics as lower bounds) once they have spent `limit_ratio` x the on-demand
cost *and* makespan (model.simulate's limit). The sweep uses
max(limit_ratio, 3 x breakeven.time_slack), default 3x rather than the
model's 20x: break-even questions are settled well before (at the default
job's break-even rates no run costs 3x on-demand), and a hopeless run costs
simulation time in proportion to the limit.
A run that the model stops on time alone, its cost still under the limit
(AWS: VMs preempted in their first hour are free, so cost cannot grow), is
*abandoned*: its row keeps the makespan reached (a lower bound) and the
preemptions, and its other metrics are NaN.
"""
from __future__ import annotations

import csv
import itertools
import json
import math
import multiprocessing as mp
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from . import breakeven as be
from .config import PATTERN_NAMES, Scenario, all_keys
from .errors import SpotsimError
from .interrupts import build_pattern
from .model import simulate
from .results import METRICS

DEFAULT_RATES = "0.25:64:log20"
DEFAULT_STRATEGIES = ("fixed", "adaptive", "milestone")
DEFAULT_PATTERNS = ("regular", "poisson", "bursty")
DEFAULT_REPLICATIONS = 200
DEFAULT_LIMIT_RATIO = 3.0
AXES = {"checkpoint.strategy": "--strategies", "interrupts.pattern": "--patterns",
        "interrupts.rate_per_h": "--rates"}
NOT_VARIABLE = {"name", "description", "cloud", "gpu"}
CHUNK_REPLICATIONS = 50
ABANDONED = "abandoned"

RUN_COLUMNS_TAIL = ("replication", "seed", "in_grid", "finished") + METRICS


class SweepError(SpotsimError):
    """A sweep flag or value that is refused; the message starts with the flag."""


class SweepInterrupted(Exception):
    """The sweep was interrupted (Ctrl-C); completed cells are on disk."""

    def __init__(self, cells_done: int, cells_total: int, runs_done: int):
        self.cells_done, self.cells_total, self.runs_done = cells_done, cells_total, runs_done
        super().__init__(f"{cells_done} of {cells_total} cells done")


# -- parsing ---------------------------------------------------------------------
def parse_rates(text: str, flag: str = "--rates") -> list[float]:
    """Rates from a comma list of numbers and ranges ('0.5,1,2', '0.25:64:log20', '1:30:lin30').

    A range lo:hi:logN (or linN) gives N rates from lo to hi inclusive, evenly
    spaced in log(rate) (or linearly). The result is sorted and de-duplicated.
    """
    from .config import MAX_RATE_PER_H
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not items:
        raise SweepError(f"{flag}: empty rate list; give e.g. 0.5,1,2,4 or 0.25:64:log20")
    out: list[float] = []
    for item in items:
        if ":" in item:
            out += _parse_range(item, flag)
        else:
            out.append(_number(item, item, flag))
    for r in out:
        if not (r > 0) or r > MAX_RATE_PER_H:
            raise SweepError(f"{flag}: rate {r:g} is out of range; rates must be > 0 and <= {MAX_RATE_PER_H:g} per hour")
    return sorted(set(out))


def _number(raw: str, item: str, flag: str) -> float:
    try:
        v = float(raw)
    except ValueError:
        raise SweepError(f"{flag}: {item!r} is not a number or a range like 0.25:64:log20") from None
    if not math.isfinite(v):
        raise SweepError(f"{flag}: {item!r} is not a finite number")
    return v


def _parse_range(item: str, flag: str) -> list[float]:
    parts = item.split(":")
    bad = f"{flag}: bad range {item!r}; expected LO:HI:logN or LO:HI:linN, e.g. 0.25:64:log20"
    if len(parts) != 3:
        raise SweepError(bad)
    lo, hi = _number(parts[0], item, flag), _number(parts[1], item, flag)
    spec = parts[2].strip().lower()
    kind, count = spec[:3], spec[3:]
    if kind not in ("log", "lin") or not count.isdigit():
        raise SweepError(bad)
    n = int(count)
    if n < 2 or not lo < hi:
        raise SweepError(f"{flag}: bad range {item!r}; need LO < HI and at least 2 points")
    if kind == "log":
        if lo <= 0:
            raise SweepError(f"{flag}: bad range {item!r}; a log range needs LO > 0")
        vals = [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
    else:
        vals = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    vals[0], vals[-1] = lo, hi
    return vals


def parse_names(text: str, known, flag: str, what: str, refused=()) -> list[str]:
    """A comma list of registered names, in the order given, without duplicates."""
    names = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not names:
        raise SweepError(f"{flag}: empty list; choose from {', '.join(n for n in known if n not in refused)}")
    out: list[str] = []
    for n in names:
        if n in refused:
            raise SweepError(f"{flag}: {what} {n!r} cannot be swept here; "
                             f"choose from {', '.join(k for k in known if k not in refused)}")
        if n not in known:
            raise SweepError(f"{flag}: unknown {what} {n!r}; known: {', '.join(k for k in known if k not in refused)}")
        if n not in out:
            out.append(n)
    return out


def parse_vary(items) -> list[tuple[str, tuple]]:
    """`--vary key=v1,v2` strings into (dotted key, values) with YAML-typed values."""
    keys = set(all_keys())
    out: list[tuple[str, tuple]] = []
    for item in items:
        if "=" not in item:
            raise SweepError(f"--vary: {item!r} must be KEY=V1,V2,..., e.g. --vary checkpoint.write_s=3,30")
        dotted, raw = (x.strip() for x in item.split("=", 1))
        if dotted not in keys:
            import difflib
            close = difflib.get_close_matches(dotted, sorted(keys), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; see `spotsim run --help` and scenarios/"
            raise SweepError(f"--vary: unknown scenario key {dotted!r}{hint}")
        if dotted in AXES:
            raise SweepError(f"--vary: {dotted} is a sweep axis; use {AXES[dotted]} instead")
        if dotted in NOT_VARIABLE:
            raise SweepError(f"--vary: {dotted} cannot be varied; vary the keys it stands for "
                             f"(e.g. prices.spot_per_h, vm.notice_s)")
        if any(dotted == k for k, _ in out):
            raise SweepError(f"--vary: {dotted} is given twice")
        vals = []
        for v in raw.split(","):
            v = v.strip()
            if not v:
                raise SweepError(f"--vary: {dotted} has an empty value in {raw!r}")
            try:
                vals.append(yaml.safe_load(v))
            except yaml.YAMLError:
                vals.append(v)
        out.append((dotted, tuple(vals)))
    return out


# -- the grid --------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One grid cell: a pattern, a combination of varied values, a rate and a strategy."""

    pattern: str
    vary_index: int
    rate: float
    rate_index: int
    strategy: str
    in_grid: bool = True


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep. `vary` holds (dotted key, values) pairs; their product is swept."""

    scenario: Scenario
    rates: tuple[float, ...]
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    replications: int = DEFAULT_REPLICATIONS
    vary: tuple[tuple[str, tuple], ...] = ()
    seed: int = 0
    limit_ratio: float = DEFAULT_LIMIT_RATIO
    expansion_cap: float = be.EXPANSION_CAP_PER_H
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def vary_keys(self) -> list[str]:
        return [k for k, _ in self.vary]

    def combos(self) -> list[dict]:
        """Every combination of varied values, in --vary order (the last key varies fastest)."""
        return [dict(zip(self.vary_keys, vals)) for vals in itertools.product(*(v for _, v in self.vary))]

    def cell_scenario(self, cell: Cell) -> Scenario:
        key = (cell.pattern, cell.vary_index, cell.rate, cell.strategy)
        s = self._cache.get(key)
        if s is None:
            values = {"checkpoint.strategy": cell.strategy, "interrupts.pattern": cell.pattern,
                      "interrupts.rate_per_h": cell.rate, **self.combos()[cell.vary_index]}
            s = self._cache[key] = self.scenario.with_values(values)
        return s

    def grid(self) -> list[Cell]:
        """The requested cells in output order: pattern, combination, rate, strategy."""
        return [Cell(p, v, r, i, st) for p in self.patterns for v in range(len(self.combos()))
                for i, r in enumerate(self.rates) for st in self.strategies]

    def limit_for(self, s: Scenario) -> float:
        """The early-stop ratio for a cell: never under 3x its time slack."""
        return max(self.limit_ratio, 3.0 * s.breakeven.time_slack)

    def seed_of(self, cell: Cell, replication: int) -> tuple[int, ...]:
        return (self.seed, PATTERN_NAMES.index(cell.pattern), cell.rate_index, cell.vary_index, replication)

    def validate(self) -> None:
        """Build every (pattern, combination, strategy) scenario once, so that a bad
        value is refused before anything runs."""
        if not self.rates:
            raise SweepError("--rates: empty rate list")
        for p in self.patterns:
            for v, combo in enumerate(self.combos()):
                for st in self.strategies:
                    try:
                        self.cell_scenario(Cell(p, v, self.rates[0], 0, st))
                    except SpotsimError as exc:
                        where = ", ".join(f"{k}={val!r}" for k, val in combo.items())
                        flag = "--vary" if combo else "--strategies/--patterns"
                        raise SweepError(f"{flag}: {where + ': ' if where else ''}{exc}") from None


# -- running ---------------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(spec: SweepSpec, ignore_sigint: bool = True) -> None:
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _WORKER.clear()
    _WORKER["spec"] = spec
    _WORKER["cells"] = {}


def _cell_setup(spec: SweepSpec, cell: Cell):
    hit = _WORKER["cells"].get(cell)
    if hit is None:
        s = spec.cell_scenario(cell)
        L = spec.limit_for(s)
        hit = _WORKER["cells"][cell] = (s, build_pattern(s.interrupts, s.vm.notice_s), L)
        if len(_WORKER["cells"]) > 256:
            _WORKER["cells"].pop(next(iter(_WORKER["cells"])))
    return hit


def _run_chunk(task) -> list[tuple]:
    """Simulate replications [lo, hi) of one cell; rows of (finished, *METRICS)."""
    cell, lo, hi = task
    spec = _WORKER["spec"]
    s, pattern, L = _cell_setup(spec, cell)
    rows = []
    for rep in range(lo, hi):
        m = simulate(s, spec.seed_of(cell, rep), pattern=pattern, limit_ratio=L).metrics()
        if not m["finished"] and m["cost_usd"] <= L * m["ondemand_cost_usd"]:
            m = _abandoned(m)
        rows.append((m["finished"],) + tuple(m[k] for k in METRICS))
    return rows


KEPT_WHEN_ABANDONED = ("makespan_h", "ondemand_makespan_h", "time_ratio", "preemptions")


def _abandoned(m: dict) -> dict:
    """A run the model stopped on time alone (its cost could not grow, e.g. AWS's free
    first hour): its makespan is a lower bound, its cost unknown (NaN)."""
    return {k: (v if k in KEPT_WHEN_ABANDONED or k not in METRICS else math.nan) for k, v in m.items()}


def _tasks(spec: SweepSpec, cells: list[Cell]) -> list[tuple]:
    n = spec.replications
    step = max(1, min(CHUNK_REPLICATIONS, n))
    return [(c, lo, min(n, lo + step)) for c in cells for lo in range(0, n, step)]


class _Executor:
    """Runs chunks in order: in-process for one job, in a process pool otherwise."""

    def __init__(self, spec: SweepSpec, jobs: int):
        self.spec, self.jobs, self.pool = spec, jobs, None
        if jobs > 1:
            methods = mp.get_all_start_methods()
            ctx = mp.get_context("fork" if "fork" in methods else methods[0])
            self.pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(spec,))
        else:
            _init_worker(spec, ignore_sigint=False)

    def map(self, tasks):
        if self.pool is None:
            return map(_run_chunk, tasks)
        return self.pool.imap(_run_chunk, tasks, chunksize=1)

    def close(self, abort: bool = False) -> None:
        if self.pool is not None:
            if abort:
                self.pool.terminate()
            else:
                self.pool.close()
            self.pool.join()
            self.pool = None


# -- output ----------------------------------------------------------------------
def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


def _seed_text(seed) -> str:
    return ":".join(str(x) for x in seed)


class _Results:
    """Completed cells: their rows (written to runs.csv as they arrive) and samples."""

    def __init__(self, spec: SweepSpec, out: Path):
        self.spec = spec
        self.combos = spec.combos()
        self.runs_path = out / "runs.csv"
        self.fh = open(self.runs_path, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.fh, lineterminator="\n")
        self.writer.writerow(["strategy", "pattern", "rate_per_h", *spec.vary_keys, *RUN_COLUMNS_TAIL])
        self.fh.flush()
        self.cells: dict[Cell, np.ndarray] = {}  # cell -> (replications, 1 + len(METRICS)) floats
        self.order: list[Cell] = []

    def add(self, cell: Cell, rows: list[tuple]) -> None:
        combo = self.combos[cell.vary_index]
        head = [cell.strategy, cell.pattern, _fmt(float(cell.rate)), *(_fmt(combo[k]) for k in self.spec.vary_keys)]
        w = self.writer
        for rep, row in enumerate(rows):
            w.writerow(head + [rep, _seed_text(self.spec.seed_of(cell, rep)), _fmt(cell.in_grid),
                               *(_fmt(v) for v in row)])
        self.fh.flush()
        self.cells[cell] = np.array([[float(v) for v in row] for row in rows], dtype=float)
        self.order.append(cell)

    def close(self) -> None:
        self.fh.close()

    def metric(self, cell: Cell, name: str) -> np.ndarray:
        return self.cells[cell][:, 1 + METRICS.index(name)]

    def excess(self, cell: Cell, metric: str) -> np.ndarray:
        if metric == "cost":
            return self.metric(cell, "cost_usd") - self.metric(cell, "ondemand_cost_usd")
        slack = self.spec.cell_scenario(cell).breakeven.time_slack
        return self.metric(cell, "makespan_h") - slack * self.metric(cell, "ondemand_makespan_h")


def summary_rows(spec: SweepSpec, results: _Results) -> tuple[list[str], list[list]]:
    """Per completed cell: mean and 95% CI of every metric (NaN where a run was abandoned)."""
    header = ["strategy", "pattern", "rate_per_h", *spec.vary_keys, "in_grid", "replications", "unfinished"]
    for k in METRICS:
        header += [f"{k}_mean", f"{k}_ci_low", f"{k}_ci_high"]
    rows = []
    combos = spec.combos()
    for cell in sorted(results.order, key=_cell_sort_key(spec)):
        data = results.cells[cell]
        row = [cell.strategy, cell.pattern, float(cell.rate), *(combos[cell.vary_index][k] for k in spec.vary_keys),
               cell.in_grid, data.shape[0], int((data[:, 0] == 0).sum())]
        for j in range(len(METRICS)):
            row += list(be.band(data[:, 1 + j]))
        rows.append(row)
    return header, rows


def _cell_sort_key(spec: SweepSpec):
    pi = {p: i for i, p in enumerate(spec.patterns)}
    si = {s: i for i, s in enumerate(spec.strategies)}
    return lambda c: (pi[c.pattern], c.vary_index, c.rate, si[c.strategy])


def breakeven_rows(spec: SweepSpec, results: _Results) -> tuple[list[str], list[list]]:
    """Per (strategy, pattern, combination) and metric: the break-even rate, CI and status."""
    header = ["strategy", "pattern", *spec.vary_keys, "metric", "breakeven_rate_per_h", "ci_low", "ci_high", "status"]
    rows = []
    combos = spec.combos()
    for p in spec.patterns:
        for v in range(len(combos)):
            for st in spec.strategies:
                for metric in ("cost", "time"):
                    c = crossing(spec, results, p, v, st, metric)
                    if c is None:
                        continue
                    rows.append([st, p, *(combos[v][k] for k in spec.vary_keys), metric,
                                 c.rate, c.ci_low, c.ci_high, c.status])
    return header, rows


def _curve_cells(results: _Results, pattern: str, v: int, strategy: str) -> list[Cell]:
    cells = [c for c in results.order if c.pattern == pattern and c.vary_index == v and c.strategy == strategy]
    return sorted(cells, key=lambda c: c.rate)


def crossing(spec: SweepSpec, results: _Results, pattern: str, v: int, strategy: str, metric: str):
    cells = _curve_cells(results, pattern, v, strategy)
    if not cells:
        return None
    bands = [be.band(results.excess(c, metric)) for c in cells]
    return be.find_breakeven([c.rate for c in cells], *zip(*bands))


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_fmt(x) for x in row])


def write_meta(spec: SweepSpec, out: Path, complete: bool, cells_done: int, expanded_rates: list[float]) -> None:
    meta = {
        "scenario": spec.scenario.name,
        "scenario_rate_per_h": spec.scenario.interrupts.rate_per_h,
        "rates": list(spec.rates), "expanded_rates": expanded_rates,
        "strategies": list(spec.strategies), "patterns": list(spec.patterns),
        "replications": spec.replications, "seed": spec.seed,
        "vary": [{"key": k, "values": list(v)} for k, v in spec.vary],
        "limit_ratio": spec.limit_ratio, "expansion_cap_per_h": spec.expansion_cap,
        "time_slack": spec.scenario.breakeven.time_slack,
        "complete": complete, "cells_done": cells_done,
        "scenario_values": spec.scenario.to_dict(),
    }
    (out / "sweep.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")


@dataclass
class SweepOutcome:
    out: Path
    runs: int
    cells: int
    expanded_rates: list[float]


def run_sweep(spec: SweepSpec, out, jobs: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> SweepOutcome:
    """Run the grid, expand brackets, and write runs.csv, summary.csv, breakeven.csv, sweep.json.

    `progress(runs_done_now, runs_planned_so_far)` is called after every chunk.
    On KeyboardInterrupt the completed cells stay in runs.csv, summary.csv is
    written for them, and SweepInterrupted is raised.
    """
    spec.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, jobs or os.cpu_count() or 1)
    results = _Results(spec, out)
    grid = spec.grid()
    planned = [len(grid) * spec.replications]
    expanded: list[float] = []
    executor = _Executor(spec, jobs)

    def run_cells(cells: list[Cell]) -> None:
        pending: list[tuple] = []
        for task, rows in zip(_tasks(spec, cells), executor.map(_tasks(spec, cells))):
            cell, lo, hi = task
            pending += rows
            if hi == spec.replications:
                results.add(cell, pending)
                pending = []
            if progress is not None:
                progress(hi - lo, planned[0])

    try:
        run_cells(grid)
        k = 0
        while True:
            rate = be.next_rate(max(spec.rates) if not expanded else expanded[-1], spec.expansion_cap)
            groups = _groups_to_expand(spec, results)
            if rate is None or not groups:
                break
            cells = [Cell(p, v, rate, len(spec.rates) + k, st, in_grid=False)
                     for p, v in groups for st in spec.strategies]
            planned[0] += len(cells) * spec.replications
            run_cells(cells)
            expanded.append(rate)
            k += 1
    except KeyboardInterrupt:
        executor.close(abort=True)
        results.close()
        _write_csv(out / "summary.csv", *summary_rows(spec, results))
        write_meta(spec, out, False, len(results.order), expanded)
        raise SweepInterrupted(len(results.order), len(grid), sum(len(d) for d in results.cells.values())) from None
    executor.close()
    results.close()
    _write_csv(out / "summary.csv", *summary_rows(spec, results))
    _write_csv(out / "breakeven.csv", *breakeven_rows(spec, results))
    write_meta(spec, out, True, len(results.order), expanded)
    return SweepOutcome(out, sum(len(d) for d in results.cells.values()), len(results.order), expanded)


def _groups_to_expand(spec: SweepSpec, results: _Results) -> list[tuple[str, int]]:
    """(pattern, combination) groups with a curve that a higher rate could settle.

    A curve whose highest rate has abandoned runs (NaN mean) is not expanded:
    the job no longer finishes there, so higher rates cannot say more.
    """
    groups = []
    for p in spec.patterns:
        for v in range(len(spec.combos())):
            want = False
            for st in spec.strategies:
                cells = _curve_cells(results, p, v, st)
                for metric in ("cost", "time"):
                    top = be.band(results.excess(cells[-1], metric))
                    if math.isnan(top[0]):
                        continue
                    c = crossing(spec, results, p, v, st, metric)
                    want = want or be.needs_more(c)
            if want:
                groups.append((p, v))
    return groups
