"""How many torch CPU threads a run uses (``train.threads``), and why.

OpenMP threads wait for each other at every barrier, and oneDNN's recurrent kernels have one
barrier per timestep. When other work holds a core, a descheduled thread stalls all the others at
every step: a small model can then take several times longer on two threads than on one. Two
things keep a run off that cliff:

* the OpenMP wait policy is passive (waiting threads sleep instead of spinning on a core another
  thread needs). It has to be in the environment before torch loads its OpenMP runtime, so the
  console entry point sets it (``cli/launch.py``, ``passive_wait_env``);
* ``auto`` picks the thread count from the problem size and the cores this process may use:

      work    = B · (H + H) · 4H        multiply-adds of one gate transform per step and layer
      threads = clamp(work // WORK_PER_THREAD, 1, min(cores, cap))

  with cores = ``len(os.sched_getaffinity(0))`` (what taskset / cgroups allow, not the machine's
  count) and cap a caller's budget (a sweep's cores // jobs). Below WORK_PER_THREAD multiply-adds
  per extra thread, one thread is as fast as two even on an idle machine, and much faster on a busy
  one (benchmarks/notes.md, "Threads").

An explicit choice always wins: ``OMP_NUM_THREADS`` in the environment over everything (torch
reads it at start-up and this module never overrides it), then ``train.threads: N``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass
from typing import Optional, Union

WORK_PER_THREAD = 1 << 19  # multiply-adds per step per thread below which a thread does not pay
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}


@dataclass(frozen=True)
class ThreadChoice:
    """What a run was given: ``setting`` (``auto`` or N, from the config), ``threads`` (what torch
    runs) and ``reason`` (one line, recorded in meta.json)."""

    setting: str
    threads: int
    reason: str
    wait_policy: Optional[str] = None  # OMP_WAIT_POLICY as the process started (None: OpenMP's default)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def usable_cores() -> int:
    """The cores this process may run on (affinity mask), or the machine's count without one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity on this platform
        return max(1, os.cpu_count() or 1)


def choose_threads(setting: Union[str, int], batch: int, hidden: int, cap: Optional[int] = None,
                   cores: Optional[int] = None, env: Optional[Mapping[str, str]] = None) -> ThreadChoice:
    """The thread count for ``setting`` (``"auto"`` or a positive int) at batch ``batch`` and width
    ``hidden``; ``cap``: at most this many (a sweep's share of the cores); ``env``: the process
    environment (default ``os.environ``)."""
    env = os.environ if env is None else env
    cores = cores or usable_cores()
    policy = env.get("OMP_WAIT_POLICY")
    explicit = _env_threads(env)
    if explicit is not None:
        return ThreadChoice(str(setting), explicit, f"OMP_NUM_THREADS={explicit} in the environment "
                            "(an explicit setting wins)", policy)
    limit = min(cores, cap) if cap else cores
    limit_text = f"{cores} usable core(s)" + (f", at most {cap} per run" if cap and cap < cores else "")
    if setting != "auto":
        n = int(setting)
        if cap and n > cap:
            return ThreadChoice(str(n), cap, f"train.threads={n}, lowered to the sweep's {cap} per run", policy)
        return ThreadChoice(str(n), n, f"train.threads={n}", policy)
    work = batch * 2 * hidden * 4 * hidden
    n = max(1, min(limit, work // WORK_PER_THREAD))
    return ThreadChoice("auto", n, f"auto: {work:,} multiply-adds per step (B={batch}, H={hidden}) "
                        f"→ {max(1, work // WORK_PER_THREAD)} thread(s) at {WORK_PER_THREAD:,} each; "
                        f"{limit_text}", policy)


def _env_threads(env: Mapping[str, str]) -> Optional[int]:
    """OMP_NUM_THREADS as torch reads it (its first entry), or None when unset or not a number."""
    raw = env.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def apply_threads(setting: Union[str, int], batch: int, hidden: int, cap: Optional[int] = None) -> ThreadChoice:
    """``choose_threads`` for this process, then ``torch.set_num_threads`` to it."""
    import torch

    choice = choose_threads(setting, batch, hidden, cap)
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return choice


def passive_wait_env(env: MutableMapping[str, str]) -> None:
    """OMP_WAIT_POLICY=PASSIVE in ``env`` unless the user set a wait policy; call before torch loads."""
    for key, value in PASSIVE.items():
        env.setdefault(key, value)
