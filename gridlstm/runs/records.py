"""The records of a run folder: its ``Status``, ``meta.json`` (``Meta``) and ``summary.json`` (``Summary``).

On disk they are plain JSON with the field names below; these classes only give them types. Reading
a file that an older or newer gridlstm wrote keeps the keys this version does not know (``extra``)
and writes them back unchanged.
"""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Optional

REPO_ROOT = Path(__file__).resolve().parents[2]


class TextEnum(str, Enum):
    """An enum whose members compare, hash and print as their strings (``Status.COMPLETED == "completed"``)."""

    __str__ = str.__str__
    __format__ = str.__format__  # type: ignore[assignment]  # typeshed's Enum.__format__ is narrower
    __hash__ = str.__hash__


class Status(TextEnum):
    """A run's status, as meta.json and summary.json record it."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    DIVERGED = "diverged"

    @property
    def finished(self) -> bool:
        """Completed or diverged: a result (a diverged run would diverge again if re-run)."""
        return self in FINISHED


FINISHED = (Status.COMPLETED, Status.DIVERGED)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_info() -> dict[str, Any]:
    def git(*args: str) -> Optional[str]:
        try:
            out = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True,
                                 text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _split(cls: type, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(known fields, unknown keys) of a JSON object for dataclass ``cls``."""
    names = {f.name for f in fields(cls)} - {"extra"}
    return {k: v for k, v in data.items() if k in names}, {k: v for k, v in data.items() if k not in names}


@dataclass(frozen=True)
class Meta:
    """meta.json: how, where and with what a run was started, and how it ended so far."""

    argv: list[str]
    status: Status
    started: str
    ended: Optional[str]
    git: dict[str, Any]
    python: str
    torch: str
    numpy: str
    host: str
    platform: str
    device: str
    torch_threads: int
    seed: int
    pid: int
    executable: str
    # written only when set (absent from the file otherwise)
    resumes: tuple[dict[str, Any], ...] = ()
    error: Optional[str] = None          # diverged: what was not finite
    diverged_step: Optional[int] = None
    signal: Optional[str] = None         # interrupted: SIGINT / SIGTERM
    checkpoint_step: Optional[int] = None
    # the loop orders that run (model.schedule auto: layerwise for training steps and evaluation,
    # wavefront for gradient profiles), e.g. {"train": "layerwise", "probe": "wavefront"}
    schedule: Optional[dict[str, str]] = None
    # the torch thread count chosen and why (gridlstm/threads.py ThreadChoice): setting, threads,
    # reason, wait_policy; absent from files written before train.threads existed
    threads: Optional[dict[str, Any]] = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    OPTIONAL = ("resumes", "error", "diverged_step", "signal", "checkpoint_step", "schedule", "threads")

    @classmethod
    def new(cls, argv: list[str], device: str, seed: int, **extra: Any) -> Meta:
        import numpy as np
        import torch

        return cls(argv=list(argv), status=Status.RUNNING, started=utc_now(), ended=None, git=git_info(),
                   python=platform.python_version(), torch=torch.__version__, numpy=np.__version__,
                   host=socket.gethostname(), platform=platform.platform(), device=device,
                   torch_threads=torch.get_num_threads(), seed=seed, pid=os.getpid(),
                   executable=sys.executable, extra=dict(extra))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Meta:
        known, extra = _split(cls, data)
        known = {f.name: known.get(f.name) for f in fields(cls) if f.name != "extra" and
                 (f.name in known or f.name not in cls.OPTIONAL)}
        known["status"] = Status(known.get("status") or Status.RUNNING)
        known["resumes"] = tuple(known.get("resumes") or ())
        return cls(**known, extra=extra)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or (f.name in self.OPTIONAL and value in (None, ())):
                continue
            out[f.name] = list(value) if f.name == "resumes" else value
        return {**out, **self.extra}

    def ending(self, status: Status, **changes: Any) -> Meta:
        """This meta with a new status (and ``ended`` stamped unless it is running)."""
        return replace(self, status=status, ended=None if status == Status.RUNNING else utc_now(), **changes)

    def resumed(self, record: dict[str, Any]) -> Meta:
        """Running again in this process: the resume recorded, last ending's details cleared."""
        return replace(self, status=Status.RUNNING, ended=None, pid=os.getpid(), signal=None, error=None,
                       diverged_step=None, checkpoint_step=None, resumes=(*self.resumes, record))


@dataclass(frozen=True)
class Summary:
    """summary.json: how a run ended (``to_json()`` is the file's object)."""

    name: str
    run_dir: str
    status: Status
    task: str
    length: int
    model: str
    variant: Optional[str]
    tied: bool
    layers: int
    hidden: int
    params: int
    steps: int
    eval_loss: float
    chance: float
    chance_heldout: Optional[float]  # loss on the held-out set of the population's best constant (None: older runs)
    metric_name: str
    eval_metric: float
    target: float
    solved: bool
    wall_seconds: float
    device: str
    skipped_steps: int
    checkpoint_step: Optional[int]
    signal: Optional[str]
    error: Optional[str]
    nothing_to_do: bool = False  # a resume of a completed run (not written to summary.json)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        known: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls) if f.name != "nothing_to_do"}
        return cls(**{**known, "status": Status(known["status"])})

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["nothing_to_do"]
        return out

