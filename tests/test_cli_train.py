"""`gridlstm train` end to end through Click's CliRunner: every model × task, a few steps each."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.config import build_config, dump_config, load_config
from gridlstm.factory import build
from gridlstm.nn import registry
from gridlstm.runs.folder import METRIC_FIELDS

ROOT = Path(__file__).resolve().parent.parent
# every kind and variant of the registry (the paper grid tied)
MODELS = {label: [f"model.{k}={v}" for k, v in kw.items()] + (["model.tied=true"] if label == "grid paper" else [])
          for label, kw in registry.cases().items() if "=" not in label}
TASKS = {
    "adding": ["task.name=adding", "task.length=8"],
    "copy": ["task.name=copy", "task.length=4"],
    "parity-seq": ["task.name=parity", "task.length=6"],
    "parity-whole": ["task.name=parity", "task.length=6", "task.mode=whole"],
    "temporal2": ["task.name=temporal_order", "task.length=10"],
    "temporal3": ["task.name=temporal_order", "task.length=10", "task.keys=3"],
}
TINY = ["model.hidden=6", "model.layers=2", "train.steps=4", "train.batch_size=4", "train.eval_every=2",
        "train.log_every=1", "train.eval_batches=1", "train.early_stop=false"]


def run_train(tmp_path: Path, *args: str):
    result = CliRunner().invoke(cli, ["train", *args, "--out", str(tmp_path)])
    return result


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_on_every_task(tmp_path, model, task):
    result = run_train(tmp_path, *MODELS[model], *TASKS[task], *TINY, "--name", "smoke")
    assert result.exit_code == 0, result.output
    run_dir = Path(result.output.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path / "smoke" and run_dir.is_dir()
    assert {p.name for p in run_dir.iterdir()} >= {"config.yaml", "meta.json", "metrics.csv",
                                                   "checkpoint.pt", "summary.json"}
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["model"]["hidden"] == 6 and cfg["train"]["steps"] == 4 and "forget_bias" in cfg["model"]
    # the resolved config reloads to the same config
    assert load_config(run_dir / "config.yaml").to_dict() == cfg
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["ended"] and meta["device"] == "cpu"
    assert {"argv", "git", "python", "torch", "numpy", "host", "seed", "started"} <= meta.keys()
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == METRIC_FIELDS
    assert [r["step"] for r in rows if r["split"] == "train"] == ["1", "2", "3", "4"]
    assert [r["step"] for r in rows if r["split"] == "eval"] == ["0", "2", "4"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["status"] == "completed"
    assert summary["chance"] > 0 and summary["eval_loss"] == pytest.approx(float(rows[-1]["loss"]))
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 4 and "optimizer" in ckpt and "rng" in ckpt


def test_default_config_and_two_runs_never_share_a_folder(tmp_path):
    a = run_train(tmp_path, "train.steps=2", "train.eval_every=1")
    b = run_train(tmp_path, "train.steps=2", "train.eval_every=1")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    da, db = (Path(r.output.strip().splitlines()[-1]) for r in (a, b))
    assert da != db and da.parent == db.parent == tmp_path / "default"
    cfg = yaml.safe_load((da / "config.yaml").read_text())
    assert cfg["model"]["kind"] == "grid" and cfg["task"]["name"] == "adding"


def test_early_stop_at_target(tmp_path):
    # an absurdly loose target is met at the first eval, so training stops right there
    r = run_train(tmp_path, "train.steps=50", "train.eval_every=5", "train.target=100", "model.hidden=4")
    assert r.exit_code == 0, r.output
    summary = json.loads((Path(r.output.strip().splitlines()[-1]) / "summary.json").read_text())
    assert summary["solved"] and summary["steps"] == 0


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_round_trip_and_take_a_training_step(path):
    """Each shipped config, at its own sizes: its resolved form (a run's config.yaml) loads back to
    the same Config, and one forward + backward gives a finite loss and a gradient for every
    parameter (pytorch/examples' rule: every variant runs a step in CI)."""
    cfg = load_config(path)
    assert build_config(yaml.safe_load(dump_config(cfg))) == cfg
    task, model = build(cfg, torch.device("cpu"))
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    loss = task.loss(model(x, task.scores), y)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert torch.isfinite(loss) and all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # the input projection and the readout always reach the loss (the paper grid's time weights
    # do not when T = 1, as in parity mode whole: their output only feeds the next step)
    assert all(grads[n].abs().sum() > 0 for n in ("proj.weight", "readout.weight"))


def test_overrides_apply_and_types_parse():
    cfg = load_config(ROOT / "configs/default.yaml", ["model.hidden=128", "task.length=200", "train.lr=1e-3",
                                                      "model.tied=true"])
    assert cfg.model.hidden == 128 and cfg.task.length == 200 and cfg.train.lr == 1e-3 and cfg.model.tied


def test_bad_config_is_one_block_exit_2_and_no_run_folder(tmp_path):
    r = run_train(tmp_path, "model.hiden=4", "model.kind=cnn", "train.lr=-1")
    assert r.exit_code == 2
    assert "did you mean model.hidden" in r.output and "'rnn', 'lstm', 'grid' or 'gru'" in r.output
    assert "Traceback" not in r.output and not any(tmp_path.iterdir())

