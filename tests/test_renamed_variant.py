"""model.variant ``seed`` is now ``memory_input``: old configs and old run folders keep working."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.config import config_diff, load_config
from gridlstm.runs.folder import save_checkpoint

TINY = ["model.kind=grid", "model.hidden=4", "model.layers=2", "task.length=6", "train.steps=4",
        "train.batch_size=4", "train.eval_every=2", "train.eval_batches=1", "train.early_stop=false"]


def test_old_name_loads_as_the_new_one_with_a_note(tmp_path):
    with pytest.warns(FutureWarning, match="model.variant seed is now called memory_input"):
        cfg = load_config(None, ["model.variant=seed"])
    assert cfg.model.variant == "memory_input"
    old = {"model": {"kind": "grid", "variant": "seed"}}
    assert config_diff(old, {"model": {"kind": "grid", "variant": "memory_input"}}) == []


def as_old_run(run: Path, steps: int) -> None:
    """Rewrite a fresh run folder as an older gridlstm wrote it, interrupted at step 4 of ``steps``."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["model"]["variant"] = "seed"
    cfg["train"]["steps"] = steps
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["config"] = cfg
    save_checkpoint(run / "checkpoint.pt", ckpt)
    for name, update in (("meta.json", {"status": "interrupted"}), ("summary.json", {"variant": "seed"})):
        data = json.loads((run / name).read_text())
        (run / name).write_text(json.dumps({**data, **update}))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_old_run_folder_gradcheck_plot_report_and_resume(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["train", *TINY, "--out", str(tmp_path), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    run = Path(res.stdout.strip().splitlines()[-1])
    as_old_run(run, steps=6)
    res = runner.invoke(cli, ["gradcheck", str(run), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    meta = json.loads((run / "gradients" / "meta.json").read_text())
    assert meta["variant"] == "memory_input"
    res = runner.invoke(cli, ["plot", str(run), "--what", "gradients"])
    assert res.exit_code == 0, res.output
    from gridlstm.results.differ import run_label
    from gridlstm.runs.run import RunFolder
    assert run_label(RunFolder.read(run)).startswith("grid memory_input D=2")
    res = runner.invoke(cli, ["report", str(run), "--format", "csv"])
    assert res.exit_code == 0 and "memory_input" in res.output and ",seed," not in res.output, res.output
    res = runner.invoke(cli, ["train", "--resume", str(run), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["status"] == "completed" and summary["variant"] == "memory_input"
