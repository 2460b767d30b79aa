"""A run stopped in its first moments, and the files of a run folder (reliability, round 2).

The stops are made deterministic: the `gridlstm train` process sends the signal to itself at a
named start-up stage (lifecycle.on_stage) or as it is about to write its first checkpoint, so the
tests hold on a loaded machine (no "the run gets to X first" races). Whatever the moment, the run
folder is either absent or resumable, and the resumed run ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gridlstm.config import load_config
from gridlstm.errors import GridlstmError
from gridlstm.runs.folder import load_checkpoint, make_run_dir, save_checkpoint, write_json
from gridlstm.train.lifecycle import resume_run, start_run

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["name=early", "seed=2", "task.length=8", "model.hidden=6", "model.layers=2", "train.steps=12",
        "train.batch_size=4", "train.eval_every=4", "train.eval_batches=1", "train.log_every=1",
        "train.early_stop=false", "gradients.batch_size=4"]
# Runs `gridlstm train ARGS --out OUT`, sending itself SIGNAL at STAGE: a lifecycle stage
# (signals: handlers on, built: model and eval set built, folder: the folder exists) or
# checkpoint0 (the step-0 eval is written, the first checkpoint is not).
CHILD = """
import os, signal, sys
stage, sig, out = sys.argv[1], getattr(signal, sys.argv[2]), sys.argv[3]
import gridlstm.train.lifecycle as lifecycle
import gridlstm.train.trainer as trainer

def hit():
    os.kill(os.getpid(), sig)

if stage == "checkpoint0":
    save, fired = trainer.save_checkpoint, []
    def first(path, payload):  # once: best.pt is written at step 0 too
        if payload["step"] == 0 and not fired:
            fired.append(path)
            hit()
        save(path, payload)
    trainer.save_checkpoint = first
else:
    lifecycle.on_stage = lambda s: s == stage and hit()
from gridlstm.cli.main import cli
cli(["train", *sys.argv[4:], "--out", out, "--device", "cpu"], prog_name="gridlstm")
"""
STAGES = ["signals", "built", "folder", "checkpoint0"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return Path(start_run(load_config(None, ARGS), tmp_path_factory.mktemp("ref"), "cpu", argv=["t"]).run_dir)
    finally:
        torch.set_num_threads(before)


def stopped_run(tmp_path: Path, stage: str, sig: str) -> tuple[subprocess.CompletedProcess, list[Path]]:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, stage, sig, str(out), *ARGS], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    return proc, sorted((out / "early").glob("[!.]*")) if (out / "early").exists() else []


def assert_same_weights(a: Path, b: Path) -> None:
    ma, mb = load_checkpoint(a / "checkpoint.pt")["model"], load_checkpoint(b / "checkpoint.pt")["model"]
    assert ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)
    assert (a / "gradients/profiles.csv").read_text() == (b / "gradients/profiles.csv").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_kill_9_in_the_first_moments_leaves_no_folder_or_a_resumable_one(tmp_path, reference, stage):
    proc, dirs = stopped_run(tmp_path, stage, "SIGKILL")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    if stage in ("signals", "built"):
        assert dirs == []
        return
    run_dir, = dirs
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "running"
    torch.set_num_threads(1)
    assert resume_run(run_dir, device="cpu", argv=["t"]).status == "completed"
    assert_same_weights(run_dir, reference)


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_sigterm_in_the_first_moments_says_so_and_leaves_no_folder_or_a_resumable_one(tmp_path, reference,
                                                                                        stage):
    proc, dirs = stopped_run(tmp_path, stage, "SIGTERM")
    assert proc.returncode == 143, proc.stderr
    assert "Traceback" not in proc.stderr
    if stage in ("signals", "built"):
        assert dirs == []
        assert "Error: stopped by SIGTERM before the run folder was created; nothing was written" in proc.stderr
        return
    run_dir, = dirs
    assert "interrupted by SIGTERM after step 0; checkpoint at step 0" in proc.stderr
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "interrupted"
    torch.set_num_threads(1)
    assert resume_run(run_dir, device="cpu", argv=["t"]).status == "completed"
    assert_same_weights(run_dir, reference)


def test_a_run_folder_appears_with_its_config_and_meta_inside(tmp_path):
    seen = []
    run_dir = make_run_dir(tmp_path, "x", fill=lambda tmp: seen.append(sorted(p.name for p in tmp.parent.iterdir())))
    assert seen == [[f".{run_dir.name}.tmp"]]  # filled under a hidden name, renamed when whole

    def broken(tmp: Path) -> None:
        (tmp / "config.yaml").write_text("x")
        raise OSError("disk full")

    with pytest.raises(OSError):
        make_run_dir(tmp_path, "y", fill=broken)
    assert not (tmp_path / "y").exists()  # the half-filled folder goes, and the parent made for it
    (tmp_path / "z").mkdir()
    with pytest.raises(OSError):
        make_run_dir(tmp_path, "z", fill=broken)
    assert list((tmp_path / "z").iterdir()) == []  # a parent that was there stays


# ----------------------------------------------------------------------------- files


@pytest.fixture
def umask():
    def set_to(mask: int) -> None:
        os.umask(mask)

    before = os.umask(0o022)
    yield set_to
    os.umask(before)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_every_file_of_a_run_follows_the_umask(tmp_path, umask, mask):
    umask(mask)
    run_dir = Path(start_run(load_config(None, [*ARGS, "train.steps=2"]), tmp_path, "cpu", argv=["t"]).run_dir)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"config.yaml", "meta.json", "summary.json", "checkpoint.pt", "metrics.csv", "profiles.csv"} <= \
        {p.name for p in files}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == \
        {p.name: oct(0o666 & ~mask) for p in files}


def test_the_folder_is_fsynced_after_each_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_json(tmp_path / "meta.json", {"a": 1})
    assert synced == ["file", "dir"]
    synced.clear()
    save_checkpoint(tmp_path / "checkpoint.pt", {"format": 1, "model": {}})
    assert synced == ["file", "dir"]
    synced.clear()
    make_run_dir(tmp_path, "runs", fill=lambda tmp: write_json(tmp / "meta.json", {}))
    assert synced == ["file", "dir", "dir"]  # meta.json, its folder, and the folder's parent


def test_a_refused_checkpoint_never_advises_weights_only_false(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {}, "format": 1, "payload": random.Random(0)}, path)
    with pytest.raises(GridlstmError) as info:
        load_checkpoint(path)
    message = info.value.message
    assert message.startswith(f"corrupt or foreign checkpoint {path}: it holds Python objects (random.Random)")
    for advice in ("weights_only=False", "can still be loaded", "trust", "\x1b"):
        assert advice not in message
    assert "\n" not in message
