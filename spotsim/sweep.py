"""Sweeps: a grid of scenarios x replications, seeded, run in chunks by an executor.

A sweep is the factorial grid pattern x varied-keys combination x rate x
strategy, each cell simulated `replications` times. Every run's seed is
(base_seed, pattern_index, market_index, replication), market_index being the
index of the combination of the varied keys other than job.deadline_h and
policy.* (PAIRED_KEY_PREFIXES: they decide what a run does with the market,
not the market). It depends neither on the strategy nor on the rate nor on
the policy or the deadline, so strategies and policies compared in one cell
see the same preemption draws, and so do all rates of a curve and all
deadlines (common random numbers: the
replications at two rates are paired, and a rate added later to refine a
break-even uses the same seeds as the grid). Nor does it depend on the worker
count or the order of execution. Work goes out in chunks of replications to an
executor (executors/: this machine's processes, or a Dask cluster); results come
back in task order. Each chunk's results are appended to OUT/.partial/chunks.log
as they arrive (_ChunkStore): the sweep keeps its runs there (memory holds
per-cell statistics only), and `resume` continues from it, replaying the same
decisions and taking every chunk already in the log instead of simulating it.
With the CSV format each cell's rows are also appended to runs.csv (and
flushed) as soon as the cell is complete. When the sweep ends (or is
interrupted), the runs file (runs.csv or runs.parquet) and summary.csv are
written in output order, one cell at a time, with every run's final row; a
complete sweep removes .partial/.

After the requested grid come three passes, each over the break-even curves
(breakeven.py) of every (pattern, combination, strategy) and metric:

1. *bracket expansion*: curves that have not crossed (or whose CI is still
   open above) get higher rates, doubling up to breakeven.EXPANSION_CAP_PER_H,
   for every strategy of their (pattern, combination) group;
2. *re-simulation of censored runs*: runs stopped early (see below) at the
   rates below a crossing (breakeven.last_rate_below: there a lower bound
   could hide an earlier crossing; at or above it a lower bound only confirms
   it) are simulated again,
   with the same seed, under RERUN_LIMIT_RATIO instead: a run that finished
   under the early stop is unchanged by a larger limit, so only the stopped
   ones are re-run. A crossing with runs below it that still do not finish
   is reported `censored`;
3. *refinement*: rates inside the gaps that hold a crossing
   (breakeven.refinement_rates), simulated for that strategy only, until each
   gap is narrower than the CI or after `refine_steps` rounds; passes 2 and 3
   alternate, so refinement rates are uncensored too.

Two limits keep hopeless runs cheap. Runs stop early (`finished=False`,
metrics as lower bounds) once they have spent `limit_ratio` x the on-demand
cost *and* makespan (model.simulate's limit). The sweep uses
max(limit_ratio, 3 x breakeven.time_slack), default 3x rather than the
model's 20x: a hopeless run costs simulation time in proportion to the
limit, and the runs that decide a break-even are re-simulated without it.
A run that the model stops on time alone, its cost still under the limit
(AWS: VMs preempted in their first hour are free, so cost cannot grow), is
*abandoned*: its row keeps the makespan reached (a lower bound), the
preemptions and the deadline outcome (below), and its other metrics are NaN.

Deadlines (job.deadline_h, policy.name) are keys like any other. A deadline
no cell's job can meet even all on-demand is refused before anything runs
(model.check_deadline). A run stopped early past its deadline missed it
(met_deadline 0, deadline_slack_h an upper bound); one stopped before it has
an unknown outcome (met_deadline NaN). summary.csv adds the p5, p50 and p95
of PERCENTILE_METRICS over the runs that have a value.

Zones (docs/zones.md): a sweep whose scenario has `zones:` adds columns after
the others: results.ZONE_METRICS (moves, transfer GB, $ and hours), then one
per zone, `zone_h:NAME` (billed Spot hours in that zone; NaN in a cell that
does not use it, beyond policy.zones_allowed), in runs.csv and, as means with
their CI, in summary.csv: numbers, one column per zone, so that they are
summed and plotted like every other metric.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import operator
import os
import shutil
import signal
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from . import breakeven as be
from .config import PATTERN_NAMES, Scenario, all_keys, canonical_key
from .errors import ScenarioError, SpotsimError
from .executors import Executor, Work, make_executor
from .model import build_run_pattern, check_deadline, simulate_many
from .results import METRICS, PERCENTILES, ZONE_METRICS

DEFAULT_RATES = "0.25:64:log20"
DEFAULT_STRATEGIES = ("fixed", "adaptive", "milestone")
DEFAULT_PATTERNS = ("regular", "poisson", "bursty")
DEFAULT_REPLICATIONS = 200
DEFAULT_LIMIT_RATIO = 3.0
RERUN_LIMIT_RATIO = 1000.0
"""Early-stop ratio for re-simulating the runs that decide a crossing: in effect none
(a run that costs 1000x on-demand would move its cell's mean by several times the
on-demand cost on its own), yet every run still ends."""
MAX_REPLICATIONS = 10_000
"""Replications per cell at most: a cell's runs are held in memory together (its summary, its re-simulations)."""
MIN_RATE_PER_H = 1e-3
"""Lowest rate accepted (one preemption per ~6 weeks of uptime): rates below change
nothing, and bracket expansion would double its way up from them."""
AXES = {"checkpoint.strategy": "--strategies", "interrupts.pattern": "--patterns",
        "interrupts.rate_per_h": "--rates"}
NOT_VARIABLE = {"name", "description", "cloud", "gpu"}
PAIRED_KEY_PREFIXES = ("job.deadline_h", "policy.")
"""Varied keys that do not change a run's seed: the deadline and the policy act on the same market draws."""
CHUNK_REPLICATIONS = 50
ABANDONED = "abandoned"
GRID, EXPANSION, REFINEMENT = "grid", "expansion", "refinement"

RUN_COLUMNS_TAIL = ("replication", "seed", "in_grid", "finished") + METRICS + ("limit_ratio",)
"""runs.csv after strategy, pattern, rate and the varied keys; `limit_ratio` is the
early-stop ratio the run was simulated under (RERUN_LIMIT_RATIO once re-simulated)."""
PERCENTILE_METRICS = ("cost_usd", "makespan_h", "cost_ratio")
"""Metrics whose PERCENTILES summary.csv also gives (e.g. cost_usd_p95): under a deadline the tail matters."""
BREAKEVEN_TAIL = ("breakeven_rate_per_h", "ci_low", "ci_high", "status", "bracket_low", "bracket_high",
                  "refinement", "censored_runs")
"""breakeven.csv after strategy, pattern, the varied keys and metric."""


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
        if not MIN_RATE_PER_H <= r <= MAX_RATE_PER_H:
            raise SweepError(f"{flag}: rate {r:g} is out of range; rates must be >= {MIN_RATE_PER_H:g} "
                             f"and <= {MAX_RATE_PER_H:g} per hour")
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
        dotted = canonical_key(dotted)
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


