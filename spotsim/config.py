"""Scenarios: layered YAML checked at the door, loaded into frozen dataclasses.

Layers, later ones winning: built-in defaults <- cloud preset (from `cloud` and
`gpu`) <- scenario file(s) (a file may name a base with `extends:`) <-
`--set key=value`. Anything wrong is refused before a run starts with a
ScenarioError naming the dotted key, the value and what is allowed.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from . import advisor, clouds
from .errors import ScenarioError, SpotsimError
from .interrupts.trace_io import load_trace
from .zones.spec import POLICIES as ZONE_POLICIES
from .zones.spec import Zone, check_zones, parse_zones

STRATEGY_NAMES = ("none", "fixed", "adaptive", "milestone", "young_daly")
PATTERN_NAMES = ("none", "regular", "poisson", "bursty", "weibull", "trace")
WAIT_KINDS = ("none", "fixed", "exponential", "trace")
MAX_RATE_PER_H = 36000.0  # one preemption every 0.1 s of uptime: beyond any use
MAX_EPOCHS = 1_000_000_000  # per-epoch arrays are capped lower (epochs.MAX_ARRAY_EPOCHS); equal, noiseless epochs cost no memory
ON_NOTICE = ("save_and_exit", "train_then_save")
POLICY_NAMES = ("spot_only", "on_demand", "greedy", "uniform_progress", "omniscient")
DEADLINE_POLICIES = ("greedy", "uniform_progress", "omniscient")
"""Policies that need job.deadline_h (spot_only and on_demand only report against one)."""


def _spec(kind: str, *, lo=None, hi=None, lo_open=False, choices=None, optional=False, doc="", hi_why=""):
    return {"kind": kind, "lo": lo, "hi": hi, "lo_open": lo_open, "choices": choices,
            "optional": optional, "doc": doc, "hi_why": hi_why}


def key(default, kind, **spec):
    """A scenario field: its default and how a value is checked."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=_spec(kind, **spec))
    return field(default=default, metadata=_spec(kind, **spec))


@dataclass(frozen=True)
class Job:
    epochs: int = key(100, "int", lo=1, hi=MAX_EPOCHS, doc="epochs to train",
                      hi_why="more epochs than any real job, and more than fit in memory where each epoch's "
                             "values are drawn; describe a longer job as fewer, longer epochs")
    epoch_s: float = key(38.0, "seconds", lo=0, lo_open=True,
                         doc="seconds per training epoch (study: ~38 s, FACTS.md)")
    epoch_jitter: float = key(0.0, "number", lo=0, hi=5, doc="coefficient of variation of the epoch time")
    eval_s: float = key(2.0, "seconds", lo=0, doc="seconds of validation after each epoch (assumed)")
    step_s: float = key(0.1, "seconds", lo=0,
                        doc="one training step; a notice waits for the current step to end")
    deadline_h: float | None = key(None, "number", lo=0, lo_open=True, optional=True,
                                   doc="wall-clock hours from submission by which the job must finish "
                                       "(none: no deadline); at least the job's on-demand makespan")
    warmup_s: float = key(0.0, "seconds", lo=0,
                          doc="extra seconds the first training steps of every lifetime take (allocator, "
                              "cuDNN autotuning; H100: first epoch 8-19 s against 5 s warm, README), paid "
                              "before progress resumes; preemptible")
    compile_s: float = key(0.0, "seconds", lo=0,
                           doc="seconds torch.compile takes in every lifetime without a restored compile "
                               "cache (set epoch_s to the compiled epoch time)")
    compile_cached_fraction: float = key(1.0, "number", lo=0, hi=1,
                                         doc="share of compile_s still paid when the compile cache is "
                                             "restored with the checkpoint (1: no cache travels)")


