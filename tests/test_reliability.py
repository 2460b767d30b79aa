"""Reliability, round 2: each kind of input the audit found, one test per kind and form.

    2  resources: YAML aliases, sweep expansion, the memory budget, huge numbers, bounded messages
    3  paths that look like overrides (sweep run folders are named ``kind=lstm,seed=0``)
    4  file-system errors and corrupt run / sweep files
    5  bad values accepted silently: duplicate keys, NaN, booleans for numbers, empty and
       contradictory options

Every CLI case: exit code 2 (usage, config) or 1 (runtime), one message on stderr, no traceback,
nothing written.
"""
from __future__ import annotations

import errno
import json
import typing
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from gridlstm.cli.common import split_config_args
from gridlstm.cli.main import cli
from gridlstm.config import load_config
from gridlstm.errors import ConfigError, GridlstmError
from gridlstm.runs.folder import read_json
from gridlstm.sweep.spec import load_sweep, parse_sweep

from .conftest import copy_run

ENV = "GRIDLSTM_MEMORY_GB"  # the budget (gridlstm/limits.py; imported in the tests, so each fails alone on main)
TINY = ("task: {name: adding, length: 5}\nmodel: {kind: grid, hidden: 4, layers: 1}\n"
        "train: {steps: 2, eval_every: 1, batch_size: 4, eval_batches: 1}\n")
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9))


def tree(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def run_cli(tmp_path: Path, args: list[str], code: int = 2, env: dict | None = None) -> str:
    """Invoke ``gridlstm ARGS`` in tmp_path; assert the exit code, one message and nothing written."""
    before = tree(tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        result = CliRunner().invoke(cli, args, env=env)
    err = result.stderr
    assert result.exit_code == code, (result.exit_code, err, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("Error: "), err
    assert all(line.startswith("  - ") for line in lines[1:]), err
    assert tree(tmp_path) == before, "nothing written, nothing changed"
    return err


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return name


# ----------------------------------------------------------------------------- 2: resources


def test_alias_bomb_in_a_sweep_file_is_refused_at_once(tmp_path):
    write(tmp_path, "tiny.yaml", TINY)
    sweep = write(tmp_path, "s.yaml", "base: tiny.yaml\n" + BOMB + "axes: {seed: *j}\n")
    err = run_cli(tmp_path, ["sweep", sweep, "--dry-run"])
    assert "alias *a is not allowed" in err and len(err) < 400


@pytest.mark.parametrize("text", [TINY + BOMB, "m: &m {kind: rnn}\nmodel: *m\n",
                                  "x: &x {hidden: 4}\nmodel:\n  <<: *x\n  kind: rnn\n"])
def test_aliases_in_a_config_are_refused(tmp_path, text):
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", text), "--out", "out"])
    assert "is not allowed (write the values out" in err


def test_sweep_expansion_is_capped_before_expanding(tmp_path):
    axes = {k: list(range(1, 11)) for k in ["seed", "task.eval_seed", "train.steps", "train.log_every",
                                               "train.eval_every", "train.skip_limit", "train.eval_batches"]}
    with pytest.raises(ConfigError) as e:
        parse_sweep({"name": "big", "config": {}, "axes": axes})
    assert any("expand to 10,000,000 runs, more than the 10,000" in p for p in e.value.problems)


@pytest.mark.parametrize("overrides", [
    ["model.hidden=8192", "model.layers=256"], ["train.batch_size=1000000000000"],
    ["train.eval_batches=10000000000"], ["gradients.batch_size=10000000000"],
    ["model.hidden=4096", "task.length=100000"]])
def test_configs_over_the_memory_budget_are_refused(tmp_path, overrides):
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY), *overrides, "--out", "out"])
    assert "over the 16 GB budget" in err and "GRIDLSTM_MEMORY_GB" in err


def test_the_budget_can_be_raised(monkeypatch, tmp_path):
    from gridlstm import limits
    from gridlstm.train.lifecycle import start_run

    cfg = load_config(None, ["model.hidden=8192", "model.layers=64"])  # reading a config never asks
    with pytest.raises(ConfigError, match="over the 16 GB budget"):
        start_run(cfg, tmp_path)
    assert not any(tmp_path.iterdir())  # refused before the run folder
    monkeypatch.setenv(ENV, "1e6")
    limits.require(cfg)  # fits now: no error


def test_an_existing_run_reads_whatever_the_budget(monkeypatch, toy_run):
    from gridlstm.runs.run import RunFolder

    monkeypatch.setenv(ENV, "1e-9")  # no config fits
    assert RunFolder.open(toy_run).config().model.hidden == 4
    monkeypatch.setenv(ENV, "abc")
    assert RunFolder.open(toy_run).config().train.steps == 2


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_a_bad_budget_is_a_config_error(tmp_path, value):
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY), "--out", "out"],
                  env={ENV: value})
    assert ENV in err