def check_limit_ratio(value: float) -> float:
    """The early-stop ratio, refused unless a finite number > 1 (nan would never stop a run)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SweepError(f"--limit-ratio: {value!r} is not a number; give a ratio > 1, e.g. 3") from None
    if not (math.isfinite(v) and v > 1.0):
        raise SweepError(f"--limit-ratio: {value!r} must be a finite number > 1 (runs stop once they have spent "
                         f"this many times the on-demand cost and makespan), e.g. {DEFAULT_LIMIT_RATIO:g}")
    return v


def prepare_out(out) -> Path:
    """Create the output folder and check that files can be written in it, before any simulation."""
    p = Path(out)
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / ".spotsim-write-test"
        with open(probe, "w", encoding="utf-8") as fh:
            fh.write("")
        probe.unlink()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise SweepError(f"--out: cannot write into {p} ({why}); choose a folder you can write to") from None
    return p


# -- the grid --------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One cell: a pattern, a combination of varied values, a rate and a strategy.

    `role`: GRID (a requested rate), EXPANSION (bracket expansion) or REFINEMENT.
    """

    pattern: str
    vary_index: int
    rate: float
    strategy: str
    role: str = GRID

    @property
    def in_grid(self) -> bool:
        return self.role == GRID

    @property
    def curve(self) -> tuple[str, int, str]:
        return self.pattern, self.vary_index, self.strategy


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
    refine_steps: int = be.REFINE_MAX_STEPS
    rerun_limit_ratio: float = RERUN_LIMIT_RATIO
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def vary_keys(self) -> list[str]:
        return [k for k, _ in self.vary]

    def combos(self) -> list[dict]:
        """Every combination of varied values, in --vary order (the last key varies fastest)."""
        return [dict(zip(self.vary_keys, vals)) for vals in itertools.product(*(v for _, v in self.vary))]

    def combo(self, vary_index: int) -> dict:
        """combos()[vary_index], without building every combination."""
        values = []
        for _, vals in reversed(self.vary):  # the last key varies fastest
            values.append(vals[vary_index % len(vals)])
            vary_index //= len(vals)
        return dict(zip(self.vary_keys, reversed(values)))

    @property
    def zone_names(self) -> tuple[str, ...]:
        """Every zone a cell of the sweep may use, in the scenario's order (empty without zones);
        policy.zones_allowed only takes a prefix of them."""
        return tuple(z.name for z in self.scenario.zones)

    @property
    def zone_columns(self) -> list[str]:
        """The columns a sweep with zones adds: ZONE_METRICS, then zone_h:NAME per zone."""
        names = self.zone_names
        return [*ZONE_METRICS, *(f"zone_h:{n}" for n in names)] if names else []

    @property
    def width(self) -> int:
        """Columns of a run in the chunk store: finished, METRICS, then zone_columns."""
        return 1 + len(METRICS) + len(self.zone_columns)

    def cell_scenario(self, cell: Cell) -> Scenario:
        """The scenario of a cell (cached; an advisor bucket in effect sets its own rate, see bucket_rate)."""
        key = (cell.pattern, cell.vary_index, cell.rate, cell.strategy)
        s = self._cache.get(key)
        if s is None:
            values = {"checkpoint.strategy": cell.strategy, "interrupts.pattern": cell.pattern,
                      "interrupts.rate_per_h": cell.rate, **self.combo(cell.vary_index)}
            s = self._cache[key] = self.scenario.with_values(values)
            if len(self._cache) > 4096:
                self._cache.pop(next(iter(self._cache)))
        return s

    def __getstate__(self) -> dict:
        """Pickled without the scenario cache (a Dask worker builds its own)."""
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def grid(self) -> list[Cell]:
        """The requested cells in output order: pattern, combination, rate, strategy."""
        return [Cell(p, v, r, st) for p in self.patterns for v in range(len(self.combos()))
                for r in self.rates_for(p, v) for st in self.strategies]

    def own_rate(self, pattern: str, vary_index: int) -> float | None:
        """The one rate a (pattern, combination) runs at when its cells set their own, else None: the
        Spot Instance Advisor bucket's (a varied interrupts.advisor_bucket, or the scenario's with a
        varied point or horizon; docs/advisor.md), or the zones' own mean rate (zones replay their
        traces, which --rates does not scale; docs/zones.md). Such a curve is that one rate."""
        key = ("own_rate", pattern, vary_index)
        if key not in self._cache:
            s = self.cell_scenario(Cell(pattern, vary_index, self.rates[0], self.strategies[0]))
            if s.zones:
                from .zones.market import zone_patterns  # zones load their traces only when a sweep has them
                rate = zone_patterns(s).mean_rate_per_h
            else:
                rate = s.interrupts.rate_per_h if s.interrupts.advisor_bucket is not None else None
            self._cache[key] = rate
        return self._cache[key]

    def rates_for(self, pattern: str, vary_index: int) -> tuple[float, ...]:
        """The requested rates of a (pattern, combination): --rates, or the one rate it sets (own_rate)."""
        rate = self.own_rate(pattern, vary_index)
        return self.rates if rate is None else (rate,)

    def limit_for(self, s: Scenario) -> float:
        """The early-stop ratio for a cell: never under 3x its time slack."""
        return max(self.limit_ratio, 3.0 * s.breakeven.time_slack)

    def seed_of(self, cell: Cell, replication: int) -> tuple[int, ...]:
        """A run's seed: not the strategy, the rate, the policy or the deadline, so all are compared on the
        same draws."""
        return (self.seed, PATTERN_NAMES.index(cell.pattern), self.market_index(cell.vary_index), replication)

    def market_index(self, vary_index: int) -> int:
        """The index of a combination's values of the varied keys that are not paired (see PAIRED_KEY_PREFIXES),
        in --vary order: the combination's own index when no paired key is varied."""
        unpaired = [i for i, (k, _) in enumerate(self.vary) if not k.startswith(PAIRED_KEY_PREFIXES)]
        if len(unpaired) == len(self.vary):
            return vary_index
        sizes = [len(v) for _, v in self.vary]
        digits = []
        for size in reversed(sizes):  # the last key varies fastest
            digits.append(vary_index % size)
            vary_index //= size
        digits.reverse()
        index = 0
        for i in unpaired:
            index = index * sizes[i] + digits[i]
        return index

    def validate(self) -> None:
        """Check the numbers and build every (pattern, combination, strategy) scenario once,
        so that a bad value is refused before anything runs."""
        if not self.rates:
            raise SweepError("--rates: empty rate list")
        check_limit_ratio(self.limit_ratio)
        if not 1 <= self.replications <= MAX_REPLICATIONS:
            raise SweepError(f"--replications: {self.replications} is out of range; give 1 to {MAX_REPLICATIONS} "
                             f"runs per cell (a cell's runs are held in memory together)")
        if self.refine_steps < 0:
            raise SweepError(f"--refine-steps: {self.refine_steps} must be >= 0")
        for p in self.patterns:
            for v, combo in enumerate(self.combos()):
                for st in self.strategies:
                    try:
                        self.cell_scenario(Cell(p, v, self.rates[0], st))
                    except SpotsimError as exc:
                        where = ", ".join(f"{k}={val!r}" for k, val in combo.items())
                        flag = "--vary" if combo else "--strategies/--patterns"
                        raise SweepError(f"{flag}: {where + ': ' if where else ''}{exc}") from None
        for v, combo in enumerate(self.combos()):
            for st in self.strategies:
                # the on-demand makespan depends on the strategy (its saves), and young_daly's on the rate
                for rate in (self.rates if st == "young_daly" else self.rates[:1]):
                    try:
                        check_deadline(self.cell_scenario(Cell(self.patterns[0], v, rate, st)))
                    except ScenarioError as exc:
                        where = ", ".join(f"{k}={val!r}" for k, val in combo.items())
                        at = f"strategy {st}" + (f" at {rate:g}/h" if st == "young_daly" else "")
                        flag = "--vary" if combo else "--set/SCENARIO"
                        raise SweepError(f"{flag}: {where + ' ' if where else ''}({at}): {exc}") from None

    def deadline_ok(self, cell: Cell) -> bool:
        """Whether a cell's deadline can be met all on-demand (young_daly's baseline grows with the rate,
        so a rate added by bracket expansion may make it impossible)."""
        try:
            check_deadline(self.cell_scenario(cell))
        except ScenarioError:
            return False
        return True


