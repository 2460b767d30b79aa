"""Help and Tab answer at once: they import neither torch nor matplotlib (checked in a fresh process),
and completion goes through click's own protocol (the variables the bash and zsh scripts set)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from gridlstm.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = cli.list_commands(click.Context(cli))
# The installed command's entry point, then which heavy modules the process had loaded at exit.
PROGRAM = """
import atexit, sys
atexit.register(lambda: print("LOADED", *sorted(m for m in ("torch", "matplotlib") if m in sys.modules),
                              file=sys.stderr))
from gridlstm.cli.main import main
main()
"""


def gridlstm(args: list[str], cwd: Path, cache: Path, **env: str) -> tuple[str, list[str]]:
    """Run the gridlstm command in a fresh process: (stdout, heavy modules it imported)."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(cache), **env}
    done = subprocess.run([sys.executable, "-c", PROGRAM, *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300)
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED")][-1].split()[1:]
    return done.stdout, loaded


def complete(words: str, shell: str, tmp_path: Path) -> tuple[list[str], list[str]]:
    """The completions of the last word of ``words`` (bash: words split at '=' as bash does)."""
    parts = words.split(" ")
    cword = parts[-1] if shell == "fish" else str(len(parts) - 1)  # fish passes the word itself
    out, loaded = gridlstm([], tmp_path, tmp_path / "cache", _GRIDLSTM_COMPLETE=f"{shell}_complete",
                           COMP_WORDS=words, COMP_CWORD=cword)
    if shell in ("bash", "fish"):  # "type,value" per line (fish: a tab and the help may follow)
        return [line.split(",", 1)[1].split("\t")[0] for line in out.splitlines()], loaded
    lines = out.splitlines()  # zsh: type, value, help: three lines per item
    return lines[1::3], loaded


@pytest.mark.parametrize("args", [["--help"], *([name, "--help"] for name in COMMANDS)],
                         ids=lambda a: " ".join(a))
def test_help_imports_neither_torch_nor_matplotlib(args, tmp_path):
    out, loaded = gridlstm(args, tmp_path, tmp_path / "cache")
    assert "Usage: gridlstm" in out
    assert loaded == [], f"gridlstm {' '.join(args)} imported {loaded}"


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A folder with run folders, and a completion cache made by a first Tab (which reads the schema)."""
    where = tmp_path_factory.mktemp("complete")
    (where / "outputs" / "adding-rnn" / "20261201-101500-ab12").mkdir(parents=True)
    (where / "mine.yaml").write_text("seed: 1\n")
    out, loaded = complete("gridlstm train model.hid", "zsh", where)
    assert "model.hidden=" in out and "torch" in loaded  # the first Tab reads the schema itself
    assert list((where / "cache" / "gridlstm").glob("keys-*.json"))
    return where


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize("words, expected", [
    ("gridlstm train model.kind=", ["rnn", "lstm", "grid", "gru"]),
    ("gridlstm train model=", ["grid", "gru", "lstm", "rnn"]),
    ("gridlstm train task=pa", ["parity"]),
    ("gridlstm train train.optimizer=", ["adam", "rmsprop", "sgd"]),
    ("gridlstm train model.tied=", ["true", "false"]),
    ("gridlstm sweep configs/default.yaml model.schedule=w", ["wavefront"]),
])
def test_after_equals_the_choices_of_the_key(warm, shell, words, expected):
    if shell == "bash":  # bash breaks the word at '=': KEY, '=', then the value being typed
        key, _, value = words.rpartition("=")
        words = f"{key} = {value}"
    got, loaded = complete(words, shell, warm)
    prefix = "" if shell == "bash" else words.rpartition("=")[0].rsplit(" ", 1)[1] + "="
    assert got == [prefix + v for v in expected]
    assert loaded == []


@pytest.mark.parametrize("words, expected", [
    ("gridlstm train model.hi", ["model.hidden="]),
    ("gridlstm train adding_r", ["adding_rnn"]),
    ("gridlstm train mi", ["mine.yaml"]),
    ("gridlstm sweep sweeps/adding", ["sweeps/adding_length"]),
    ("gridlstm study results studies/r", ["studies/results", "studies/results_paper"]),
    ("gridlstm gradcheck outp", ["outputs/"]),
    ("gridlstm gradcheck outputs/adding-rnn/", ["outputs/adding-rnn/20261201-101500-ab12/"]),
    ("gridlstm plot outputs/adding-", ["outputs/adding-rnn/"]),
    ("gridlstm report outp", ["outputs/"]),
    ("gridlstm tra", ["train"]),
])
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_keys_names_files_and_run_folders_complete(warm, words, expected, shell):
    got, loaded = complete(words, shell, warm)
    assert got == expected
    assert loaded == []


def test_options_complete(warm):
    got, _ = complete("gridlstm gradcheck --fr", "bash", warm)
    assert got == ["--from"]


def test_bash_puts_no_space_after_a_key_or_a_folder(tmp_path):
    script, _ = gridlstm([], tmp_path, tmp_path / "cache", _GRIDLSTM_COMPLETE="bash_source")
    assert "COMPREPLY+=($value)\n            [[ $value == *= || $value == */ ]] && compopt -o nospace" in script
    shim = tmp_path / "gridlstm"  # the installed command, as bash calls it
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'from gridlstm.cli.main import main; main()' \"$@\"\n")
    shim.chmod(0o755)
    done = subprocess.run(["bash", "-c", script + "\nCOMP_WORDS=(gridlstm train model.ki); COMP_CWORD=2; "
                           "_gridlstm_completion gridlstm 2>/dev/null; printf '%s\\n' \"${COMPREPLY[@]}\""],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "c"),
                                             "PATH": f"{tmp_path}:{os.environ['PATH']}"},
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["model.kind="], done.stderr
