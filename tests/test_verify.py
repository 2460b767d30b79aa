"""``gradcheck --verify`` (gridlstm/probe/verify.py): passes on every cell kind, and fails when it should."""
from __future__ import annotations

import torch
from click.testing import CliRunner
from torch import Tensor

from gridlstm.cli.main import cli
from gridlstm.config import ModelConfig, TaskConfig, dump_config, load_config
from gridlstm.nn import registry
from gridlstm.nn.cells import RNNCell
from gridlstm.nn.model import RecurrentModel
from gridlstm.probe import verify
from gridlstm.tasks import make_task


def test_every_cell_kind_passes_and_is_covered():
    checks = verify.verify_all()
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    names = " | ".join(c.name for c in checks)
    for label in registry.cases():
        for tied in ("", " tied"):
            assert f"gradcheck cell {label}{tied}" in names
            assert f"finite differences {label}{tied} on" in names
    assert all(c.max_rel_error <= c.tolerance for c in checks)


class _WrongTanh(torch.autograd.Function):
    """tanh whose backward forgets the factor (1 - tanh²)."""

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:
        return torch.tanh(z)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        return g


class _BrokenRNNCell(RNNCell):
    def forward(self, below, left, lo, hi):
        return (_WrongTanh.apply(self.transform(below[0], left[0], lo, hi)),)


def test_cell_check_catches_a_wrong_backward():
    assert verify.check_cell("ok", RNNCell(3, 3, tied=False)).passed
    bad = verify.check_cell("broken", _BrokenRNNCell(3, 3, tied=False))
    assert not bad.passed and bad.max_rel_error > 1e-3


def test_probe_check_catches_wrong_probe_gradients(monkeypatch):
    task = make_task(TaskConfig(name="adding", length=6))
    torch.manual_seed(0)
    model = RecurrentModel(ModelConfig(kind="lstm", hidden=4, layers=2), 2, 1)
    assert verify.check_probe("lstm", model, task).passed
    real = verify.probe_gradients

    def off_by_one_step(*args, **kwargs):
        pg = real(*args, **kwargs)
        pg.grads = {k: torch.roll(v, 1, dims=0) for k, v in pg.grads.items()}  # (t, d) mapped wrongly
        pg.outgoing = {k: torch.roll(v, 1, dims=0) for k, v in pg.outgoing.items()}
        return pg

    monkeypatch.setattr(verify, "probe_gradients", off_by_one_step)
    assert not verify.check_probe("lstm", model, task).passed


def test_cli_verify_exit_codes(tmp_path, monkeypatch):
    cfg = load_config(None, ["model.kind=rnn", "model.hidden=4", "model.layers=1", "task.length=8",
                             "train.batch_size=2"])
    path = tmp_path / "rnn.yaml"
    path.write_text(dump_config(cfg))
    args = ["gradcheck", str(path), "--out", str(tmp_path / "o"), "--device", "cpu", "--verify"]
    every_kind = verify.cell_configs
    monkeypatch.setattr(verify, "cell_configs", lambda: every_kind()[:2])  # rnn, rnn tied: fast
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "finite differences" in res.output and "pass" in res.output
    monkeypatch.setattr(verify, "PROBE_TOL", 0.0)  # nothing is exact: every probe check must fail
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "FAIL" in res.output
