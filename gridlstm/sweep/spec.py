"""Sweep files: a base config plus axes over dotted keys, expanded into validated runs.

    name: adding_length              # folder under OUT/sweeps/ (default: the file's stem)
    base: ../adding_grid.yaml        # a run config, relative to this file (default: configs/default.yaml)
    config:                          # settings over the base; dotted or nested keys
      train.steps: 300
    axes:                            # cartesian product, first axis slowest
      model.kind: [rnn, lstm, grid]
      task.length: [50, 100, 200, 400]
      seed: [0, 1, 2]
    zip:                             # groups of lists of equal length that vary together
      - {model.hidden: [16, 32], train.lr: [0.01, 0.003]}
    exclude:                         # drop every run that matches all keys of a rule
      - {model.kind: rnn, task.length: [200, 400]}     # a list matches any of its values
    plot:
      x: task.length                 # the figures' x axis (default: the first numeric non-seed axis)

An axis over a config group (``model: [rnn, lstm]``) picks configs/<group>/<value>.yaml per run as
``gridlstm train model=lstm`` does; then the command line's KEY=VALUE overrides (kept in a sweep
folder under ``overrides:``), then the other axes.

Each run is ``base ∘ config ∘ overrides ∘ axis values``, validated as a ``Config``; every problem of
every run is collected before anything runs (one ConfigError). Runs get stable ids built from their
axis values (``kind=rnn,length=50,seed=0``), so a resumed sweep finds its own run folders.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from gridlstm import compose, limits
from gridlstm.config import (
    DEFAULT_CONFIG,
    Config,
    apply_overrides,
    build_config,
    flatten,
    set_dotted,
    suggest,
    valid_keys,
)
from gridlstm.errors import ConfigError
from gridlstm.formatting import show
from gridlstm.limits import MAX_SWEEP_RUNS
from gridlstm.safe_yaml import NoAliasDumper, _short, read_yaml

SEED_KEY = "seed"
TOP_KEYS = ("name", "base", "config", "axes", "zip", "exclude", "plot", "overrides")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
ID_SAFE = re.compile(r"[^A-Za-z0-9._+-]")
MAX_ID = 150
MAX_LISTED = 20  # problems listed before "... and N more"


@dataclass(frozen=True)
class SweepRun:
    """One point of the sweep: its id, its axis values (dotted key → value) and its config."""

    id: str
    values: dict[str, Any]
    config: Config


@dataclass(frozen=True)
class Sweep:
    """A parsed, fully expanded and validated sweep; ``spec`` is its self-contained YAML form."""

    name: str
    spec: dict[str, Any]
    keys: tuple[str, ...]               # every swept key, in axis order
    runs: tuple[SweepRun, ...]
    plot_x: Optional[str]

    @property
    def group_keys(self) -> tuple[str, ...]:
        """The swept keys a results row is grouped by: all but the seed."""
        return tuple(k for k in self.keys if k != SEED_KEY)


# ----------------------------------------------------------------------------- small helpers


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def same_value(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from numbers (YAML ``true`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


# ----------------------------------------------------------------------------- structure


def _check_key(key: Any, where: str, problems: list[str]) -> bool:
    if not isinstance(key, str) or key not in valid_keys():
        problems.append(f"{where}: unknown config key {_short(key)}{suggest(str(key))}")
        return False
    return True


def _check_values(key: str, values: Any, where: str, problems: list[str]) -> bool:
    if not isinstance(values, list) or not values:
        problems.append(f"{where}.{key}: expected a non-empty list of values, e.g. {key}: [a, b] "
                        f"(got {_short(values)})")
        return False
    if len(values) > MAX_SWEEP_RUNS:
        problems.append(f"{where}.{key}: {len(values):,} values, more than a sweep may hold "
                        f"({MAX_SWEEP_RUNS:,} runs)")
        return False
    bad = [v for v in values if not _is_scalar(v)]
    if bad:
        problems.append(f"{where}.{key}: values must be scalars (number, string, true/false, null), "
                        f"got {_short(bad[0])}")
        return False
    seen: set[tuple[bool, Any]] = set()
    dupes: set[str] = set()
    for v in values:  # same_value, in one pass: true is not 1
        k = (isinstance(v, bool), v)
        if k in seen:
            dupes.add(show(v))
        seen.add(k)
    if dupes:
        problems.append(f"{where}.{key}: repeated value(s) {', '.join(sorted(dupes))}")
        return False
    return True


def _axis_groups(data: dict[str, Any], problems: list[str]) -> list[dict[str, list[Any]]]:
    """Axes and zip groups as one list of groups (a plain axis is a group of one key)."""
    groups: list[dict[str, list[Any]]] = []
    axes = data.get("axes") or {}
    if not isinstance(axes, dict):
        problems.append(f"axes: expected a mapping of dotted key → list of values (got {_short(axes)})")
        axes = {}
    for key, values in axes.items():
        if key in compose.GROUPS:  # model: [rnn, lstm]: each value picks configs/model/<value>.yaml
            if _check_values(key, values, "axes", problems) and _check_options(key, values, problems):
                groups.append({key: values})
        elif _check_key(key, "axes", problems) and _check_values(key, values, "axes", problems):
            groups.append({key: values})
    zips = _listed_mappings(data, "zip", "groups, e.g. zip: [{model.hidden: [16, 32], train.lr: [0.01, 0.003]}]",
                            lambda g: f"expected a mapping of dotted key → list of values (got {_short(g)})", problems)
    for where, group in zips:
        ok = {k: v for k, v in group.items()
              if _check_key(k, where, problems) and _check_values(k, v, where, problems)}
        lengths = {k: len(v) for k, v in ok.items()}
        if len(set(lengths.values())) > 1:
            problems.append(f"{where}: lists of one zip group must have equal lengths (got "
                            + ", ".join(f"{k}: {n}" for k, n in lengths.items()) + ")")
        elif len(ok) == len(group):
            groups.append(ok)
    seen: dict[str, int] = {}
    for group in groups:
        for key in group:
            seen[key] = seen.get(key, 0) + 1
    problems += [f"{k} is swept more than once (in axes and zip); sweep each key in one place"
                 for k, n in seen.items() if n > 1]
    if not groups and not problems:
        problems.append("the sweep has no axes: add e.g. axes: {seed: [0, 1, 2]}")
    return groups


def _check_options(group: str, values: list[Any], problems: list[str]) -> bool:
    """A group axis names files of configs/<group>/ (the line of ``gridlstm train model=foo``)."""
    bad = [v for v in values if not isinstance(v, str) or v not in compose.options(group)]
    problems += [f"axes.{group}: {compose.unknown(group, show(bad[0]))}"] if bad else []
    return not bad


def _listed_mappings(data: dict[str, Any], name: str, expected: str, bad_entry: Any,
                     problems: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The non-empty mappings listed under ``data[name]``, each with its place (``zip[0]``); a
    problem line for a value that is no list, and for each entry that is no such mapping."""
    entries = data.get(name) or []
    if not isinstance(entries, list):
        problems.append(f"{name}: expected a list of {expected}")
        return []
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and entry:
            out.append((f"{name}[{i}]", entry))
        else:
            problems.append(f"{name}[{i}]: {bad_entry(entry)}")
    return out


