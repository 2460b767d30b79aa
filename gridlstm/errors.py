"""The errors of the library: what went wrong, in one message (the CLI picks the exit codes)."""
from __future__ import annotations


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
    (as shown) and ``problem``, where ``{name}`` stands for the parameter's name. The library's own
    text names the parameter (``seeds=0: expected ...``); a front end names its own option instead
    (``named("--seeds")``: ``--seeds 0: expected ...``; cli/common.py holds the CLI's names)."""

    def __init__(self, param: str, value: object, problem: str):
        self.param, self.value, self.problem = param, value, problem
        super().__init__(f"{param}={value}: {problem.replace('{name}', param)}")

    def named(self, name: str) -> str:
        return f"{name} {self.value}: {self.problem.replace('{name}', name)}"


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
