"""The library names its parameters, the command line its flags: no library string (docstrings
aside) names a flag, except a whole command line shown to run (COMMAND_LINES, each with why); every
parameter a ParamError names has its flag in cli/common.py:OPTIONS; a Python caller reads
``seeds=0``, a CLI user ``--seeds 0``, on one line with exit code 2."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.common import OPTIONS
from gridlstm.cli.main import cli
from gridlstm.errors import ParamError

ROOT = Path(__file__).resolve().parent.parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# (module, flag): a command line the text shows, to be run as written
COMMAND_LINES = {
    ("plots/spectrum.py", "--spectrum"): "the gradcheck command that writes spectrum.csv",
    ("results/collect.py", "--out"): "names the folder `gridlstm gradcheck --out DIR` writes",
    ("results/collect.py", "--what"): "an example `gridlstm plot` command, one per task",
    ("runs/records.py", "--porcelain"): "git's own arguments",
    ("runs/records.py", "--untracked-files"): "git's own arguments",
    ("studies/results.py", "--only"): "the command recorded beside each comparison on the page",
    ("studies/results.py", "--resume"): "the command that finishes the study",
    ("sweep/executors.py", "--head"): "Ray's own command that starts a cluster",
    ("tracking.py", "--to"): "the `gridlstm export` command that catches a run up in MLflow",
}


def docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def flags_in_library() -> set[tuple[str, str]]:
    """(module, flag) for every flag-looking word in a string of gridlstm/ that is no docstring."""
    found = set()
    for path in sorted((ROOT / "gridlstm").rglob("*.py")):
        tree = ast.parse(path.read_text())
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                found |= {(path.relative_to(ROOT / "gridlstm").as_posix(), f) for f in FLAG.findall(node.value)}
    return found


def test_flags_finds_what_it_looks_for():
    assert FLAG.findall("use --from last, or --num-cpus 2; not ls='--', '---:' or a-->b") == ["--from", "--num-cpus"]


def test_the_library_names_no_flag_but_in_a_command_line():
    found = flags_in_library()
    assert found - set(COMMAND_LINES) == set()
    assert set(COMMAND_LINES) - found == set()  # an exception that is gone leaves the list


def param_errors() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in sorted((ROOT / "gridlstm").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ParamError":
                calls.append((path.name, node))
    return calls


def test_every_parameter_a_param_error_names_has_a_flag():
    named = set()
    for _, call in param_errors():
        param = call.args[0]  # a name: passed on (limits.require's param), a constant at its caller
        named |= {param.value} - {None} if isinstance(param, ast.Constant) else set()
        others = call.args[3] if len(call.args) > 3 else next((k.value for k in call.keywords if k.arg == "others"), None)
        if others is not None:
            named |= {e.value for e in others.elts}  # type: ignore[attr-defined]
    assert len(param_errors()) > 20 and {"seeds", "state", "force", "kind"} <= named
    assert named - set(OPTIONS) == set()


def test_param_error_names_parameters_for_the_library_and_flags_for_the_cli():
    e = ParamError("jobs", 4, "sizes the private instance; with {address} use {num_cpus=2}; {name} it", ("address", "num_cpus"))
    assert str(e) == "jobs=4: sizes the private instance; with address use num_cpus=2; jobs it"
    assert e.named(OPTIONS) == "--jobs 4: sizes the private instance; with --address use --num-cpus 2; --jobs it"
    both = ParamError(None, None, "resume unchanged, or add {force=True}; {seeds} {other} {x=1}", ("force",))
    assert str(both) == "resume unchanged, or add force=True; {seeds} {other} {x=1}"  # only its own parameters
    assert both.named(OPTIONS) == "resume unchanged, or add --force; {seeds} {other} {x=1}"


def test_a_python_caller_is_told_the_parameter():
    from gridlstm import api
    from gridlstm.config import load_config

    with pytest.raises(ParamError) as e:
        api.measure_gradients(load_config(ROOT / "configs/adding_rnn.yaml"), seeds=0)
    assert str(e.value).startswith("seeds=0: ") and "--" not in str(e.value)


TINY = ["task.length=4", "model.hidden=3"]


def one_line_error(args: list[str]) -> str:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), r.output
    return lines[0]


def test_the_cli_prints_its_flags(tmp_path):
    config = "configs/adding_rnn.yaml"
    assert one_line_error(["gradcheck", config, "--batch", "10000000000"]).startswith(
        "Error: --batch 10000000000: needs about")  # the memory budget, checked before any work
    gc = tmp_path / "gc"
    r = CliRunner().invoke(cli, ["gradcheck", config, *TINY, "--batch", "2", "--out", str(gc)])
    assert r.exit_code == 0, r.output
    line = one_line_error(["plot", gc, "--state", "q", "--out", tmp_path / "g.png"])
    assert line.startswith("Error: --state q: ") and "expected one of h" in line
    line = one_line_error(["plot", gc, "--layer", "7", "--out", tmp_path / "g.png"])
    assert line.startswith("Error: --layer 7: ") and "expected one of 1" in line
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"base: {ROOT / config}\naxes: {{seed: [0]}}\n")
    line = one_line_error(["sweep", sweep, "--jobs", "2", "--executor", "ray", "--address", "127.0.0.1:1"])
    assert line == "Error: --jobs 2: sizes the private Ray instance; with --address the cluster decides " \
                   "(use --num-cpus per run)"
