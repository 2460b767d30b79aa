"""Sweeps from the command line: ``gridlstm sweep CONFIG model.kind=rnn,lstm seed=0,1,2``.

A value with an unquoted comma makes an axis (``seed=0,1,2`` → seed: [0, 1, 2]; a config group,
``model=rnn,lstm``, is an axis of group options: spec.py); a quoted value
(``key='a,b'``) and a YAML flow list (``gradients.at_steps=[0,100]``) stay one literal value. The
target is a run config (a sweep over it; the sweep is named after the config's ``name``, or
``name=X``) or a
sweep file (the comma axes add to, or replace, its axes). The sweep folder's sweep.yaml records
the expansion, so ``gridlstm sweep SWEEP_DIR`` resumes it like any sweep.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import parse_value
from ..safe_yaml import read_yaml
from .spec import TOP_KEYS

SWEEP_ONLY_KEYS = ("axes", "zip", "exclude", "base", "plot", "config")


def is_axis(item: str) -> bool:
    """``key=a,b``: a value with a comma that is neither quoted nor a YAML flow list/mapping."""
    key, sep, value = item.partition("=")
    value = value.strip()
    return bool(sep) and "," in value and value[:1] not in ("'", '"', "[", "{")


def split_axes(overrides: tuple[str, ...] | list[str]) -> tuple[dict[str, list[Any]], list[str]]:
    """The comma lists as axes (key → parsed values, in order) and the other overrides."""
    axes: dict[str, list[Any]] = {}
    for item in overrides:
        if is_axis(item):
            key, _, value = item.partition("=")
            axes[key.strip()] = [parse_value(v.strip()) for v in value.split(",") if v.strip()]
    return axes, [o for o in overrides if not is_axis(o)]


def is_sweep_file(data: dict[str, Any]) -> bool:
    return any(k in data for k in SWEEP_ONLY_KEYS) and all(k in TOP_KEYS for k in data)


def sweep_mapping(path: Path, overrides: tuple[str, ...] | list[str]) -> tuple[dict[str, Any], list[str]]:
    """The sweep mapping ``path`` and the comma axes describe, and the overrides left for its base."""
    axes, rest = split_axes(overrides)
    data = read_yaml(Path(path), "sweep or config")
    if not is_sweep_file(data):  # a run config: sweep over it
        name = data.get("name") if isinstance(data.get("name"), str) else Path(path).stem
        data = {"name": name, "base": str(Path(path).resolve())}
    if axes:
        data = {**data, "axes": {**(data.get("axes") or {}), **axes}}
    # name=X names the sweep (its folder, and so every run); left in the base it would be dropped,
    # since each run is named after the sweep. The spec checks it like a sweep file's name.
    names = [o for o in rest if o.partition("=")[0].strip() == "name"]
    if names:
        data = {**data, "name": parse_value(names[-1].partition("=")[2].strip())}
    return data, [o for o in rest if o not in names]
