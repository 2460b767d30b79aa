"""The wheel and the sdist carry the whole package: cli/ and configs/ of the repository install
inside it as gridlstm.cli and gridlstm.configs (setup.cfg's package_dir), nothing installs a
top-level ``cli``, a plain install runs from any directory, and tests run from the unpacked sdist."""
from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(".git", ".venv", "outputs", "build", "dist", "*.egg-info", "__pycache__",
                              ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis")


def source_files() -> dict[str, Path]:
    """Installed name → repository file, for every module of the package (cli/ maps to gridlstm/cli)."""
    out = {f"gridlstm/{f.relative_to(ROOT / 'gridlstm')}": f for f in (ROOT / "gridlstm").rglob("*.py")}
    for top in ("cli", "configs"):
        out |= {f"gridlstm/{top}/{f.relative_to(ROOT / top)}": f for f in (ROOT / top).rglob("*")
                if f.is_file() and f.suffix in (".py", ".yaml")}
    return out


def test_the_tree_has_no_links_and_setup_cfg_lists_every_package():
    links = [p for p in (ROOT / d for d in ("gridlstm", "cli", "configs", "tests")) for p in [p, *p.rglob("*")]
             if p.is_symlink()]
    assert links == []
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    folders = {".".join(("gridlstm", *p.parent.relative_to(ROOT / "gridlstm").parts))
               for p in (ROOT / "gridlstm").rglob("__init__.py")}
    assert listed == folders | {"gridlstm.cli", "gridlstm.configs"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The wheel and the sdist, built by setuptools' PEP 517 backend from a copy of the tree."""
    tmp = tmp_path_factory.mktemp("pkg")
    src, dist = tmp / "src", tmp / "dist"
    shutil.copytree(ROOT, src, ignore=SKIP)
    for what in ("sdist", "wheel"):  # one process each, as a build frontend runs them
        code = f"import sys; from setuptools import build_meta as b; b.build_{what}(sys.argv[1])"
        subprocess.run([sys.executable, "-c", code, str(dist)], cwd=src, check=True, capture_output=True)
    return {"wheel": next(dist.glob("*.whl")), "sdist": next(dist.glob("*.tar.gz")), "tmp": tmp}


def test_the_wheel_holds_every_module_and_config_inside_the_package(built):
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    missing = set(source_files()) - names
    assert missing == set()
    assert {"gridlstm/configs/default.yaml", "gridlstm/configs/model/grid.yaml", "gridlstm/cli/main.py"} <= names
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"gridlstm"}  # no top-level cli/ or configs/


def test_the_sdist_holds_the_configs_and_the_tests(built):
    with tarfile.open(built["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"setup.cfg", "pyproject.toml", "configs/default.yaml", "configs/model/grid.yaml",
            "cli/main.py", "tests/conftest.py", "tests/test_compose.py"} <= names
    assert not any(n.startswith("gridlstm/cli") or n.startswith("gridlstm/configs") for n in names)


@pytest.mark.slow
def test_a_plain_install_runs_anywhere_and_the_unpacked_sdist_passes_its_tests(built, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)  # nothing may come from a source tree on the path
    tmp = built["tmp"]
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py, exe = venv / "bin" / "python", venv / "bin" / "gridlstm"
    # torch, pytest etc. come from the running environment's site-packages (a plain path: its own
    # .pth files, an editable gridlstm among them, are not read)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    here = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "torch").is_dir())
    Path(site, "outer.pth").write_text(f"import sys; sys.path.append({here!r})\n")
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(built["wheel"])],
                   check=True, cwd=tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([str(exe), "train", "task=copy", "task.length=5", "model.hidden=4", "train.steps=2",
                          "--out", "X"], cwd=elsewhere, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (elsewhere / run.stdout.strip().splitlines()[-1] / "config.yaml").is_file()
    listing = subprocess.run([str(exe), "configs"], cwd=elsewhere, capture_output=True, text=True)
    assert "model: grid, gru, lstm, rnn" in listing.stdout
    where = subprocess.run([str(py), "-c", "import gridlstm.cli.main as m; print(m.__file__); import cli"],
                           cwd=elsewhere, capture_output=True, text=True)
    assert where.stdout.strip().startswith(site), where.stdout
    assert "No module named 'cli'" in where.stderr
    with tarfile.open(built["sdist"]) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
    unpacked = next((tmp / "unpacked").iterdir())
    # the installed package under test: pytest's importlib mode and -P keep the unpacked gridlstm/
    # (a source folder without cli/) off sys.path
    tests = subprocess.run([str(py), "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                            "tests/test_compose.py", "tests/test_cli_help.py"],
                           cwd=unpacked, capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
