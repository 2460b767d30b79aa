"""Where a sweep's runs execute: a local process pool, or a Ray cluster.

Both run ``execute(job)``: train one config into an ordinary run folder, then (optionally) measure
its gradient profile into ``RUN/gradients/``; an exception lands in ``RUN/traceback.txt``.

local   one process per run (forkserver: torch imported once, each run a clean fork), at most
        ``jobs`` at a time with ``threads`` torch threads each (jobs × threads ≤ cores). Runs live
        in their own process group: Ctrl-C reaches only the sweep, which SIGTERMs every running
        run (it finishes its step, checkpoints, is marked ``interrupted``). A run whose sweep died
        (kill -9) sees the sweep's end of a pipe close at its next step and stops the same way.
ray     one Ray task per run (``num_cpus``/``num_gpus`` each). On the private instance (started
        on loopback only, without ``address``) or a loopback cluster the task trains in the
        sweep's run folder itself, as a local run does; on a remote cluster it trains in a
        temporary folder on its node and returns the folder's files (no shared filesystem).
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Protocol

from gridlstm.config import Config
from gridlstm.errors import GridlstmError, ParamError
from gridlstm.runs.layout import GRADIENTS_DIR, OUTPUT_LOG, TRACEBACK
from gridlstm.runs.records import Status
from gridlstm.sweep.ray_env import lost_resumable, note_origin, relocate_summary, runtime_env
from gridlstm.sweep.reaper import ray_session
from gridlstm.train.signals import DeferredCtrlC

# A local worker's exit code when its run ended on its own (not a CLI's); others are crashes (exit_reason)
WORKER_EXIT = {Status.COMPLETED: 0, Status.DIVERGED: 0, Status.FAILED: 1, Status.INTERRUPTED: 130}
STOP_GRACE_S = 60.0  # how long a stopped run may take to checkpoint before it is killed
# Ray resolves a node address of 127.0.0.1 to the machine's outward IP unless this is "0" when ray
# is imported; with it, every Ray server of an instance on 127.0.0.1 binds to loopback only.
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
RAY_MISSING = ("needs Ray, an optional extra: pip install '.[ray]' (or pip install 'ray>=2.9'); "
               "or use {kind=local}")  # a ParamError of kind=ray


@dataclass(frozen=True)
class RunJob:
    """Everything a worker needs to train one run of a sweep (picklable)."""

    id: str
    config: Config
    run_dir: str
    device: str = "cpu"
    threads: int = 1
    gradients: bool = True
    argv: tuple[str, ...] = ()
    resume: bool = False  # continue an interrupted run from its checkpoint, in its own folder
    direct: bool = False  # ray: the worker sees run_dir (the same machine) and trains in it


class Events(Protocol):
    """What an executor tells the sweep: a run started, a run's process ended (with a reason)."""

    def started(self, run_id: str) -> None: ...
    def finished(self, run_id: str, error: Optional[str]) -> None: ...


# ----------------------------------------------------------------------------- one run


class OrphanGuard:
    """Trainer hook: once the sweep process is gone, stop this run as if it got SIGTERM.

    ``alive`` is the read end of a pipe whose only write end the sweep holds: it turns readable
    (end of file) when the sweep dies, however it dies.
    """

    def __init__(self, alive: Any):
        self.alive = alive
        self.fired = False

    def __call__(self, trainer: Any) -> None:
        if not self.fired and self.alive.poll():
            self.fired = True
            os.kill(os.getpid(), signal.SIGTERM)


def execute(job: RunJob, hooks: tuple = ()) -> Status:
    """Train ``job`` into ``job.run_dir`` (or continue it there from its checkpoint when
    ``job.resume``), the run lifecycle of ``gridlstm train``; returns the run's status. Never raises
    on failure: the traceback goes to ``RUN/traceback.txt``."""
    import torch

    from gridlstm.probe.gradcheck import load_source, run_gradcheck, write_outputs
    from gridlstm.train.lifecycle import resume_run, start_run

    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cap := max(1, job.threads))  # jobs × threads ≤ cores: caps train.threads
    try:
        common: dict[str, Any] = {"device": job.device, "argv": list(job.argv), "hooks": tuple(hooks), "max_threads": cap}
        summary = (resume_run(run_dir, **common) if job.resume
                   else start_run(job.config, run_dir=run_dir, **common))
        if summary.status == Status.COMPLETED and job.gradients:  # as `gridlstm gradcheck RUN` writes it
            write_outputs(run_gradcheck(load_source(run_dir, []), 1, None, job.device, max_threads=cap), run_dir / GRADIENTS_DIR)
        return summary.status
    except KeyboardInterrupt:
        return Status.INTERRUPTED
    except Exception:
        (run_dir / TRACEBACK).write_text(traceback.format_exc())
        return Status.FAILED


