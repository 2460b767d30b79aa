"""Config groups: ``task=copy model=grid train=long`` pick files under configs/<group>/.

A group file holds whole top-level sections (``model:`` with every key the kind needs); a
selection replaces those sections of the base config, before the dotted overrides apply.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .safe_yaml import read_yaml

GROUPS = ("task", "model", "train")
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
    """Replace the sections each picked group file holds; one-line error for an unknown option."""
    data = dict(data)
    for group, name in picks:
        if name not in options(group):
            raise ConfigError([unknown(group, name)])
        data.update(read_yaml(CONFIG_DIR / group / f"{name}.yaml", what=f"{group} group"))
    return data


def describe() -> str:
    """One line per group with its options, for --help and `gridlstm configs`."""
    return "\n".join(f"{g}: {', '.join(options(g))}" for g in GROUPS)
