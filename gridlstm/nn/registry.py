"""The registry of cell kinds: ``model.kind`` (and ``model.variant``) name → cell class.

Everything that depends on the kind of cell asks here, never a class by name: the config's choices
and which options apply (config.py), building the model (model.py), ``gradcheck --verify`` and
the tests (``cases``), the theory and the probes (through the cells' declarations, cells.py), and
the labels and colours of reports and figures.  A new built-in kind is a Cell subclass listed in
``BUILTIN``; a cell of another package registers without changing gridlstm (docs/models.md):

    entry point   group ``gridlstm.cells`` in that package's metadata, ``name = package.module:Class``:
                  its kind is then a choice of ``model.kind`` like a built-in one, and its options
                  (``Option``) become ModelConfig fields
    module:Class  ``model.kind: package.module:Class`` names the class itself (importable where the
                  run runs); it reads options that a registered cell declares already

    BUILTIN, KINDS, VARIANTS, DEFAULT_VARIANT   the built-in cells and choices (variants belong to
                                                kinds that have them)
    registered()                       the built-in cells and those of the entry points
    cell_class(kind, variant)          the class;  build_cell(model_config) -> Cell
    check_kind(kind)                   None, or a one-line problem with ``model.kind``
    config_options()                   the ModelConfig fields of every registered cell's options
    weight_options(kind, variant)      the model fields that change what the weights compute
    cases()                            "grid paper priority=depth" → ModelConfig keyword arguments
    option_problems(...)               config options the chosen cell does not read, one line each
    current_variant(v), upgrade_model(d)   former variant names ("seed") mapped to today's
    shown_variant, describe, colors    for labels: "grid memory_input tied", ("#1e8449", "Greens")
"""
from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, Literal, NamedTuple, Optional

from .cells import Cell, LSTMCell, Option, RNNCell
from .grid import GridMemoryInputCell, GridPaperCell
from .gru import GRUCell

BUILTIN: tuple[type[Cell], ...] = (RNNCell, LSTMCell, GridMemoryInputCell, GridPaperCell, GRUCell)
CELLS = BUILTIN  # former name
GROUP = "gridlstm.cells"  # the entry point group of cells from other packages

KINDS: tuple[str, ...] = tuple(dict.fromkeys(c.kind for c in BUILTIN))
VARIANTS: tuple[str, ...] = tuple(c.variant for c in BUILTIN if c.variant)
DEFAULT_VARIANT = VARIANTS[0]
RENAMED: dict[str, str] = {old: c.variant for c in BUILTIN if c.variant for old in c.aliases}
REQUIRED = ("kind", "state_names", "right_idx", "up_idx")


def declaration_problem(cls: Any, where: str) -> Optional[str]:
    """None when ``cls`` is a usable Cell subclass, else one line naming what is missing."""
    if not (isinstance(cls, type) and issubclass(cls, Cell)):
        return f"{where} is not a gridlstm.nn.cells.Cell subclass (got {cls!r})"
    missing = [a for a in REQUIRED if not hasattr(cls, a)]
    if cls.reference is Cell.reference:
        missing.append("reference")
    if missing:
        return f"{where}: the cell class {cls.__name__} does not declare {', '.join(missing)}"
    bad = [k for k, o in cls.options.items() if not isinstance(o, Option)]
    if bad:
        return f"{where}: {cls.__name__}.options[{bad[0]!r}] must be a gridlstm.nn.cells.Option"
    return None


@functools.cache
def registered() -> tuple[type[Cell], ...]:
    """The built-in cells, then every cell of the ``gridlstm.cells`` entry points (loaded once).  An
    entry point that does not load, or whose class is not a usable cell, is left out with a
    warning naming it: a broken package beside gridlstm does not stop the others."""
    out = list(BUILTIN)
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        where = f"entry point {ep.name} = {ep.value} (group {GROUP})"
        try:
            cls = ep.load()
        except Exception as e:  # noqa: BLE001 -- a broken plugin is named, not a traceback
            problem: Optional[str] = f"{where} does not load: {type(e).__name__}: {e}"
        else:
            problem = declaration_problem(cls, where) or _clash(cls, out, where)
        if problem:
            warnings.warn(f"{problem}; left out", RuntimeWarning, stacklevel=2)
        elif cls not in out:
            out.append(cls)
    return tuple(out)