@dataclass(frozen=True)
class Checkpoint:
    strategy: str = key("fixed", "choice", choices=STRATEGY_NAMES)
    every_epochs: int | None = key(5, "int", lo=1, optional=True, doc="fixed: interval in epochs")
    every_s: float | None = key(None, "seconds", lo=0, lo_open=True, optional=True,
                                doc="fixed: interval in seconds of training")
    write_s: float = key(3.0, "seconds", lo=0,
                         doc="seconds a periodic checkpoint takes to write: blocking, or in the background "
                             "with async_write")
    async_write: bool = key(False, "bool",
                            doc="asynchronous periodic saves (real mode's --async-checkpoint; YAML key "
                                "`async` also accepted): training stalls stall_s while the state is copied, "
                                "then the write runs for write_s in the background; durable when it ends")
    stall_s: float = key(0.1, "seconds", lo=0,
                         doc="async_write: seconds training is blocked while the state is copied "
                             "(H100 measured mean 0.096 s against 0.7 s blocking, README)")
    write_prior_s: float | None = key(None, "seconds", lo=0, optional=True,
                                      doc="write time adaptive/young_daly assume until a save is measured "
                                          "(default write_s; real mode's --write-s)")
    restore_s: float = key(5.0, "seconds", lo=0, doc="seconds to load a checkpoint when a VM starts")
    size_gb: float = key(0.2, "number", lo=0,
                         doc="checkpoint size in GB, what a move between regions transfers (zones; ResNet-50 "
                             "weights and SGD momentum: ~0.2 GB)")
    emergency: bool = key(True, "bool", doc="save when the preemption notice arrives")
    on_notice: str = key("save_and_exit", "choice", choices=ON_NOTICE,
                         doc="what the job does with the notice window: save_and_exit (save at once, then "
                             "shut the VM down, so billing stops) or train_then_save (train on and save just "
                             "in time to be durable before the kill). Default save_and_exit: it gives the save "
                             "the whole window (emergency saves are best effort, FACTS.md) and stops billing "
                             "early; train_then_save gains up to a window of training per preemption but bets "
                             "on the save time to the second")
    emergency_write_s: float | None = key(None, "seconds", lo=0, optional=True,
                                          doc="seconds the emergency save takes (default write_s)")
    prior_mtbf_s: float = key(3600.0, "seconds", lo=0, lo_open=True, doc="adaptive: MTBF before any preemption")
    ema_alpha: float = key(0.3, "number", lo=0, lo_open=True, hi=1, doc="adaptive: EMA weight of a new uptime")
    min_interval_s: float = key(60.0, "seconds", lo=0, lo_open=True, doc="adaptive: shortest interval")
    max_interval_s: float = key(3600.0, "seconds", lo=0, lo_open=True, doc="adaptive: longest interval")

    @property
    def write_prior(self) -> float:
        return self.write_s if self.write_prior_s is None else self.write_prior_s

    @property
    def blocking_s(self) -> float:
        """Seconds a periodic save blocks training (the stall when asynchronous), as strategies plan."""
        return self.stall_s if self.async_write else self.write_s

    @property
    def emergency_s(self) -> float:
        return self.write_s if self.emergency_write_s is None else self.emergency_write_s


@dataclass(frozen=True)
class Interrupts:
    pattern: str = key("poisson", "choice", choices=PATTERN_NAMES)
    rate_per_h: float | None = key(3.0, "rate", lo=0, hi=MAX_RATE_PER_H, optional=True,
                                   doc="mean preemptions per hour of VM uptime")
    trace: str | None = key(None, "path", optional=True, doc="trace file (pattern trace)")
    trace_convention: str = key("available", "choice", choices=("available", "preempted"))
    trace_min_nodes: int = key(1, "int", lo=1, doc="trace: live instances the job needs")
    trace_start_s: float | None = key(None, "seconds", lo=0, optional=True,
                                      doc="trace: seconds into the trace at which the job is submitted, "
                                          "below the trace's length (default: uniform random per replication)")
    burst_ratio: float = key(10.0, "number", lo=1, doc="bursty: burst rate / calm rate")
    burst_fraction: float = key(0.1, "number", lo=0, lo_open=True, hi=0.999,
                                doc="bursty: share of uptime spent in bursts")
    burst_mean_s: float = key(900.0, "seconds", lo=0, lo_open=True, doc="bursty: mean burst length")
    weibull_shape: float = key(0.7, "number", lo=0.05, hi=20, doc="weibull: shape k (<1 heavy-tailed)")
    advisor_bucket: str | None = key(None, "choice", choices=advisor.BUCKETS, optional=True,
                                     doc="instead of rate_per_h: AWS Spot Instance Advisor's frequency of "
                                         "interruption (share of instances interrupted in the trailing month), "
                                         "converted to rate_per_h (docs/advisor.md)")
    advisor_point: str = key("mid", "choice", choices=advisor.POINTS,
                             doc="advisor_bucket: which monthly probability of the bucket's range (low end, "
                                 "midpoint, high end); '>20%' has a low end only")
    advisor_horizon_h: float = key(advisor.MONTH_H, "number", lo=0, lo_open=True,
                                   doc="advisor_bucket: hours of uptime the monthly probability is read over, "
                                       "constant hazard: rate = -ln(1 - p) / horizon (730: a whole month, the "
                                       "lowest rate the bucket allows)")


