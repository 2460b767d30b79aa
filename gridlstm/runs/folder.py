"""Run folders (docs/design.md §3): unique creation, crash-safe writes, metadata, checkpoints.

    outputs/<name>/<UTC YYYYmmdd-HHMMSS>-<4 hex>/
        config.yaml  meta.json  metrics.csv  checkpoint.pt  summary.json  gradients/  plots/

A run folder appears whole: it is filled (config.yaml, meta.json) under a hidden temporary name and
renamed into place, so from the moment it exists it can be resumed. Whole-file writes go to a
temporary file in the same folder and are renamed over the target, so a crash leaves either the old
file or the new one, never a torn one; the folder is fsynced after each rename. Files get the modes
the umask gives (0644 under the usual 022), like any other program's. metrics.csv is appended and
flushed row by row. ``atomic_open`` and ``FolderLock`` are the library's only atomic writer and lock.
"""
from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Optional

import torch
from filelock import FileLock, Timeout

from gridlstm.errors import GridlstmError
from gridlstm.runs.files import new_folders, open_regular, read_text
from gridlstm.runs.records import utc_now as utc_now  # re-exported: the time stamps of every file

ZIP_MAGIC = b"PK\x03\x04"  # the first bytes of every torch.save file
METRIC_FIELDS = ("step", "split", "loss", "metric", "grad_norm", "lr", "seconds")


def fsync_dir(path: Path) -> None:
    """Make renames inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _claim_temp(parent: Path, stem: str, make: Callable[[Path], Any]) -> tuple[Path, Any]:
    """An unused hidden ``parent/.stem.<random>.tmp`` made by ``make`` (exclusive), and its result."""
    for _ in range(100):
        tmp = parent / f".{stem}.{secrets.token_hex(4)}.tmp"
        try:
            return tmp, make(tmp)
        except FileExistsError:
            continue
    raise GridlstmError(f"could not create a temporary file in {parent}")


@contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` whole or not at all: a temporary file beside it (mode from the umask), fsync,
    rename over ``path``, fsync the folder. On any error the temporary file goes and ``path`` stays."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        tmp, fd = _claim_temp(path.parent, path.name, lambda p: os.open(p, flags, 0o666))
    except OSError as e:  # named as the file the caller writes, never the hidden temporary one
        raise type(e)(e.errno, e.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename is not None and Path(e.filename) != tmp:
            raise
        raise type(e)(e.errno, e.strerror, str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


@contextmanager
def fresh_run_dir(out_root: Path, name: str, first: str, text: str) -> Iterator[Path]:
    """A new ``out_root/name/<stamp-id>/`` (make_run_dir) holding ``first`` (its spec or config):
    if the block fails, the folder goes again with the parents made for it, so an output that was
    never completed (a full disk, an interrupt) leaves nothing half-made."""
    with new_folders(Path(out_root) / name) as parent:
        folder = make_run_dir(parent.parent, parent.name, fill=lambda tmp: atomic_write_text(tmp / first, text))
        try:
            yield folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


def copy_atomic(src: Path, dst: Path) -> None:
    with open(src, "rb") as f, atomic_open(dst) as out:
        while chunk := f.read(1 << 20):
            out.write(chunk)


def write_json(path: Path, obj: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; a missing, unreadable, non-JSON or non-object file is a one-line error."""
    try:
        data = json.loads(read_text(path))  # a regular file only: a FIFO would block
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


def read_json_or_empty(path: Path) -> dict[str, Any]:
    """``read_json``, or {} where that would fail (a folder being written, or damaged)."""
    try:
        return read_json(path)
    except GridlstmError:
        return {}


def make_run_dir(out_root: Path, name: str, fill: Optional[Callable[[Path], None]] = None) -> Path:
    """A fresh ``out_root/name/<UTC stamp>-<id>``, never reused, that appears with what ``fill``
    writes into it already inside: it is filled as ``.<stamp>-<id>.tmp`` and then renamed.

    Creating the hidden temporary name is exclusive and reserves the final name for this process
    (nobody else can make ``<stamp>-<id>`` by this function while it holds ``.<stamp>-<id>``).
    """
    with new_folders(Path(out_root) / name) as parent:  # no empty OUT/NAME/ left by a failure
        return _make_run_dir(parent, fill)


