"""Real `gridlstm train` processes stopped by SIGINT, SIGTERM and SIGKILL at random steps.

Each stopped folder must hold a checkpoint that loads with weights_only=True and a metrics.csv that
parses; `--resume` must then end with the same weights and metrics (all columns but the wall-clock
`seconds`) as an uninterrupted run of the same config. The random steps come from a seeded
``random.Random``, so a failure reproduces.
"""
from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gridlstm.config import build_config
from gridlstm.errors import RunInterrupted
from gridlstm.runs.folder import METRIC_FIELDS, load_checkpoint, make_run_dir, read_metrics
from gridlstm.train.lifecycle import resume_run as resume
from gridlstm.train.lifecycle import start_run as train
from gridlstm.train.signals import StopSignals
from gridlstm.train.trainer import Trainer

GRIDLSTM = str(Path(sys.executable).parent / "gridlstm")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # same thread count in every process: same floats
STEPS = 300
ARGS = ["name=s", "seed=1", "task.length=10", "model.hidden=8", "model.layers=2", f"train.steps={STEPS}",
        "train.batch_size=8", "train.eval_every=50", "train.eval_batches=1", "train.log_every=1",
        "train.checkpoint_every=40", "train.early_stop=false", "--device", "cpu"]
COMPARED = [f for f in METRIC_FIELDS if f != "seconds"]


