"""`pip install .` (not editable) ships the configs and the CLI under gridlstm.cli, and runs anywhere."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_plain_install_runs_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)  # nothing may come from a source tree on the path
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", "outputs", "build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py, exe = venv / "bin" / "python", venv / "bin" / "gridlstm"
    # torch, setuptools etc. come from the running environment's site-packages (a plain path: its own
    # .pth files, an editable gridlstm among them, are not read)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    here = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "torch").is_dir())
    # first on the path, so the running environment's setuptools (bdist_wheel built in) builds
    Path(site, "outer.pth").write_text(f"import sys; sys.path.insert(0, {here!r})\n")
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(src)],
                   check=True, cwd=tmp_path)
    shutil.rmtree(src)  # nothing may come from the source tree
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([str(exe), "train", "task=copy", "task.length=5", "model.hidden=4", "train.steps=2",
                          "--out", "X"], cwd=elsewhere, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (Path(elsewhere) / run.stdout.strip().splitlines()[-1] / "config.yaml").is_file()
    listing = subprocess.run([str(exe), "configs"], cwd=elsewhere, capture_output=True, text=True)
    assert "model: grid, gru, lstm, rnn" in listing.stdout
    no_cli = subprocess.run([str(py), "-c", "import cli"], cwd=elsewhere, capture_output=True, text=True)
    assert no_cli.returncode != 0 and "No module named 'cli'" in no_cli.stderr
