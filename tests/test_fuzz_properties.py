"""Property-based layer: malformed configs, overrides, sweep files and corrupted run folders.

Each generated case runs through the CLI (click's runner, in-process) and must end with exit code
0, 1 or 2; when it fails, with one message on stderr (a config block lists one problem per line),
no traceback, no "internal error", and no file or folder written or changed. Bounded: modest
max_examples, derandomized (the same examples on every run), one toy run per session (conftest).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlstm.cli.main import cli
from gridlstm.config import load_config, valid_keys
from gridlstm.errors import ConfigError

from .conftest import copy_run

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KEYS = valid_keys()
TINY = {"task": {"name": "adding", "length": 5}, "model": {"kind": "grid", "hidden": 4, "layers": 1},
        "train": {"steps": 2, "eval_every": 1, "batch_size": 4, "eval_batches": 1}}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
                    st.sampled_from([".nan", ".inf", "-.inf", "true", "1e400", "0x10", "~", "[1, true]"]))
override_values = st.one_of(scalars.map(lambda v: v if isinstance(v, str) else yaml.safe_dump(v).split("\n")[0]),
                            st.sampled_from(["[&a 1, *a]", "{a: 1, a: 2}", "[" * 60 + "]" * 60, "7" * 200]))
overrides = st.lists(st.tuples(st.sampled_from(KEYS + ["modle.hidden", "train", "", "a/b"]), override_values)
                     .map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=3)
# YAML fragments that plain yaml.safe_load would accept silently
TRAPS = ["model: {hidden: 4}\nmodel: {hidden: 8}\n", "a: &a [1, 2]\nb: *a\n", "seed: 1\nseed: 2\n",
         "model: {forget_bias: .nan}\n", "train: {target: .inf}\n", "model: {hidden: true}\n",
         "task: " + "[" * 50 + "]" * 50 + "\n", "train: {lr: 1.0e999}\n", "seed: " + "9" * 150 + "\n",
         "train: {batch_size: 100000000000}\n", "model: {hidden: 8192, layers: 256}\n"]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def check_cli(work: Path, args: list[str], ok: tuple[int, ...] = (0, 1, 2)) -> int:
    before = snapshot(work)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        result = CliRunner().invoke(cli, args)
    err = result.stderr
    assert result.exit_code in ok, (result.exit_code, err, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in err and "internal error" not in err, err
    if result.exit_code:
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [i for i, line in enumerate(lines) if line.startswith("Error: ")]
        assert len(errors) == 1, err
        rest = lines[errors[0] + 1:]
        assert not rest or ("invalid config" in lines[errors[0]] and all(x.startswith("  - ") for x in rest)), err
        assert len(err) < 6000, "bounded"
        assert snapshot(work) == before, "a failed command writes nothing"
    return result.exit_code


@SETTINGS
@given(body=st.lists(st.sampled_from(TRAPS), min_size=1, max_size=3), extra=overrides)
def test_configs_with_traps_fail_cleanly(body, extra):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "c.yaml").write_text(yaml.safe_dump(TINY) + "".join(body))
        check_cli(work, ["train", "c.yaml", *extra, "--out", "out"], ok=(2,))


@SETTINGS
@given(extra=overrides)
def test_overrides_fail_cleanly_or_validate(extra):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "c.yaml").write_text(yaml.safe_dump(TINY))
        try:
            load_config(work / "c.yaml", extra)
        except ConfigError:
            check_cli(work, ["train", "c.yaml", *extra, "--out", "out"], ok=(2,))


sweep_values = st.lists(scalars, min_size=0, max_size=4)
sweep_maps = st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.text(max_size=8), st.integers(), st.none()),
    "axes": st.one_of(st.dictionaries(st.sampled_from(KEYS + ["bogus"]), sweep_values, max_size=3), scalars),
    "zip": st.one_of(st.lists(st.dictionaries(st.sampled_from(KEYS), sweep_values, max_size=2), max_size=2), scalars),
    "exclude": st.one_of(st.lists(st.dictionaries(st.sampled_from(KEYS), scalars, max_size=2), max_size=2), scalars),
    "config": st.one_of(st.dictionaries(st.sampled_from(KEYS), scalars, max_size=3), scalars),
    "plot": st.one_of(st.dictionaries(st.sampled_from(["x", "y"]), st.sampled_from(KEYS), max_size=2), scalars),
    "bogus": scalars})


@SETTINGS
@given(data=sweep_maps, trap=st.sampled_from(["", "axes: {seed: [0]}\n", "x: &x [1]\ny: *x\n", "[" * 40]))
def test_sweep_files_fail_cleanly(data, trap):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
        text = yaml.safe_dump({"base": "tiny.yaml", **data}, allow_unicode=True) + trap
        (work / "s.yaml").write_text(text)
        check_cli(work, ["sweep", "s.yaml", "--dry-run", "--out", "out"], ok=(0, 2))
        assert not (work / "out").exists()


FILES = ["meta.json", "summary.json", "config.yaml", "metrics.csv", "checkpoint.pt", "gradients/profiles.csv",
         "gradients/gradients.csv", "gradients/summary.csv", "gradients/meta.json"]
COMMANDS = {
    "report": ["report", "run"],
    "plot-loss": ["plot", "run", "--what", "loss", "--out", "p.png"],
    "plot-gradients": ["plot", "run", "--what", "gradients", "--out", "p.png"],
    "plot-profiles": ["plot", "run", "--what", "profiles", "--out", "p.png"],
    "gradcheck": ["gradcheck", "run", "--device", "cpu", "--out", "g"],
    "resume": ["train", "--resume", "run", "--force", "train.steps=3", "--device", "cpu"],
}
corruptions = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 0.95)),
    st.tuples(st.just("empty"), st.none()),
    st.tuples(st.just("directory"), st.none()),
    st.tuples(st.just("json"), st.sampled_from(["[1, 2]", '"text"', "3", "null", "true", "{}", '{"runs": 1}',
                                                '{"task": {"name": 5}}', "[" * 3000])),
    st.tuples(st.just("bytes"), st.binary(min_size=1, max_size=200)),
)


def corrupt(path: Path, how: str, arg) -> None:
    if how == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * arg)])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "directory":
        path.unlink()
        path.mkdir()
    elif how == "json":
        path.write_text(arg)
    else:
        path.write_bytes(arg)


@pytest.mark.slow
@settings(SETTINGS, max_examples=60)
@given(file=st.sampled_from(FILES), how=corruptions, command=st.sampled_from(sorted(COMMANDS)))
def test_corrupted_run_folders_fail_cleanly(toy_run, file, how, command):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = copy_run(toy_run, work)
        corrupt(run / file, *how)
        code = check_cli(work, COMMANDS[command])
        if code == 0 and command == "resume":  # it trained on: the corruption did not matter
            assert (run / "summary.json").is_file()
        shutil.rmtree(work / "g", ignore_errors=True)