def gridlstm(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([GRIDLSTM, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def start(cwd: Path, out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([GRIDLSTM, "train", *args, "--out", str(out)], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(out: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> Path:
    """Poll metrics.csv until the run has logged train step ``step``; returns its folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"run ended early: {proc.communicate()}"
        for metrics in out.glob("*/*/metrics.csv"):
            lines = metrics.read_text().splitlines()
            if lines and lines[-1].split(",", 1)[0].isdigit() and int(lines[-1].split(",", 1)[0]) >= step:
                return metrics.parent
        time.sleep(0.002)
    raise AssertionError(f"step {step} not reached in {timeout} s")


def parsed_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:  # every row parses: integer step, known split, numeric loss
        int(r["step"]), float(r["loss"])
        assert r["split"] in ("train", "eval")
    return rows


def compared(run_dir: Path) -> list[tuple]:
    return [tuple(r[f] for f in COMPARED) for r in read_metrics(run_dir / "metrics.csv")]


def assert_same_run(a: Path, b: Path) -> None:
    assert compared(a) == compared(b)
    profiles = [d / "gradients" / "profiles.csv" for d in (a, b)]  # recorded at step 0 and at the end
    assert profiles[0].read_text() == profiles[1].read_text()
    ma, mb = load_checkpoint(a / "checkpoint.pt")["model"], load_checkpoint(b / "checkpoint.pt")["model"]
    assert ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> dict:
    """Two uninterrupted runs of the same config started at the same moment, in real processes,
    with their own $HOME; they are the reference for every resumed run."""
    cwd = tmp_path_factory.mktemp("twins")
    home, out = cwd / "home", cwd / "out"
    home.mkdir()
    env = {**ENV, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    before = set(cwd.rglob("*"))
    procs = [subprocess.Popen([GRIDLSTM, "train", *ARGS, "--out", str(out)], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    dirs = [Path(stdout.strip().splitlines()[-1]) for stdout, _ in results]
    return {"dirs": dirs, "new": set(cwd.rglob("*")) - before, "home": home, "out": out}


@pytest.fixture(scope="module")
def reference(twins) -> Path:
    return twins["dirs"][0]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_signal_at_a_random_step_then_resume_equals_uninterrupted(tmp_path, reference, one_thread, sig):
    at = random.Random(f"interrupt-{sig.name}").randrange(5, STEPS - 60)
    out = tmp_path / "out"
    proc = start(tmp_path, out, *ARGS)
    run_dir = wait_for_step(out, at, proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)

    rows = parsed_rows(run_dir)
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")  # weights_only=True
    meta = json.loads((run_dir / "meta.json").read_text())
    last = int(rows[-1]["step"])
    assert at <= last < STEPS
    assert "Traceback" not in stderr
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert meta["status"] == "running" and ckpt["step"] <= last
    else:
        assert proc.returncode == 128 + sig  # 130 / 143
        assert meta["status"] == "interrupted" and meta["signal"] == sig.name
        assert ckpt["step"] == last == meta["checkpoint_step"]  # a checkpoint at the current step
        assert (f"interrupted by {sig.name} after step {last}; checkpoint at step {last}. "
                f"Resume with: gridlstm train --resume {run_dir}") in stderr
        assert stdout.strip().splitlines()[-1] == str(run_dir)

    if sig == signal.SIGKILL:  # the real command once; in-process (same code, faster) otherwise
        p = gridlstm(tmp_path, "train", "--resume", str(run_dir), "--device", "cpu")
        assert p.returncode == 0, p.stderr
    else:
        assert resume(run_dir, device="cpu", argv=["test"]).status == "completed"
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "completed"
    assert_same_run(run_dir, reference)


@pytest.mark.slow
def test_second_ctrl_c_stops_at_once_keeping_the_last_checkpoint(tmp_path):
    """Slow steps (about a second each on 2 idle cores); more SIGINTs every 20 ms after the first,
    until the run records its end.

    Two signals that arrive within one long torch call reach Python as one, so a single second
    SIGINT 20 ms later can be lost on a loaded machine; the repeats make one land after the first
    was handled, inside the step or the checkpoint write that follows it. They go on until the
    process has exited: once stopping, the command ignores Ctrl-C to the end (one that came after
    the closing writes once turned exit 130 into click's "Aborted!", exit 1, on a loaded machine)."""
    out = tmp_path / "out"
    proc = start(tmp_path, out, "name=s", "task.length=60", "model.hidden=512", "model.layers=3",
                 "train.batch_size=32", "train.eval_batches=1", "train.log_every=1", "train.steps=1000",
                 "--device", "cpu")
    run_dir = wait_for_step(out, 2, proc)
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        try:
            proc.send_signal(signal.SIGINT)  # a no-op once the process is gone
        except ProcessLookupError:
            break
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Error: stopped at once by a second interrupt; the last complete checkpoint (step 0) is kept" in stderr
    assert "Traceback" not in stderr
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["checkpoint_step"] == 0
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 0
    parsed_rows(run_dir)


@pytest.mark.parametrize("release", [True, False])
def test_once_stopping_the_command_keeps_both_signals_ignored_and_in_process_callers_get_them_back(release):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with StopSignals(release=release) as stop:
            signal.raise_signal(signal.SIGINT)  # the first Ctrl-C: a stop request, nothing raised
            assert stop.requested and stop.name == "SIGINT"
        after = {s: signal.getsignal(s) for s in before}
        assert after == (before if release else {s: signal.SIG_IGN for s in before})
        with StopSignals(release=False):  # no stop requested: the handlers come back either way
            pass
        if release:
            assert {s: signal.getsignal(s) for s in before} == before
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@pytest.mark.slow
def test_second_signal_in_process_then_resume_is_exact(tmp_path):
    """Deterministic twin of the test above: both SIGINTs sent from inside step 23."""
    def cfg():
        return build_config({"name": "d", "task": {"length": 10}, "model": {"hidden": 8, "layers": 1},
                             "train": {"steps": 40, "batch_size": 8, "eval_every": 10, "eval_batches": 1,
                                       "log_every": 1, "early_stop": False}})
    ref = Path(train(cfg(), tmp_path / "ref", "cpu", argv=["test"]).run_dir)
    stop = StopSignals()

    def double_ctrl_c(trainer: Trainer) -> None:
        if trainer.step == 23:
            os.kill(os.getpid(), signal.SIGINT)
            while not stop.requested:  # the first one only raises the flag ...
                time.sleep(0.001)
            os.kill(os.getpid(), signal.SIGINT)  # ... the second stops at once
            time.sleep(1)

    with pytest.raises(RunInterrupted) as info, stop:
        train(cfg(), tmp_path / "run", "cpu", argv=["test"], hooks=(double_ctrl_c,), stop=stop)
    assert info.value.checkpoint_step == 20
    run_dir = Path(info.value.run_dir)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["checkpoint_step"] == 20
    assert resume(run_dir, device="cpu", argv=["test"]).status == "completed"
    assert_same_run(run_dir, ref)


def test_two_runs_started_together_get_different_folders_and_write_nothing_else(twins):
    dirs, out = twins["dirs"], twins["out"]
    assert dirs[0] != dirs[1] and dirs[0].parent == dirs[1].parent == out / "s"
    assert_same_run(dirs[0], dirs[1])  # and the same config gives the same run, process to process
    outside = {p for p in twins["new"] if not any(p == d or d in p.parents for d in dirs)}
    # nothing under $HOME (plot/sweep commands, which import matplotlib, load only when invoked)
    assert outside == {out, out / "s"}, sorted(map(str, outside))


def test_run_folders_never_collide_within_one_second(tmp_path, monkeypatch):
    """Same UTC second and even the same random id: mkdir is exclusive, so the next id is drawn."""
    from datetime import datetime, timezone

    class SameSecond(datetime):  # both calls in one second, however slowly the machine runs
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    ids = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr("gridlstm.runs.folder.secrets.token_hex", lambda n: next(ids))
    monkeypatch.setattr("gridlstm.runs.folder.datetime", SameSecond)
    a, b = make_run_dir(tmp_path, "x"), make_run_dir(tmp_path, "x")
    assert (a.name, b.name) == ("20260102-030405-aaaa", "20260102-030405-bbbb")