# -- running ---------------------------------------------------------------------
_WORKER: dict = {}
_WORKER_LOCK = threading.Lock()


def _init_worker(spec: SweepSpec, ignore_sigint: bool = True) -> None:
    """Prepare a worker process (or this process) for a sweep's tasks."""
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    with _WORKER_LOCK:
        _WORKER.clear()
        _WORKER["spec"] = spec
        _WORKER["cells"] = {}


def _cell_setup(spec: SweepSpec, cell: Cell):
    """A cell's scenario and pattern object, cached per worker (a lock: a Dask worker may run threads)."""
    with _WORKER_LOCK:
        hit = _WORKER["cells"].get(cell)
        if hit is None:
            s = spec.cell_scenario(cell)
            hit = _WORKER["cells"][cell] = (s, build_run_pattern(s))
            if len(_WORKER["cells"]) > 256:
                _WORKER["cells"].pop(next(iter(_WORKER["cells"])))
        return hit


@dataclass(frozen=True)
class _Task:
    """Replications `reps` of one cell, simulated under the early-stop ratio `limit`."""

    cell: Cell
    reps: tuple[int, ...]
    limit: float


def _run_chunk(task: _Task) -> np.ndarray:
    """Simulate one task: a float array, one row (finished, *METRICS, *zone_h by spec.zone_names) per
    replication (NaN: no value)."""
    spec = _WORKER["spec"]
    s, pattern = _cell_setup(spec, task.cell)
    L = task.limit
    zones = spec.zone_names
    rows = []
    try:
        results = simulate_many(s, [spec.seed_of(task.cell, rep) for rep in task.reps], pattern=pattern,
                                limit_ratio=L)
    except SpotsimError as exc:
        # re-raised as a plain-message error: ScenarioError's own arguments do not survive the
        # trip back from a worker process (unpickling it fails and the pool would wait forever)
        raise SweepError(str(exc)) from None
    for result in results:
        if result.finished and not zones:  # the commonest row: the metrics as they are (NaN for none)
            rows.append((True, *_metric_values(result.__dict__)))
            continue
        m = result.metrics()
        extra = ()
        if zones:
            hours = dict(result.zone_h)
            extra = tuple(getattr(result, k) for k in ZONE_METRICS) + tuple(hours.get(z, math.nan) for z in zones)
        if not m["finished"]:
            m = _stopped(m)
            if m["cost_usd"] <= L * m["ondemand_cost_usd"]:
                m = _abandoned(m)
                extra = (math.nan,) * len(extra)
        rows.append((m["finished"],) + tuple(math.nan if m[k] is None else m[k] for k in METRICS) + extra)
    return np.array(rows, dtype=float).reshape(len(rows), spec.width)


_metric_values = operator.itemgetter(*METRICS)
"""A RunResult's METRICS from its fields (metrics() but for its None where a float is NaN, which a row
holds as NaN anyway)."""


KEPT_WHEN_ABANDONED = ("makespan_h", "ondemand_makespan_h", "time_ratio", "preemptions", "met_deadline",
                       "deadline_slack_h")


def _stopped(m: dict) -> dict:
    """A run stopped early: past its deadline it missed it; before it, whether it would have met it is
    unknown (NaN). Its slack (deadline minus the makespan reached) is an upper bound."""
    slack = m.get("deadline_slack_h")
    if slack is not None and slack >= 0:
        m = {**m, "met_deadline": None}
    return m


def _abandoned(m: dict) -> dict:
    """A run the model stopped on time alone (its cost could not grow, e.g. AWS's free
    first hour): its makespan is a lower bound, its cost unknown (NaN)."""
    return {k: (v if k in KEPT_WHEN_ABANDONED or k not in METRICS else math.nan) for k, v in m.items()}


def _new_cell_tasks(spec: SweepSpec, cells: list[Cell]) -> list[_Task]:
    n = spec.replications
    step = max(1, min(CHUNK_REPLICATIONS, n))
    tasks = []
    for c in cells:
        limit = spec.limit_for(spec.cell_scenario(c))
        tasks += [_Task(c, tuple(range(lo, min(n, lo + step))), limit) for lo in range(0, n, step)]
    return tasks


def _rerun_tasks(spec: SweepSpec, runs: dict[Cell, list[int]]) -> list[_Task]:
    step = CHUNK_REPLICATIONS
    return [_Task(c, tuple(reps[i:i + step]), spec.rerun_limit_ratio)
            for c, reps in runs.items() for i in range(0, len(reps), step)]


def _work(spec: SweepSpec) -> Work:
    """The sweep as executors see it: _init_worker once per worker process, _run_chunk per task."""
    return Work(_init_worker, _run_chunk, spec)


# -- results -----------------------------------------------------------------------
PARTIAL = ".partial"
"""The folder in --out that holds an unfinished sweep's chunk results (removed once the sweep is complete)."""
CHUNKS = "chunks.log"
RUNS_FORMATS = ("csv", "parquet")
PARQUET_ROWS_PER_GROUP = 65_536


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


def _seed_text(seed) -> str:
    return ":".join(str(x) for x in seed)


