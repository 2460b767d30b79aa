"""The exit-code table of docs/reliability.md, one test per row (and per kind of cause in row 2),
with real file systems where the test may make them: a read-only bind mount (root), else chmod."""
from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli

from .conftest import TOY, copy_run

ROOT = Path(__file__).resolve().parent.parent


def invoke(cwd: Path, args: list[str]):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        return CliRunner().invoke(cli, args)


def one_error(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    errors = [line for line in result.stderr.strip().splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert not result.stderr.strip().split(errors[0], 1)[1].strip() or "  - " in result.stderr, result.stderr
    return errors[0]


@contextmanager
def read_only(path: Path):
    """``path`` (a file or folder) read-only for this process: a read-only bind mount where the test
    runs as root (root ignores permissions), else its write bits removed."""
    if os.geteuid() == 0:
        ok = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True).returncode == 0
        if not ok or subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True).returncode:
            if ok:
                subprocess.run(["umount", str(path)], check=False)
            pytest.skip("cannot make a read-only bind mount here")
        try:
            yield
        finally:
            subprocess.run(["umount", "-l", str(path)], check=False)
    else:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)


def test_row_0_done(tmp_path):
    result = invoke(tmp_path, ["train", *TOY, "--out", "out", "--device", "cpu"])
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / result.stdout.splitlines()[-1] / "summary.json").read_text())["status"] == "completed"


def test_row_1_diverged(tmp_path):
    result = invoke(tmp_path, ["train", *TOY, "train.steps=30", "train.lr=1000", "train.optimizer=sgd",
                               "train.clip_norm=0", "--out", "out", "--device", "cpu"])
    assert result.exit_code == 1, result.stderr
    assert "diverged" in result.stderr


def test_row_1_an_os_error_the_user_cannot_fix(tmp_path, monkeypatch):
    import gridlstm.runs.run as run

    def broken_disk(*a, **k):
        raise OSError(errno.EIO, "Input/output error", str(tmp_path / "out"))
    monkeypatch.setattr(run, "make_run_dir", broken_disk)
    assert one_error(invoke(tmp_path, ["train", *TOY, "--out", "out"]), 1) == \
        f"Error: {tmp_path}/out: Input/output error"


def test_row_2_bad_input(tmp_path):
    assert "invalid config" in one_error(invoke(tmp_path, ["train", "model.hiden=3", "--out", "out"]), 2)
    assert not (tmp_path / "out").exists()


def test_row_2_a_name_too_long(tmp_path):
    line = one_error(invoke(tmp_path, ["train", *TOY, "--out", "o" * 300, "--device", "cpu"]), 2)
    assert "File name too long; a file or folder name is too long: choose a shorter --name or --out" in line
    assert len(line) < 700 and ".tmp" not in line
    assert list(tmp_path.iterdir()) == []


def test_row_2_a_read_only_run_folder_for_gradcheck_and_plot(tmp_path, toy_run):
    run = copy_run(toy_run, tmp_path)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with read_only(run):
        line = one_error(invoke(tmp_path, ["gradcheck", "run", "--device", "cpu"]), 2)
        assert re.search(r"--out run/gradients: cannot write in run/gradients \((read-only file system|permission denied)\); "
                         "choose another --out", line), line
        line = one_error(invoke(tmp_path, ["plot", "run", "--what", "loss"]), 2)
        assert "run/plots" in line and "--out DIR" in line and ".tmp" not in line
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_row_2_a_read_only_metrics_file_on_resume_keeps_the_status(tmp_path, toy_run):
    run = copy_run(toy_run, tmp_path)
    meta = (run / "meta.json").read_bytes()
    with read_only(run / "metrics.csv"):
        line = one_error(invoke(tmp_path, ["train", "--resume", "run", "--force", "train.steps=3",
                                           "--device", "cpu"]), 2)
    assert line.startswith("Error: --resume run: cannot write run/metrics.csv (") and "make the file writable" in line
    assert (run / "meta.json").read_bytes() == meta  # not flipped to failed: nothing of the run failed


def test_row_2_a_read_only_sweep_folder(tmp_path):
    from gridlstm.sweep.folder import create_sweep_dir
    from gridlstm.sweep.spec import load_sweep

    (tmp_path / "tiny.yaml").write_text("task: {name: adding, length: 5}\nmodel: {kind: lstm, hidden: 4}\n"
                                        "train: {steps: 2, eval_every: 1, batch_size: 4, eval_batches: 1}\n")
    (tmp_path / "s.yaml").write_text("base: tiny.yaml\naxes: {seed: [0]}\n")
    folder = create_sweep_dir(load_sweep(tmp_path / "s.yaml"), tmp_path / "o")
    with read_only(folder):
        line = one_error(invoke(tmp_path, ["sweep", str(folder)]), 2)
    assert str(folder) in line and "--out" not in line and ".lock" not in line and ".tmp" not in line, line


def test_row_2_the_line_for_each_user_fixable_errno():
    from gridlstm.cli.common import USER_FIXABLE, os_error_message

    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.ENAMETOOLONG):
        assert code in USER_FIXABLE
        message = os_error_message(OSError(code, os.strerror(code), "/x/" + "y" * 5000))
        assert os.strerror(code) in message and "(5003 characters)" in message and len(message) < 700
    assert errno.EIO not in USER_FIXABLE


def stop_train(tmp_path: Path, sig: int) -> int:
    """A training stopped by ``sig`` once its folder exists: its exit code."""
    proc = subprocess.Popen([sys.executable, "-m", "gridlstm.cli.main", "train", *TOY, "train.steps=100000",
                             "--out", str(tmp_path), "--device", "cpu"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob("toy/*/meta.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=240)
    assert "Resume with: gridlstm train --resume" in err, err[-2000:]
    return proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_rows_130_and_143_stopped_by_a_signal(tmp_path, sig, code):
    assert stop_train(tmp_path, sig) == code