@pytest.mark.parametrize("override", [f"seed={2**64}", f"seed={-(2**64)}", f"task.eval_seed={2**70}",
                                      f"train.steps={2**80}", "seed=" + "7" * 5000, "train.lr=1.0e99999"])
def test_numbers_beyond_int64_or_float_are_refused(tmp_path, override):
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY), override, "--out", "out"])
    assert len(err) < 400


def test_gradcheck_batch_is_checked_against_the_budget(tmp_path):
    err = run_cli(tmp_path, ["gradcheck", write(tmp_path, "c.yaml", TINY), "--batch", "10000000000"])
    assert "--batch 10000000000: needs about" in err


def test_messages_are_bounded(tmp_path):
    text = TINY + "".join(f"k{i}: {i}\n" for i in range(5000))
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", text), "--out", "out"])
    assert "... and 4980 more" in err and len(err) < 5000
    big = "base: tiny.yaml\naxes:\n  seed: " + json.dumps([[i] * 50 for i in range(50)]) + "\n"
    write(tmp_path, "tiny.yaml", TINY)
    assert len(run_cli(tmp_path, ["sweep", write(tmp_path, "s.yaml", big), "--dry-run"])) < 400


def test_a_huge_file_is_not_read(tmp_path):
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY + "#" + "x" * 2_000_000), "--out", "out"])
    assert "larger than 1000 kB" in err


def test_task_shapes_match_tasks_py():
    from gridlstm import limits
    from gridlstm.config import TaskConfig
    from gridlstm.tasks import make_task
    cases = [{"name": "adding"}, {"name": "copy"}, {"name": "parity"}, {"name": "parity", "mode": "whole"},
             {"name": "temporal_order"}, {"name": "temporal_order", "keys": 3}, {"name": "addition"},
             {"name": "memorize"}, {"name": "memorize", "vocab": 10}]
    assert {kw["name"] for kw in cases} == set(typing.get_args(TaskConfig.model_fields["name"].annotation))
    for kw in cases:
        cfg = TaskConfig(length=12, **kw)
        task = make_task(cfg)
        x, _ = task.sample(2, torch.Generator().manual_seed(0))
        assert limits.task_shape(cfg) == (x.shape[1], task.input_size, task.output_size), kw


@pytest.mark.parametrize("schedule", ["auto", "wavefront"])  # training steps, gradient profiles
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "grid"])
@pytest.mark.parametrize("task", ["adding", "copy"])
def test_the_estimate_is_an_upper_bound_of_what_autograd_keeps(kind, task, schedule):
    from gridlstm import limits
    from gridlstm.factory import build
    from gridlstm.nn.model import count_parameters
    cfg = load_config(None, [f"model.kind={kind}", "model.hidden=24", "model.layers=2", f"task.name={task}",
                             "task.length=30", "train.batch_size=8", f"model.schedule={schedule}"])
    t, model = build(cfg, torch.device("cpu"))
    x, y = t.sample(8, torch.Generator().manual_seed(0))
    saved: dict[int, int] = {}

    def pack(tensor):
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        t.loss(model(x, t.scores), y)
    est = limits.estimate(cfg)
    assert est.params == count_parameters(model)
    assert limits.estimate(cfg.model_copy(update={"model": cfg.model.model_copy(update={"tied": True})})).params \
        < est.params
    assert sum(saved.values()) <= est.activations <= 5 * sum(saved.values())


# ----------------------------------------------------------------------------- 3: paths


def test_existing_paths_are_never_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kind=lstm,seed=0").mkdir()
    assert split_config_args(("kind=lstm,seed=0", "train.steps=3")) == (Path("kind=lstm,seed=0"), ["train.steps=3"])
    assert split_config_args(("kind=lstm,seed=0/config.yaml",))[0] == Path("kind=lstm,seed=0/config.yaml")
    assert split_config_args(("x=1.yaml",))[0] == Path("x=1.yaml")
    assert split_config_args(("model.hidden=8",)) == (None, ["model.hidden=8"])
    assert split_config_args(("name=a/b",)) == (None, ["name=a/b"])