class _ChunkStore:
    """Every chunk's results as they arrive, appended to OUT/.partial/chunks.log: what a resumed sweep reuses,
    and where the runs are read back from, cell by cell, to write the outputs (so the sweep does not hold
    every run in memory).

    A record: a header (MAGIC, key length, rows, columns), the key (JSON: the cell, the early-stop ratio
    and the replications; _ChunkStore.key), the rows as little-endian float64, and the CRC32 of all of
    it. The first record's key holds the sweep's fingerprint (its flags, hashed), with no rows. A record
    cut short by a kill fails its length or CRC check: a resume drops it and everything after it.
    """

    HEADER = struct.Struct("<4sIII")
    MAGIC = b"SPC1"
    CRC = struct.Struct("<I")

    def __init__(self, folder: Path, fingerprint: str, resume: bool, width: int = 1 + len(METRICS)):
        self.path = folder / CHUNKS
        self.width = width
        """Columns of a run (SweepSpec.width)."""
        if resume:
            self.index, size = self.scan(self.path, fingerprint, width)
            with open(self.path, "r+b") as fh:
                fh.truncate(size)  # a record cut short by the interruption
        else:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            self.index, size = {}, 0
        self.size = size
        self.fh = open(self.path, "ab")
        self.reader = open(self.path, "rb")
        if not resume:
            self._write(json.dumps({"sweep": fingerprint}), np.empty((0, width)))

    @staticmethod
    def key(task: _Task) -> str:
        """A task's key: its cell (not its role: the runs are the same), early-stop ratio and replications."""
        c, reps = task.cell, task.reps
        span = f"{reps[0]}-{reps[-1] + 1}" if reps == tuple(range(reps[0], reps[-1] + 1)) else list(reps)
        return json.dumps([c.pattern, c.vary_index, c.rate, c.strategy, task.limit, span], separators=(",", ":"))

    @staticmethod
    def parse_key(key: str) -> tuple[tuple[int, ...], float]:
        """(replications, early-stop ratio) of a key."""
        *_, limit, span = json.loads(key)
        if isinstance(span, str):
            lo, hi = (int(x) for x in span.split("-"))
            return tuple(range(lo, hi)), float(limit)
        return tuple(int(r) for r in span), float(limit)

    @classmethod
    def scan(cls, path: Path, fingerprint: str, width: int = 1 + len(METRICS)) -> tuple[dict[str, int], int]:
        """The records of a log: (key -> offset, size up to the last whole record); SweepError if the log
        belongs to another sweep or version."""
        index: dict[str, int] = {}
        offset = 0
        with open(path, "rb") as fh:
            while True:
                got = cls._read_at(fh, offset)
                if got is None:
                    break
                key, rows, length = got
                if offset == 0:
                    if _log_fingerprint(key) != fingerprint:
                        raise SweepError(f"--resume: {path} belongs to another sweep than the sweep.json beside it; "
                                         f"run the sweep again without --resume")
                elif rows.shape[1] != width:
                    raise SweepError(f"--resume: {path} was written by another version of spotsim (its runs have "
                                     f"{rows.shape[1] - 1} metrics, this one {width - 1}); run the sweep again "
                                     f"without --resume")
                else:
                    index[key] = offset
                offset += length
        if offset == 0:
            raise SweepError(f"--resume: {path} holds no record of a sweep; run the sweep again without --resume")
        return index, offset

    @classmethod
    def _read_at(cls, fh, offset: int):
        """(key, rows, record length) of the record at `offset`, or None where no whole record is."""
        fh.seek(offset)
        head = fh.read(cls.HEADER.size)
        if len(head) < cls.HEADER.size:
            return None
        magic, klen, nrows, ncols = cls.HEADER.unpack(head)
        if magic != cls.MAGIC:
            return None
        rest = fh.read(klen + 8 * nrows * ncols + cls.CRC.size)
        if len(rest) < klen + 8 * nrows * ncols + cls.CRC.size:
            return None
        body = head + rest[:-cls.CRC.size]
        if zlib.crc32(body) != cls.CRC.unpack(rest[-cls.CRC.size:])[0]:
            return None
        key = rest[:klen].decode("utf-8")
        rows = np.frombuffer(rest, dtype="<f8", count=nrows * ncols, offset=klen).reshape(nrows, ncols)
        return key, rows.astype(float), len(head) + len(rest)

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def _write(self, key: str, rows: np.ndarray) -> int:
        kb = key.encode("utf-8")
        rows = np.ascontiguousarray(rows, dtype="<f8")
        body = self.HEADER.pack(self.MAGIC, len(kb), rows.shape[0], rows.shape[1]) + kb + rows.tobytes()
        record = body + self.CRC.pack(zlib.crc32(body))
        offset = self.size
        self.fh.write(record)
        self.fh.flush()
        self.size += len(record)
        return offset

    def append(self, key: str, rows: np.ndarray) -> int:
        """Keep one chunk's rows (flushed at once); its record's offset."""
        offset = self.index[key] = self._write(key, rows)
        return offset

    def read(self, offset: int) -> tuple[str, np.ndarray]:
        """(key, rows) of the record at `offset`."""
        got = self._read_at(self.reader, offset)
        if got is None:
            raise SweepError(f"{self.path}: the record at byte {offset} is damaged; run the sweep again")
        return got[0], got[1]

    def close(self) -> None:
        self.fh.close()
        self.reader.close()

    def discard(self) -> None:
        """A complete sweep no longer needs its chunks."""
        self.close()
        shutil.rmtree(self.path.parent, ignore_errors=True)


def _log_fingerprint(key: str):
    """The sweep fingerprint of a log's first record key, None if it is not one."""
    try:
        d = json.loads(key)
    except ValueError:
        return None
    return d.get("sweep") if isinstance(d, dict) else None


@dataclass
class _CellStat:
    """What the break-even finder needs of a complete cell, kept in memory (its runs are in the store)."""

    limit: float
    refs: list[int]
    n: int = 0
    rerun_refs: list[int] = field(default_factory=list)
    resimulated: int = 0
    bands: dict = field(default_factory=dict)
    stopped: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
    stopped_limits: np.ndarray = field(default_factory=lambda: np.empty(0))


