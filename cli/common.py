"""Pieces shared by every command: error handling, the config/override arguments, --device."""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import click
from rich.console import Console

from gridlstm.config import Config, load_config
from gridlstm.errors import ConfigError, GridlstmError


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into 'Error: …' on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            fail(str(e))
        except GridlstmError as e:
            fail(e.message, e.exit_code)

    return wrapper


def split_config_args(args: tuple[str, ...]) -> tuple[Optional[Path], list[str]]:
    """``[CONFIG] [key=value ...]``: the first argument without '=' is the config path."""
    if args and "=" not in args[0]:
        rest = list(args[1:])
        stray = [a for a in rest if "=" not in a]
        if stray:
            raise ConfigError([f"unexpected argument {a!r}: expected key=value (e.g. model.hidden=128)"
                               for a in stray])
        return Path(args[0]), rest
    return None, list(args)


def config_from_args(args: tuple[str, ...]) -> Config:
    path, overrides = split_config_args(args)
    return load_config(path, overrides)


device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run: auto picks cuda when available.")
