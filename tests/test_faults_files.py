"""Fault injection, special files and symlinks: every file name the tool reads from a run or sweep
folder, swapped for a symlink to a secret outside the folder or for a FIFO, is refused at once
(exit 2, one line) and no output ever contains the secret. A link inside the folder is followed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.runs.files import RUN_FILES, SWEEP_FILES, excerpt

from .conftest import copy_run

ROOT = Path(__file__).resolve().parent.parent
SECRET = "S3CRET-a1b2c3"
# parses as YAML and JSON (a mapping whose key is the secret) and as CSV with the secret in the header
SECRET_TEXT = f'{{"{SECRET}": 1, "task": {{"{SECRET}x": 2}}}}\n'
COMMANDS = [["train", "--resume", "run"], ["train", "--resume", "run", "--force", "train.steps=3"],
            ["gradcheck", "run", "--device", "cpu"], ["plot", "run", "--what", "loss"],
            ["plot", "run", "--what", "profiles"], ["report", "run"]]


def invoke(cwd: Path, args: list[str]):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        return CliRunner().invoke(cli, args)


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET_TEXT)
    return path


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_link_to_a_secret_from_any_run_file_is_refused_and_never_printed(tmp_path, toy_run, secret, name):
    work = tmp_path / "work"
    work.mkdir()
    run = copy_run(toy_run, work)
    link = run / name
    link.parent.mkdir(exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    for args in COMMANDS:
        result = invoke(work, args)
        out = result.stdout + result.stderr
        assert SECRET not in out, (args, out)
        assert result.exit_code == 2, (args, result.exit_code, out)
        assert out.strip().splitlines() == [f"Error: run/{name} is a symbolic link that leaves run; gridlstm "
                                            "reads only files inside the folder (copy the file in instead of "
                                            "linking it)"], (args, out)
    assert secret.read_text() == SECRET_TEXT


def test_a_linked_folder_leaving_the_run_is_refused(tmp_path, toy_run, secret):
    run = copy_run(toy_run, tmp_path)
    (secret.parent / "profiles.csv").write_text(f"step,seed,state,layer,t,norm\n0,0,h,1,1,{SECRET}\n")
    os.rename(run / "gradients", tmp_path / "gradients-moved")
    (run / "gradients").symlink_to(secret.parent)
    for args in COMMANDS:
        result = invoke(tmp_path, args)
        assert SECRET not in result.stdout + result.stderr
        assert result.exit_code == 2 and "is a symbolic link that leaves run" in result.stderr, result.stderr


def test_a_link_inside_the_folder_is_followed(tmp_path, toy_run):
    run = copy_run(toy_run, tmp_path)
    os.rename(run / "metrics.csv", run / "metrics-kept.csv")
    (run / "metrics.csv").symlink_to("metrics-kept.csv")
    result = invoke(tmp_path, ["report", "run", "--format", "csv"])
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("name", SWEEP_FILES + ("runs/0000/meta.json",))
def test_a_link_to_a_secret_from_a_sweep_file_is_refused(tmp_path, secret, name):
    from gridlstm.sweep.folder import create_sweep_dir
    from gridlstm.sweep.spec import load_sweep

    (tmp_path / "tiny.yaml").write_text("task: {name: adding, length: 5}\nmodel: {kind: lstm, hidden: 4}\n"
                                        "train: {steps: 2, eval_every: 1, batch_size: 4, eval_batches: 1}\n")
    (tmp_path / "s.yaml").write_text("base: tiny.yaml\naxes: {seed: [0]}\n")
    folder = create_sweep_dir(load_sweep(tmp_path / "s.yaml"), tmp_path / "o")
    link = folder / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    result = invoke(tmp_path, ["sweep", str(folder)])
    assert SECRET not in result.stdout + result.stderr
    assert result.exit_code == 2 and "is a symbolic link that leaves" in result.stderr, result.stderr


@pytest.mark.parametrize("name,args", [
    ("metrics.csv", ["train", "--resume", "run", "--force", "train.steps=3"]),
    ("gradients/profiles.csv", ["train", "--resume", "run", "--force", "train.steps=3"]),
    ("metrics.csv", ["plot", "run", "--what", "loss"]),
    ("gradients/profiles.csv", ["plot", "run", "--what", "profiles"]),
    ("meta.json", ["report", "run"]),
    ("checkpoint.pt", ["gradcheck", "run"])])
def test_a_fifo_in_a_run_folder_is_refused_without_waiting(tmp_path, toy_run, name, args):
    run = copy_run(toy_run, tmp_path)
    (run / name).unlink()
    os.mkfifo(run / name)
    r = subprocess.run([sys.executable, "-m", "gridlstm.cli.main", *args], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"Error: run/{name} is a pipe (FIFO), not a regular file; "
                                             "the folder is damaged"]


@pytest.mark.parametrize("text,shown", [("abc", "'abc'"), ("a\nb\x1b[31m", "'a\\nb\\x1b[31m'"),
                                        ("é" * 100, "'" + "\\xe9" * 60 + "'...")])
def test_excerpts_are_bounded_and_escaped(text, shown):
    assert excerpt(text) == shown
