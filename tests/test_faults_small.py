"""The smaller edges, each at its cause: checkpoint format and damage, damaged records in report,
the path of a resumed copy, paths that would break the last stdout line, a renamed variant's
warning, and Ctrl-C in a sweep started with SIGINT ignored."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gridlstm.cli.main import cli

from .conftest import TOY, copy_run

ROOT = Path(__file__).resolve().parent.parent


def invoke(cwd: Path, args: list[str]):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        return CliRunner().invoke(cli, args)


def error_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error: ")]
    return line


@pytest.mark.parametrize("args", [["gradcheck", "run", "--device", "cpu"],
                                  ["train", "--resume", "run", "--force", "train.steps=3", "--device", "cpu"]])
def test_a_checkpoint_of_another_format_is_refused_by_every_reader(tmp_path, toy_run, args):
    path = copy_run(toy_run, tmp_path) / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    payload["format"] = 9
    torch.save(payload, path)
    assert "checkpoint format 9, this gridlstm reads format 1" in error_line(invoke(tmp_path, args))


def test_random_bytes_as_a_checkpoint_are_damage_not_python_objects(tmp_path, toy_run):
    run = copy_run(toy_run, tmp_path)
    (run / "checkpoint.pt").write_bytes(secrets.token_bytes(4096))
    line = error_line(invoke(tmp_path, ["gradcheck", "run", "--device", "cpu"]))
    assert "not a file written by torch.save" in line and "Python objects" not in line


@pytest.mark.parametrize("file,change,message", [
    ("summary.json", {"eval_loss": "abc"}, "field 'eval_loss' should be a number, got str"),
    ("summary.json", {"status": "weird"}, "field 'status' should be one of"),
    ("meta.json", {"status": ["x"]}, "field 'status' should be one of")])
def test_report_refuses_damaged_records(tmp_path, toy_run, file, change, message):
    run = copy_run(toy_run, tmp_path)
    if file == "meta.json":
        (run / "summary.json").unlink()  # report reads meta.json for a run without a summary
    data = json.loads((run / file).read_text())
    (run / file).write_text(json.dumps({**data, **change}))
    line = error_line(invoke(tmp_path, ["report", "run"]))
    assert f"run/{file}: {message}" in line and "the file is damaged" in line


def test_a_resumed_copy_of_a_completed_run_prints_the_copy(tmp_path, toy_run):
    copy = copy_run(toy_run, tmp_path, "copy")
    result = invoke(tmp_path, ["train", "--resume", "copy"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "copy"
    assert "copy already completed" in result.stderr and str(toy_run) not in result.stderr + result.stdout
    assert copy.is_dir()


@pytest.mark.parametrize("args", [["train", *TOY, "--out", "a\nb"], ["train", "--resume", "a\nb"],
                                  ["sweep", "s.yaml", "--out", "x\ry"]])
def test_a_path_with_a_newline_is_refused_before_anything(tmp_path, args):
    (tmp_path / "s.yaml").write_text("base: ../c.yaml\naxes: {seed: [0]}\n")
    before = sorted(tmp_path.iterdir())
    line = error_line(invoke(tmp_path, args))
    assert "holds a newline or another control character" in line
    assert sorted(tmp_path.iterdir()) == before


def test_a_renamed_variant_is_one_warning_line(tmp_path):
    result = invoke(tmp_path, ["train", *TOY, "model.kind=grid", "model.variant=seed", "--out", "out",
                               "--device", "cpu"])
    assert result.exit_code == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "variant seed" in line]
    assert warned == ["warning: model.variant seed is now called memory_input (read as such; write "
                      "model.variant=memory_input)"], result.stderr
    assert "FutureWarning" not in result.stderr


@pytest.mark.slow
def test_a_sweep_started_with_ctrl_c_ignored_still_stops_on_it(tmp_path):
    (tmp_path / "c.yaml").write_text("task: {name: adding, length: 5}\nmodel: {kind: lstm, hidden: 4, layers: 1}\n"
                                     "train: {steps: 100000, eval_every: 50, batch_size: 4, eval_batches: 1}\n")
    (tmp_path / "s.yaml").write_text("base: c.yaml\naxes: {seed: [0]}\n")
    code = ("import signal, sys\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"  # as a background job starts
            "from gridlstm.cli.main import main\nsys.argv = ['gridlstm', 'sweep', 's.yaml', '--jobs', '1', "
            "'--no-gradients', '--out', 'o']\nmain()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob("o/sweeps/*/*/runs/*/meta.json")) and time.monotonic() < deadline:
        time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()  # its runs stop on their own when the sweep's end of their pipe closes
        proc.communicate()
        raise
    assert proc.returncode == 130, err[-2000:]
    assert "running runs were checkpointed" in err
    shutil.rmtree(tmp_path / "o", ignore_errors=True)
