"""Pieces shared by every command: error handling, the config/override arguments, --device."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import click
from rich.console import Console

from gridlstm.config import Config, load_config
from gridlstm.errors import ConfigError, GridlstmError, RunInterrupted


def stderr_console() -> Console:
    """Progress and tables go to stderr (stdout keeps only paths). When stderr is not a terminal
    (make, a log file, CI) rich would assume 80 columns and cut the tables' numbers: use 160."""
    return Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def fail(message: str, code: int = 2) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into 'Error: …' on stderr and exit code 2, never a traceback; a hard
    Ctrl-C into a short note and exit code 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            fail(str(e))
        except GridlstmError as e:
            fail(e.message, e.exit_code)
        except RunInterrupted as e:
            fail(f"stopped at once by a second interrupt; the last complete checkpoint (step "
                 f"{e.checkpoint_step}) is kept. Resume with: gridlstm train --resume {e.run_dir}", 130)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


def split_config_args(args: tuple[str, ...]) -> tuple[Optional[Path], list[str]]:
    """``[CONFIG] [key=value ...]``: the first argument without '=' is the config path; any other
    argument without '=' is reported with the overrides' problems (load_config), all at once."""
    if args and "=" not in args[0]:
        return Path(args[0]), list(args[1:])
    return None, list(args)


def config_from_args(args: tuple[str, ...]) -> Config:
    path, overrides = split_config_args(args)
    return load_config(path, overrides)


device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run: auto picks cuda when available.")