def _exclude_rules(data: dict[str, Any], keys: list[str], problems: list[str]) -> list[dict[str, list]]:
    rules = _listed_mappings(data, "exclude", "rules, e.g. exclude: [{model.kind: rnn, task.length: 400}]",
                             lambda r: "expected a mapping of swept key → value or list of values", problems)
    out = []
    for where, rule in rules:
        unswept = [k for k in rule if k not in keys]
        if unswept:
            problems.append(f"{where}: {', '.join(map(str, unswept))[:80]} is not swept (swept keys: "
                            f"{', '.join(keys)})")
            continue
        out.append({k: (v if isinstance(v, list) else [v]) for k, v in rule.items()})
    return out


def _matches(rule: dict[str, list], values: dict[str, Any]) -> bool:
    return all(any(same_value(values[k], v) for v in allowed) for k, allowed in rule.items())


# ----------------------------------------------------------------------------- ids


def run_ids(points: list[dict[str, Any]]) -> list[str]:
    """Stable folder names from axis values: ``kind=rnn,length=50,seed=0``.

    Keys are shortened to their last part unless two swept keys share it; values keep only
    ``[A-Za-z0-9._+-]``; ids that would collide (or run long) get a hash of the exact values.
    """
    if not points:
        return []
    keys = list(points[0])
    leaves = [k.rsplit(".", 1)[-1] for k in keys]
    short = {k: (leaf if leaves.count(leaf) == 1 else k) for k, leaf in zip(keys, leaves, strict=True)}

    def digest(values: dict[str, Any]) -> str:
        return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:8]

    ids = [",".join(f"{short[k]}={ID_SAFE.sub('_', show(v))}" for k, v in p.items()) for p in points]
    ids = [i if len(i) <= MAX_ID else f"{i[:MAX_ID - 9]}-{digest(p)}" for i, p in zip(ids, points, strict=True)]
    if len(set(ids)) < len(ids):
        ids = [f"{i}-{digest(p)}" for i, p in zip(ids, points, strict=True)]
    return ids