@dataclass(frozen=True)
class Policy:
    name: str = key("spot_only", "choice", choices=POLICY_NAMES,
                    doc="which market each lifetime runs on: spot_only (wait for Spot whatever the deadline), "
                        "on_demand, greedy (Spot while the slack allows, then on-demand for good), "
                        "uniform_progress (on-demand while behind the straight line to the deadline), "
                        "omniscient (the cheapest schedule in hindsight: the floor)")
    margin_s: float = key(0.0, "seconds", lo=0,
                          doc="greedy/uniform_progress: slack kept in hand before moving to on-demand")
    hysteresis_s: float | None = key(None, "seconds", lo=0, optional=True,
                                     doc="uniform_progress: how far behind the line progress may fall before "
                                         "on-demand, and how far ahead it must be before leaving on-demand for "
                                         "Spot (default: one changeover, vm.startup_s + checkpoint.restore_s)")
    assume_no_loss: bool = key(False, "bool",
                               doc="count progress held in memory as safe, as Can't Be Late's policies do "
                                   "(their simulator never loses work); false: only what a preemption "
                                   "would keep")
    tick_s: float | None = key(None, "seconds", lo=1, optional=True,
                               doc="omniscient: time step of the hindsight optimisation (default: the trace's "
                                   "tick, else 60 s)")
    zones: str = key("stay", "choice", choices=ZONE_POLICIES,
                     doc="with `zones:`, where each lifetime runs: stay (the first zone, waiting for it), "
                         "failover (the first zone in the list with capacity), cheapest (the lowest Spot price "
                         "with capacity, moving regions only when the saving pays for the move); docs/zones.md")
    zones_allowed: int | None = key(None, "int", lo=1, optional=True,
                                    doc="use only the first N zones of `zones:` (default all; sweep it for cost "
                                        "against the number of zones allowed)")


@dataclass(frozen=True)
class Vm:
    startup_s: float = key(90.0, "seconds", lo=0,
                           doc="grant to training code running; 80-120 s GPU boot (FACTS.md, third-party)")
    notice_s: float = key(30.0, "seconds", lo=0, doc="preemption notice window (GCP 30, AWS 120, Azure 30)")
    notice_reliability: float = key(1.0, "number", lo=0, hi=1,
                                    doc="probability the notice reaches the job (FACTS.md: best effort)")


@dataclass(frozen=True)
class Capacity:
    wait: str = key("none", "choice", choices=WAIT_KINDS, doc="time until a new Spot VM is granted")
    wait_s: float = key(0.0, "seconds", lo=0, doc="fixed wait, or the mean of an exponential one")


@dataclass(frozen=True)
class Moves:
    """Moving a checkpoint between regions, by relationship (docs/zones.md#sources)."""

    same_region_gbps: float = key(9.72, "number", lo=0, lo_open=True,
                                  doc="Gbit/s of a download within a region (SkyNomad's S3 measurement)")
    cross_region_gbps: float = key(8.20, "number", lo=0, lo_open=True,
                                   doc="Gbit/s between regions of one cloud (SkyNomad's S3 measurement)")
    cross_cloud_gbps: float = key(3.59, "number", lo=0, lo_open=True,
                                  doc="Gbit/s between clouds (SkyNomad's cross-continent S3 measurement)")
    same_region_per_gb: float = key(0.0, "price", lo=0, doc="$/GB between zones of one region")
    cross_region_per_gb: float = key(0.02, "price", lo=0, doc="$/GB between regions (AWS S3 inter-region)")
    cross_cloud_per_gb: float = key(0.09, "price", lo=0, doc="$/GB to another cloud (AWS internet egress)")


@dataclass(frozen=True)
class Prices:
    spot_per_h: float = key(0.223, "price", lo=0, doc="Spot $/h")
    ondemand_per_h: float = key(0.560, "price", lo=0, lo_open=True, doc="on-demand $/h")


@dataclass(frozen=True)
class Billing:
    minimum_s: float = key(60.0, "seconds", lo=0)
    increment_s: float = key(1.0, "seconds", lo=0)
    free_if_preempted_within_s: float = key(0.0, "seconds", lo=0,
                                            doc="AWS: a VM preempted within its first hour is free")