def test_gradcheck_and_train_of_a_sweep_run_folder(tmp_path, toy_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = copy_run(toy_run, tmp_path / "runs", "kind=grid,seed=0")
    r = CliRunner().invoke(cli, ["gradcheck", str(run), "--device", "cpu", "--out", "g"])
    assert r.exit_code == 0, r.stderr
    r = CliRunner().invoke(cli, ["train", f"{run}/config.yaml", "train.steps=1", "--out", "out", "--device", "cpu"])
    assert r.exit_code == 0, r.stderr


def test_a_missing_path_with_equals_is_reported_as_a_file(tmp_path):
    assert "config file not found: kind=lstm,seed=0/config.yaml" in run_cli(
        tmp_path, ["train", "kind=lstm,seed=0/config.yaml", "--out", "out"])


# ----------------------------------------------------------------------------- 4: files


def test_os_errors_are_one_line_with_path_and_reason(tmp_path, monkeypatch):
    import gridlstm.runs.run as trainer

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "metrics.csv"))
    monkeypatch.setattr(trainer, "make_run_dir", full)
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY), "--out", "out"], code=2)
    assert f"{tmp_path}/out/metrics.csv: No space left on device (" in err and "; free some space" in err


def test_out_under_a_regular_file_or_read_only(tmp_path, monkeypatch):
    write(tmp_path, "f", "x")
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY), "--out", "f/sub"])
    assert "f is a file, not a folder" in err
    import gridlstm.cli.common as cli_common
    monkeypatch.setattr(cli_common, "_read_only", lambda p: True)
    assert "read-only file system" in run_cli(tmp_path, ["train", "c.yaml", "--out", "out"])


def test_resume_on_a_read_only_file_system(tmp_path, toy_run, monkeypatch):
    copy_run(toy_run, tmp_path)
    import gridlstm.cli.common as cli_common
    monkeypatch.setattr(cli_common, "_read_only", lambda p: True)
    assert "cannot write in the run folder (read-only file system)" in run_cli(
        tmp_path, ["train", "--resume", "run", "--force", "train.steps=3"])


@pytest.mark.parametrize("content,message", [("[1, 2]", "holds a JSON list, not an object"),
                                             ('"x"', "holds a JSON str"), ("{", "is not valid JSON"),
                                             ("[" * 100000, "is not valid JSON")])
def test_read_json_names_the_file_and_the_problem(tmp_path, content, message):
    (tmp_path / "meta.json").write_text(content)
    with pytest.raises(GridlstmError, match=message):
        read_json(tmp_path / "meta.json")


CORRUPT = [  # (file, new content or "DIR", command, expected message part)
    ("meta.json", "[1, 2]", ["train", "--resume", "run"], "meta.json holds a JSON list"),
    ("summary.json", "[1, 2]", ["report", "run"], "summary.json holds a JSON list"),
    ("metrics.csv", b"step,split\n\xff\xfe\n", ["plot", "run", "--what", "loss", "--out", "p.png"], "not UTF-8"),
    ("metrics.csv", "DIR", ["plot", "run", "--what", "loss", "--out", "p.png"], "is a folder, not a regular file"),
    ("gradients/profiles.csv", "step,seed,state,layer,t,norm\nx,0,h,1,1,0.5\n",
     ["plot", "run", "--what", "profiles", "--out", "p.png"], "line 2: step 'x' is not an integer"),
    ("metrics.csv", b"step,split\n\xff\n", ["train", "--resume", "run", "--force", "train.steps=3"], "not UTF-8"),
    ("gradients/profiles.csv", b"\xff", ["train", "--resume", "run", "--force", "train.steps=3"], "not UTF-8"),
    ("config.yaml", "- 1\n", ["plot", "run", "--what", "loss", "--out", "p.png"], "top level must be a mapping"),
    ("config.yaml", "task: " + "[" * 20000 + "]" * 20000, ["gradcheck", "run"], "nested deeper than"),
]


@pytest.mark.parametrize("file,content,args,message", CORRUPT, ids=[f"{c[0]}-{i}" for i, c in enumerate(CORRUPT)])
def test_corrupt_run_files_are_named(tmp_path, toy_run, file, content, args, message):
    path = copy_run(toy_run, tmp_path) / file
    if content == "DIR":
        path.unlink()
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert message in run_cli(tmp_path, args)


@pytest.mark.parametrize("field,value", [("step", "ten"), ("last_eval", "x"), ("optimizer", "adam"),
                                         ("config", []), ("skipped", -3), ("rng", {})])
def test_checkpoint_fields_of_the_wrong_type(tmp_path, toy_run, field, value):
    path = copy_run(toy_run, tmp_path) / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    payload[field] = value
    torch.save(payload, path)
    err = run_cli(tmp_path, ["train", "--resume", "run", "--force", "train.steps=3", "--device", "cpu"])
    assert f"corrupt checkpoint run/checkpoint.pt: field '{field}' should be" in err


@pytest.mark.parametrize("text", ["", "- 1\n", "name: [\n", "a: " + "[" * 5000 + "]" * 5000])
def test_a_broken_sweep_yaml_in_a_sweep_folder(tmp_path, text):
    from gridlstm.sweep.folder import create_sweep_dir
    write(tmp_path, "tiny.yaml", TINY)
    folder = create_sweep_dir(load_sweep(tmp_path / write(tmp_path, "s.yaml", "base: tiny.yaml\naxes: {seed: [0]}\n")),
                              tmp_path / "o")
    (folder / "sweep.yaml").write_text(text)
    assert "sweep.yaml" in run_cli(tmp_path, ["sweep", str(folder)])