# ----------------------------------------------------------------------------- parsing


def _base_data(data: dict[str, Any], sweep_file: Optional[Path], problems: list[str]) -> dict[str, Any]:
    """The base config as raw (unvalidated) nested data: base file, then the ``config`` section."""
    base = data.get("base")
    if base is not None and not isinstance(base, str):
        problems.append(f"base: expected a path to a run config (got {_short(base)})")
        base = None
    if base is None:
        path = DEFAULT_CONFIG
    else:
        path = Path(base)
        if not path.is_absolute() and sweep_file is not None:
            path = sweep_file.parent / path
    try:  # a stored spec (no file, no base) carries its whole base config in ``config``
        out = read_yaml(path) if base is not None or sweep_file is not None else {}
    except ConfigError as e:
        problems += [f"base: {p}" for p in e.problems]
        out = {}
    section = data.get("config") or {}
    if not isinstance(section, dict):
        problems.append(f"config: expected a mapping of config keys (got {_short(section)})")
        section = {}
    for key, value in flatten(section).items():
        if _check_key(key, "config", problems):
            set_dotted(out, key, value)
    return out


def parse_sweep(data: dict[str, Any], sweep_file: Optional[Path] = None,
                overrides: tuple[str, ...] | list[str] = ()) -> Sweep:
    """Validate a sweep mapping and expand it; every problem of every run in one ConfigError.

    ``sweep_file`` names the file the mapping came from (for ``base`` and the default name); a
    stored, self-contained spec (``Sweep.spec``) is parsed with ``sweep_file=None``.
    """
    problems: list[str] = []
    unknown = [k for k in data if k not in TOP_KEYS]
    problems += [f"unknown sweep key {_short(k)} (valid: {', '.join(TOP_KEYS)})" for k in unknown]
    name = data.get("name")
    if name is None:
        name = sweep_file.stem if sweep_file else None
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        problems.append(f"name: must be letters, digits, '.', '_' or '-' (a folder name), got {_short(name)}")
    raw = _base_data(data, sweep_file, problems)
    stored = data.get("overrides") or []
    if not isinstance(stored, list) or not all(isinstance(o, str) for o in stored):
        problems.append(f"overrides: expected a list of KEY=VALUE strings (got {_short(stored)})")
        stored = []
    picks, overrides = compose.split_selections([*stored, *overrides])
    try:
        raw = compose.apply_groups(raw, picks)
    except ConfigError as e:
        problems += e.problems
    base, bad = apply_overrides(raw, list(overrides))
    problems += bad
    groups = _axis_groups(data, problems)
    keys = [k for g in groups for k in g]
    group_axes = [k for k in keys if k in compose.GROUPS]
    problems += [f"{k} is both selected ({k}={dict(picks)[k]}) and swept; give the axis its values as a "
                 f"comma list ({k}=a,b) or in the sweep file" for k in group_axes if k in dict(picks)]
    swept_overrides = [o.partition("=")[0].strip() for o in overrides if o.partition("=")[0].strip() in keys]
    problems += [f"override {k}=… sets a swept key; give the axis new values as a comma list ({k}=a,b) "
                 "or change them in the sweep file"
                 for k in swept_overrides]
    if "name" in keys:
        problems.append("name cannot be swept: every run of a sweep is named after the sweep")
    rules = _exclude_rules(data, keys, problems)
    plot = data.get("plot") or {}
    plot_x = plot.get("x") if isinstance(plot, dict) else None
    if not isinstance(plot, dict) or set(plot) - {"x"}:
        problems.append("plot: expected a mapping with the key x (e.g. plot: {x: task.length})")
    elif plot_x is not None and plot_x not in keys:
        problems.append(f"plot.x: {_short(plot_x)} is not swept (swept keys: {', '.join(keys)})")
    total = 1
    for g in groups:
        total *= len(next(iter(g.values())))
    if total > MAX_SWEEP_RUNS:  # refused before one point is built
        problems.append(f"the axes expand to {total:,} runs, more than the {MAX_SWEEP_RUNS:,} a sweep may "
                        "hold: split it into several sweeps or sweep fewer values")
    if problems:
        raise ConfigError(problems)

    points = []
    for combo in itertools.product(*[range(len(next(iter(g.values())))) for g in groups]):
        points.append({k: vals[i] for g, i in zip(groups, combo, strict=True) for k, vals in g.items()})
    kept = [p for p in points if not any(_matches(r, p) for r in rules)]
    for i, rule in enumerate(rules):
        if not any(_matches(rule, p) for p in points):
            problems.append(f"exclude[{i}] matches no run: "
                            + ", ".join(f"{k} in [{', '.join(map(show, v))}]" for k, v in rule.items()))
    if points and not kept:
        problems.append(f"exclude removes all {len(points)} runs")
    bases: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {(): base}

    def base_for(values: dict[str, Any]) -> dict[str, Any]:
        """The base of one run: its group axes' files over the base, then the overrides."""
        chosen = tuple((g, values[g]) for g in group_axes)
        if chosen not in bases:
            bases[chosen] = apply_overrides(compose.apply_groups(raw, list(chosen)), list(overrides))[0]
        return bases[chosen]

    runs = _validate_runs(str(name), base_for, kept, problems)
    if problems:
        raise ConfigError(problems)
    spec: dict[str, Any] = {"name": name, "config": raw if group_axes else base,
            **({"overrides": list(overrides)} if group_axes else {}),
            "axes": {k: v for g in groups if len(g) == 1 for k, v in g.items()},
            "zip": [g for g in groups if len(g) > 1],
            "exclude": [{k: v for k, v in r.items()} for r in rules],
            "plot": {"x": plot_x or default_x(keys, groups)}}
    return Sweep(str(name), spec, tuple(keys), tuple(runs), spec["plot"]["x"])