class _Results:
    """Completed cells: their statistics in memory, their runs in the chunk store (and, with the CSV format,
    appended to runs.csv as each cell completes)."""

    def __init__(self, spec: SweepSpec, out: Path, store: _ChunkStore, runs_format: str = "csv"):
        self.spec, self.store, self.format = spec, store, runs_format
        self.combos = spec.combos()
        self.runs_path = out / f"runs.{runs_format}"
        self.summary_path = out / "summary.csv"
        self.header = run_header(spec)
        self.fh = self.writer = None
        if runs_format == "csv":
            self.fh = open(self.runs_path, "w", newline="", encoding="utf-8")
            self.writer = csv.writer(self.fh, lineterminator="\n")
            self.writer.writerow(self.header)
            self.fh.flush()
        self.stats: dict[Cell, _CellStat] = {}
        self.curves: dict[tuple, list[Cell]] = {}  # (pattern, vary_index, strategy) -> cells by rate
        self.order: list[Cell] = []
        self.spans: dict[Cell, tuple[int, int]] = {}
        """(start, end) byte offsets of a cell's rows in the runs.csv written as cells complete, while they
        are its final rows (no re-simulation since): write_outputs copies them rather than formatting them again."""

    def add(self, cell: Cell, data: np.ndarray, limit: float, refs: list[int]) -> None:
        """A newly complete cell: its statistics kept, its rows appended to runs.csv at once."""
        stat = self.stats[cell] = _CellStat(float(limit), list(refs))
        limits = np.full(data.shape[0], float(limit))
        self._update(cell, stat, data, limits)
        self.order.append(cell)
        curve = self.curves.setdefault(cell.curve, [])
        curve.append(cell)
        curve.sort(key=lambda c: c.rate)
        if self.writer is not None:
            start = self.fh.tell()
            self.writer.writerows(self._rows(cell, data, limits))
            self.fh.flush()
            self.spans[cell] = (start, self.fh.tell())

    def replace(self, cell: Cell, reps: tuple[int, ...], ref: int) -> None:
        """Re-simulated runs of a complete cell replace their rows (in the outputs written at the end)."""
        stat = self.stats[cell]
        self.spans.pop(cell, None)
        stat.rerun_refs.append(ref)
        stat.resimulated += len(reps)
        self._update(cell, stat, *self.data(cell))

    def data(self, cell: Cell) -> tuple[np.ndarray, np.ndarray]:
        """(runs, early-stop ratios) of a complete cell, read back from the store, re-simulations applied."""
        stat = self.stats[cell]
        data = np.concatenate([self.store.read(ref)[1] for ref in stat.refs])
        limits = np.full(data.shape[0], stat.limit)
        for ref in stat.rerun_refs:
            key, rows = self.store.read(ref)
            reps, limit = _ChunkStore.parse_key(key)
            data[list(reps)] = rows
            limits[list(reps)] = limit
        return data, limits

    def _update(self, cell: Cell, stat: _CellStat, data: np.ndarray, limits: np.ndarray) -> None:
        stat.n = data.shape[0]
        col = {k: data[:, 1 + j] for j, k in enumerate(METRICS)}
        slack = self.spec.cell_scenario(cell).breakeven.time_slack
        stat.bands = {"cost": be.band(col["cost_usd"] - col["ondemand_cost_usd"]),
                      "time": be.band(col["makespan_h"] - slack * col["ondemand_makespan_h"])}
        stat.stopped = np.flatnonzero((data[:, 0] == 0) & ~np.isnan(col["cost_usd"]))
        stat.stopped_limits = limits[stat.stopped]

    def band(self, cell: Cell, metric: str) -> tuple[float, float, float]:
        return self.stats[cell].bands[metric]

    def stopped_early(self, cell: Cell) -> np.ndarray:
        """Replications stopped early with a known cost (a lower bound), not abandoned ones (NaN)."""
        return self.stats[cell].stopped

    def runs(self) -> int:
        return sum(st.n for st in self.stats.values())

    def _rows(self, cell: Cell, data: np.ndarray, limits: np.ndarray):
        return csv_rows(self.spec, self.combos[cell.vary_index], cell, data, limits)

    def write_outputs(self, summary: bool = True) -> None:
        """Write the runs file (rewritten, sorted, each run's final row) and summary.csv, one cell at a time
        in output order: memory bounded by one cell, not by the number of runs."""
        if self.fh is not None:
            self.fh.close()
            self.fh = self.writer = None
        tmp = self.runs_path.with_name(self.runs_path.name + ".tmp")
        runs = _ParquetRuns(tmp, self.spec) if self.format == "parquet" else _CsvRuns(tmp, self.header)
        sfh = None
        written = open(self.runs_path, "rb") if self.spans else None  # the rows written as cells completed
        try:
            if summary:
                sfh = open(self.summary_path, "w", newline="", encoding="utf-8")
                sw = csv.writer(sfh, lineterminator="\n")
                sw.writerow(summary_header(self.spec))
            for cell in sorted(self.order, key=_cell_sort_key(self.spec)):
                span = self.spans.get(cell)
                if span is not None and sfh is None:
                    runs.copy(written, *span)
                    continue
                data, limits = self.data(cell)
                if self.format == "parquet":
                    runs.add(cell, data, limits)
                elif span is not None:
                    runs.copy(written, *span)
                else:
                    runs.add(self._rows(cell, data, limits))
                if sfh is not None:
                    sw.writerow([_fmt(x) for x in summary_row(self.spec, cell, data, self.stats[cell].resimulated)])
        finally:
            runs.close()
            if sfh is not None:
                sfh.close()
            if written is not None:
                written.close()
        os.replace(tmp, self.runs_path)


def run_header(spec: SweepSpec) -> list[str]:
    """The runs file's columns."""
    return ["strategy", "pattern", "rate_per_h", *spec.vary_keys, *RUN_COLUMNS_TAIL, *spec.zone_columns]


def csv_rows(spec: SweepSpec, combo: dict, cell: Cell, data: np.ndarray, limits: np.ndarray):
    """A cell's rows of runs.csv, as text: `data` one row (finished, *METRICS, *zone columns) per
    replication, `limits` each run's early-stop ratio. Counts (INT_METRICS) as integers, NaN as
    nan; formatted from plain Python floats (one tolist per cell: the commonest cost of writing a big sweep)."""
    head = [cell.strategy, cell.pattern, _fmt(float(cell.rate)), *(_fmt(combo[k]) for k in spec.vary_keys)]
    zones = 1 + len(METRICS)
    counts = [j for j, k in enumerate((*METRICS, *spec.zone_columns)) if k in INT_METRICS]
    in_grid = _fmt(cell.in_grid)
    # Floats go to the csv writer as they are: it writes str(v), which is repr(v) ("nan", "inf" included).
    for rep, (row, limit) in enumerate(zip(data.tolist(), limits.tolist())):
        values = row[1:]
        for j in counts:
            v = values[j]
            values[j] = "nan" if v != v else int(v)
        yield head + [rep, _seed_text(spec.seed_of(cell, rep)), in_grid, "true" if row[0] else "false",
                      *values[:zones - 1], limit, *values[zones - 1:]]


class _CsvRuns:
    """runs.csv, written row by row."""

    def __init__(self, path: Path, header: list[str]):
        self.fh = open(path, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.fh, lineterminator="\n")
        self.writer.writerow(header)

    def add(self, rows) -> None:
        self.writer.writerows(rows)

    def copy(self, src, start: int, end: int) -> None:
        """Rows written before, as they are: bytes [start, end) of `src` (a runs.csv open for reading)."""
        src.seek(start)
        self.fh.write(src.read(end - start).decode("utf-8"))

    def close(self) -> None:
        self.fh.close()


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise SweepError("--format parquet: pyarrow is not installed; install it with "
                         "`pip install 'spotsim[parquet]'`, or use --format csv") from None
    return pyarrow


def _vary_type(values) -> str:
    """The Parquet column type of a varied key's values: the type pandas would read from runs.csv."""
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float64"
    return "string"