# ----------------------------------------------------------------------------- 5: bad values


@pytest.mark.parametrize("text,where", [("model: {kind: grid, hidden: 4, hidden: 8}\n", "c.yaml:1:32"),
                                        ("train:\n  lr: 0.1\ntrain:\n  lr: 0.2\n", "c.yaml:3:1")])
def test_duplicate_keys_are_refused_with_their_lines(tmp_path, text, where):
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", text), "--out", "out"])
    assert where in err and "duplicate key" in err and "first given on line" in err


@pytest.mark.parametrize("override", ["model.forget_bias=.nan", "train.target=nan", "train.lr=.inf",
                                      "train.clip_norm=.inf", "train.target=-.inf"])
def test_non_finite_floats_are_refused(tmp_path, override):
    assert "finite number" in run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY), override, "--out", "out"])


@pytest.mark.parametrize("override", ["model.hidden=true", "train.steps=false", "train.lr=true", "seed=true",
                                      "gradients.at_steps=[0, true]", "train.checkpoint_every=true"])
def test_booleans_are_not_numbers(tmp_path, override):
    assert "not true/false" in run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY), override, "--out", "out"])


def test_numbers_still_accept_what_they_accepted():
    cfg = load_config(None, ["model.hidden=16.0", "train.lr=1", "train.target=0.5", "model.tied=true"])
    assert (cfg.model.hidden, cfg.train.lr, cfg.train.target, cfg.model.tied) == (16, 1.0, 0.5, True)


@pytest.mark.parametrize("args,message", [
    (["--name", ""], "--name is empty"), (["--name", "  "], "--name is empty")])
def test_empty_names_are_refused(tmp_path, args, message):
    assert message in run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY), *args, "--out", "out"])


@pytest.mark.parametrize("option", [["--out", "x"], ["--name", "y"]])
def test_resume_with_out_or_name_is_contradictory(tmp_path, toy_run, option):
    copy_run(toy_run, tmp_path)
    assert "does not apply with --resume" in run_cli(tmp_path, ["train", "--resume", "run", *option])


@pytest.mark.parametrize("options,message", [
    (["--address", "auto"], "--address auto: applies only to --executor ray"),
    (["--num-cpus", "0"], "--num-cpus 0: expected a finite number > 0"),
    (["--num-cpus", "nan"], "--num-cpus nan"),
    (["--num-cpus", "2"], "--num-cpus applies only to --executor ray"),
    (["--executor", "ray", "--num-gpus", "-1"], "--num-gpus -1")])
def test_bad_sweep_options_leave_no_folder(tmp_path, options, message):
    write(tmp_path, "tiny.yaml", TINY)
    sweep = write(tmp_path, "s.yaml", "base: tiny.yaml\naxes: {seed: [0]}\n")
    assert message in run_cli(tmp_path, ["sweep", sweep, *options, "--out", "out"])


def test_an_explicitly_empty_sweep_name_is_refused(tmp_path):
    write(tmp_path, "tiny.yaml", TINY)
    assert "name: must be letters" in run_cli(tmp_path, ["sweep", write(tmp_path, "s.yaml", "name: ''\nbase: tiny.yaml\n"
                                                                        "axes: {seed: [0]}\n"), "--dry-run"])


def test_stored_sweep_specs_are_written_without_aliases():
    from gridlstm.safe_yaml import NoAliasDumper
    from gridlstm.safe_yaml import load as strict_load
    shared = [1, 2]
    text = yaml.dump({"axes": {"seed": shared}, "exclude": [{"seed": shared}]}, Dumper=NoAliasDumper)
    assert "&" not in text and strict_load(text)["exclude"] == [{"seed": [1, 2]}]


def test_a_fifo_is_refused_instead_of_waiting_forever(tmp_path):
    import os
    os.mkfifo(tmp_path / "c.yaml")
    assert "not a regular file (a pipe or device)" in run_cli(tmp_path, ["train", "c.yaml", "--out", "out"])


def test_a_checkpoint_write_failing_inside_torch_is_one_line(tmp_path, monkeypatch):
    import gridlstm.runs.run as trainer

    def torch_writer_failed(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 13312 vs 13264")
    monkeypatch.setattr(trainer, "make_run_dir", torch_writer_failed)
    err = run_cli(tmp_path, ["train", write(tmp_path, "c.yaml", TINY), "--out", "out"], code=1)
    assert "writing a checkpoint failed" in err and "the disk may be full" in err
