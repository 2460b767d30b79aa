"""Fault injection, a disk that fills: plot, gradcheck, report, study and train on a full file
system lose no file that was there, leave no empty folder, 0-byte file or temporary file, and say
"No space left" with the path and the space left, exit 2.

The file system is a real one: a small tmpfs mounted under tmp_path where the test may mount one
(root), filled to the last byte. Elsewhere the same cases run with ENOSPC raised where the bytes go
to the disk (os.fsync of the files under that folder), the error a full disk gives there.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli

from .conftest import TOY, copy_run

TINY_STUDY = ("name: tiny\nbase: c.yaml\naxes: {model.layers: [2]}\n")
TINY = ("task: {name: adding, length: 5}\nmodel: {kind: lstm, hidden: 4, layers: 2}\n"
        "train: {steps: 2, eval_every: 1, batch_size: 4, eval_batches: 1}\n")


def fill(disk: Path) -> None:
    """Write until the file system says ENOSPC for every size down to one byte (the filler stays)."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        size = 1 << 16
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError as e:
                assert e.errno == errno.ENOSPC
                size //= 2
    finally:
        os.close(fd)


@pytest.fixture
def disk(tmp_path, monkeypatch):
    """(folder on a small file system, fill()): a mounted 2 MiB tmpfs, or injected ENOSPC."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True).returncode == 0

    def make_full() -> None:
        if mounted:
            fill(where)
        else:
            real_fsync = os.fsync

            def fsync(fd):  # where atomic_open makes the bytes durable
                if os.path.realpath(f"/proc/self/fd/{fd}").startswith(str(where)):
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real_fsync(fd)
            monkeypatch.setattr(os, "fsync", fsync)

    yield where, make_full
    if mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*")) if p.name != "filler"}


def invoke(cwd: Path, args: list[str]):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        return CliRunner().invoke(cli, args)


def assert_full_disk_refused(result, disk: Path, before: dict, names: str) -> None:
    err = result.stderr
    assert result.exit_code == 2, (result.exit_code, err, result.exception)
    lines = err.strip().splitlines()
    assert lines[-1].startswith("Error: ") and "Traceback" not in err, err
    assert "No space left on device" in lines[-1] and "free of" in lines[-1], lines[-1]
    assert names in lines[-1] and ".tmp" not in lines[-1], lines[-1]
    after = snapshot(disk)
    assert {k: v for k, v in after.items() if k in before} == before, "every file that was there is kept"
    new = set(after) - set(before)
    assert not new, f"nothing left behind: {sorted(new)}"


@pytest.fixture
def run_on_disk(disk, toy_run):
    where, make_full = disk
    run = copy_run(toy_run, where)
    return where, make_full, run


@pytest.mark.slow
def test_plot_keeps_the_old_figure_and_leaves_no_new_one(run_on_disk):
    where, make_full, run = run_on_disk
    first = invoke(where, ["plot", "run", "--what", "loss"])
    assert first.exit_code == 0, first.stderr
    old = (run / "plots" / "loss.png").read_bytes()
    make_full()
    before = snapshot(where)
    assert_full_disk_refused(invoke(where, ["plot", "run", "--what", "loss", "--dpi", "300"]), where, before,
                             "run/plots/loss.png")
    assert (run / "plots" / "loss.png").read_bytes() == old
    assert_full_disk_refused(invoke(where, ["plot", "run", "--what", "loss", "--out", "new/dir/x.png"]),
                             where, before, "new/dir/x.png")
    assert not (where / "new").exists()


@pytest.mark.slow
def test_gradcheck_keeps_the_old_outputs_and_leaves_no_folder(run_on_disk):
    where, make_full, run = run_on_disk
    (where / "c.yaml").write_text(TINY)
    make_full()
    before = snapshot(where)
    assert_full_disk_refused(invoke(where, ["gradcheck", "run", "--device", "cpu"]), where, before, "run/gradients/")
    assert_full_disk_refused(invoke(where, ["gradcheck", "c.yaml", "--device", "cpu"]), where, before,
                             "outputs/gradcheck/")
    assert_full_disk_refused(invoke(where, ["gradcheck", "c.yaml", "--out", "gc", "--device", "cpu"]), where,
                             before, "gc/")


@pytest.mark.slow
def test_train_and_study_leave_no_folder(run_on_disk):
    where, make_full, _ = run_on_disk
    (where / "c.yaml").write_text(TINY)
    (where / "s.yaml").write_text(TINY_STUDY)
    make_full()
    before = snapshot(where)
    assert_full_disk_refused(invoke(where, ["train", *TOY, "--out", "out", "--device", "cpu"]), where, before,
                             "out/toy/")
    assert_full_disk_refused(invoke(where, ["study", "depth", "s.yaml", "--seeds", "1", "--out", "o",
                                            "--device", "cpu"]), where, before, "o/studies/tiny/")


@pytest.mark.slow
def test_report_reads_a_full_disk_and_writes_nothing(run_on_disk):
    where, make_full, run = run_on_disk
    make_full()
    before = snapshot(where)
    result = invoke(where, ["report", "run", "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    assert str(run.name) in result.stdout or "run" in result.stdout
    assert snapshot(where) == before


def test_the_message_names_the_path_and_the_free_space(tmp_path):
    from gridlstm.cli.common import os_error_message

    e = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x" / "loss.png"))
    message = os_error_message(e)
    assert message.startswith(f"{tmp_path}/x/loss.png: No space left on device (")
    free = shutil.disk_usage(tmp_path).free
    assert " free of " in message and (free < 1024 or "iB" in message)


def test_atomic_open_names_the_target_not_its_temporary_file(tmp_path):
    from gridlstm.runs.folder import atomic_write_text

    target = tmp_path / "missing" / "f.txt"
    with pytest.raises(FileNotFoundError) as e:
        atomic_write_text(target, "x")
    assert e.value.filename == str(target)