@dataclass(frozen=True)
class Accuracy:
    a_max: float = key(0.64, "number", lo=0, hi=1, doc="plateau of validation accuracy")
    a_0: float = key(0.01, "number", lo=0, hi=1, doc="accuracy before training (1/100 classes)")
    tau_epochs: float = key(20.0, "number", lo=0, lo_open=True, doc="epochs to close 63% of the gap")
    noise_sd: float = key(0.004, "number", lo=0, hi=0.5, doc="epoch-to-epoch noise")
    noise_draws: str = key("sequence", "choice", choices=("sequence", "keyed"),
                           doc="sequence: each epoch's noise drawn in turn from the run's job stream (a run "
                               "costs more the more epochs it has); keyed: a function of the seed and the "
                               "epoch (any epoch's noise at once: no per-epoch cost or memory but "
                               "milestone's)")


@dataclass(frozen=True)
class Breakeven:
    time_slack: float = key(1.0, "number", lo=0, lo_open=True,
                            doc="time break-even: Spot makespan = on-demand makespan x slack")


SECTIONS = {"job": Job, "checkpoint": Checkpoint, "interrupts": Interrupts, "policy": Policy, "vm": Vm,
            "capacity": Capacity, "prices": Prices, "billing": Billing, "accuracy": Accuracy,
            "breakeven": Breakeven, "moves": Moves}
TOP_LEVEL = {"name": _spec("str", optional=True), "description": _spec("str", optional=True),
             "cloud": _spec("choice", choices=tuple(clouds.CLOUDS), optional=True),
             "gpu": _spec("str", optional=True)}