class _ParquetRuns:
    """runs.parquet: the columns of runs.csv with their types (counts as integers, null where runs.csv has
    nan; booleans; varied keys typed by their values), written in row groups of PARQUET_ROWS_PER_GROUP."""

    def __init__(self, path: Path, spec: SweepSpec):
        pa = self.pa = _pyarrow()
        self.spec = spec
        self.combos = spec.combos()
        self.vary_types = {k: _vary_type(v) for k, v in spec.vary}
        fields = [("strategy", pa.string()), ("pattern", pa.string()), ("rate_per_h", pa.float64())]
        fields += [(k, getattr(pa, {"bool": "bool_", "string": "string"}.get(t, t))()) for k, t in
                   self.vary_types.items()]
        fields += [("replication", pa.int64()), ("seed", pa.string()), ("in_grid", pa.bool_()),
                   ("finished", pa.bool_())]
        fields += [(k, pa.int64() if k in INT_METRICS else pa.float64()) for k in METRICS]
        fields += [("limit_ratio", pa.float64())]
        fields += [(k, pa.int64() if k in INT_METRICS else pa.float64()) for k in spec.zone_columns]
        self.schema = pa.schema(fields)
        self.writer = pa.parquet.ParquetWriter(str(path), self.schema)
        self.parts: list = []
        self.rows = 0

    def add(self, cell: Cell, data: np.ndarray, limits: np.ndarray) -> None:
        pa, n = self.pa, data.shape[0]
        combo = self.combos[cell.vary_index]
        cols = [pa.array([cell.strategy] * n, pa.string()), pa.array([cell.pattern] * n, pa.string()),
                pa.array(np.full(n, float(cell.rate)))]
        for k, t in self.vary_types.items():
            v = combo[k]
            v = _fmt(v) if t == "string" else float(v) if t == "float64" else v
            cols.append(pa.array([v] * n, self.schema.field(k).type))
        cols += [pa.array(np.arange(n, dtype=np.int64)),
                 pa.array([_seed_text(self.spec.seed_of(cell, rep)) for rep in range(n)], pa.string()),
                 pa.array(np.full(n, cell.in_grid)), pa.array(data[:, 0] != 0)]
        for j, k in enumerate(METRICS):
            cols.append(self._column(k, data[:, 1 + j]))
        cols.append(pa.array(limits.astype(float)))
        cols += [self._column(k, data[:, 1 + len(METRICS) + j]) for j, k in enumerate(self.spec.zone_columns)]
        self.parts.append(pa.RecordBatch.from_arrays(cols, schema=self.schema))
        self.rows += n
        if self.rows >= PARQUET_ROWS_PER_GROUP:
            self._flush()

    def _column(self, k: str, x: np.ndarray):
        if k in INT_METRICS:
            nan = np.isnan(x)
            return self.pa.array(np.where(nan, 0, x).astype(np.int64), mask=nan)
        return self.pa.array(x)

    def _flush(self) -> None:
        if self.parts:
            self.writer.write_table(self.pa.Table.from_batches(self.parts, schema=self.schema),
                                    row_group_size=max(self.rows, 1))
        self.parts, self.rows = [], 0

    def close(self) -> None:
        self._flush()
        self.writer.close()


INT_METRICS = {"preemptions", "checkpoints", "checkpoints_failed", "emergency_ok", "emergency_failed", "epochs_done",
               "switches", "moves"}


def _cell_sort_key(spec: SweepSpec):
    pi = {p: i for i, p in enumerate(spec.patterns)}
    si = {s: i for i, s in enumerate(spec.strategies)}
    return lambda c: (pi[c.pattern], c.vary_index, c.rate, si[c.strategy])


# -- curves and crossings -------------------------------------------------------------
def _bands(results: _Results, cells: list[Cell], metric: str):
    return [results.band(c, metric) for c in cells]


def _curve_data(results: _Results, curve: tuple, metric: str):
    """(cells by rate, rates, means, band lows, band highs) of one curve and metric."""
    cells = results.curves.get(curve, [])
    bands = _bands(results, cells, metric)
    mean, lo, hi = (list(x) for x in zip(*bands)) if bands else ([], [], [])
    return cells, [c.rate for c in cells], mean, lo, hi


def crossing(spec: SweepSpec, results: _Results, pattern: str, v: int, strategy: str, metric: str):
    """The break-even of one curve and metric, `censored` if a run below it is still stopped early."""
    cells, rates, mean, lo, hi = _curve_data(results, (pattern, v, strategy), metric)
    if not cells:
        return None
    c = be.find_breakeven(rates, mean, lo, hi)
    if _censored_runs(results, cells, be.last_rate_below(rates, mean, lo, hi)) and c.status in (be.FOUND, be.ABOVE):
        c = be.Crossing(c.rate, c.ci_low, c.ci_high, be.CENSORED, c.bracket_low, c.bracket_high)
    return c


def _censored_runs(results: _Results, cells: list[Cell], up_to: float) -> int:
    return sum(results.stopped_early(c).size for c in cells if c.rate <= up_to)


def _curve_keys(spec: SweepSpec):
    return [(p, v, st) for p in spec.patterns for v in range(len(spec.combos())) for st in spec.strategies]


def _runs_to_rerun(spec: SweepSpec, results: _Results) -> dict[Cell, list[int]]:
    """Runs stopped early at rates below a crossing, not yet re-simulated without the early stop."""
    todo: dict[Cell, list[int]] = {}
    for key in _curve_keys(spec):
        for metric in ("cost", "time"):
            cells, rates, mean, lo, hi = _curve_data(results, key, metric)
            if not cells:
                continue
            up_to = be.last_rate_below(rates, mean, lo, hi)
            for c in cells:
                if c.rate > up_to:
                    break
                stat = results.stats[c]
                reps = [int(r) for r, lim in zip(stat.stopped, stat.stopped_limits) if lim < spec.rerun_limit_ratio]
                if reps:
                    todo[c] = sorted(set(todo.get(c, [])) | set(reps))
    return todo


def _refinement_cells(spec: SweepSpec, results: _Results) -> list[Cell]:
    """New cells inside the gaps that hold a crossing, per curve (both metrics)."""
    cells: list[Cell] = []
    for key in _curve_keys(spec):
        rates: set[float] = set()
        for metric in ("cost", "time"):
            _, r, mean, lo, hi = _curve_data(results, key, metric)
            if r:
                rates.update(be.refinement_rates(r, mean, lo, hi))
        p, v, st = key
        cells += [Cell(p, v, rate, st, REFINEMENT) for rate in sorted(rates)]
    return cells


def _meetable(spec: SweepSpec, cells: list[Cell], by_group: bool = False) -> list[Cell]:
    """The cells whose deadline can be met all on-demand; with `by_group`, a (pattern, combination)
    group is dropped whole (its strategies share their rates)."""
    bad = [c for c in cells if not spec.deadline_ok(c)]
    if by_group:
        groups = {(c.pattern, c.vary_index) for c in bad}
        return [c for c in cells if (c.pattern, c.vary_index) not in groups]
    return [c for c in cells if c not in bad]


def _groups_to_expand(spec: SweepSpec, results: _Results) -> list[tuple[str, int]]:
    """(pattern, combination) groups with a curve that a higher rate could settle.

    A curve whose highest rate has abandoned runs (NaN mean) is not expanded:
    the job no longer finishes there, so higher rates cannot say more.
    """
    groups = []
    for p in spec.patterns:
        for v in range(len(spec.combos())):
            if spec.own_rate(p, v) is not None:  # one rate, by construction
                continue
            want = False
            for st in spec.strategies:
                for metric in ("cost", "time"):
                    cells, rates, mean, lo, hi = _curve_data(results, (p, v, st), metric)
                    if not cells or math.isnan(mean[-1]):
                        continue
                    want = want or be.needs_more(be.find_breakeven(rates, mean, lo, hi))
            if want:
                groups.append((p, v))
    return groups


# -- output files ------------------------------------------------------------------------
def summary_header(spec: SweepSpec) -> list[str]:
    """summary.csv's columns."""
    header = ["strategy", "pattern", "rate_per_h", *spec.vary_keys, "in_grid", "replications", "unfinished"]
    for k in METRICS:
        header += [f"{k}_mean", f"{k}_ci_low", f"{k}_ci_high"]
        if k in PERCENTILE_METRICS:
            header += [f"{k}_p{q}" for q in PERCENTILES]
    header.append("resimulated")
    for k in spec.zone_columns:
        header += [f"{k}_mean", f"{k}_ci_low", f"{k}_ci_high"]
    return header


