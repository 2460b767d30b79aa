"""File safety: what the library reads from a run or sweep folder, and the folders it makes.

    open_regular(path, folder)  open for reading only a regular file, and (given ``folder``) only
                                one that stays inside it: a FIFO, device or socket is refused at once
                                (never blocks), a symlink leaving the folder is refused
    excerpt(text)               a bounded, escaped piece of a file's text for an error message
    new_folders(path)           make ``path`` (and missing parents); on an error, remove the ones
                                made here that are still empty (no empty folder is left behind)
    free_space(path)            "12 KiB free of 1.0 MiB" for the file system holding ``path``

Symlinks inside a folder (to another file of the same folder) are followed; nothing else is
(docs/reliability.md).
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Optional

from gridlstm.errors import GridlstmError

from . import layout as L

EXCERPT = 60  # characters of a file's text that a message may quote


GRADIENT_FILES = (L.GRADIENTS, L.GRADIENT_SUMMARY, L.GRADIENT_MARKDOWN, L.DEPTH, L.META, L.PROFILES)
RUN_FILES = (L.CONFIG, L.META, L.METRICS, L.CHECKPOINT, L.BEST, L.SUMMARY, L.TRACEBACK, L.OUTPUT_LOG,
             *(f"{L.GRADIENTS_DIR}/{n}" for n in GRADIENT_FILES), *GRADIENT_FILES)
SWEEP_FILES = ("sweep.yaml", "expansion.json", L.META, "status.csv", "results.csv", "report.csv")
FOLDERS = (L.GRADIENTS_DIR, "plots", "runs", "attempts")


def check_folder(folder: Path, names: tuple[str, ...] = RUN_FILES) -> None:
    """Every file of ``names`` that ``folder`` holds is a regular file inside it, and its
    subfolders stay inside it: a FIFO, device or socket, or a symlink leaving the folder, is a
    GridlstmError before anything is read (a folder someone hands you cannot make gridlstm read,
    or print, a file outside it)."""
    folder = Path(folder)
    for name in FOLDERS:
        sub = folder / name
        if sub.is_symlink() and not _inside(sub, folder):
            raise GridlstmError(f"{sub} is a symbolic link that leaves {folder}; gridlstm reads only "
                                "files inside the folder")
    for name in names:
        path = folder / name
        if path.is_symlink() or path.exists():
            check_regular(path, folder)


def _inside(path: Path, folder: Path) -> bool:
    target, root = Path(path).resolve(), Path(folder).resolve()
    return target == root or root in target.parents


def excerpt(text: str, width: int = EXCERPT) -> str:
    """``text`` cut to ``width`` characters, control and non-ASCII characters escaped, quoted."""
    return ascii(text[:width]) + ("..." if len(text) > width else "")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_regular(path: Path, folder: Optional[Path] = None) -> None:
    """GridlstmError unless ``path`` is a regular file (after links) that stays inside ``folder``."""
    path = Path(path)
    if folder is not None and not _inside(path, folder):  # a link, or a linked folder on the way
        raise GridlstmError(f"{path} is a symbolic link that leaves {folder}; gridlstm reads only "
                            "files inside the folder (copy the file in instead of linking it)")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise GridlstmError(f"{path.name} not found in {path.parent}") from None
    except OSError as e:
        raise GridlstmError(f"cannot read {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):
        raise GridlstmError(f"{path} is {_kind(mode)}, not a regular file; the folder is damaged")


@contextmanager
def open_regular(path: Path, folder: Optional[Path] = None, mode: str = "r", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(path, mode)`` for reading, of a regular file only (checked again on the open file,
    which is opened non-blocking so that a FIFO swapped in meanwhile cannot hang the reader)."""
    check_regular(path, folder)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise GridlstmError(f"{path} is {_kind(os.fstat(fd).st_mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


def read_text(path: Path, folder: Optional[Path] = None) -> str:
    with open_regular(path, folder, "r", encoding="utf-8") as f:
        return f.read()


@contextmanager
def new_folders(path: Path) -> Iterator[Path]:
    """``path`` made with its missing parents; if the block fails, the folders made here that are
    still empty go again (deepest first), so a failure before anything was written leaves nothing."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        for made in missing:  # deepest first
            try:
                made.rmdir()
            except OSError:
                break  # not empty (something useful was written), or gone
        raise


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def free_space(path: Path) -> Optional[str]:
    """How much space the file system holding ``path`` (or its nearest existing parent) has left."""
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        st = os.statvfs(probe)
    except (OSError, AttributeError):
        return None
    return f"{_size(st.f_bavail * st.f_frsize)} free of {_size(st.f_blocks * st.f_frsize)}"