def _clash(cls: type[Cell], accepted: list[type[Cell]], where: str) -> Optional[str]:
    """A kind (and variant) already taken, or an option whose default differs from another cell's."""
    if any(c.kind == cls.kind and c.variant == cls.variant for c in accepted):
        return f"{where}: model.kind {cls.kind} is taken; name the kind otherwise"
    for name, opt in cls.options.items():
        other = next((c for c in accepted if name in c.options), None)
        if other is not None and other.options[name].default != opt.default:
            return (f"{where}: model.{name} defaults to {opt.default!r}, but {other.__name__} has "
                    f"{other.options[name].default!r}: cells sharing an option share its default")
    return None


def kinds() -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.kind for c in registered()))


@functools.cache
def import_class(path: str) -> type[Cell]:
    """The class of ``model.kind: package.module:ClassName``; ValueError naming what went wrong."""
    module, _, name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except Exception as e:  # noqa: BLE001 -- whatever the import raises, one line
        raise ValueError(f"cannot import the cell class {path} ({type(e).__name__}: {e})") from None
    problem = declaration_problem(cls, path)
    if problem:
        raise ValueError(problem)
    return cls


def is_path(kind: str) -> bool:
    return ":" in kind


def check_kind(kind: str) -> Optional[str]:
    """None for a registered kind or an importable ``module:Class``; else the problem, one line."""
    if is_path(kind):
        try:
            cls = import_class(kind)
        except ValueError as e:
            return str(e)
        unknown = [k for k in cls.options if k not in config_options()]
        if unknown:
            return (f"{kind} reads model.{unknown[0]}, which no registered cell declares: register the cell "
                    f"through the {GROUP} entry point to add an option")
        return None
    if kind in kinds():
        return None
    names = [repr(k) for k in kinds()]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"Input should be {listed}"  # pydantic's words for a choice (package.module:Class: see the field)


def variants(kind: str) -> tuple[str, ...]:
    return tuple(c.variant for c in registered() if c.kind == kind and c.variant)


def cell_class(kind: str, variant: Optional[str] = None) -> type[Cell]:
    """The class of ``kind`` (and, for a kind with variants, ``variant``; default its first)."""
    if is_path(kind):
        return import_class(kind)
    of_kind = [c for c in registered() if c.kind == kind]
    if not of_kind:
        raise ValueError(f"unknown model.kind {kind!r} (expected one of {', '.join(kinds())})")
    variant = current_variant(variant)
    return next((c for c in of_kind if c.variant == variant), of_kind[0])


def known_class(model: Mapping[str, Any]) -> Optional[type[Cell]]:
    """The class of a saved ``model`` mapping, or None when this installation cannot load it."""
    try:
        return cell_class(str(model.get("kind")), model.get("variant"))
    except ValueError:
        return None


def known_raw_input(kind: str) -> bool:
    """Whether the cell of ``kind`` can read the task's input itself (Cell.raw_input)."""
    try:
        return cell_class(kind).raw_input
    except ValueError:
        return False


def build_cell(cfg: Any, input_size: Optional[int] = None) -> Cell:
    """The cell of a ModelConfig: each class's constructor takes the options it declares; with
    ``input_size`` (no input projection) the first cell reads that width instead of H."""
    cls: Any = cell_class(cfg.kind, cfg.variant)  # each subclass's constructor has its own options
    sizes = {"input_size": input_size} if input_size is not None else {}
    return cls(cfg.hidden, cfg.layers, cfg.tied, **{k: getattr(cfg, k) for k in cls.options}, **sizes)


def cases(cells: Optional[Iterable[type[Cell]]] = None) -> dict[str, dict[str, Any]]:
    """Every kind, variant and covered option set: label → ModelConfig keyword arguments."""
    out = {}
    for c in registered() if cells is None else cells:
        kind = c.kind if c in registered() else f"{c.__module__}:{c.__qualname__}"  # module:Class
        base = {"kind": kind, **({"variant": c.variant} if c.variant else {})}
        for suffix, opts in c.cases.items():
            out[" ".join(w for w in (c.kind, c.variant, suffix) if w)] = {**base, **opts}
    return out


class Field(NamedTuple):
    """A ModelConfig field generated from the cells' ``Option`` declarations."""

    annotation: Any
    default: Any
    ge: Optional[float]
    le: Optional[float]
    description: str