def _make_run_dir(parent: Path, fill: Optional[Callable[[Path], None]]) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    for _ in range(100):
        final = parent / f"{stamp}-{secrets.token_hex(2)}"
        tmp = parent / f".{final.name}.tmp"
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        if final.exists():
            tmp.rmdir()
            continue
        try:
            if fill is not None:
                fill(tmp)
            os.rename(tmp, final)
        except OSError as e:  # named by the folder's own name, not the hidden one it is filled as
            shutil.rmtree(tmp, ignore_errors=True)
            name = os.fsdecode(e.filename) if e.filename is not None else None
            if name is None or not name.startswith(str(tmp)):
                raise
            raise type(e)(e.errno, e.strerror, str(final) + name[len(str(tmp)):]) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(parent)
        return final
    raise GridlstmError(f"could not create a unique run folder under {parent}")


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
    with open_regular(path, None, "r", newline="") as f:
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
        lines = read_text(path).splitlines(keepends=True)
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


class FolderLock:
    """An exclusive lock on ``folder/.lock`` held while a process works in the folder (a run, a sweep).

    The OS drops it when the process dies (even on kill -9), so a crashed run can be resumed, while a
    second process on a folder that is still in use is refused with ``GridlstmError``. The lock is
    filelock's OS lock (flock on POSIX, msvcrt on Windows); never its lock-file fallback, which a
    killed process would leave behind. The .lock file stays in the folder.
    """

    def __init__(self, folder: Path, holder: str = "another gridlstm process"):
        self.path, self.holder = Path(folder) / ".lock", holder
        self._lock = FileLock(self.path, timeout=0, fallback_to_soft=False, preserve_lock_file=True)

    def __enter__(self) -> FolderLock:
        try:
            self._lock.acquire()
        except Timeout:
            raise GridlstmError(f"{self.path.parent} is in use by {self.holder} "
                                "(wait for it to finish or stop it first)") from None
        except OSError as e:  # named as the folder the user gave, never the internal .lock file
            raise GridlstmError(f"cannot work in {self.path.parent} ({e.strerror}): gridlstm writes into "
                                "the folder it continues; make it writable, or copy it somewhere "
                                "writable and give the copy") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._lock.is_locked:
            self._lock.release()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save through ``atomic_open``: a crash never leaves a torn checkpoint."""
    with atomic_open(path) as f:
        torch.save(payload, f)


def load_checkpoint(path: Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``; a missing, truncated or foreign file is a one-line error."""
    if not path.exists():
        raise GridlstmError(f"no checkpoint at {path} (train a run first: gridlstm train CONFIG)")
    try:
        with open_regular(path, None, "rb") as f:
            if f.read(4) != ZIP_MAGIC:  # torch.save writes a zip archive; anything else is damage
                raise GridlstmError(f"corrupt or foreign checkpoint {path}: not a file written by torch.save "
                                    "(no zip archive header); the file is damaged")
            f.seek(0)
            payload = torch.load(f, map_location=map_location, weights_only=True)
    except GridlstmError:
        raise
    except Exception as e:  # torch raises many types for corrupt files
        raise GridlstmError(f"corrupt or foreign checkpoint {path}: {_load_error(e)}") from None
    if not isinstance(payload, dict) or "model" not in payload or "format" not in payload:
        raise GridlstmError(f"{path} is not a gridlstm checkpoint (no 'model'/'format' entries)")
    from .checks import checkpoint_problem  # field types: a damaged file is named, not a traceback

    problem = checkpoint_problem(payload)
    if problem:
        raise GridlstmError(f"corrupt checkpoint {path}: {problem}")
    return payload


def _load_error(e: Exception) -> str:
    """torch.load's error in one line. A file refused for holding arbitrary objects is named as such,
    without torch's advice to load it with weights_only=False (which would run code from the file)."""
    text = str(e).strip()
    if "Weights only load failed" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        if not found:
            return "its contents are not tensors and plain data that torch can read; the file is damaged"
        what = f" ({found.group(1)})"
        return (f"it holds Python objects{what} besides tensors and plain data; gridlstm loads only "
                "tensors and plain data, never code from a file")
    return text.splitlines()[0] if text else type(e).__name__


def rng_state(data_gen: torch.Generator) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "data": data_gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], data_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    data_gen.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
