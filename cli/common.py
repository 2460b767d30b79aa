"""Pieces shared by every command: error handling, the config/override arguments, --device."""
from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click
from rich.console import Console

from gridlstm.errors import ConfigError, GridlstmError, ParamError, RunInterrupted, Terminated

if TYPE_CHECKING:  # the config schema imports torch (the cell registry): not for --help or Tab
    from gridlstm.config import Config

TORCH_WRITE_FAILED = re.compile(r"inline_container|PytorchStreamWriter|file write failed")
LOOKS_LIKE_PATH = re.compile(r"\.ya?ml$|[/\\]")  # a path separator, or a config file's suffix


def stderr_console() -> Console:
    """Progress and tables go to stderr (stdout keeps only paths). When stderr is not a terminal
    (make, a log file, CI) rich would assume 80 columns and cut the tables' numbers: use 160."""
    return Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def fail(message: str, code: int = 2) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def one_line(text: str, width: int = 1000) -> str:
    """A message as one line of bounded length (a path or a value may hold newlines or be huge)."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def short_path(path: Any, width: int = 240) -> str:
    """A path for a message: a very long one (File name too long) keeps its start and its end, so
    the reason after it is never cut off."""
    text = str(os.fsdecode(path)) if isinstance(path, (bytes, str, os.PathLike)) else str(path)
    return text if len(text) <= width else f"{text[:width // 2]}...{text[-width // 3:]} ({len(text)} characters)"


def one_line_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                     line: Optional[str] = None) -> None:
    """warnings.showwarning for the CLI: ``warning: MESSAGE`` on one line of stderr."""
    click.echo(f"warning: {one_line(str(message), 400)}", err=True)


@contextlib.contextmanager
def stops_as_interrupts() -> Iterator[dict[str, str]]:
    """Ctrl-C stops the command even when it started with SIGINT ignored (a background job of a
    shell), as train's StopSignals does, and SIGTERM stops it the same way (Terminated, exit 143);
    the handlers come back on the way out. Yields {"signal": "SIGTERM"} once one came (a
    KeyboardInterrupt may reach the caller in its place, converted on its way through Ray)."""
    seen: dict[str, str] = {}
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def terminated(signum: int, frame: Any) -> None:
        seen["signal"] = "SIGTERM"
        raise Terminated()

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    if before[0] is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminated)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


def os_error_message(e: OSError) -> str:
    """``PATH: strerror`` and what to do about it, for an OSError nobody closer handled."""
    from gridlstm.runs.files import free_space

    where = " -> ".join(short_path(f) for f in (e.filename, e.filename2) if f is not None)
    what = e.strerror or type(e).__name__
    if e.errno in (errno.ENOSPC, errno.EDQUOT) and e.filename is not None:
        space = free_space(Path(os.fsdecode(e.filename)).parent)
        what += f" ({space} on its file system)" if space else ""
    hint = {errno.ENOSPC: "free some space and run again (an interrupted run continues with "
                          "gridlstm train --resume RUN_DIR; the files that were there are kept)",
            errno.ENAMETOOLONG: "a file or folder name is too long: choose a shorter --name or --out",
            errno.EROFS: "the file system is read-only: write elsewhere (--out DIR)",
            errno.EACCES: "no permission: write elsewhere (--out DIR) or fix the permissions",
            errno.EDQUOT: "disk quota exceeded: free some space and run again"}.get(e.errno or 0, "")
    return f"{where + ': ' if where else ''}{what}{'; ' + hint if hint else ''}"


# file-system errors that the user can fix: exit 2 like other bad input (docs/reliability.md)
USER_FIXABLE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
                errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.ENOENT, errno.EEXIST}

ENTRY_POINT = "gridlstm command"  # the root context's obj when main() runs: a process of its own


def exits_after_command() -> bool:
    """True in the installed command's process (main()), which exits when the command ends; False
    when the CLI is invoked in-process (click's CliRunner, a notebook), where handlers must come back."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.find_root().obj == ENTRY_POINT


@contextlib.contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    """Stopping already: a Ctrl-C pressed again must not cut the message short (click would turn
    its KeyboardInterrupt into 'Aborted!' and exit 1). The handler comes back on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# The option of each library parameter that a ParamError names (gridlstm/errors.py): the one place
# where the library's parameter names become the command line's flags
OPTIONS = {"address": "--address", "batch": "--batch", "columns": "--columns", "device": "--device",
           "dpi": "--dpi", "force": "--force", "jobs": "--jobs", "kind": "--executor", "layer": "--layer",
           "num_cpus": "--num-cpus", "num_gpus": "--num-gpus", "only": "--only", "out": "--out",
           "resume": "--resume", "run_dir": "--resume", "seeds": "--seeds", "sort": "--sort",
           "state": "--state", "what": "--what", "which": "--from", "x_axis": "--x"}


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into 'Error: …' on stderr and exit code 2, never a traceback; a hard
    Ctrl-C into a short note and exit code 130. File-system errors and anything unforeseen end as
    one line: exit code 2 for those the user can fix (USER_FIXABLE: a full disk, permissions, a name
    too long), else 1 (GRIDLSTM_DEBUG=1 shows the traceback of an unforeseen one)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            fail(str(e))
        except ParamError as e:  # named by the option that set the parameter
            fail(one_line(e.named(OPTIONS)), 2)
        except GridlstmError as e:
            fail(one_line(e.message), 2)
        except RunInterrupted as e:
            with ctrl_c_ignored():
                fail(f"stopped at once by a second interrupt; the last complete checkpoint (step "
                     f"{e.checkpoint_step}) is kept. Resume with: gridlstm train --resume {e.run_dir}", 130)
        except KeyboardInterrupt:
            with ctrl_c_ignored():
                fail("interrupted", 130)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except OSError as e:  # the user can fix these (space, permissions, names): exit 2
            fail(one_line(os_error_message(e)), 2 if e.errno in USER_FIXABLE else 1)
        except RecursionError:
            fail("input nested too deeply to process (RecursionError); check the files given", 1)
        except MemoryError:
            fail("out of memory; use a smaller model, batch or sequence length "
                 "(GRIDLSTM_MEMORY_GB sets the budget that configs are checked against)", 1)
        except Exception as e:
            if os.environ.get("GRIDLSTM_DEBUG"):
                raise
            if isinstance(e, RuntimeError) and TORCH_WRITE_FAILED.search(str(e)):  # torch.save's own error
                fail(one_line(f"writing a checkpoint failed ({str(e).strip()[:120]}); the disk may be full: "
                              "free some space, then continue with gridlstm train --resume RUN_DIR"), 1)
            fail(one_line(f"internal error: {type(e).__name__}: {e} (please report it; "
                          "GRIDLSTM_DEBUG=1 shows the traceback)"), 1)

    return wrapper


def is_override(arg: str) -> bool:
    """``key=value``, unless ``arg`` is an existing path (sweep run folders are named like
    ``kind=lstm,seed=0``) or, with a key that is no config key, looks like a path."""
    from gridlstm.config import valid_keys

    key, sep, _ = arg.partition("=")
    if not sep or os.path.exists(arg):
        return False
    return key.strip() in valid_keys() or not LOOKS_LIKE_PATH.search(arg)


def split_config_args(args: tuple[str, ...]) -> tuple[Optional[Path], list[str]]:
    """``[CONFIG] [key=value ...]``: the first argument that is not an override is the config path;
    any other argument without '=' is reported with the overrides' problems (load_config), all at
    once."""
    if args and not is_override(args[0]):
        return Path(args[0]), list(args[1:])
    return None, list(args)


def check_printable(path: Path, option: str) -> None:
    """The folder is printed as the last line of stdout: a path with a newline or another control
    character would break that line (and scripts reading it)."""
    if any(not c.isprintable() for c in str(path)):
        raise GridlstmError(f"{option} {ascii(str(path))[:200]}: holds a newline or another control character; "
                            "choose a path without them (the folder is printed as the last line of stdout)")


def check_out_dir(out: Path, option: str = "--out") -> None:
    """Refuse an output folder that cannot be made, before anything is created (exit code 2)."""
    path = Path(out)
    check_printable(path, option)
    if path.exists() and not path.is_dir():
        raise GridlstmError(f"{option} {path}: exists and is not a folder")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise GridlstmError(f"{option} {path}: {probe} is a file, not a folder; choose another {option}")
    if probe.exists() and (not os.access(probe, os.W_OK | os.X_OK) or _read_only(probe)):
        why = "read-only file system" if _read_only(probe) else "permission denied"
        raise GridlstmError(f"{option} {path}: cannot write in {probe} ({why}); choose another {option}")


def check_resume_dir(run_dir: Path) -> None:
    """A run continues in its own folder: refuse one that cannot be written, before anything runs."""
    from gridlstm.runs.files import check_folder

    path = Path(run_dir)
    check_printable(path, "--resume")
    if path.is_dir():
        check_folder(path)
    if path.is_dir() and (not os.access(path, os.W_OK | os.X_OK) or _read_only(path)):
        why = "read-only file system" if _read_only(path) else "permission denied"
        raise GridlstmError(f"--resume {path}: cannot write in the run folder ({why}); a run continues "
                            "in its own folder: copy it somewhere writable and resume the copy")


def given(param: str) -> bool:
    """Whether the option ``param`` of the running command was given on the command line."""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source(param) if ctx is not None else None
    return source is not None and source != click.core.ParameterSource.DEFAULT


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def config_from_args(args: tuple[str, ...]) -> Config:
    from gridlstm.config import load_config

    path, overrides = split_config_args(args)
    return load_config(path, overrides)


device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run: auto picks cuda when available.")


def measurement_options(most_seeds: int, seeds: int, seeds_help: str, batch_default: str) -> Callable:
    """--seeds and --batch of the commands that measure gradients (gradcheck, study)."""
    def decorate(fn: Callable) -> Callable:
        fn = click.option("--batch", type=click.IntRange(1), default=None,
                          help=f"Examples per measurement [default: {batch_default}].")(fn)
        return click.option("--seeds", type=click.IntRange(1, most_seeds), default=seeds, show_default=True,
                            help=seeds_help)(fn)
    return decorate