def _child(job: RunJob, alive: Any) -> None:
    """Body of a local worker process: own process group, output to a log, exit code = status."""
    os.setpgid(0, 0)
    log = os.open(Path(job.run_dir) / OUTPUT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    status = execute(job, hooks=(OrphanGuard(alive),))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(WORKER_EXIT.get(status, 1))


def exit_reason(code: Optional[int]) -> Optional[str]:
    """Why a worker process ended, when it did not end on its own (a signal, a crash)."""
    if code is None or code in WORKER_EXIT.values():
        return None
    name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
    return f"worker process killed by {name}" if code < 0 else f"worker process exited with code {code}"


# ----------------------------------------------------------------------------- local


def threads_per_job(jobs: int, cores: Optional[int] = None) -> int:
    """Torch threads per run so that ``jobs`` runs do not oversubscribe the cores."""
    from gridlstm.threads import usable_cores  # the cores this process may use (affinity mask)
    return max(1, (cores or usable_cores()) // max(1, jobs))


def preload_modules() -> list[str]:
    """What the fork server imports once, so that no run pays for it: the training stack,
    torch._dynamo (~1.7 s, imported lazily by a process's first optimizer), and every project
    module this process has imported (each run re-executes the main script, e.g. the CLI's)."""
    ours = sorted(m for m in sys.modules if m.split(".")[0] == "gridlstm")
    return list(dict.fromkeys(["gridlstm.sweep.executors", "gridlstm.train.lifecycle",
                               "gridlstm.probe.gradcheck", "torch._dynamo", *ours]))


class LocalExecutor:
    """A pool of at most ``jobs`` worker processes on this machine, one process per run."""

    name, stopped = "local", "running runs were checkpointed and continue from there"  # after an interrupt

    def __init__(self, jobs: Optional[int] = None, poll_s: float = 0.25):
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.threads = threads_per_job(self.jobs)
        self.poll_s = poll_s

    def describe(self) -> str:
        return f"local: {self.jobs} job(s) × {self.threads} torch thread(s)"

    def run(self, jobs: list[RunJob], events: Events) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(preload_modules())
        pending = deque(jobs)
        live: dict[str, Any] = {}
        alive, alive_w = ctx.Pipe(duplex=False)  # alive_w never leaves this process
        try:
            while pending or live:
                while pending and len(live) < self.jobs:
                    job = pending.popleft()
                    job = RunJob(**{**job.__dict__, "threads": self.threads})
                    Path(job.run_dir).mkdir(parents=True, exist_ok=True)
                    proc = ctx.Process(target=_child, args=(job, alive), name=f"gridlstm-run {job.id}")
                    # a Ctrl-C between start and registration would leave a run no one stops: it is
                    # held, and raised once the run is in `live` (signals.py: why not a sigmask)
                    with DeferredCtrlC():
                        proc.start()
                        live[job.id] = proc
                    events.started(job.id)
                multiprocessing.connection.wait([p.sentinel for p in live.values()], timeout=self.poll_s)
                for run_id, proc in list(live.items()):
                    if not proc.is_alive():
                        proc.join()
                        del live[run_id]
                        events.finished(run_id, exit_reason(proc.exitcode))
        except BaseException:
            self._stop(live, events)
            raise
        finally:
            alive.close()
            alive_w.close()

    def _stop(self, live: dict[str, Any], events: Events) -> None:
        """SIGTERM every running run once, wait for their checkpoints, kill stragglers."""
        for proc in live.values():
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for run_id, proc in live.items():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
            events.finished(run_id, exit_reason(proc.exitcode))


# ----------------------------------------------------------------------------- ray


def import_ray(local: bool) -> Any:
    """``import ray`` with a one-line error when the optional extra is missing.

    ``local``: this process will start its own Ray instance; Ray then resolves its node address to
    127.0.0.1 (not the machine's outward IP), so every Ray server binds to loopback only.
    """
    if local and "ray" not in sys.modules:  # read once, when ray is imported
        os.environ.setdefault(LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError:
        raise ParamError("kind", "ray", RAY_MISSING, ("kind",)) from None
    return ray


def is_loopback(address: str) -> bool:
    """``127.0.0.1:6379``, ``localhost:6379``, ``ray://127.0.0.1:10001``: a cluster on this machine's
    loopback, whose drivers must also take 127.0.0.1 as their node address."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def start_local_ray(num_cpus: int, num_gpus: Optional[int] = None) -> Any:
    """Start a private Ray instance on loopback (no dashboard); returns the ``ray`` module.

    Always a new instance (``address="local"``), never a cluster another process left running here.
    Refuses (before anything listens) when ``ray`` was imported without the loopback setting, and
    checks afterwards that the instance took 127.0.0.1. Its workers run at the sweep's own priority
    (``worker_niceness`` 0: Ray's 15 all but stops them beside a busy process)."""
    if "ray" in sys.modules and os.environ.get(LOOPBACK_ENV) != "0":
        raise ParamError(None, None, f"ray was imported before its private instance could be kept on loopback; "
                         f"set {LOOPBACK_ENV}=0 before importing ray, or pass {{address}}", ("address",))
    ray = import_ray(local=True)
    ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False,
             _system_config={"worker_niceness": 0})
    host = ray.get_runtime_context().gcs_address.rsplit(":", 1)[0]
    if host != "127.0.0.1":
        ray.shutdown()
        raise GridlstmError(f"the private Ray instance took {host}, not 127.0.0.1; stopped it")
    return ray


def folder_files(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (relative path → bytes), but lock and temporary files."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != ".lock" and not p.name.endswith(".tmp")}


def _ray_task(job: RunJob, files: dict[str, bytes]) -> tuple[str, dict[str, bytes]]:
    """Body of a Ray task: unpack ``files`` (a run to continue) into a temporary folder, train
    there, and return (status, the folder's files). A ``direct`` job trains in its own folder
    instead (its checkpoints land there, so a cancelled or lost task leaves it resumable)."""
    if job.direct:
        status = execute(job)
        note_origin(Path(job.run_dir))
        return status, {}
    tmp = Path(tempfile.mkdtemp(prefix="gridlstm-run-"))
    try:
        work = tmp / "run"
        for rel, data in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_bytes(data)
        return execute(RunJob(**{**job.__dict__, "run_dir": str(work)})), folder_files(note_origin(work))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class RayExecutor:
    """One Ray task per run on a running cluster (``address``) or a private local instance."""

    name = "ray"
    stopped = property(lambda self: "runs in flight on Ray were stopped in their run folders and continue from "
                       "their last checkpoint" if self.direct else "runs in flight on the remote Ray cluster were "
                       "cancelled and start again from step 0 (they train in a temporary folder on their node)")
    direct = property(lambda self: self.address is None or is_loopback(self.address))  # workers see the folder

    def __init__(self, address: Optional[str] = None, num_cpus: float = 1.0, num_gpus: float = 0.0,
                 local_cpus: Optional[int] = None):
        if num_cpus <= 0 or num_gpus < 0:
            raise ParamError(None, None, f"{{num_cpus={num_cpus}}} / {{num_gpus={num_gpus}}}: expected "
                             "num_cpus > 0 and num_gpus ≥ 0 per run", ("num_cpus", "num_gpus"))
        self.address, self.num_cpus, self.num_gpus = address, num_cpus, num_gpus
        self.local_cpus = local_cpus or os.cpu_count() or 1

    def describe(self) -> str:
        where = self.address or f"private local instance ({self.local_cpus} CPUs, 127.0.0.1)"
        return f"ray: {where}; {self.num_cpus:g} CPU / {self.num_gpus:g} GPU per run"

    def _connect(self) -> tuple[Any, bool]:
        """(ray, whether we started/connected it and so must shut it down)."""
        ray = import_ray(local=self.address is None or is_loopback(self.address))
        if ray.is_initialized():
            return ray, False
        if self.address is None:
            return start_local_ray(self.local_cpus), True
        try:
            with tempfile.TemporaryDirectory(prefix="gridlstm-ship-") as stage:  # uploaded by init
                ray.init(self.address, runtime_env=runtime_env(Path(stage)), log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ParamError("address", self.address, f"cannot connect to a Ray cluster ({first}); "
                             "start one with `ray start --head` or omit {name}") from None
        return ray, True

    def _slots(self, ray: Any) -> int:
        """How many runs the cluster can hold at once (so that 'running' means running)."""
        res = ray.cluster_resources()
        slots = int(res.get("CPU", 0) // self.num_cpus)
        if self.num_gpus > 0:
            gpus = res.get("GPU", 0)
            if gpus < self.num_gpus:
                raise ParamError("num_gpus", f"{self.num_gpus:g}", f"the Ray cluster has {gpus:g} GPUs")
            slots = min(slots, int(gpus // self.num_gpus))
        if slots < 1:
            raise ParamError("num_cpus", f"{self.num_cpus:g}", f"the Ray cluster has only {res.get('CPU', 0):g} CPUs")
        return slots

    def run(self, jobs: list[RunJob], events: Events) -> None:
        with ray_session(self._connect, private=self.address is None) as ray:
            self._run(ray, jobs, events)

    def _run(self, ray: Any, jobs: list[RunJob], events: Events) -> None:
        remote = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0)(_ray_task)
        threads = max(1, int(self.num_cpus))
        device = "cuda" if self.num_gpus > 0 else "cpu"
        pending, slots = deque(jobs), self._slots(ray)
        live: dict[Any, RunJob] = {}
        try:
            while pending or live:
                while pending and len(live) < slots:
                    job = pending.popleft()
                    dev = job.device if job.device != "auto" else device
                    files = folder_files(Path(job.run_dir)) if job.resume and not self.direct else {}
                    live[remote.remote(RunJob(**{**job.__dict__, "threads": threads, "device": dev,
                                                 "direct": self.direct}), files)] = replace(job, direct=self.direct)
                    events.started(job.id)
                done, _ = ray.wait(list(live), num_returns=1, timeout=1.0)
                for ref in done:
                    job = live.pop(ref)
                    events.finished(job.id, self._collect(ray, ref, job))
        except BaseException:  # a cancelled run stops as on Ctrl-C: in its folder when direct, else it stays to do
            for ref in live:
                ray.cancel(ref)
            ray.wait(list(live), num_returns=len(live), timeout=STOP_GRACE_S) if live else None
            raise

    @staticmethod
    def _collect(ray: Any, ref: Any, job: RunJob) -> Optional[str]:
        """Write a finished task's files into the run folder; a lost task becomes a traceback."""
        run_dir = Path(job.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            status, files = ray.get(ref)
        except Exception as e:  # the worker died, the node was lost, ...
            if job.direct and lost_resumable(run_dir, f"the Ray worker was lost ({type(e).__name__})"):
                return f"ray worker lost ({type(e).__name__}); the run resumes from its last checkpoint"
            (run_dir / TRACEBACK).write_text(f"Ray task for run {job.id} failed:\n{e}\n")
            return f"ray task failed: {type(e).__name__}"
        for rel, data in files.items():
            path = run_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        relocate_summary(run_dir) if not job.direct else None
        return None


def make_executor(kind: str, jobs: Optional[int] = None, address: Optional[str] = None,
                  num_cpus: float = 1.0, num_gpus: float = 0.0) -> Any:
    """``--executor local|ray`` with its options; options of the other executor are refused."""
    if kind == "local":
        if address is not None:
            raise ParamError("address", address, "applies only to {kind=ray}", ("kind",))
        if num_gpus:
            raise ParamError("num_gpus", f"{num_gpus:g}", "applies only to {kind=ray} (local runs use {device})",
                             ("kind", "device"))
        return LocalExecutor(jobs)
    if kind == "ray":
        if address is not None and jobs is not None:
            raise ParamError("jobs", jobs, "sizes the private Ray instance; with {address} the cluster "
                             "decides (use {num_cpus} per run)", ("address", "num_cpus"))
        return RayExecutor(address, num_cpus, num_gpus, local_cpus=jobs)
    raise ParamError("kind", kind, "expected one of local, ray")
