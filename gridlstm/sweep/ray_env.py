"""The code a Ray cluster's workers run, shipped from the driver (Ray's runtime_env).

``gridlstm sweep --executor ray --address ...`` connects with ``runtime_env={"py_modules": [the
gridlstm package]}``: Ray zips the package once, keeps it in the cluster (cached by its content
hash) and puts it first on every worker's sys.path, so worker nodes need no checkout or install of
gridlstm, and always run the driver's version of it (a different installed one is shadowed). The
third-party packages (torch, numpy, pydantic, pyyaml) must be on the nodes already, as for any
Ray job; see docs/scale.md, Ray.
"""
from __future__ import annotations

import importlib.util
import shutil
import socket
from pathlib import Path
from typing import Any

import gridlstm
from gridlstm.runs.layout import OUTPUT_LOG

ORIGIN_NOTE = OUTPUT_LOG  # in the run folder: where the worker took gridlstm from


def package_dir() -> Path:
    return Path(gridlstm.__file__).resolve().parent


def assemble(stage: Path) -> Path:
    """The whole package, gridlstm.cli and gridlstm.configs inside, as ``stage/gridlstm``.

    An installed wheel has them inside already; an editable install maps them from the repository's
    top-level cli/ and configs/, which Ray would not ship with the package folder alone."""
    out = Path(stage) / "gridlstm"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(package_dir(), out, ignore=skip)
    for sub in ("cli", "configs"):
        spec = importlib.util.find_spec(f"gridlstm.{sub}")
        if spec is not None and spec.submodule_search_locations and not (out / sub).exists():
            shutil.copytree(next(iter(spec.submodule_search_locations)), out / sub, ignore=skip)
    return out


def runtime_env(stage: Path) -> dict[str, Any]:
    """What Ray ships to the workers of a sweep on an existing cluster (the package assembled under
    ``stage``, which ray.init uploads before it returns)."""
    return {"py_modules": [str(assemble(stage))], "excludes": ["__pycache__", "*.pyc"]}


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
