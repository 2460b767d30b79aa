"""Run folders (docs/design.md §5): unique creation, crash-safe writes, metadata, checkpoints.

    outputs/<name>/<UTC YYYYmmdd-HHMMSS>-<4 hex>/
        config.yaml  meta.json  metrics.csv  checkpoint.pt  summary.json  gradients/  plots/

Whole-file writes go to a temporary file in the same folder and are renamed over the target, so a
crash leaves either the old file or the new one, never a torn one. metrics.csv is appended and
flushed row by row.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from gridlstm.errors import GridlstmError

METRIC_FIELDS = ("step", "split", "loss", "metric", "grad_norm", "lr", "seconds")
REPO_ROOT = Path(__file__).resolve().parents[2]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_run_dir(out_root: Path, name: str) -> Path:
    """Create a fresh ``out_root/name/<UTC stamp>-<id>``; never reuses a folder."""
    parent = Path(out_root) / name
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    for _ in range(100):
        path = parent / f"{stamp}-{secrets.token_hex(2)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise GridlstmError(f"could not create a unique run folder under {parent}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: Path, obj: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; a missing, unreadable, non-JSON or non-object file is a one-line error."""
    if path.exists() and not path.is_file():  # a folder, or a FIFO that would block
        raise GridlstmError(f"{path} is not a regular file; the run folder is damaged")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise GridlstmError(f"{path.name} not found in {path.parent}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise GridlstmError(f"{path} is not valid JSON ({str(e)[:100] or type(e).__name__}); "
                            "the file is damaged") from None
    except OSError as e:
        raise GridlstmError(f"cannot read {path}: {e.strerror or e}") from None
    if not isinstance(data, dict):
        raise GridlstmError(f"{path} holds a JSON {type(data).__name__}, not an object; the file is damaged")
    return data


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


def new_meta(argv: list[str], device: str, seed: int) -> dict[str, Any]:
    return {
        "argv": argv,
        "status": "running",
        "started": utc_now(),
        "ended": None,
        "git": git_info(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "seed": seed,
        "pid": os.getpid(),
        "executable": sys.executable,
    }


class MetricsLog:
    """Append-only metrics.csv, one flushed row per logged step."""

    def __init__(self, path: Path):
        self.path = path
        new = not path.exists() or path.stat().st_size == 0
        self._file = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=METRIC_FIELDS)
        if new:
            self._writer.writeheader()
            self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: row.get(k, "") for k in METRIC_FIELDS})
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_metrics(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def truncate_metrics(path: Path, last_step: int) -> int:
    """metrics.csv: keep the header and the complete rows with step <= ``last_step`` (see truncate_rows)."""
    return truncate_rows(path, last_step, ",".join(METRIC_FIELDS) + "\n")


def truncate_rows(path: Path, last_step: int, header: Optional[str] = None) -> int:
    """Keep the header and the complete rows whose first column (step) is <= ``last_step``; atomic.

    Rows past a checkpoint were written by steps that a resumed run repeats, and a kill -9 may have
    left a last line without its newline; both go. ``header``: the expected first line (default:
    the file's own). Returns how many lines were dropped.
    """
    if not path.exists():
        return 0
    try:
        lines = path.read_text().splitlines(keepends=True)
    except (UnicodeDecodeError, IsADirectoryError) as e:
        why = "a folder" if isinstance(e, IsADirectoryError) else "not UTF-8 text"
        raise GridlstmError(f"{path} is {why}: the file is damaged (move it aside to continue without "
                            "its rows)") from None
    header = header or (lines[0] if lines and lines[0].endswith("\n") else "")
    if not header:
        return 0
    keep, dropped = [header], 0
    for line in lines[1:]:
        step = line.split(",", 1)[0]
        if line.endswith("\n") and step.isdigit() and int(step) <= last_step:
            keep.append(line)
        else:
            dropped += 1
    if dropped or not lines or lines[0] != header:
        atomic_write_text(path, "".join(keep))
    return dropped


def remove_temp_files(run_dir: Path) -> None:
    """Temporary files of writes that a crash cut short (``.<name>.*.tmp``)."""
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


class RunLock:
    """An exclusive lock on ``run_dir/.lock`` held while a process trains in the folder.

    The OS drops it when the process dies (even on kill -9), so a crashed run can be resumed, while a
    second ``--resume`` of a run that is still going is refused.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self._file: Any = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: run unlocked
            return self
        self._file = open(self.path, "a")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            self._file = None
            raise GridlstmError(f"{self.path.parent} is in use by another gridlstm process "
                                "(wait for it to finish or stop it first)") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save into a temporary file, fsync, then rename: a crash never leaves a torn checkpoint."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``; a missing, truncated or foreign file is a one-line error."""
    if not path.is_file():
        raise GridlstmError(f"no checkpoint at {path} (train a run first: gridlstm train CONFIG)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GridlstmError(f"corrupt or foreign checkpoint {path}: {first}") from None
    if not isinstance(payload, dict) or "model" not in payload or "format" not in payload:
        raise GridlstmError(f"{path} is not a gridlstm checkpoint (no 'model'/'format' entries)")
    from .checks import checkpoint_problem  # field types: a damaged file is named, not a traceback

    problem = checkpoint_problem(payload)
    if problem:
        raise GridlstmError(f"corrupt checkpoint {path}: {problem}")
    return payload


def rng_state(data_gen: torch.Generator) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "data": data_gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], data_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    data_gen.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
