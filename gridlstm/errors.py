"""The errors of the library: what went wrong, in one message (the CLI picks the exit codes)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Optional


class GridlstmError(Exception):
    """A problem with the user's input: a missing file, a corrupt checkpoint, a bad argument."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConfigError(GridlstmError):
    """One or more problems in a config; ``problems`` holds one line each."""

    SHOWN = 20  # problems printed; the rest are counted (a config can have thousands)

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        shown = [f"  - {' '.join(p.split())[:400]}" for p in self.problems[: self.SHOWN]]
        if len(self.problems) > self.SHOWN:
            shown.append(f"  - ... and {len(self.problems) - self.SHOWN} more")
        super().__init__("\n".join(shown))

    def __str__(self) -> str:
        n = len(self.problems)
        return f"invalid config ({n} problem{'s' if n != 1 else ''}):\n{self.message}"


class ParamError(GridlstmError):
    """A bad argument of a library call, named by its parameter: ``param`` (``"seeds"``), ``value``
    (as shown) and ``problem``. In ``problem``, ``{name}`` stands for the parameter's own name, and
    ``{other}`` or ``{other=value}`` for another parameter of the call, one of ``others``
    (``{force=True}``: a switch that is on). The library's own text names parameters (``seeds=0:
    expected ...``, ``address=HOST: applies only to kind=ray``); a front end names its own options
    instead (``named({"seeds": "--seeds"})``: ``--seeds 0: expected ...``; cli/common.py holds the
    CLI's names). ``param=None``: a problem of several parameters, each a placeholder, no prefix."""

    def __init__(self, param: Optional[str], value: object, problem: str, others: tuple[str, ...] = ()):
        self.param, self.value, self.problem, self.others = param, value, problem, others
        super().__init__(self.named({}))

    def named(self, names: Mapping[str, str]) -> str:
        """The message with each parameter called by its name in ``names`` (a front end's option:
        ``--seeds 0``), or by itself where ``names`` has none (``seeds=0``)."""
        def call(param: str, value: object) -> str:
            name = names.get(param)
            if name:
                return name if value is None or value == "True" else f"{name} {value}"
            return param if value is None else f"{param}={value}"

        def placeholder(m: re.Match[str]) -> str:
            param, value = m.group(1), m.group(2)
            if param == "name" and self.param:
                return names.get(self.param) or self.param
            return call(param, value) if param in self.others else m.group(0)

        text = PLACEHOLDER.sub(placeholder, self.problem)
        return f"{call(self.param, self.value)}: {text}" if self.param else text


PLACEHOLDER = re.compile(r"\{([a-z_]+)(?:=([^{}]*))?\}")  # {name}, {other}, {other=value}


class RunInterrupted(KeyboardInterrupt):
    """A hard stop (a second Ctrl-C) during training: the folder and its last complete checkpoint."""

    def __init__(self, run_dir: object, checkpoint_step: object):
        super().__init__(f"interrupted; last checkpoint at step {checkpoint_step} in {run_dir}")
        self.run_dir, self.checkpoint_step = run_dir, checkpoint_step


class Terminated(KeyboardInterrupt):
    """SIGTERM to a sweep: stopped as by Ctrl-C (the running runs stop, the sweep stays resumable),
    and the CLI exits 143 instead of 130."""

    signal = "SIGTERM"


class StoppedBeforeStart(Exception):
    """A SIGINT/SIGTERM that arrived while a new run was being set up, before its folder existed:
    nothing was written. ``signal``: its name (SIGINT, SIGTERM)."""

    def __init__(self, signal: str):
        super().__init__(f"stopped by {signal} before the run folder was created; nothing was written")
        self.signal = signal