def summary_row(spec: SweepSpec, cell: Cell, data: np.ndarray, resimulated: int) -> list:
    """One completed cell: mean and 95% CI of every metric (NaN where a run was abandoned), the
    PERCENTILES of PERCENTILE_METRICS over the runs that have a value, and the runs re-simulated."""
    combo = spec.combo(cell.vary_index)
    row = [cell.strategy, cell.pattern, float(cell.rate), *(combo[k] for k in spec.vary_keys),
           cell.in_grid, data.shape[0], int((data[:, 0] == 0).sum())]
    for j, k in enumerate(METRICS):
        row += list(be.band(data[:, 1 + j]))
        if k in PERCENTILE_METRICS:
            row += percentiles(data[:, 1 + j])
    row.append(resimulated)
    for j in range(1 + len(METRICS), data.shape[1]):
        row += list(be.band(data[:, j]))
    return row


def percentiles(values) -> list[float]:
    """The PERCENTILES of the values that are not NaN (all NaN: NaN each)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return [math.nan] * len(PERCENTILES)
    return [float(v) for v in np.percentile(x, PERCENTILES)]


def breakeven_rows(spec: SweepSpec, results: _Results) -> tuple[list[str], list[list]]:
    """Per (strategy, pattern, combination) and metric: the break-even rate, CI, status,
    the bracket around it, whether refinement narrowed the bracket below the CI, and how
    many runs below it are still stopped early."""
    header = ["strategy", "pattern", *spec.vary_keys, "metric", *BREAKEVEN_TAIL]
    rows = []
    combos = spec.combos()
    for p, v, st in _curve_keys(spec):
        for metric in ("cost", "time"):
            cells, rates, mean, lo, hi = _curve_data(results, (p, v, st), metric)
            if not cells:
                continue
            c = crossing(spec, results, p, v, st, metric)
            refinement = ""
            if c.status in (be.FOUND, be.CENSORED) and not math.isnan(c.ci_high):
                refinement = "step_limit" if be.refinement_rates(rates, mean, lo, hi) else "converged"
            censored = _censored_runs(results, cells, be.last_rate_below(rates, mean, lo, hi))
            rows.append([st, p, *(combos[v][k] for k in spec.vary_keys), metric, c.rate, c.ci_low, c.ci_high,
                         c.status, c.bracket_low, c.bracket_high, refinement, censored])
    return header, rows


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_fmt(x) for x in row])


@dataclass
class SweepOutcome:
    """What a sweep did. `reused_runs`: runs taken from an interrupted sweep's chunks by --resume;
    `already_complete`: --resume found the sweep complete and did nothing."""

    out: Path
    runs: int
    cells: int
    expanded_rates: list[float]
    refined_cells: int = 0
    refine_rounds: int = 0
    resimulated_runs: int = 0
    reused_runs: int = 0
    already_complete: bool = False


def write_meta(spec: SweepSpec, out: Path, complete: bool, cells_done: int, outcome: SweepOutcome) -> None:
    meta = {
        "scenario": spec.scenario.name,
        "scenario_rate_per_h": spec.scenario.interrupts.rate_per_h,
        "rates": list(spec.rates), "expanded_rates": outcome.expanded_rates,
        "strategies": list(spec.strategies), "patterns": list(spec.patterns),
        "replications": spec.replications, "seed": spec.seed,
        "vary": [{"key": k, "values": list(v)} for k, v in spec.vary],
        "limit_ratio": spec.limit_ratio, "expansion_cap_per_h": spec.expansion_cap,
        "refine_steps": spec.refine_steps, "rerun_limit_ratio": spec.rerun_limit_ratio,
        "refined_cells": outcome.refined_cells, "refine_rounds": outcome.refine_rounds,
        "resimulated_runs": outcome.resimulated_runs,
        "time_slack": spec.scenario.breakeven.time_slack,
        "own_rate": all(spec.own_rate(p, v) is not None for p in spec.patterns for v in range(len(spec.combos()))),
        "complete": complete, "cells_done": cells_done,
        "scenario_values": spec.scenario.to_dict(),
    }
    path = out / "sweep.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- resuming --------------------------------------------------------------------------
RESUME_FLAGS = {"rates": "--rates", "strategies": "--strategies", "patterns": "--patterns",
                "replications": "--replications", "seed": "--seed", "vary": "--vary", "limit_ratio": "--limit-ratio",
                "refine_steps": "--refine-steps", "expansion_cap_per_h": "the expansion cap (SweepSpec.expansion_cap)",
                "rerun_limit_ratio": "the re-simulation limit (SweepSpec.rerun_limit_ratio)",
                "scenario_values": "SCENARIO/--set"}
"""The sweep.json keys a --resume must match, and the flag each comes from (in the order refusals name them)."""


def _flags(spec: SweepSpec) -> dict:
    """What a sweep was asked, as sweep.json holds it (JSON values)."""
    d = {"rates": list(spec.rates), "strategies": list(spec.strategies), "patterns": list(spec.patterns),
         "replications": spec.replications, "seed": spec.seed,
         "vary": [{"key": k, "values": list(v)} for k, v in spec.vary], "limit_ratio": spec.limit_ratio,
         "refine_steps": spec.refine_steps, "expansion_cap_per_h": spec.expansion_cap,
         "rerun_limit_ratio": spec.rerun_limit_ratio, "scenario_values": spec.scenario.to_dict()}
    return json.loads(json.dumps(d, default=str))


def _fingerprint(spec: SweepSpec) -> str:
    return hashlib.sha256(json.dumps(_flags(spec), sort_keys=True).encode()).hexdigest()


def _show(key: str, v) -> str:
    if key == "vary" and isinstance(v, list):
        text = " ".join(f"{d.get('key')}={','.join(json.dumps(x) for x in d.get('values', []))}"
                        for d in v if isinstance(d, dict)) or "(none)"
    elif isinstance(v, list):
        text = ",".join(json.dumps(x) for x in v)
    else:
        text = json.dumps(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _flatten(d, prefix: str = "") -> dict:
    out = {}
    for k, v in (d.items() if isinstance(d, dict) else ()):
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _differences(was: dict, now: dict) -> list[str]:
    """Each flag whose value differs, with both values."""
    diffs = []
    for key, flag in RESUME_FLAGS.items():
        a, b = was.get(key), now.get(key)
        if a == b:
            continue
        if key == "scenario_values":
            fa, fb = _flatten(a), _flatten(b)
            keys = [k for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]
            shown = ", ".join(f"{k} {_show(k, fa.get(k))} there, {_show(k, fb.get(k))} now" for k in keys[:3])
            more = f" and {len(keys) - 3} more key(s)" if len(keys) > 3 else ""
            diffs.append(f"{flag} differ ({shown}{more})")
        else:
            diffs.append(f"{flag} differs ({_show(key, a)} in sweep.json, {_show(key, b)} now)")
    return diffs


def check_resume(spec: SweepSpec, out, scan: bool = True) -> dict:
    """Refuse a --resume that cannot continue the sweep in `out` (no sweep there, other flags, no chunks);
    return its sweep.json. With `scan`, the chunk log is read through too (its sweep and version checked)."""
    out = Path(out)
    path = out / "sweep.json"
    if not path.is_file():
        raise SweepError(f"--resume: {out} holds no sweep to resume (no sweep.json); leave out --resume to start one")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        meta = f"{type(exc).__name__}: {exc}"
    if not isinstance(meta, dict):
        why = meta if isinstance(meta, str) else "not a JSON object"
        raise SweepError(f"--resume: {path} is not the sweep.json of `spotsim sweep` ({why}); "
                         f"leave out --resume to start over")
    diffs = _differences(meta, _flags(spec))
    if diffs:
        raise SweepError(f"--resume: {'; '.join(diffs)}: give the flags of the sweep in {out}, or leave out "
                         f"--resume to start over")
    if meta.get("complete") is True:
        return meta
    log = out / PARTIAL / CHUNKS
    if not log.is_file():
        raise SweepError(f"--resume: the interrupted sweep in {out} left no chunk results ({PARTIAL}/{CHUNKS}; "
                         f"written since spotsim could resume); leave out --resume to start over")
    if scan:
        _ChunkStore.scan(log, _fingerprint(spec), spec.width)
    return meta


def check_format(runs_format: str) -> str:
    """The runs file's format, refused unless RUNS_FORMATS; parquet needs pyarrow."""
    if runs_format not in RUNS_FORMATS:
        raise SweepError(f"--format: unknown format {runs_format!r}; choose from {', '.join(RUNS_FORMATS)}")
    if runs_format == "parquet":
        _pyarrow()
    return runs_format


