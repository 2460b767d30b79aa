"""The registry of cell kinds: ``model.kind`` (and ``model.variant``) name → cell class.

Everything that depends on the kind of cell asks here, never a class by name: the config's choices
and which options apply (config.py), building the model (model.py), ``gradcheck --verify`` and
the tests (``cases``), the theory and the probes (through the cells' declarations, cells.py), and
the labels and colours of reports and figures.  A new kind is a Cell subclass listed in ``CELLS``.

    KINDS, VARIANTS, DEFAULT_VARIANT   the config's choices (variants belong to kinds that have them)
    cell_class(kind, variant)          the class;  build_cell(model_config) -> Cell
    cases()                            "grid paper priority=depth" → ModelConfig keyword arguments
    option_problems(...)               config options the chosen cell does not read, one line each
    current_variant(v), upgrade_model(d)   former variant names ("seed") mapped to today's
    shown_variant, describe, colors    for labels: "grid memory_input tied", ("#1e8449", "Greens")
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from .cells import Cell, LSTMCell, RNNCell
from .grid import GridMemoryInputCell, GridPaperCell
from .gru import GRUCell

CELLS: tuple[type[Cell], ...] = (RNNCell, LSTMCell, GridMemoryInputCell, GridPaperCell, GRUCell)

KINDS: tuple[str, ...] = tuple(dict.fromkeys(c.kind for c in CELLS))
VARIANTS: tuple[str, ...] = tuple(c.variant for c in CELLS if c.variant)
DEFAULT_VARIANT = VARIANTS[0]
RENAMED: dict[str, str] = {old: c.variant for c in CELLS if c.variant for old in c.aliases}


def variants(kind: str) -> tuple[str, ...]:
    return tuple(c.variant for c in CELLS if c.kind == kind and c.variant)


def cell_class(kind: str, variant: Optional[str] = None) -> type[Cell]:
    """The class of ``kind`` (and, for a kind with variants, ``variant``; default its first)."""
    of_kind = [c for c in CELLS if c.kind == kind]
    if not of_kind:
        raise ValueError(f"unknown model.kind {kind!r} (expected one of {', '.join(KINDS)})")
    variant = current_variant(variant)
    return next((c for c in of_kind if c.variant == variant), of_kind[0])


def build_cell(cfg: Any, input_size: Optional[int] = None) -> Cell:
    """The cell of a ModelConfig: each class's constructor takes the options it declares; with
    ``input_size`` (no input projection) the first cell reads that width instead of H."""
    cls = cell_class(cfg.kind, cfg.variant)
    sizes = {"input_size": input_size} if input_size is not None else {}
    return cls(cfg.hidden, cfg.layers, cfg.tied, **{k: getattr(cfg, k) for k in cls.options}, **sizes)


def cases() -> dict[str, dict[str, Any]]:
    """Every kind, variant and covered option set: label → ModelConfig keyword arguments."""
    out = {}
    for c in CELLS:
        base = {"kind": c.kind, **({"variant": c.variant} if c.variant else {})}
        for suffix, opts in c.cases.items():
            out[" ".join(w for w in (c.kind, c.variant, suffix) if w)] = {**base, **opts}
    return out


# ----------------------------------------------------------------------------- config rules


def _where(users: Iterable[type[Cell]]) -> str:
    """'model.kind lstm|grid', or 'model.kind grid with model.variant paper' for some variants."""
    by_kind: dict[str, list[str]] = {}
    for c in users:
        by_kind.setdefault(c.kind, []).append(c.variant or "")
    whole = [k for k, vs in by_kind.items() if len(vs) == len([c for c in CELLS if c.kind == k])]
    parts = [f"model.kind {'|'.join(whole)}"] if whole else []
    parts += [f"model.kind {k} with model.variant {'|'.join(vs)}" for k, vs in by_kind.items() if k not in whole]
    return " or ".join(parts)


def option_problems(kind: str, variant: str, values: Mapping[str, Any], given: set[str]) -> list[str]:
    """One line per option that the chosen cell does not read but ``given`` sets (explicitly, to a
    non-default value), or whose value it does not accept.  ``values``: the ModelConfig fields."""
    chosen, problems = cell_class(kind, variant), []
    if "variant" in given and not variants(kind):
        problems.append(f"model.variant applies only to {_where(c for c in CELLS if c.variant)}")
    for key, value in values.items():
        users = [c for c in CELLS if key in c.options]
        if not users:
            continue
        if key not in chosen.options:
            if key in given:
                problems.append(f"model.{key} applies only to {_where(users)}")
        elif chosen.options[key] is not None and value not in chosen.options[key]:
            takers = [c for c in CELLS if value in (c.options.get(key) or ())]
            problems.append(f"model.{key} {value} applies only to {_where(takers)} "
                            f"(use {'|'.join(chosen.options[key])})")
    return problems


def current_variant(variant: Optional[str], warn: bool = False) -> Optional[str]:
    """Today's name of a variant; a former one (``seed``) is mapped, with a note when ``warn``."""
    if variant in RENAMED:
        if warn:
            warnings.warn(f"model.variant {variant} is now called {RENAMED[variant]} (read as such; "
                          f"write model.variant={RENAMED[variant]})", FutureWarning, stacklevel=2)
        return RENAMED[variant]
    return variant


def upgrade_model(model: Mapping[str, Any]) -> dict[str, Any]:
    """A raw ``model`` mapping (a checkpoint's, an old config.yaml's) with today's variant name."""
    model = dict(model)
    if "variant" in model:
        model["variant"] = current_variant(model["variant"])
    return model


# ----------------------------------------------------------------------------- labels


def shown_variant(kind: str, variant: Optional[str]) -> Optional[str]:
    """The variant worth naming: today's name for a kind that has variants, else None."""
    return current_variant(variant) if variants(kind) else None


def describe(model: Mapping[str, Any]) -> str:
    """'rnn', 'gru tied', 'grid memory_input', 'grid paper tied': kind, variant, tying."""
    words = [model["kind"], shown_variant(model["kind"], model.get("variant"))]
    return " ".join(w for w in (*words, "tied" if model.get("tied") else None) if w)


def colors(kind: str) -> tuple[str, str]:
    """(line colour, colour map) of a kind in figures; grey for one this gridlstm does not know."""
    return next((c.colors for c in CELLS if c.kind == kind), Cell.colors)
