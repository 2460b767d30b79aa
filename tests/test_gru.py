"""model.kind gru: PyTorch's GRU equations (torch.nn.GRUCell), from the one gate transform."""
from __future__ import annotations

import pytest
import torch

from gridlstm.config import ModelConfig
from gridlstm.nn.gru import gru_mask
from gridlstm.nn.model import RecurrentModel, count_parameters

from .test_models import X, make

D64 = torch.float64
H = 5


def to_torch(W: torch.Tensor, b: torch.Tensor) -> torch.nn.GRUCell:
    """A torch.nn.GRUCell with one layer's weights: W (I+H, 4H) columns r, z, n_x, n_h."""
    I = W.shape[0] - H  # noqa: E741
    cell = torch.nn.GRUCell(I, H).double()
    with torch.no_grad():
        cell.weight_ih.copy_(W[:I, :3 * H].T)
        cell.weight_hh.copy_(torch.cat([W[I:, :2 * H], W[I:, 3 * H:]], 1).T)
        cell.bias_ih.copy_(b[:3 * H])
        cell.bias_hh.copy_(torch.cat([torch.zeros(2 * H, dtype=D64), b[3 * H:]]))
    return cell


def from_torch(cell: torch.nn.GRUCell) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (I+H, 4H), b (4H,)) of our layout from a torch.nn.GRUCell: b_r = b_ir + b_hr, b_z likewise."""
    I = cell.input_size  # noqa: E741
    W = torch.zeros(I + H, 4 * H, dtype=D64)
    W[:I, :3 * H] = cell.weight_ih.T
    W[I:, :2 * H], W[I:, 3 * H:] = cell.weight_hh.T[:, :2 * H], cell.weight_hh.T[:, 2 * H:]
    b_ih, b_hh = cell.bias_ih.detach(), cell.bias_hh.detach()
    return W, torch.cat([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:], b_hh[2 * H:]])


def torch_stack(cells: list[torch.nn.GRUCell], px: torch.Tensor) -> torch.Tensor:
    """Layer by layer, step by step with torch's cells.  px: (B, T, H) -> top (B, T, H)."""
    hs = [torch.zeros(px.shape[0], H, dtype=D64) for _ in cells]
    outs = []
    for t in range(px.shape[1]):
        inp = px[:, t]
        for d, cell in enumerate(cells):
            hs[d] = inp = cell(inp, hs[d])
        outs.append(inp)
    return torch.stack(outs, 1)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("schedule", ["wavefront", "naive"])
def test_gru_matches_torch_grucell(tied, layers, schedule):
    m = make(kind="gru", hidden=H, layers=layers, tied=tied, schedule=schedule)
    cells = [to_torch(*m.cell.transform.layer_weight(d)) for d in range(layers)]
    torch.testing.assert_close(m.features(X), torch_stack(cells, m.proj(X)), rtol=1e-10, atol=1e-12)


def test_torch_grucell_weights_load_into_the_stacked_transform():
    """The other way round: torch's own random init (both bias vectors non-zero) in our layout."""
    torch.manual_seed(4)
    m = make(kind="gru", hidden=H, layers=3)
    cells = [torch.nn.GRUCell(H, H).double() for _ in range(3)]
    with torch.no_grad():
        for d, cell in enumerate(cells):
            W, b = from_torch(cell)
            m.cell.transform.weight[d].copy_(W)
            m.cell.transform.bias[d, 0].copy_(b)
    torch.testing.assert_close(m.features(X), torch_stack(cells, m.proj(X)), rtol=1e-10, atol=1e-12)


def test_structural_zeros_stay_zero_and_do_not_count():
    torch.manual_seed(0)
    m = RecurrentModel(ModelConfig(kind="gru", hidden=H, layers=2, init="orthogonal"), 3, 2)
    dead = gru_mask(H, H) == 0
    opt = torch.optim.Adam(m.parameters(), lr=0.1)
    for _ in range(3):
        m(torch.randn(4, 6, 3)).square().mean().backward()
        opt.step()
        opt.zero_grad()
    assert torch.all(m.cell.transform.weight[:, dead] == 0)
    torch_gru = torch.nn.GRU(H, H, num_layers=2)
    # ours: one merged bias per gate for r and z (torch keeps b_i and b_h apart), P and readout
    merged = 2 * 2 * H
    extra = sum(p.numel() for p in (*m.proj.parameters(), *m.readout.parameters()))
    assert count_parameters(m) == count_parameters(torch_gru) - merged + extra


def test_orthogonal_init_of_the_recurrent_blocks():
    torch.manual_seed(0)
    m = RecurrentModel(ModelConfig(kind="gru", hidden=H, layers=1, init="orthogonal"), 3, 2)
    W = m.cell.transform.layer_weight(0)[0].detach()
    for k in (0, 1, 3):  # r, z, n_h read the recurrent rows
        block = W[H:, k * H:(k + 1) * H]
        torch.testing.assert_close(block @ block.T, torch.eye(H), atol=1e-5, rtol=0)


def test_cli_train_gradcheck_and_verify_gru(tmp_path, monkeypatch):
    """`gridlstm train model.kind=gru`, then `gridlstm gradcheck RUN --verify`: the theory speaks of
    the update gate z, and --verify covers the gru cell (gradcheck and finite differences)."""
    from click.testing import CliRunner

    from gridlstm.cli.main import cli
    from gridlstm.probe import verify

    runner = CliRunner()
    res = runner.invoke(cli, ["train", "model.kind=gru", "model.hidden=6", "model.layers=2", "task.length=8",
                              "train.steps=3", "train.batch_size=4", "train.eval_every=3", "--out", str(tmp_path),
                              "--device", "cpu"])
    assert res.exit_code == 0, res.output
    run = res.stdout.strip().splitlines()[-1]
    every = verify.cell_configs
    monkeypatch.setattr(verify, "cell_configs", lambda: [c for c in every() if c[0].startswith("gru")])
    res = runner.invoke(cli, ["gradcheck", run, "--device", "cpu", "--verify"])
    assert res.exit_code == 0, res.output
    assert "mean update gate" in res.output and "log10(mean z)" in res.output
    for check in ("gradcheck cell gru", "gradcheck cell gru tied", "finite differences gru on"):
        assert check in res.output
    assert "FAIL" not in res.output