# -- the sweep ---------------------------------------------------------------------------
def run_sweep(spec: SweepSpec, out, jobs: int | None = None,
              progress: Callable[[int, int], None] | None = None, executor: str | Executor = "local",
              scheduler: str | None = None, resume: bool = False, runs_format: str = "csv") -> SweepOutcome:
    """Run the grid, expand brackets, re-simulate runs stopped early below a crossing, refine brackets,
    and write runs.csv (or runs.parquet), summary.csv, breakeven.csv, sweep.json.

    `executor`: "local", "dask" (with `scheduler`, a running scheduler's address; without, a LocalCluster
    of `jobs` workers) or an Executor. `progress(runs_done_now, runs_planned_so_far)` is called after
    every chunk. Every chunk's results go to OUT/.partial/ as they arrive; `resume` continues from them
    the sweep that sweep.json describes (check_resume), ending with the same bytes as a sweep never
    interrupted; a complete sweep is left as it is (`already_complete`). On KeyboardInterrupt the
    completed cells are written to the runs file and summary.csv, sweep.json says it is incomplete, and
    SweepInterrupted is raised.
    """
    spec.validate()
    runs_format = check_format(runs_format)
    out = prepare_out(out)
    if resume:
        meta = check_resume(spec, out)
        if meta.get("complete") is True:
            cells = int(meta.get("cells_done", 0))
            return SweepOutcome(out, cells * spec.replications, cells, list(meta.get("expanded_rates", [])),
                                int(meta.get("refined_cells", 0)), int(meta.get("refine_rounds", 0)),
                                int(meta.get("resimulated_runs", 0)), already_complete=True)
    jobs = max(1, jobs or os.cpu_count() or 1)
    ex = make_executor(executor, scheduler) if isinstance(executor, str) else executor
    try:
        ex.start(_work(spec), jobs)
        store = _ChunkStore(out / PARTIAL, _fingerprint(spec), resume, spec.width)
    except BaseException:
        ex.close(abort=True)
        raise
    for other in RUNS_FORMATS:  # a runs file of another format, left by an earlier sweep into this folder
        if other != runs_format:
            (out / f"runs.{other}").unlink(missing_ok=True)
    (out / "breakeven.csv").unlink(missing_ok=True)  # an earlier sweep's, until this one ends
    outcome = SweepOutcome(out, 0, 0, [])
    write_meta(spec, out, False, 0, outcome)  # a sweep killed outright can be resumed too
    results = _Results(spec, out, store, runs_format)
    grid = spec.grid()
    planned = [len(grid) * spec.replications]

    def run_tasks(tasks: list[_Task], on_done) -> None:
        keys = [_ChunkStore.key(t) for t in tasks]
        known = [k in store for k in keys]
        fresh = iter(ex.map([t for t, k in zip(tasks, known) if not k]))
        for task, key, kept in zip(tasks, keys, known):
            if kept:
                ref = store.index[key]
                rows = store.read(ref)[1]
                outcome.reused_runs += len(task.reps)
            else:
                rows = next(fresh)
                ref = store.append(key, rows)
            on_done(task, rows, ref)
            if progress is not None:
                progress(len(task.reps), planned[0])

    def run_cells(cells: list[Cell]) -> None:
        parts: list[np.ndarray] = []
        refs: list[int] = []

        def done(task: _Task, rows: np.ndarray, ref: int) -> None:
            parts.append(rows)
            refs.append(ref)
            if task.reps[-1] == spec.replications - 1:
                results.add(task.cell, np.concatenate(parts), task.limit, refs)
                parts.clear()
                refs.clear()
        run_tasks(_new_cell_tasks(spec, cells), done)

    def rerun(todo: dict[Cell, list[int]]) -> None:
        outcome.resimulated_runs += sum(len(r) for r in todo.values())
        run_tasks(_rerun_tasks(spec, todo), lambda t, rows, ref: results.replace(t.cell, t.reps, ref))

    try:
        run_cells(grid)
        while True:
            top = max(spec.rates) if not outcome.expanded_rates else outcome.expanded_rates[-1]
            rate = be.next_rate(top, spec.expansion_cap)
            groups = _groups_to_expand(spec, results)
            if rate is None or not groups:
                break
            cells = [Cell(p, v, rate, st, EXPANSION) for p, v in groups for st in spec.strategies]
            cells = _meetable(spec, cells, by_group=True)
            if not cells:
                break
            planned[0] += len(cells) * spec.replications
            run_cells(cells)
            outcome.expanded_rates.append(rate)
        for step in range(spec.refine_steps + 1):
            todo = _runs_to_rerun(spec, results)
            if todo:
                planned[0] += sum(len(r) for r in todo.values())
                rerun(todo)
            cells = _meetable(spec, _refinement_cells(spec, results)) if step < spec.refine_steps else []
            if not cells:
                break
            planned[0] += len(cells) * spec.replications
            run_cells(cells)
            outcome.refined_cells += len(cells)
            outcome.refine_rounds += 1
    except KeyboardInterrupt:
        ex.close(abort=True)
        results.write_outputs()
        store.close()
        outcome.cells = len(results.order)
        write_meta(spec, out, False, len(results.order), outcome)
        raise SweepInterrupted(len(results.order), len(grid), results.runs()) from None
    except Exception:  # a refused run or lost workers: stop, and leave the complete cells in the runs file
        ex.close(abort=True)
        results.write_outputs(summary=False)
        store.close()
        raise
    ex.close()
    results.write_outputs()
    _write_csv(out / "breakeven.csv", *breakeven_rows(spec, results))
    outcome.runs = results.runs()
    outcome.cells = len(results.order)
    write_meta(spec, out, True, len(results.order), outcome)
    store.discard()
    return outcome
