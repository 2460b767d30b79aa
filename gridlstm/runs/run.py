"""``RunFolder``: one run folder on disk, its files by name and its records by type.

    folder = RunFolder.create(out_root, cfg, meta)   # appears whole, config.yaml + meta.json inside
    folder = RunFolder.claim(path, cfg, meta)        # a given path (a sweep's runs/<id>/)
    folder = RunFolder.open(path)                    # an existing run: config(), meta(), summary(), ...

Training in it (lock, signals, gradient profiles, summary) is gridlstm.train.lifecycle's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from gridlstm.config import Config, dump_config, load_config
from gridlstm.errors import GridlstmError

from .files import check_folder
from .folder import (
    FolderLock,
    atomic_write_text,
    load_checkpoint,
    make_run_dir,
    read_json,
    read_metrics,
    write_json,
)
from .records import Meta, Summary


class RunFolder:
    """A run folder: ``path`` and the files of DESIGN.md §5."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- files by name ---------------------------------------------------------------------------
    config_file = property(lambda self: self.path / "config.yaml")
    meta_file = property(lambda self: self.path / "meta.json")
    summary_file = property(lambda self: self.path / "summary.json")
    metrics_file = property(lambda self: self.path / "metrics.csv")
    checkpoint_file = property(lambda self: self.path / "checkpoint.pt")
    profiles_file = property(lambda self: self.path / "gradients" / "profiles.csv")

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

    def write_start(self, cfg: Config, meta: Meta) -> None:
        atomic_write_text(self.config_file, dump_config(cfg))
        self.write_meta(meta)

    # -- records ---------------------------------------------------------------------------------
    def config(self, overrides: tuple[str, ...] | list[str] = ()) -> Config:
        return load_config(self.config_file, list(overrides))

    def meta(self) -> Meta:
        return Meta.from_json(read_json(self.meta_file))

    def write_meta(self, meta: Meta) -> None:
        write_json(self.meta_file, meta.to_json())

    def summary(self) -> Optional[Summary]:
        """How the run ended; None while it has not (no summary.json)."""
        return Summary.from_json(read_json(self.summary_file)) if self.summary_file.is_file() else None

    def write_summary(self, summary: Summary) -> None:
        write_json(self.summary_file, summary.to_json())

    def metrics(self) -> list[dict[str, str]]:
        """metrics.csv rows as strings (step, split, loss, metric, grad_norm, lr, seconds)."""
        return read_metrics(self.metrics_file) if self.metrics_file.is_file() else []

    def checkpoint(self, map_location: str = "cpu") -> dict[str, Any]:
        """checkpoint.pt, loaded with weights_only=True."""
        return load_checkpoint(self.checkpoint_file, map_location)

    def lock(self) -> FolderLock:
        return FolderLock(self.path)