@functools.cache
def config_options() -> dict[str, Field]:
    """The cell options as ModelConfig fields, in the order the cells declare them: the union of
    the choices (in order of appearance) and their one default."""
    declared: dict[str, list[tuple[type[Cell], Option]]] = {}
    for c in registered():
        for name, opt in c.options.items():
            declared.setdefault(name, []).append((c, opt))
    out = {}
    for name, decl in declared.items():
        first = decl[0][1]  # registered() keeps only cells that agree on the default
        choices = [v for _, o in decl for v in (o.choices or ())]
        annotation = Literal[tuple(dict.fromkeys(choices))] if choices else type(first.default)
        users = [c for c, _ in decl]
        if len({o.choices for _, o in decl}) > 1:  # 'identity: rnn only'
            narrow = [v for v in dict.fromkeys(choices) if any(v not in (o.choices or ()) for _, o in decl)]
            only = "; ".join(f"{v}: {_where([c for c, o in decl if v in (o.choices or ())], plain=True)} only"
                             for v in narrow)
        else:
            only = "" if len(users) == len(registered()) else f"{_where(users, plain=True)} only"
        text = "; ".join(t for t in (first.description, only) if t)
        out[name] = Field(annotation, first.default, first.ge, first.le, text)
    return out


def weight_options(kind: str, variant: Optional[str] = None) -> tuple[str, ...]:
    """The options of the cell that change what its weights compute (a checkpoint must agree)."""
    return tuple(k for k, o in cell_class(kind, variant).options.items() if o.weights)


# ----------------------------------------------------------------------------- config rules


def _where(users: Iterable[type[Cell]], plain: bool = False) -> str:
    """'model.kind lstm|grid', or 'model.kind grid with model.variant paper' for some variants;
    plain: 'lstm and grid', 'grid paper'."""
    by_kind: dict[str, list[str]] = {}
    for c in users:
        by_kind.setdefault(c.kind, []).append(c.variant or "")
    whole = [k for k, vs in by_kind.items() if len(vs) == len([c for c in registered() if c.kind == k])]
    if plain:
        return " and ".join([*whole, *(f"{k} {'|'.join(vs)}" for k, vs in by_kind.items() if k not in whole)])
    parts = [f"model.kind {'|'.join(whole)}"] if whole else []
    parts += [f"model.kind {k} with model.variant {'|'.join(vs)}" for k, vs in by_kind.items() if k not in whole]
    return " or ".join(parts)


def option_problems(kind: str, variant: str, values: Mapping[str, Any], given: set[str]) -> list[str]:
    """One line per option that the chosen cell does not read but ``given`` sets (explicitly, to a
    non-default value), or whose value it does not accept.  ``values``: the ModelConfig fields."""
    chosen, problems, cells = cell_class(kind, variant), [], registered()
    if "variant" in given and not variants(kind):
        problems.append(f"model.variant applies only to {_where(c for c in cells if c.variant)}")
    for key, value in values.items():
        users = [c for c in cells if key in c.options]
        if not users and key not in chosen.options:
            continue
        if key not in chosen.options:
            if key in given:
                problems.append(f"model.{key} applies only to {_where(users)}")
            continue
        choices = chosen.options[key].choices
        if choices is not None and value not in choices:
            takers = [c for c in cells if value in (getattr(c.options.get(key), "choices", None) or ())]
            problems.append(f"model.{key} {value} applies only to {_where(takers)} "
                            f"(use {'|'.join(map(str, choices))})")
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
    """'rnn', 'gru tied', 'grid memory_input', 'grid paper tied': kind, variant, tying (a cell named
    by ``module:Class`` by its own ``kind``)."""
    cls = known_class(model)
    kind = cls.kind if cls is not None else model["kind"]
    words = [kind, shown_variant(kind, model.get("variant"))]
    return " ".join(w for w in (*words, "tied" if model.get("tied") else None) if w)


def colors(kind: str) -> tuple[str, str]:
    """(line colour, colour map) of a kind in figures; grey for one this gridlstm does not know."""
    cls = known_class({"kind": kind})
    return cls.colors if cls is not None else Cell.colors


def state_label(model: Mapping[str, Any], state: str) -> str:
    """'depth memory c′': a state as its cell labels it (the input x, and the states of a cell
    this installation cannot load, by name)."""
    if state == "x":
        return "input x"
    cls = known_class(model)
    return cls.label(state) if cls is not None else state


def is_memory(model: Mapping[str, Any], state: str) -> bool:
    """Whether the state is one of its cell's gated memories (dashed in figures)."""
    cls = known_class(model)
    return cls is not None and state in cls.memories


def depth_states(model: Mapping[str, Any], states: Iterable[str]) -> list[str]:
    """The depth-carrying states among ``states`` (its cell's ``up`` states, the hidden one first);
    for a cell this installation cannot load, every state but the input x."""
    states = list(states)
    cls = known_class(model)
    if cls is None:
        return [s for s in states if s != "x"]
    return [s for s in cls.depth_states() if s in states]
