"""Models against independent references: hand-written equations and torch's own modules."""
from __future__ import annotations

import pytest
import torch

from gridlstm.config import ModelConfig
from gridlstm.nn import registry
from gridlstm.nn.core import lstm_update
from gridlstm.nn.model import RecurrentModel, count_parameters

from . import reference as ref

D64 = torch.float64


def make(**kw) -> RecurrentModel:
    torch.manual_seed(kw.pop("seed", 0))
    inp = kw.pop("input_size", 3)
    m = RecurrentModel(ModelConfig(**kw), inp, 2).double()
    # Move biases off their init values so a wrong gate order or bias index cannot hide.
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
    return m


X = torch.randn(4, 7, 3, dtype=torch.float64)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("schedule", ["layerwise", "wavefront", "naive"])
def test_grid_memory_input_matches_hand_written_equations(tied, layers, schedule):
    m = make(kind="grid", variant="memory_input", hidden=5, layers=layers, tied=tied, schedule=schedule)
    torch.testing.assert_close(m.features(X), ref.forward(m, X)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("priority", ["none", "depth"])
@pytest.mark.parametrize("output", ["standard", "paper"])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("schedule", ["layerwise", "wavefront", "naive"])
def test_grid_paper_matches_hand_written_equations(priority, output, tied, schedule):
    m = make(kind="grid", variant="paper", hidden=5, layers=3, tied=tied, priority=priority,
             output=output, schedule=schedule)
    expected = ref.forward(m, X)[0]  # the priority and output form are in m.cfg
    torch.testing.assert_close(m.features(X), expected, rtol=1e-10, atol=1e-12)


def test_grid_variants_and_options_actually_differ():
    """Guard against a reference that is too forgiving: the options must change the numbers."""
    base = make(kind="grid", variant="paper", hidden=5, layers=2, seed=1)
    depth = make(kind="grid", variant="paper", hidden=5, layers=2, priority="depth", seed=1)
    paper_out = make(kind="grid", variant="paper", hidden=5, layers=2, output="paper", seed=1)
    memory_input = make(kind="grid", variant="memory_input", hidden=5, layers=2, seed=1)
    outs = [m.features(X) for m in (base, depth, paper_out, memory_input)]
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert not torch.allclose(outs[i], outs[j])


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("schedule", ["layerwise", "wavefront", "naive"])
def test_stacked_lstm_matches_torch_lstmcell(layers, schedule):
    H = 6
    m = make(kind="lstm", hidden=H, layers=layers, schedule=schedule)
    cells = []
    for d in range(layers):
        W, b = m.cell.transform.layer_weight(d)
        c = torch.nn.LSTMCell(H, H).double()
        with torch.no_grad():
            c.weight_ih.copy_(W[:H].T)
            c.weight_hh.copy_(W[H:].T)
            c.bias_ih.copy_(b)
            c.bias_hh.zero_()
        cells.append(c)
    px = m.proj(X)
    states = [(torch.zeros(4, H, dtype=D64), torch.zeros(4, H, dtype=D64)) for _ in range(layers)]
    outs = []
    for t in range(X.shape[1]):
        inp = px[:, t]
        for d in range(layers):
            states[d] = cells[d](inp, states[d])
            inp = states[d][0]
        outs.append(inp)
    torch.testing.assert_close(m.features(X), torch.stack(outs, 1), rtol=1e-10, atol=1e-12)


def test_lstm_update_matches_torch_lstmcell_directly():
    H = 4
    cell = torch.nn.LSTMCell(3, H).double()
    x, h, c = (torch.randn(5, n, dtype=D64) for n in (3, H, H))
    z = x @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias_ih + cell.bias_hh
    h_ours, c_ours = lstm_update(z, c)
    h_ref, c_ref = cell(x, (h, c))
    torch.testing.assert_close(h_ours, h_ref)
    torch.testing.assert_close(c_ours, c_ref)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("schedule", ["layerwise", "wavefront", "naive"])
def test_rnn_matches_torch_rnn_and_hand_written(nonlinearity, schedule):
    H, D = 5, 3
    m = make(kind="rnn", hidden=H, layers=D, nonlinearity=nonlinearity, schedule=schedule)
    rnn = torch.nn.RNN(H, H, num_layers=D, nonlinearity=nonlinearity, batch_first=True).double()
    with torch.no_grad():
        for d in range(D):
            W, b = m.cell.transform.layer_weight(d)
            getattr(rnn, f"weight_ih_l{d}").copy_(W[:H].T)
            getattr(rnn, f"weight_hh_l{d}").copy_(W[H:].T)
            getattr(rnn, f"bias_ih_l{d}").copy_(b)
            getattr(rnn, f"bias_hh_l{d}").zero_()
    ours = m.features(X)
    torch.testing.assert_close(ours, rnn(m.proj(X))[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours, ref.forward(m, X)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", registry.KINDS)
def test_tied_model_has_one_weight_set_shared_by_every_layer(kind):
    untied = make(kind=kind, hidden=4, layers=3, tied=False)
    tied = make(kind=kind, hidden=4, layers=3, tied=True)
    for tr in tied.cell.transforms().values():
        assert tr.weight.dim() == 2 and tr.bias.dim() == 1  # one (I+R, O) matrix, one bias
        assert torch.equal(tr.layer_weight(0)[0], tr.layer_weight(2)[0])
    n_transforms = len(tied.cell.transforms())
    per_layer = count_parameters(tied.cell) // n_transforms
    assert count_parameters(untied) - count_parameters(tied) == n_transforms * 2 * per_layer
    # A tied model computes exactly what an untied model with copies of those weights computes.
    with torch.no_grad():
        for name, tr in untied.cell.transforms().items():
            src = tied.cell.transforms()[name]
            tr.weight.copy_(src.weight.expand_as(tr.weight))
            tr.bias.copy_(src.bias.expand_as(tr.bias))
        untied.proj.load_state_dict(tied.proj.state_dict())
    torch.testing.assert_close(untied.features(X), tied.features(X))


def test_forget_bias_and_inits():
    torch.manual_seed(0)
    fresh = RecurrentModel(ModelConfig(kind="lstm", hidden=4, layers=2, forget_bias=2.5), 3, 2)
    b = fresh.cell.transform.bias  # (D, 1, 4H), gate order i, f, g, o
    assert torch.all(b[..., 4:8] == 2.5) and torch.all(b[..., :4] == 0) and torch.all(b[..., 8:] == 0)
    irnn = RecurrentModel(ModelConfig(kind="rnn", hidden=4, layers=2, init="identity"), 3, 2)
    for d in range(2):
        W, _ = irnn.cell.transform.layer_weight(d)
        assert torch.equal(W[4:], torch.eye(4))
    orth = RecurrentModel(ModelConfig(kind="rnn", hidden=6, layers=1, init="orthogonal"), 3, 2)
    W, _ = orth.cell.transform.layer_weight(0)
    torch.testing.assert_close(W[6:] @ W[6:].T, torch.eye(6, dtype=W.dtype), atol=1e-5, rtol=0)


@pytest.mark.parametrize("scores", ["last", "all"])
def test_readout_positions(scores):
    m = make(kind="grid", hidden=4, layers=2)
    out = m(X, scores)
    assert out.shape == ((4, 2) if scores == "last" else (4, 7, 2))
    torch.testing.assert_close(m(X, "all")[:, -1], m(X, "last"))
