"""The results file (configs/studies/results.yaml), read and checked before anything runs.

    name: results
    depth: depth.yaml                 # a depth study file (gridlstm study depth), relative to this file
    spectrum: spectrum.yaml           # a spectrum study file (gridlstm study spectrum), likewise
    seeds: 3                          # seeds per model (each comparison may say its own)
    comparisons:
      - name: memorize                # [A-Za-z0-9_-]: run folders runs/<name>-<i>-s<seed>
        title: "..."                  # the page's heading
        published: "..."              # what the source shows, with its section or figure
        better: 0                     # the run the publication found better (index into runs);
                                      # figure profiles: [at init, after training]
        seeds: 5                      # this comparison's seeds (default: the file's)
        figure: loss                  # loss (learning curves, seeds as a band) | profiles
        runs:
          - {label: tied grid, config: ../memorize_cpu_grid.yaml, set: [train.steps=100]}
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from gridlstm import compose
from gridlstm.config import Config, load_config
from gridlstm.errors import ConfigError, ParamError
from gridlstm.safe_yaml import _short, read_yaml

DEFAULT_RESULTS = compose.CONFIG_DIR / "studies" / "results.yaml"
FIGURES = ("loss", "profiles")
TOP_KEYS = ("name", "depth", "spectrum", "seeds", "comparisons")
COMPARISON_KEYS = ("name", "title", "published", "better", "figure", "runs", "seeds")
RUN_KEYS = ("label", "config", "set")
MAX_SEEDS = 100
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")


@dataclass(frozen=True)
class Entry:
    """One training run of a comparison: a config file and its overrides, resolved and validated."""

    source: Path
    overrides: tuple[str, ...]
    config: Config
    label: str           # the model's name on the page and in the legends

    def seeded(self, seed: int) -> Config:
        """This run's config with ``seed`` (model init, data stream; the held-out set stays fixed)."""
        return self.config.model_copy(update={"seed": seed})


@dataclass(frozen=True)
class Comparison:
    name: str
    title: str
    published: str
    better: tuple[int, ...]   # the run the publication found better (profiles: at init, after)
    figure: str               # one of FIGURES
    entries: tuple[Entry, ...]
    seeds: int


@dataclass(frozen=True)
class ResultsSpec:
    name: str
    path: Path
    depth: Optional[Path]
    comparisons: tuple[Comparison, ...]
    spectrum: Optional[Path] = None


def _keys(where: str, data: dict[str, Any], allowed: tuple[str, ...], problems: list[str]) -> None:
    for key in data:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r}; expected one of {', '.join(allowed)}")


def _entry(where: str, raw: Any, base: Path, problems: list[str]) -> Optional[Entry]:
    if not isinstance(raw, dict) or "config" not in raw:
        problems.append(f"{where}: expected a mapping with a config file, e.g. {{config: ../adding_lstm.yaml}}")
        return None
    _keys(where, raw, RUN_KEYS, problems)
    sets = raw.get("set", [])
    if not isinstance(sets, list) or not all(isinstance(s, str) and "=" in s for s in sets):
        problems.append(f"{where}.set: expected a list of KEY=VALUE overrides, got {_short(sets)}")
        return None
    source = (base / str(raw["config"])).resolve()
    try:
        cfg = load_config(source, sets)
        return Entry(source, tuple(sets), cfg, str(raw.get("label") or default_label(cfg)))
    except ConfigError as e:
        problems.extend(f"{where} ({source.name}): {p}" for p in e.problems)
        return None


def default_label(cfg: Config) -> str:
    """'lstm, D=6, H=64': kind (variant and tying for a grid only), depth, width."""
    from gridlstm.nn import registry

    return f"{registry.describe(cfg.model.model_dump())}, D={cfg.model.layers}, H={cfg.model.hidden}"


def _seeds(where: str, raw: Any, default: int, problems: list[str]) -> int:
    if raw is None:
        return default
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= MAX_SEEDS:
        problems.append(f"{where}: expected a number of seeds, 1..{MAX_SEEDS}, got {_short(raw)}")
        return default
    return raw


def _better(where: str, raw: Any, n: int, figure: str, problems: list[str]) -> tuple[int, ...]:
    want = 2 if figure == "profiles" else 1
    values = raw if isinstance(raw, list) else [raw]
    ok = len(values) == want and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n for v in values)
    if not ok:
        shape = "[index at init, index after training]" if want == 2 else "the index of a run"
        problems.append(f"{where}.better: expected {shape}, 0..{n - 1}, got {_short(raw)}")
        return (0,) * want
    return tuple(values)


def _comparison(i: int, raw: Any, base: Path, problems: list[str], seeds: int = 3) -> Optional[Comparison]:
    where = f"comparisons[{i}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping with name, title, published, better, runs")
        return None
    _keys(where, raw, COMPARISON_KEYS, problems)
    name = str(raw.get("name", ""))
    if not NAME_RE.fullmatch(name):
        problems.append(f"{where}.name: {_short(name)} is not a name (letters, digits, _ and -)")
    runs = raw.get("runs")
    if not isinstance(runs, list) or len(runs) < 2:
        problems.append(f"{where}.runs: expected a list of at least two runs to compare")
        return None
    entries = [_entry(f"{where}.runs[{j}]", r, base, problems) for j, r in enumerate(runs)]
    figure = raw.get("figure", "loss")
    if figure not in FIGURES:
        problems.append(f"{where}.figure: {_short(figure)}; expected one of {', '.join(FIGURES)}")
    better = _better(where, raw.get("better", 0), len(runs), figure, problems)
    n_seeds = _seeds(f"{where}.seeds", raw.get("seeds"), seeds, problems)
    if None in entries or problems:
        return None
    return Comparison(name, str(raw.get("title", name)), " ".join(str(raw.get("published", "")).split()),
                      better, figure, tuple(e for e in entries if e is not None), n_seeds)


def load_results_spec(path: Path, only: tuple[str, ...] = ()) -> ResultsSpec:
    """Read and check a results file; every problem goes into one ConfigError."""
    path = compose.find_config(path, "results")  # a shipped results file by name (studies/results)
    data = read_yaml(path, "results")
    problems: list[str] = []
    _keys(str(path), data, TOP_KEYS, problems)
    base = Path(path).resolve().parent
    raw = data.get("comparisons")
    if not isinstance(raw, list) or not raw:
        raise ConfigError([f"{path}: comparisons: expected a list of comparisons"])
    seeds = _seeds(f"{path}: seeds", data.get("seeds"), 3, problems)
    comparisons = [_comparison(i, c, base, problems, seeds) for i, c in enumerate(raw)]
    names = [c.name for c in comparisons if c is not None]
    if len(set(names)) < len(names):
        problems.append(f"{path}: comparison names repeat: {', '.join(names)}")
    studies: dict[str, Optional[Path]] = {}
    for key in ("depth", "spectrum"):
        studies[key] = where = (base / str(data[key])).resolve() if data.get(key) else None
        if where is not None and not where.is_file():
            problems.append(f"{path}: {key}: study file not found: {where}")
    if problems:
        raise ConfigError(problems)
    unknown = [name for name in only if name not in names]
    if unknown:
        raise ParamError("only", ",".join(unknown), f"no such comparison; expected one of {', '.join(names)}")
    chosen = tuple(c for c in comparisons if c is not None and (not only or c.name in only))
    return ResultsSpec(str(data.get("name", Path(path).stem)), Path(path), studies["depth"], chosen,
                       studies["spectrum"])


