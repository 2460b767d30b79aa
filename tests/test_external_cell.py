"""A cell written outside gridlstm: docs/models.md's IndRNN, extracted from the page as written, used
through the public mechanisms only (the ``gridlstm.cells`` entry point of an installed distribution,
and ``model.kind: package.module:Class``), against hand-written equations and through every command."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from gridlstm import limits
from gridlstm.cli.main import cli
from gridlstm.config import ModelConfig, load_config
from gridlstm.errors import ConfigError
from gridlstm.nn.model import RecurrentModel, count_parameters

ROOT = Path(__file__).resolve().parents[1]
PATH = "mycells.indrnn:IndRNNCell"
TINY = ["task.length=6", "model.hidden=5", "model.layers=3", "train.steps=6", "train.eval_every=3",
        "train.eval_batches=2", "train.batch_size=8"]


def doc_example() -> str:
    """The first python block of docs/models.md's "Write your own cell" section, as written."""
    section = (ROOT / "docs" / "models.md").read_text().split("## Write your own cell", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder like site-packages holding the package mycells and its distribution metadata, whose
    entry point registers the cell: what ``pip install`` of a package with that entry point leaves."""
    root = tmp_path_factory.mktemp("site")
    (root / "mycells").mkdir()
    (root / "mycells" / "__init__.py").write_text("")
    (root / "mycells" / "indrnn.py").write_text(doc_example())
    dist = root / "mycells-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mycells\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[gridlstm.cells]\nindrnn = {PATH}\n")
    return root


@pytest.fixture
def on_path(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    return site


def test_the_doc_example_is_a_cell_of_20_to_40_lines():
    lines = doc_example().strip().splitlines()
    assert 20 <= len(lines) <= 40, len(lines)


def indrnn_by_hand(model, x):
    """h[t,d] = tanh(W_x·h[t,d-1] + u ⊙ h[t-1,d] + b), h[t,0] = P·x_t, h[0,d] = 0, loops over t and d
    from the parameters alone; the readout of the top layer's last h.  x: (B, T, I) -> (B, O)."""
    cell = model.cell
    h_in = x @ model.proj.weight.T + model.proj.bias                    # (B, T, H)
    for d in range(cell.layers):
        W, u, b = (p[0 if p.shape[0] == 1 else d] for p in (cell.w_x, cell.u, cell.b))
        h, out = torch.zeros_like(h_in[:, 0]), []
        for t in range(x.shape[1]):
            h = torch.tanh(h_in[:, t] @ W + u[0] * h + b[0])
            out.append(h)
        h_in = torch.stack(out, 1)
    return model.readout(h_in[:, -1])


@pytest.mark.parametrize("schedule", ["naive", "wavefront", "layerwise"])
@pytest.mark.parametrize("tied", [False, True])
def test_a_cell_named_by_its_path_computes_its_equations_in_every_schedule(on_path, schedule, tied):
    torch.manual_seed(0)
    cfg = ModelConfig(kind=PATH, hidden=4, layers=3, tied=tied, schedule=schedule)
    model = RecurrentModel(cfg, 2, 1).double()
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    assert torch.allclose(model(x), indrnn_by_hand(model, x), rtol=1e-12, atol=1e-14)
    # the memory estimate reads the cell's declared cost: exact for W_x (H²), u and b (2H) per layer
    run = load_config(None, [f"model.kind={PATH}", "model.hidden=4", "model.layers=3", f"model.tied={tied}"])
    want = RecurrentModel(run.model, 2, 1)  # the adding task: 2 inputs, 1 output
    assert limits.estimate(run).params == count_parameters(want)


def test_a_path_kind_is_named_in_errors_and_reads_only_registered_options(on_path, tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.kind=mycells.nosuch:Cell"])
    assert e.value.problems == ["model.kind: cannot import the cell class mycells.nosuch:Cell "
                                "(ModuleNotFoundError: No module named 'mycells.nosuch') (got 'mycells.nosuch:Cell')"]
    with pytest.raises(ConfigError) as e:
        load_config(None, [f"model.kind={PATH}", "model.forget_bias=2"])
    assert e.value.problems == ["model.forget_bias applies only to model.kind lstm|grid"]
    (on_path / "mycells" / "wide.py").write_text(
        "from mycells.indrnn import IndRNNCell\nfrom gridlstm.nn.cells import Option\n\n"
        "class Wide(IndRNNCell):\n    options = {'width': Option(2)}\n")
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.kind=mycells.wide:Wide"])
    assert "reads model.width, which no registered cell declares" in e.value.problems[0]
    result = CliRunner().invoke(cli, ["train", "name=null", f"model.kind={PATH}", *TINY, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [run] = tmp_path.glob("adding-indrnn/*")  # named by the cell's kind, not by its path
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["kind"] == PATH


def gridlstm(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The command as an installed gridlstm runs it, with mycells installed beside it (paths on
    stdout; tables and notes on stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "OMP_NUM_THREADS": "1",
           "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "gridlstm.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"gridlstm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_an_installed_cell_trains_verifies_plots_reports_and_sweeps(site, tmp_path):
    out = tmp_path / "outputs"
    train = gridlstm(site, tmp_path, "train", str(ROOT / "configs" / "default.yaml"), "name=null",
                     "model.kind=indrnn", "model.nonlinearity=relu", *TINY, "--out", str(out)).stdout
    [run] = out.glob("adding-indrnn/*")
    assert str(run) in train and json.loads((run / "summary.json").read_text())["steps"] == 6
    checked = gridlstm(site, tmp_path, "gradcheck", str(run), "--verify", "--seeds", "2")
    assert str(run / "gradients") in checked.stdout and (run / "gradients" / "depth.csv").is_file()
    assert "indrnn tied" in checked.stderr, checked.stderr  # --verify checks its cases, tied too
    depth = list(csv.DictReader((run / "gradients" / "depth.csv").open()))
    assert [r["state"] for r in depth] == ["h"]  # the state the cell sends up
    for what in ("gradients", "heatmap", "loss", "profiles", "depth"):
        figure = Path(gridlstm(site, tmp_path, "plot", str(run), "--what", what).stdout.strip())
        assert figure == run / "plots" / f"{what}.png" and figure.stat().st_size > 10_000, what
    [row] = csv.DictReader(io.StringIO(gridlstm(site, tmp_path, "report", str(run), "--format", "csv").stdout))
    assert row["model"] == "indrnn" and row["status"] == "completed"
    sweep = gridlstm(site, tmp_path, "sweep", str(ROOT / "configs" / "default.yaml"), "model.kind=indrnn",
                     "seed=0,1", *TINY, "--out", str(out), "--jobs", "2")
    folder = Path(sweep.stdout.strip().splitlines()[-1])
    [group] = csv.DictReader((folder / "results.csv").open())  # one group: the seeds 0 and 1
    assert (group["runs"], group["finished"], group["failed"]) == ("2", "2", "0"), group
    assert len(list(folder.glob("runs/*/summary.json"))) == 2
