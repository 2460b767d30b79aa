"""``RunFolder``: one run folder on disk, its files by name and its records by type; the only
reader of a run folder (plots, reports, sweeps and tracking all read through it).

    folder = RunFolder.create(out_root, cfg, meta)   # appears whole, config.yaml + meta.json inside
    folder = RunFolder.claim(path, cfg, meta)        # a given path (a sweep's runs/<id>/)
    folder = RunFolder.open(path)                    # an existing run: config(), meta(), summary(), ...
    RunFolder(path).board()                          # never raises: what a sweep board shows

Typed records: ``config()`` (the validated Config), ``meta()``, ``summary()``. For runs of any
gridlstm version, plots and reports read ``RunFolder.read(path)``'s ``config_data()`` (the keys they
need, checked; and from it ``task``, ``length``, ``kind``), ``meta_data()``, ``summary_data()``,
``metric_values()``, ``gradients(name)``, ``gradient_meta()`` and ``gradient_summary()``, each file
read once per folder. A *gradient-only* folder (``gradcheck --out DIR``: gradients.csv and its
meta.json directly inside, no config.yaml) reads the same way. File names: layout.py.
Training in it (lock, signals, gradient profiles, summary) is gridlstm.train.lifecycle's.
"""
from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

from gridlstm.config import Config, dump_config, load_config
from gridlstm.errors import ConfigError, GridlstmError
from gridlstm.nn import registry
from gridlstm.safe_yaml import read_yaml

from .checks import record_problem
from .files import check_folder, open_regular
from .folder import (
    FolderLock,
    atomic_write_text,
    load_checkpoint,
    make_run_dir,
    read_json,
    read_metrics,
    write_json,
)
from .layout import (
    CHECKPOINT,
    CONFIG,
    DEPTH,
    GRADIENT_SUMMARY,
    GRADIENTS,
    GRADIENTS_DIR,
    META,
    METRICS,
    PROFILES,
    SUMMARY,
)
from .records import Meta, Status, Summary
from .tables import GradientTable, config_problem, number, read_csv

NOT_TRAINED = "not trained (gradcheck of a config)"
T = TypeVar("T")


def read_once(method: Callable[[RunFolder], T]) -> Callable[[RunFolder], T]:
    """A reader whose result the folder keeps (until it writes its meta or summary): plots and
    reports ask one run for its config many times."""
    @functools.wraps(method)
    def once(self: RunFolder) -> T:
        if method.__name__ not in self._read:
            self._read[method.__name__] = method(self)
        return self._read[method.__name__]
    return once


