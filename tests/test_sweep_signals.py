"""gridlstm sweep under signals: Ctrl-C (a real SIGINT through the CLI) and kill -9 of a sweep
process leave a resumable sweep; runs to be caught are frozen first, so no step races the load."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gridlstm.cli.main import cli
from tests.test_sweep import GRIDLSTM, meta, read_csv, sweep_data


def wait_for(predicate, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def states(sweep_dir: Path) -> dict[str, str]:
    out = {}
    for run in (sweep_dir / "runs").iterdir():
        try:
            out[run.name] = meta(run)["status"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            out[run.name] = "starting"
    return out


def n_completed(sweep_dir: Path) -> int:
    return sum(s == "completed" for s in states(sweep_dir).values()) if (sweep_dir / "runs").is_dir() else 0


def last_train_step(run: Path) -> int:
    try:
        rows = [r for r in read_csv(run / "metrics.csv") if r["split"] == "train"]
    except (FileNotFoundError, KeyError):
        return 0
    return int(rows[-1]["step"]) if rows else 0


def freeze_a_run_in_its_first_half(sweep_dir: Path, steps: int):
    """SIGSTOP the process of a run that is training and has not passed steps/2; returns its pid.

    A frozen run cannot finish on its own, so whatever the machine's load, it is still training
    when the sweep is stopped: the test never races the runs it wants to catch (SIGCONT resumes it).
    """
    if not (sweep_dir / "runs").is_dir():
        return None
    for name, status in states(sweep_dir).items():
        run = sweep_dir / "runs" / name
        if status != "running" or last_train_step(run) > steps // 2:
            continue
        pid = meta(run).get("pid")
        try:
            os.kill(pid, signal.SIGSTOP)
        except (ProcessLookupError, TypeError):
            continue
        # a SIGTERM that came while the SIGSTOP was still pending would be taken first: wait until
        # the process is really stopped, so that the sweep's SIGTERM stays pending until SIGCONT
        wait_for(lambda p=pid: proc_state(p) in ("T", "t", "gone"), 60, f"process {pid} to stop", 0.005)
        if proc_state(pid) != "gone" and meta(run)["status"] == "running" and last_train_step(run) <= steps // 2:
            return pid
        if proc_state(pid) != "gone":
            os.kill(pid, signal.SIGCONT)
    return None


def proc_state(pid: int) -> str:
    """The one-letter state of process ``pid`` from /proc ("T": stopped), or "gone"."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return "gone"
    state = next(line.split()[1] for line in lines if line.startswith("State:"))
    return "gone" if state in ("Z", "X") else state


def sigterm_pending(pid: int) -> bool:
    """Has SIGTERM been sent to the (stopped) process ``pid``? /proc's pending-signal masks."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    masks = [int(line.split()[1], 16) for line in lines if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(m & (1 << (signal.SIGTERM - 1)) for m in masks)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads pending signals from /proc")
def test_ctrl_c_and_kill_9_leave_a_resumable_sweep(tmp_path):
    """Ctrl-C (a real SIGINT to this process, through the CLI): the running runs checkpoint and
    are marked interrupted, exit 130. kill -9 of a sweep process: its orphaned runs notice and
    stop the same way. Resuming continues those runs from their checkpoints and never re-runs a
    completed one. A run to be caught is frozen (SIGSTOP) before the sweep is stopped, so the test
    does not depend on timing."""
    steps, log_every = 400, 20
    data = sweep_data(axes={"model.kind": ["lstm", "grid"], "seed": [0, 1, 2]})
    data["config"]["train"].update(steps=steps, eval_every=100, log_every=log_every)
    data["config"]["task"]["length"] = 10
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    args = ["--jobs", "2", "--no-gradients", "--device", "cpu"]

    def folder() -> Path:
        parent = out / "sweeps" / "t"
        return next(parent.iterdir()) if parent.is_dir() and any(parent.iterdir()) else parent

    errors: list[BaseException] = []

    def ctrl_c_while_a_run_trains() -> None:
        try:
            catch_a_run_and_ctrl_c()
        except BaseException as e:  # re-raised by the test below, with its traceback
            errors.append(e)

    def catch_a_run_and_ctrl_c() -> None:
        wait_for(lambda: n_completed(folder()) >= 1, 300, "a completed run")
        pid = wait_for(lambda: freeze_a_run_in_its_first_half(folder(), steps), 300, "a run to freeze", 0.01)
        os.kill(os.getpid(), signal.SIGINT)
        wait_for(lambda: sigterm_pending(pid), 60, "the sweep to stop the frozen run", 0.01)
        os.kill(pid, signal.SIGCONT)

    timer = threading.Thread(target=ctrl_c_while_a_run_trains, daemon=True)
    timer.start()
    r = CliRunner().invoke(cli, ["sweep", str(path), "--out", str(out), *args])
    timer.join()
    if errors:
        raise errors[0]
    sweep_dir = folder()
    assert r.exit_code == 130, r.output
    assert f"resume with: gridlstm sweep {sweep_dir}" in r.stderr.replace("\n", "")
    assert meta(sweep_dir)["status"] == "interrupted"
    # every run the sweep started was stopped before it returned, even one started in the instant
    # of the Ctrl-C (held by DeferredCtrlC until registered: tests/test_deferred_ctrl_c.py)
    after_int = states(sweep_dir)
    assert "interrupted" in after_int.values() and "running" not in after_int.values()
    done_first = {k for k, v in after_int.items() if v == "completed"}
    stamps = {k: (sweep_dir / "runs" / k / "summary.json").stat().st_mtime_ns for k in done_first}

    # resume in another process, and kill -9 it while a (frozen) run trains
    proc = subprocess.Popen([str(GRIDLSTM), "sweep", str(sweep_dir), *args], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = wait_for(lambda: freeze_a_run_in_its_first_half(sweep_dir, steps), 300, "a run to freeze", 0.01)
    proc.kill()
    proc.wait(timeout=60)
    os.kill(pid, signal.SIGCONT)
    # the orphans see the sweep's end of their pipe close at their next step, checkpoint and stop
    wait_for(lambda: "running" not in states(sweep_dir).values(), 120, "the orphaned runs to stop")
    assert "interrupted" in states(sweep_dir).values()

    r = CliRunner().invoke(cli, ["sweep", str(sweep_dir), *args])
    assert r.exit_code == 0, r.output
    final = states(sweep_dir)
    assert len(final) == 6 and set(final.values()) == {"completed"}
    for k in done_first:  # completed before the Ctrl-C: never touched again
        assert (sweep_dir / "runs" / k / "summary.json").stat().st_mtime_ns == stamps[k]
    continued = [k for k in final if meta(sweep_dir / "runs" / k).get("resumes")]
    assert continued, "no run continued from its checkpoint"
    for k in final:  # every run (continued or not) logged each step once, up to the end
        rows = read_csv(sweep_dir / "runs" / k / "metrics.csv")
        train_steps = [int(x["step"]) for x in rows if x["split"] == "train"]
        assert train_steps == list(range(log_every, steps + 1, log_every)), (k, train_steps)
    assert meta(sweep_dir)["status"] == "completed"
    # --no-gradients: the loss and success figures, but no gradient-slope figure
    assert sorted(p.name for p in (sweep_dir / "plots").iterdir()) == ["final_loss.png", "success_rate.png"]
