"""Config groups: ``task=copy model=grid train=long`` pick files under configs/<group>/.

A group file holds whole top-level sections (``model:`` with every key the kind needs); a
selection replaces those sections of the base config, before the dotted overrides apply.
"""
from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .safe_yaml import read_yaml

GROUPS = ("task", "model", "train")
NAMED = ("sweeps", "studies")  # shipped sweep and study files, named sweeps/NAME, studies/NAME
# the package gridlstm.configs (the repository's configs/): its YAML files are package data
CONFIG_DIR = Path(str(resources.files("gridlstm.configs")))


def options(group: str) -> list[str]:
    """The names a group offers: configs/<group>/*.yaml without the suffix."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def is_selection(item: str) -> bool:
    key, sep, _ = item.partition("=")
    return bool(sep) and key.strip() in GROUPS


def split_selections(overrides: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """``(group, option)`` pairs in order, and the dotted overrides left."""
    picks = [(k.strip(), v.strip()) for k, _, v in (o.partition("=") for o in overrides if is_selection(o))]
    return picks, [o for o in overrides if not is_selection(o)]


def unknown(group: str, name: Any) -> str:
    """The one line for an option ``group`` does not offer (train's ``model=foo``, a sweep's axis)."""
    return f"unknown {group} {name!r}: choose one of {', '.join(options(group))} (files in {CONFIG_DIR / group})"


def apply_groups(data: dict[str, Any], picks: list[tuple[str, str]]) -> dict[str, Any]:
    """Replace the sections each picked group file holds; one-line error for an unknown option.
    A composed config is named after what was composed (``<task>-<model kind>``, Config.run_name),
    not after its base file: ``task=addition model=lstm`` over default.yaml is no run "default"."""
    data = dict(data)
    if picks:
        data.pop("name", None)  # a name=... override, --name or a sweep's name still applies after
    for group, name in picks:
        if name not in options(group):
            raise ConfigError([unknown(group, name)])
        data.update(read_yaml(CONFIG_DIR / group / f"{name}.yaml", what=f"{group} group"))
    return data


def describe() -> str:
    """One line per group with its options, then the shipped configs by name (`gridlstm configs`)."""
    groups = [f"{g}: {', '.join(options(g))}" for g in GROUPS]
    names = config_names()
    runs = [n for n in names if "/" not in n]
    named = [f"{d}: {', '.join(n for n in names if n.startswith(d + '/'))}" for d in NAMED]
    return "\n".join(["groups (GROUP=NAME):", *(f"  {g}" for g in groups),
                      "configs by name (gridlstm train NAME, gridlstm sweep sweeps/NAME):",
                      f"  runs: {', '.join(runs)}", *(f"  {n}" for n in named)])


def config_names() -> list[str]:
    """The shipped configs by name: run configs (``adding_rnn``), ``sweeps/NAME``, ``studies/NAME``."""
    names = [p.stem for p in CONFIG_DIR.glob("*.yaml")]
    names += [f"{d}/{p.stem}" for d in NAMED for p in (CONFIG_DIR / d).glob("*.yaml")]
    return sorted(names)


def find_config(given: str | Path, what: str = "config") -> Path:
    """A file that exists as given, else the shipped config of that name (``adding_rnn``,
    ``sweeps/adding_length``, ``configs/adding_rnn.yaml`` from any directory); else a ConfigError
    naming the closest shipped names."""
    path = Path(given)
    if path.exists():
        return path
    name = str(given).removeprefix("configs/").removesuffix(".yaml").removesuffix(".yml")
    if name in config_names():
        return CONFIG_DIR / f"{name}.yaml"
    if path.is_absolute():  # a path of the user's own: no shipped name was meant
        raise ConfigError([f"{what} file not found: {given}"])
    close = difflib.get_close_matches(name, config_names(), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else "gridlstm configs lists the shipped names"
    raise ConfigError([f"{what} file not found: {given} (not a file, nor a shipped config name; {hint})"])