@dataclass(frozen=True)
class Scenario:
    """A fully checked scenario. `to_dict()` gives back the layered values."""

    name: str = "default"
    description: str | None = None
    cloud: str | None = "gcp"
    gpu: str | None = "L4"
    job: Job = field(default_factory=Job)
    checkpoint: Checkpoint = field(default_factory=Checkpoint)
    interrupts: Interrupts = field(default_factory=Interrupts)
    policy: Policy = field(default_factory=Policy)
    vm: Vm = field(default_factory=Vm)
    capacity: Capacity = field(default_factory=Capacity)
    prices: Prices = field(default_factory=Prices)
    billing: Billing = field(default_factory=Billing)
    accuracy: Accuracy = field(default_factory=Accuracy)
    breakeven: Breakeven = field(default_factory=Breakeven)
    moves: Moves = field(default_factory=Moves)
    zones: tuple[Zone, ...] = ()
    """Zones the job may use, in the user's order (docs/zones.md); empty: one zone, interrupts' own."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def get(self, dotted: str):
        """The value at a dotted key, e.g. 'checkpoint.write_s'."""
        obj: Any = self
        for part in dotted.split("."):
            obj = getattr(obj, part)
        return obj

    def with_values(self, values: dict[str, Any], source: str = "--vary") -> "Scenario":
        """A new scenario with dotted keys replaced, checked like any other layer."""
        layer: dict = {}
        for dotted, v in values.items():
            _set_dotted(layer, dotted, v)
        return build_scenario([("scenario", self.to_dict()), (source, layer)], known_complete=True)


def all_keys() -> list[str]:
    """Every dotted key a scenario may set."""
    out = list(TOP_LEVEL)
    for sec, cls in SECTIONS.items():
        out += [f"{sec}.{f.name}" for f in fields(cls)]
    return out


# -- loading -------------------------------------------------------------------
def load_scenario(paths=(), sets=(), *, defaults: bool = True) -> Scenario:
    """Load scenario files (in order) and `--set key=value` strings into a Scenario."""
    layers: list[tuple[str, dict]] = []
    for p in paths:
        layers += _file_layers(Path(p), seen=())
    sets_layer: dict = {}
    for item in sets:
        dotted, value = parse_set(item)
        _set_dotted(sets_layer, dotted, value)
    if sets_layer:
        layers.append(("--set", sets_layer))
    if not any(name for name, _ in layers):
        pass
    scenario = build_scenario(layers)
    if paths and not any("name" in layer for _, layer in layers):
        scenario = dataclasses.replace(scenario, name=Path(paths[-1]).stem)
    return scenario


def parse_set(item: str) -> tuple[str, Any]:
    """'checkpoint.write_s=5' -> ('checkpoint.write_s', 5.0-ish), with a YAML-typed value."""
    if "=" not in item:
        raise ScenarioError(item, item, "expected --set key=value, e.g. --set checkpoint.write_s=5", "--set")
    dotted, raw = item.split("=", 1)
    dotted = dotted.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return dotted, value


def _file_layers(path: Path, seen: tuple) -> list[tuple[str, dict]]:
    if not path.is_file():
        raise ScenarioError("scenario", str(path), "no such scenario file")
    if path.resolve() in seen:
        raise ScenarioError("extends", str(path), "scenario files extend each other in a loop")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError("scenario", str(path), f"malformed YAML at{where}: {problem}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ScenarioError("scenario", str(path), "a scenario file must be a YAML mapping of sections")
    layers: list[tuple[str, dict]] = []
    base = doc.pop("extends", None)
    if base is not None:
        if not isinstance(base, str):
            raise ScenarioError("extends", base, "must be the path of another scenario file", str(path))
        layers += _file_layers(path.parent / base, seen + (path.resolve(),))
    trace = doc.get("interrupts", {}).get("trace") if isinstance(doc.get("interrupts"), dict) else None
    if isinstance(trace, str):
        doc["interrupts"]["trace"] = _relative_to(path, trace)
    if isinstance(doc.get("zones"), list):
        doc["zones"] = [{k: _relative_to(path, v) if k in ("trace", "price_trace") and isinstance(v, str) else v
                         for k, v in z.items()} if isinstance(z, dict) else z for z in doc["zones"]]
    layers.append((str(path), doc))
    return layers


def _relative_to(scenario_path: Path, file: str) -> str:
    """A path written in a scenario file: relative to the file's folder; else as given from the working
    directory when only that exists."""
    if Path(file).is_absolute():
        return file
    candidate = scenario_path.parent / file
    return str(candidate) if candidate.exists() or not Path(file).exists() else file


def _set_dotted(layer: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    node = layer
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ScenarioError(dotted, value, f"{part} is not a section")
    node[parts[-1]] = value


def _unknown(key_path: str, value, known, source):
    close = difflib.get_close_matches(key_path.split(".")[-1], list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ScenarioError(key_path, value, f"unknown key{hint} Known here: {', '.join(known)}", source)


def build_scenario(layers: list[tuple[str, dict]], known_complete: bool = False) -> Scenario:
    """Merge layers over the defaults and the cloud preset, check, and freeze."""
    merged: dict = {"name": "default", "description": None, "cloud": "gcp", "gpu": "L4", "zones": ()}
    for sec, cls in SECTIONS.items():
        merged[sec] = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                       for f in fields(cls)}
    sources: dict[str, str] = {}
    user_set: set[str] = set()
    layers = [(source, _unalias(layer, source)) for source, layer in layers]
    # First pass: structure and which cloud/gpu the user asks for.
    for source, layer in layers:
        if not isinstance(layer, dict):
            raise ScenarioError("scenario", layer, "must be a mapping of sections", source)
        for top, val in layer.items():
            if top in TOP_LEVEL:
                continue
            if top == "zones":
                parse_zones(val, source)
                continue
            if top not in SECTIONS:
                _unknown(top, val, list(TOP_LEVEL) + ["zones"] + list(SECTIONS), source)
            if not isinstance(val, dict):
                raise ScenarioError(top, val, "must be a mapping of keys (a section)", source)
            allowed = [f.name for f in fields(SECTIONS[top])]
            for k in val:
                if k not in allowed:
                    _unknown(f"{top}.{k}", val[k], allowed, source)
    cloud, gpu = merged["cloud"], merged["gpu"]
    for source, layer in layers:
        cloud = layer.get("cloud", cloud)
        gpu = layer.get("gpu", gpu)
    _check_value("cloud", cloud, TOP_LEVEL["cloud"], "scenario")
    preset = clouds.preset(cloud, gpu)
    all_layers = ([("preset " + f"{cloud}/{gpu}", preset)] if not known_complete else []) + list(layers)
    for source, layer in all_layers:
        for top, val in layer.items():
            if top == "zones":  # a later layer's list replaces an earlier one whole
                merged[top] = parse_zones(val, source)
                sources[top] = source
                user_set.add(top)
                continue
            if top in TOP_LEVEL:
                merged[top] = val
                sources[top] = source
                if not source.startswith("preset"):
                    user_set.add(top)
                continue
            for k, v in val.items():
                merged[top][k] = v
                sources[f"{top}.{k}"] = source
                if not source.startswith("preset"):
                    user_set.add(f"{top}.{k}")
    # every_s set by the user without every_epochs: the default epoch interval yields.
    ck = merged["checkpoint"]
    if ck.get("every_s") is not None and "checkpoint.every_epochs" not in user_set:
        ck["every_epochs"] = None
    _resolve_advisor(merged["interrupts"], layers, sources, zones=bool(merged["zones"]))
    # Check every value.
    for top, spec in TOP_LEVEL.items():
        _check_value(top, merged[top], spec, sources.get(top))
    built = {}
    for sec, cls in SECTIONS.items():
        kwargs = {}
        for f in fields(cls):
            dotted = f"{sec}.{f.name}"
            kwargs[f.name] = _check_value(dotted, merged[sec][f.name], f.metadata, sources.get(dotted))
        built[sec] = cls(**kwargs)
    scenario = Scenario(name=str(merged["name"] or "scenario"), description=merged["description"],
                        cloud=merged["cloud"], gpu=merged["gpu"], zones=merged["zones"], **built)
    order = {source: i for i, (source, _) in enumerate(all_layers)}
    after_zones = {k for k in user_set if order.get(sources.get(k), -1) > order.get(sources.get("zones"), -1)}
    # A rate rescales a trace only if given with the trace or after it: a base file's rate was meant for
    # the base's own pattern, not for a trace a later file or --set switches to.
    trace_layer = max(order.get(sources.get(k), -1) for k in ("interrupts.trace", "interrupts.pattern"))
    if order.get(sources.get("interrupts.rate_per_h"), -1) < trace_layer:
        user_set = user_set - {"interrupts.rate_per_h"}
    _check_combinations(scenario, sources, user_set, known_complete, after_zones)
    return scenario


KEY_ALIASES = {("checkpoint", "async"): "async_write"}
"""YAML keys that are Python keywords, and the field each stands for."""


def canonical_key(dotted: str) -> str:
    """The dotted key a possibly aliased one stands for (checkpoint.async -> checkpoint.async_write)."""
    sec, _, name = dotted.partition(".")
    return f"{sec}.{KEY_ALIASES[(sec, name)]}" if (sec, name) in KEY_ALIASES else dotted


def _unalias(layer, source):
    """`layer` with aliased keys (KEY_ALIASES) under their field names (a copy; the layer is not changed)."""
    if not isinstance(layer, dict):
        return layer
    out = dict(layer)
    for (sec, alias), name in KEY_ALIASES.items():
        section = out.get(sec)
        if isinstance(section, dict) and alias in section:
            if name in section:
                raise ScenarioError(f"{sec}.{alias}", section[alias], f"is another name for {sec}.{name}, "
                                    f"which is set too: keep one", source)
            section = dict(section)
            section[name] = section.pop(alias)
            out[sec] = section
    return out


def _check_value(dotted: str, value, spec: dict, source):
    kind = spec["kind"]
    if value is None:
        if spec["optional"]:
            return None
        raise ScenarioError(dotted, value, "a value is required here", source)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ScenarioError(dotted, value, "must be true or false", source)
        return value
    if kind in ("str", "path"):
        if not isinstance(value, str) or not value:
            raise ScenarioError(dotted, value, "must be a non-empty string", source)
        return value
    if kind == "choice":
        if value not in spec["choices"]:
            raise ScenarioError(dotted, value, f"must be one of {', '.join(map(str, spec['choices']))}", source)
        return value
    unit = {"seconds": "a number of seconds", "rate": "a rate in preemptions per hour",
            "price": "a price in $/h", "int": "a whole number", "number": "a number"}[kind]
    given = value
    if isinstance(value, str):
        # PyYAML reads 1e9 (no dot) as a string; accept numbers written that way.
        try:
            value = float(value.strip())
        except ValueError:
            raise ScenarioError(dotted, given, f"must be {unit}", source) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(dotted, given, f"must be {unit}", source)
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ScenarioError(dotted, given, f"must be {unit}", source)
        value = int(value)
    else:
        value = float(value)
    if not math.isfinite(value):
        raise ScenarioError(dotted, given, f"must be {unit}, finite", source)
    lo, hi = spec["lo"], spec["hi"]
    if lo is not None and (value < lo or (spec["lo_open"] and value == lo)):
        rel = ">" if spec["lo_open"] else ">="
        raise ScenarioError(dotted, given, f"must be {unit} {rel} {lo:g}", source)
    if hi is not None and value > hi:
        why = f" ({spec['hi_why']})" if spec.get("hi_why") else ""
        raise ScenarioError(dotted, given, f"must be {unit} <= {hi:g}{why}", source)
    return value


def _zones_replace_trace(s: Scenario, sources: dict, after_zones: set, known_complete: bool) -> None:
    """With `zones:`, the zones' traces are the interrupts: pattern `trace`, and interrupts.trace is the
    first zone's (what the single-zone parts of the model read). Interrupt keys set in a layer after the
    one with the zones (a later file, --set) conflict with them and are refused."""
    it = s.interrupts
    if not known_complete:
        for dotted, allowed in (("interrupts.pattern", ("trace",)), ("interrupts.trace", (None,)),
                                ("interrupts.rate_per_h", (None,))):
            value = s.get(dotted)
            if dotted in after_zones and value not in allowed:
                raise ScenarioError(dotted, value, "with `zones:`, each zone's own trace is its capacity: leave "
                                    "interrupts.pattern at trace (or unset) and interrupts.trace and "
                                    "interrupts.rate_per_h unset", sources.get(dotted))
    check_zones(s, sources.get)
    first = s.zones[0]
    object.__setattr__(it, "pattern", "trace")
    object.__setattr__(it, "trace", first.trace)
    object.__setattr__(it, "rate_per_h", None)
    if first.trace_convention is not None:
        object.__setattr__(it, "trace_convention", first.trace_convention)


ADVISOR_DEFAULTS = {"advisor_point": "mid", "advisor_horizon_h": advisor.MONTH_H}


def _resolve_advisor(it: dict, layers: list[tuple[str, dict]], sources: dict, zones: bool = False) -> None:
    """Put the rate an advisor bucket stands for into `it` (the merged interrupts section), or clear the bucket.

    rate_per_h and advisor_bucket are two ways to give one rate, so the later layer that gives either
    wins; one layer giving both is refused, unless its rate is its bucket's (a resolved scenario's
    to_dict) or it is a sweep cell's (source --vary: the rate there is the sweep's axis, as --vary
    cannot vary rate_per_h, and it yields to a bucket the cell varies, or to whose point or horizon
    it varies). A bucket in effect writes its rate into rate_per_h, so patterns and sweeps need no
    change; a rate in effect clears the bucket.
    """
    spec = {f.name: f.metadata for f in fields(Interrupts)}
    for name in ("advisor_bucket", *ADVISOR_DEFAULTS):  # the conversion needs them checked first
        it[name] = _check_value(f"interrupts.{name}", it[name], spec[name], sources.get(f"interrupts.{name}"))
    in_effect = False
    for source, layer in layers:
        d = layer.get("interrupts")
        if not isinstance(d, dict):
            continue
        has_rate, has_bucket = d.get("rate_per_h") is not None, d.get("advisor_bucket") is not None
        if has_bucket:
            if has_rate and source != "--vary" and not _is_resolved(d):
                raise ScenarioError("interrupts.advisor_bucket", d["advisor_bucket"],
                                    f"gives the rate as a Spot Instance Advisor bucket, and interrupts.rate_per_h "
                                    f"is set too ({d['rate_per_h']!r}): keep one (set the other to null)", source)
            in_effect = True
        elif has_rate:
            in_effect = in_effect and source == "--vary" and any(k in d for k in ADVISOR_DEFAULTS)
        elif "advisor_bucket" in d:  # set to null: the rate applies again
            in_effect = False
    bucket, point, horizon = it["advisor_bucket"], it["advisor_point"], it["advisor_horizon_h"]
    where = sources.get("interrupts.advisor_bucket")
    if not in_effect:  # advisor_point and advisor_horizon_h wait, inert, for a bucket (like burst_* for bursty)
        it["advisor_bucket"] = None
        return
    if zones:
        raise ScenarioError("interrupts.advisor_bucket", bucket, "gives a rate, and with `zones:` each zone's own "
                            "trace is its capacity: drop the bucket or the zones", where)
    if it["pattern"] in ("none", "trace"):
        what = "never preempts" if it["pattern"] == "none" else "replays the trace's own preemptions"
        raise ScenarioError("interrupts.advisor_bucket", bucket,
                            f"gives a rate, and pattern {it['pattern']!r} {what}: choose pattern regular, poisson, "
                            f"bursty or weibull, or drop the bucket", where)
    if advisor.RANGES[bucket][1] is None and point != "low":
        raise ScenarioError("interrupts.advisor_bucket", bucket, advisor.no_upper_end(bucket, point, horizon), where)
    rate = advisor.rate_per_h(bucket, point, horizon)
    if rate > MAX_RATE_PER_H:
        raise ScenarioError("interrupts.advisor_horizon_h", horizon,
                            f"turns bucket {bucket!r} into {rate:.3g} preemptions per hour, above "
                            f"{MAX_RATE_PER_H:g}: give a horizon of hours, e.g. 730 (a month)",
                            sources.get("interrupts.advisor_horizon_h"))
    it["rate_per_h"] = rate
    sources["interrupts.rate_per_h"] = where


def _is_resolved(d: dict) -> bool:
    """Whether a layer's rate_per_h is the one its advisor_bucket stands for (a resolved scenario's to_dict)."""
    try:
        rate = advisor.rate_per_h(d["advisor_bucket"], d.get("advisor_point", ADVISOR_DEFAULTS["advisor_point"]),
                                  d.get("advisor_horizon_h", ADVISOR_DEFAULTS["advisor_horizon_h"]))
        return math.isclose(float(d["rate_per_h"]), rate, rel_tol=1e-12, abs_tol=0.0)
    except (SpotsimError, TypeError, ValueError):
        return False


def _check_trace_start(it: Interrupts, source) -> None:
    """A pinned start must fall inside the trace: a start past its end is refused, not wrapped,
    because it most likely means other units (ms, hours) and wrapping would hide that."""
    try:
        length = load_trace(it.trace, it.trace_convention).end_s
    except SpotsimError as exc:
        raise ScenarioError("interrupts.trace", it.trace, str(exc), source) from None
    if it.trace_start_s >= length:
        raise ScenarioError("interrupts.trace_start_s", it.trace_start_s,
                            f"must be seconds into the trace, below its length ({length:.10g} s)", source)


def _check_combinations(s: Scenario, sources: dict, user_set: set, known_complete: bool,
                        after_zones: set = frozenset()) -> None:
    ck, it = s.checkpoint, s.interrupts
    if s.zones:
        _zones_replace_trace(s, sources, after_zones, known_complete)
    if ck.strategy == "fixed" and (ck.every_epochs is None) == (ck.every_s is None):
        raise ScenarioError("checkpoint.every_epochs", ck.every_epochs,
                            "strategy 'fixed' needs exactly one of checkpoint.every_epochs and "
                            "checkpoint.every_s (set the other to null)", sources.get("checkpoint.every_s"))
    if ck.min_interval_s > ck.max_interval_s:
        raise ScenarioError("checkpoint.min_interval_s", ck.min_interval_s,
                            f"must not exceed checkpoint.max_interval_s ({ck.max_interval_s:g})",
                            sources.get("checkpoint.min_interval_s"))
    rate = it.rate_per_h
    if it.pattern == "none" and rate:
        raise ScenarioError("interrupts.rate_per_h", rate,
                            "pattern 'none' never preempts: set the rate to 0 or choose a pattern",
                            sources.get("interrupts.rate_per_h"))
    if it.pattern not in ("none", "trace") and rate is None:
        raise ScenarioError("interrupts.rate_per_h", rate,
                            f"pattern {it.pattern!r} needs a rate in preemptions per hour (0 or more)",
                            sources.get("interrupts.rate_per_h"))
    if it.pattern == "trace":
        if it.trace is None:
            raise ScenarioError("interrupts.trace", None, "pattern 'trace' needs the path of a trace file",
                                sources.get("interrupts.pattern"))
        if not Path(it.trace).is_file():
            raise ScenarioError("interrupts.trace", it.trace,
                                "no such trace file (a relative path is read from the scenario file's folder)",
                                sources.get("interrupts.trace"))
        if rate is not None and "interrupts.rate_per_h" not in user_set and not known_complete:
            object.__setattr__(it, "rate_per_h", None)  # the trace's own rate unless the user scales it
        if it.trace_start_s is not None:
            _check_trace_start(it, sources.get("interrupts.trace_start_s"))
    if s.capacity.wait == "trace" and it.pattern != "trace":
        raise ScenarioError("capacity.wait", "trace", "capacity from the trace needs interrupts.pattern: trace",
                            sources.get("capacity.wait"))
    if s.policy.name in DEADLINE_POLICIES and s.job.deadline_h is None:
        raise ScenarioError("policy.name", s.policy.name,
                            f"policy {s.policy.name!r} decides against a deadline: set job.deadline_h (hours from "
                            f"submission), or use spot_only / on_demand", sources.get("policy.name"))
    if s.accuracy.a_0 > s.accuracy.a_max:
        raise ScenarioError("accuracy.a_0", s.accuracy.a_0,
                            f"must not exceed accuracy.a_max ({s.accuracy.a_max:g})", sources.get("accuracy.a_0"))
    if s.cloud is not None and (s.cloud, s.gpu) not in clouds.PRICES and s.gpu is not None:
        if not {"prices.spot_per_h", "prices.ondemand_per_h"} <= user_set and not known_complete:
            raise ScenarioError("gpu", s.gpu,
                                f"no {s.cloud} price for this GPU in the preset table; choose one of "
                                f"{', '.join(clouds.gpus_for(s.cloud)) or '(none)'} or set prices.spot_per_h "
                                f"and prices.ondemand_per_h", sources.get("gpu"))
