"""Fault injection, Ray: a sweep on its private loopback Ray instance (`gridlstm sweep --executor
ray`, another process) whose run in flight trains in the sweep's own run folder; kill -9 of that
run's worker leaves it resumable and the sweep goes on; SIGTERM to the sweep exits 143 with one
closing line; kill -9 of the sweep leaves no process and no listening port of its own."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridlstm.sweep.folder import resumable
from gridlstm.sweep.reaper import _stat, descendants

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="Ray is an optional extra: pip install 'gridlstm[ray]'")]
CONFIG = ("task: {name: adding, length: 5}\nmodel: {kind: lstm, hidden: 4, layers: 1}\n"
          "train: {steps: 1000000, eval_every: 100, log_every: 100, checkpoint_every: 20, batch_size: 4, "
          "eval_batches: 1, early_stop: false}\n")  # never ends by itself: only the signals stop it


def start(tmp_path: Path, seeds: str, axes: str = "") -> subprocess.Popen:
    (tmp_path / "c.yaml").write_text(CONFIG)
    (tmp_path / "s.yaml").write_text("base: c.yaml\n" + (axes or f"axes: {{seed: [{seeds}]}}\n"))
    return subprocess.Popen([sys.executable, "-m", "gridlstm.cli.main", "sweep", "s.yaml", "--executor", "ray",
                             "--jobs", "1", "--no-gradients", "--out", "o", "--device", "cpu"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})


def wait_for(predicate, what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def run_folder(tmp_path: Path, seed: int) -> Path:
    found = list(tmp_path.glob(f"o/sweeps/*/*/runs/seed={seed}*"))
    return found[0] if found else tmp_path / "none"


def training_here(tmp_path: Path, seed: int) -> bool:
    """The run in flight has written a checkpoint into the sweep's own run folder."""
    return (run_folder(tmp_path, seed) / "checkpoint.pt").is_file()


def ray_task_worker(driver: int) -> int:
    for pid in descendants(driver):
        try:
            if "_ray_task" in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        except OSError:
            continue
    raise AssertionError("no Ray worker running a task")


def alive(pid: int, start: int) -> bool:
    """``pid`` is still the process that started at ``start`` and not a zombie (already ended)."""
    st = _stat(pid)
    if st is None or st[1] != start:
        return False
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rfind(")") + 2:].split()[0] != "Z"


def listening(pids: set[int]) -> list[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if any(f"pid={p}," in line for p in pids)]


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


def test_a_lost_worker_and_sigterm_leave_every_started_run_resumable(tmp_path):
    proc = start(tmp_path, "0, 1")
    try:
        wait_for(lambda: training_here(tmp_path, 0) or proc.poll() is not None, "run seed=0 to train")
        os.kill(ray_task_worker(proc.pid), signal.SIGKILL)  # the worker of the run in flight
        wait_for(lambda: training_here(tmp_path, 1) or proc.poll() is not None, "the sweep to go on")
        time.sleep(2)  # a few more steps, then stop the sweep as a scheduler would
        proc.send_signal(signal.SIGTERM)
    finally:
        code, err = finish(proc)
    assert code == 143, err[-3000:]
    closing = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert closing and closing[0].startswith("interrupted by SIGTERM: runs in flight on Ray were stopped in their run folders"), err[-3000:]
    assert "SIGABRT" not in err and "Aborted" not in err and "Traceback" not in err, err[-3000:]
    for seed in (0, 1):
        assert resumable(run_folder(tmp_path, seed)), (seed, err[-3000:])
        meta = json.loads((run_folder(tmp_path, seed) / "meta.json").read_text())
        assert meta["status"] == "interrupted", (seed, meta)
    lost = json.loads((run_folder(tmp_path, 0) / "meta.json").read_text())
    assert lost["error"].startswith("the Ray worker was lost"), lost


def test_a_lost_worker_is_named_and_the_other_runs_finish(tmp_path):
    """seed=1 has 30 steps (zipped with the seed): it completes after seed=0's worker died."""
    proc = start(tmp_path, "", "zip:\n  - {seed: [0, 1], train.steps: [1000000, 30]}\n")
    try:
        wait_for(lambda: training_here(tmp_path, 0) or proc.poll() is not None, "run seed=0 to train")
        os.kill(ray_task_worker(proc.pid), signal.SIGKILL)
    finally:
        code, err = finish(proc)
    assert code == 1, err[-3000:]
    assert re.search(r"stopped seed=0\S*: the Ray worker was lost \(\w+\); continue it with: gridlstm sweep ", err), err
    assert json.loads((run_folder(tmp_path, 1) / "meta.json").read_text())["status"] == "completed"
    assert resumable(run_folder(tmp_path, 0))


def test_kill_9_of_the_sweep_leaves_no_process_and_no_port(tmp_path):
    proc = start(tmp_path, "0")
    try:
        wait_for(lambda: training_here(tmp_path, 0) or proc.poll() is not None, "run seed=0 to train")
        time.sleep(1)
        ours = {pid: st for pid, st in descendants(proc.pid).items()}
        assert listening(set(ours)), "Ray's servers listen while the sweep runs"
        proc.kill()
        proc.wait()

        def gone() -> bool:
            return not any(alive(pid, st) for pid, st in ours.items())
        wait_for(gone, "every process of the sweep to end", seconds=20)
        assert listening(set(ours)) == []
    finally:
        if proc.poll() is None:
            proc.kill()
    assert resumable(run_folder(tmp_path, 0))
    assert not re.search(r"Traceback", proc.stderr.read() if proc.stderr else "")
