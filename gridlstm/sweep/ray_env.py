"""The code a Ray cluster's workers run, shipped from the driver (Ray's runtime_env).

``gridlstm sweep --executor ray --address ...`` connects with ``runtime_env={"py_modules": [the
gridlstm package]}``: Ray zips the package once, keeps it in the cluster (cached by its content
hash) and puts it first on every worker's sys.path, so worker nodes need no checkout or install of
gridlstm, and always run the driver's version of it (a different installed one is shadowed). The
third-party packages (torch, numpy, pydantic, pyyaml) must be on the nodes already, as for any
Ray job; see docs/scale.md, Ray.
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import gridlstm

ORIGIN_NOTE = "output.log"  # in the run folder: where the worker took gridlstm from


def package_dir() -> Path:
    return Path(gridlstm.__file__).resolve().parent


def runtime_env() -> dict[str, Any]:
    """What Ray ships to the workers of a sweep on an existing cluster."""
    return {"py_modules": [str(package_dir())], "excludes": ["__pycache__", "*.pyc"]}


def note_origin(run_dir: Path) -> Path:
    """Append to RUN/output.log which gridlstm the worker ran and on which host; returns run_dir."""
    with open(Path(run_dir) / ORIGIN_NOTE, "a") as f:
        f.write(f"ray worker on {socket.gethostname()}: gridlstm from {package_dir()}\n")
    return Path(run_dir)


def relocate_summary(run_dir: Path) -> None:
    """summary.json names the folder the run was trained in; point it at its final place."""
    from dataclasses import replace

    from gridlstm.runs.run import RunFolder

    folder = RunFolder(run_dir)
    if (summary := folder.summary()) is not None:
        folder.write_summary(replace(summary, run_dir=str(run_dir)))


def lost_resumable(run_dir: Path, why: str) -> bool:
    """A run whose Ray worker died while it trained in its own folder: marked interrupted (with
    ``why``) when it has a checkpoint, so the next ``gridlstm sweep SWEEP_DIR`` continues it."""
    from gridlstm.runs.records import Status
    from gridlstm.runs.run import RunFolder

    folder = RunFolder(run_dir)
    if not folder.checkpoint_file.is_file() or not folder.meta_file.is_file():
        return False
    meta = folder.meta()
    if meta.status != Status.RUNNING:
        return meta.status == Status.INTERRUPTED
    folder.write_meta(meta.ending(Status.INTERRUPTED, error=why))
    return True
