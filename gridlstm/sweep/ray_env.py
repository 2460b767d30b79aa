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