class RunFolder:
    """A run folder: ``path`` and the files of DESIGN.md §5."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._read: dict[str, Any] = {}  # what the read_once readers read

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- files by name ---------------------------------------------------------------------------
    config_file = property(lambda self: self.path / CONFIG)
    meta_file = property(lambda self: self.path / META)
    summary_file = property(lambda self: self.path / SUMMARY)
    metrics_file = property(lambda self: self.path / METRICS)
    checkpoint_file = property(lambda self: self.path / CHECKPOINT)
    gradients_dir = property(lambda self: self.path / GRADIENTS_DIR)
    profiles_file = property(lambda self: self.path / GRADIENTS_DIR / PROFILES)

    @property
    def gradient_only(self) -> bool:
        """A folder of gradcheck --out DIR: gradients.csv etc. directly inside, no config.yaml."""
        return not self.config_file.is_file()

    def gradient_file(self, name: str) -> Path:
        """RUN/gradients/NAME (NAME directly inside a gradient-only folder)."""
        return self.path / name if self.gradient_only else self.gradients_dir / name

    # -- making one ------------------------------------------------------------------------------
    @classmethod
    def create(cls, out_root: Path, cfg: Config, meta: Meta) -> RunFolder:
        """A fresh ``out_root/<cfg.run_name>/<stamp>-<id>/`` that appears with its config and meta
        inside, so that from the moment it exists it can be resumed."""
        return cls(make_run_dir(out_root, cfg.run_name, fill=lambda tmp: cls(tmp).write_start(cfg, meta)))

    @classmethod
    def claim(cls, path: Path, cfg: Config, meta: Meta) -> RunFolder:
        """A run at a path chosen by the caller (a sweep's ``runs/<id>``): config and meta first."""
        folder = cls(path)
        folder.path.mkdir(parents=True, exist_ok=True)
        folder.write_start(cfg, meta)
        return folder

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """An existing run folder (one holding config.yaml and meta.json); a one-line error if not."""
        folder = cls(path)
        if not folder.path.is_dir():
            raise GridlstmError(f"{folder.path}: no such run folder")
        check_folder(folder.path)  # regular files only, none leaving the folder
        if not folder.config_file.is_file():
            raise GridlstmError(f"{folder.path}: not a gridlstm run folder (no config.yaml)")
        return folder

    @classmethod
    def read(cls, path: Path) -> RunFolder:
        """An existing folder of any kind (a run, a gradcheck of a config, a gradient-only folder),
        to read: regular files only, none leaving the folder (a one-line error if not)."""
        check_folder(Path(path))
        return cls(path)

    def write_start(self, cfg: Config, meta: Meta) -> None:
        atomic_write_text(self.config_file, dump_config(cfg))
        self.write_meta(meta)

    # -- records ---------------------------------------------------------------------------------
    def config(self, overrides: tuple[str, ...] | list[str] = ()) -> Config:
        return load_config(self.config_file, list(overrides))

    def meta(self) -> Meta:
        return Meta.from_json(read_json(self.meta_file))

    def write_meta(self, meta: Meta) -> None:
        self._read.clear()
        write_json(self.meta_file, meta.to_json())

    def summary(self) -> Optional[Summary]:
        """How the run ended; None while it has not (no summary.json)."""
        return Summary.from_json(read_json(self.summary_file)) if self.summary_file.is_file() else None

    def ended(self) -> Summary:
        """How the run ended; a one-line error while it has not (no summary.json yet)."""
        summary = self.summary()
        if summary is None:
            raise GridlstmError(f"{self.path} has not finished (no {SUMMARY}): train it first")
        return summary

    def write_summary(self, summary: Summary) -> None:
        self._read.clear()
        write_json(self.summary_file, summary.to_json())

    def metrics(self) -> list[dict[str, str]]:
        """metrics.csv rows as strings (step, split, loss, metric, grad_norm, lr, seconds)."""
        return read_metrics(self.metrics_file) if self.metrics_file.is_file() else []

    def checkpoint(self, map_location: str = "cpu") -> dict[str, Any]:
        """checkpoint.pt, loaded with weights_only=True."""
        return load_checkpoint(self.checkpoint_file, map_location)

    def lock(self) -> FolderLock:
        return FolderLock(self.path)

    # -- reading any run, of any version (plots, reports, sweeps, tracking) ----------------------
    def config_yaml(self) -> dict[str, Any]:
        """config.yaml as written, unchecked (a ConfigError when it is not readable YAML)."""
        return read_yaml(self.config_file)

    @read_once
    def config_data(self) -> dict[str, Any]:
        """config.yaml, with the keys that plot and report read checked (not the whole schema: a
        run of an older gridlstm still reads); a gradient-only folder's from its gradcheck meta."""
        if self.gradient_only:  # what gradcheck's meta.json says about the model and the task
            g = self.gradient_meta()
            model = {"kind": g["model"], "variant": g.get("variant") or registry.DEFAULT_VARIANT,
                     "tied": bool(g.get("tied")), "hidden": g.get("hidden"), "layers": g.get("D")}
            return {"task": {"name": g["task"], "length": g["length"]}, "model": model, "train": {}}
        try:
            data = self.config_yaml()
        except ConfigError as e:
            raise GridlstmError(f"{e.problems[0]} (the run's config.yaml is damaged)") from None
        problem = config_problem(data)
        if problem:
            raise GridlstmError(f"{self.config_file}: {problem} (the run's config.yaml is damaged)")
        return data

    @property
    def task(self) -> str:
        return str(self.config_data()["task"]["name"])

    @property
    def length(self) -> int:
        return int(self.config_data()["task"]["length"])

    @property
    def kind(self) -> str:
        return str(self.config_data()["model"]["kind"])

    @property
    def trained(self) -> bool:
        """A run that trained (or trains): meta.json beside its config.yaml."""
        return not self.gradient_only and self.meta_file.is_file()

    @read_once
    def meta_data(self) -> dict[str, Any]:
        """meta.json as written; a folder that was never trained says so in its status."""
        if self.gradient_only or not self.meta_file.is_file():
            return {"status": NOT_TRAINED}
        return checked(read_json(self.meta_file), self.meta_file, "meta")

    @read_once
    def summary_data(self) -> dict[str, Any]:
        """summary.json as written; a one-line error while the run has not ended."""
        if not self.summary_file.is_file():
            status = self.meta_data().get("status", "unknown")
            raise GridlstmError(f"{self.path} has no {SUMMARY} (status: {status}); it is written "
                                "when `gridlstm train` ends")
        return checked(read_json(self.summary_file), self.summary_file, "summary")

    @read_once
    def metric_values(self) -> list[dict[str, Any]]:
        """metrics.csv rows with numbers as numbers (an empty cell is None)."""
        if not self.metrics_file.exists():
            raise GridlstmError(f"{self.path} has no {METRICS} (train it with: gridlstm train CONFIG)")
        _, rows = read_csv(self.metrics_file, "the run's metrics.csv is damaged")
        return [{k: (v if k == "split" else number(v)) for k, v in r.items() if isinstance(k, str)} for r in rows]

    def metrics_from(self, offset: int) -> tuple[list[dict[str, str]], int]:
        """The complete metrics.csv rows after byte ``offset`` (0: all of them), and the offset after
        them; a file shorter than ``offset`` (truncated by a resume) is read from the start."""
        if not self.metrics_file.is_file():
            return [], offset
        with open_regular(self.metrics_file, None, "r", newline="") as f:
            header = f.readline()
            if offset > f.seek(0, 2):
                offset = 0
            f.seek(max(offset, len(header)))
            chunk = f.read()
        chunk = chunk[: chunk.rfind("\n") + 1]  # complete lines only
        rows = list(csv.DictReader([header, *chunk.splitlines(keepends=True)]))
        return rows, max(offset, len(header)) + len(chunk)

    def gradients(self, name: str = GRADIENTS) -> GradientTable:
        """gradients.csv (gradcheck) or profiles.csv (training) as columns."""
        path = self.gradient_file(name)
        if not path.exists():
            producer = (f"gridlstm gradcheck {self.path}" if name == GRADIENTS else
                        "gridlstm train CONFIG gradients.at_steps=[0,100], which records them")
            raise GridlstmError(f"{self.path} has no {GRADIENTS_DIR}/{name} (make it with: {producer})")
        return GradientTable.read(path)

    @read_once
    def gradient_meta(self) -> dict[str, Any]:
        """gradients/meta.json, gradcheck's record of what it measured ({} before any gradcheck)."""
        path = self.gradient_file(META)
        return read_json(path) if path.is_file() else {}

    def gradient_summary(self) -> Optional[list[dict[str, Any]]]:
        """gradients/summary.csv rows (None before any gradcheck)."""
        path = self.gradient_file(GRADIENT_SUMMARY)
        if not path.is_file():
            return None
        _, rows = read_csv(path, "rewrite it with: gridlstm gradcheck RUN")
        return [{k: (v if k in ("state", "theory_kind") else number(v)) for k, v in r.items() if isinstance(k, str)}
                for r in rows]

    def gradient_depth(self) -> Optional[list[dict[str, Any]]]:
        """gradients/depth.csv rows, the decay along depth beside its theory (None without one)."""
        path = self.gradient_file(DEPTH)
        if not path.is_file():
            return None
        _, rows = read_csv(path, "rewrite it with: gridlstm gradcheck RUN")
        return [{k: (v if k in ("state", "theory_kind", "reference_kind") else number(v)) for k, v in r.items()
                 if isinstance(k, str)} for r in rows]

    def measured_rows(self, name: str, measured: str = GRADIENTS_DIR) -> list[dict[str, str]]:
        """The rows of a CSV file of one gradients folder of the run (``gradients`` or
        ``gradients-best``), as text; [] when it is missing or unreadable (for trackers)."""
        path = self.path / measured / name
        try:
            return read_csv(path, "rewrite it with: gridlstm gradcheck RUN")[1] if path.is_file() else []
        except GridlstmError:
            return []

    def board(self) -> tuple[Optional[str], dict[str, Any]]:
        """(meta.json's status, summary.json) for a sweep board; never raises: a folder half
        written, damaged or not yet there gives (None, {}) or (RUNNING, {}) as far as it is readable."""
        status: Optional[str] = None
        if self.meta_file.is_file():
            try:
                status = str(read_json(self.meta_file).get("status", Status.RUNNING))
            except GridlstmError:
                status = Status.RUNNING
        summary: dict[str, Any] = {}
        if self.summary_file.is_file():
            try:
                summary = read_json(self.summary_file)
            except GridlstmError:
                summary = {}
        return status, summary

    def error(self) -> str:
        """meta.json's error ("" when none or unreadable)."""
        try:
            return str(read_json(self.meta_file).get("error") or "") if self.meta_file.is_file() else ""
        except GridlstmError:
            return ""


def checked(data: dict[str, Any], path: Path, kind: str) -> dict[str, Any]:
    """``data`` of meta.json/summary.json, or a one-line error naming the damaged field."""
    problem = record_problem(data, kind)
    if problem:
        raise GridlstmError(f"{path}: {problem}; the file is damaged")
    return data