def _validate_runs(name: str, base_for: Any, points: list[dict[str, Any]],
                   problems: list[str]) -> list[SweepRun]:
    """Build every run's Config (``base_for(values)``: its base config, group axes applied); the
    same problem in many runs is listed once with a count."""
    runs: list[SweepRun] = []
    failures: dict[str, list[str]] = {}
    for run_id, values in zip(run_ids(points), points, strict=True):
        data = json.loads(json.dumps(base_for(values)))  # a deep copy of plain YAML data
        data["name"] = name
        for key, value in values.items():
            if key not in compose.GROUPS:
                set_dotted(data, key, value)
        try:
            cfg = build_config(data)
            limits.require(cfg)  # before the sweep folder exists
            runs.append(SweepRun(run_id, values, cfg))
        except ConfigError as e:
            for p in e.problems:
                failures.setdefault(p, []).append(run_id)
    for i, (problem, ids) in enumerate(failures.items()):
        if i == MAX_LISTED:
            problems.append(f"... and {len(failures) - MAX_LISTED} more problems")
            break
        more = f" and {len(ids) - 1} more" if len(ids) > 1 else ""
        problems.append(f"run {ids[0]}{more}: {problem}")
    return runs


def default_x(keys: list[str], groups: list[dict[str, list[Any]]]) -> Optional[str]:
    """The first non-seed swept key with numeric values, else the first non-seed key."""
    values = {k: v for g in groups for k, v in g.items()}
    candidates = [k for k in keys if k != SEED_KEY]
    numeric = [k for k in candidates
               if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values[k])]
    return next(iter(numeric or candidates), None)


def load_sweep(path: Path, overrides: tuple[str, ...] | list[str] = ()) -> Sweep:
    """Read and expand a sweep file; ConfigError lists every problem."""
    path = compose.find_config(path, "sweep")
    return parse_sweep(read_yaml(path, "sweep"), path, overrides)


def dump_spec(sweep: Sweep) -> str:
    return yaml.dump(sweep.spec, Dumper=NoAliasDumper, sort_keys=False)
