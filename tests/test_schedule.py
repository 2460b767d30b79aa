"""Schedules and fused steps: the wavefront, the naive loop and the layer-by-layer order are three
orders of the same sums.

* naive vs wavefront: outputs, ∂L/∂parameters, ∂L/∂x and every probed state gradient agree in
  float64, for every model kind, grid variant and option, tied and untied, D = 1..5, and T < D.
* layerwise vs wavefront: outputs, every parameter gradient and ∂L/∂x agree in float64 for every
  kind × variant × tied × priority × output form, D ∈ {1, 2, 3, 5}, and T < D; in float32 (oneDNN's
  fused LSTM on the CPU) within rtol 1e-4 / atol 1e-5 (outputs) and 1e-3 of the largest gradient.
* ``auto`` runs layerwise unprobed and the wavefront under a probe, so gradient profiles keep the
  wavefront's numbers.
* the wavefront really is T + D - 1 cell calls on contiguous layer runs, the naive loop T·D.
* the fused steps (``GateTransform.lstm`` / ``.rnn``, one autograd node with a hand-written
  backward) against the unfused ``lstm_update`` / ``rnn_update`` on the same transform, and
  ``torch.autograd.gradcheck`` against finite differences.
"""
from __future__ import annotations

import pytest
import torch

from gridlstm.config import ModelConfig, TaskConfig
from gridlstm.nn import fused, registry
from gridlstm.nn.core import GateTransform, lstm_update, rnn_update
from gridlstm.nn.fused import LSTMStep, RNNStep
from gridlstm.nn.layerwise import torch_weights
from gridlstm.nn.model import RecurrentModel
from gridlstm.nn.schedule import resolve, run_naive, run_wavefront
from gridlstm.nn.timeloop import lstm_loop
from gridlstm.probe.gradients import memory_gates, probe_gradients
from gridlstm.tasks import make_task

D64 = torch.float64

# every cell kind, variant and covered option set; relu too (not in --verify: a finite difference
# across its kink is meaningless)
KINDS = {**registry.cases(), "rnn nonlinearity=relu": {"kind": "rnn", "nonlinearity": "relu"}}


def pair(kind: str, D: int, tied: bool, H: int = 4, inp: int = 3, out: int = 2,
         schedules: tuple[str, str] = ("naive", "wavefront"), dtype: torch.dtype = D64, perturb: float = 0.3
         ) -> tuple[RecurrentModel, RecurrentModel]:
    """The same weights under both schedules (moved by ``perturb``·N(0, 1) off their init values)."""
    models = []
    for schedule in schedules:
        torch.manual_seed(0)
        m = RecurrentModel(ModelConfig(hidden=H, layers=D, tied=tied, schedule=schedule, **KINDS[kind]), inp, out)
        models.append(m.to(dtype))
    with torch.no_grad():
        for p in models[0].parameters():
            p.add_(perturb * torch.randn_like(p))
    models[1].load_state_dict(models[0].state_dict())
    return models[0], models[1]


def loss_and_grads(m: RecurrentModel, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x = x.clone().requires_grad_(True)
    out = m(x, "all")  # (B, T, 2): every step scored, so every block reaches the loss
    loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum()
    grads = torch.autograd.grad(loss, [x, *m.parameters()])
    return out.detach(), list(grads)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("D", [1, 2, 3, 4, 5])
def test_naive_and_wavefront_agree(kind, tied, D):
    naive, wave = pair(kind, D, tied)
    for T in (7, 2):  # T = 2 < D: diagonals whose layer run is cut at both ends
        x = torch.randn(3, T, 3, dtype=D64, generator=torch.Generator().manual_seed(T))
        out_n, g_n = loss_and_grads(naive, x)
        out_w, g_w = loss_and_grads(wave, x)
        torch.testing.assert_close(out_w, out_n, rtol=1e-12, atol=1e-13)
        if "relu" not in kind:  # (relu units may be dead for a whole tiny batch)
            assert all(g.abs().sum() > 0 for g in g_n)  # every weight and input reaches the loss
        for a, b in zip(g_w, g_n, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("D", [1, 2, 3, 5])
def test_layerwise_and_wavefront_agree(kind, tied, D):
    wave, layer = pair(kind, D, tied, schedules=("wavefront", "layerwise"))
    for T in (7, 2):  # T = 2 < D
        x = torch.randn(3, T, 3, dtype=D64, generator=torch.Generator().manual_seed(T))
        out_w, g_w = loss_and_grads(wave, x)
        out_l, g_l = loss_and_grads(layer, x)
        assert (wave.last_schedule, layer.last_schedule) == ("wavefront", "layerwise")
        torch.testing.assert_close(out_l, out_w, rtol=1e-12, atol=1e-13)
        if "relu" not in kind:
            assert all(g.abs().sum() > 0 for g in g_l)
        for a, b in zip(g_l, g_w, strict=True):  # ∂L/∂x, then every parameter
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        with torch.no_grad():  # evaluation: the kernels' inference mode gives the same outputs
            torch.testing.assert_close(layer(x, "all"), out_w, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("tied", [False, True])
def test_layerwise_agrees_in_float32(kind, tied):
    """Float32 on the CPU runs oneDNN's fused LSTM (``mkldnn_rnn_layer``, checked) for the standard
    output form; it agrees with the wavefront within the tolerance stated in the module docstring
    (weights near their init: with large ones a relu RNN amplifies float32 rounding over t)."""
    wave, layer = pair(kind, 3, tied, H=32, inp=5, schedules=("wavefront", "layerwise"), dtype=torch.float32,
                       perturb=0.05)
    x = torch.randn(4, 30, 5, generator=torch.Generator().manual_seed(3))
    out_w, g_w = loss_and_grads(wave, x)
    with torch.autograd.profiler.profile() as prof:
        out_l, g_l = loss_and_grads(layer, x)
    ops = {e.name for e in prof.function_events}
    fused = KINDS[kind]["kind"] in ("lstm", "grid") and KINDS[kind].get("output") != "paper"
    if fused and torch.backends.mkldnn.is_available():
        assert "aten::mkldnn_rnn_layer" in ops and "aten::mkldnn_rnn_layer_backward" in ops
    torch.testing.assert_close(out_l, out_w, rtol=1e-4, atol=1e-5)
    for a, b in zip(g_l, g_w, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3 * float(b.abs().max()))


def test_resolve_picks_an_order_per_kind_and_probe():
    assert resolve("auto", False) == "layerwise" and resolve("auto", True) == "wavefront"
    # a fused kernel hides the per-block states: layerwise probes only where the cell probes a layer
    assert resolve("layerwise", True) == "wavefront" and resolve("layerwise", True, "grid", True) == "layerwise"
    assert [resolve(s, p) for s in ("wavefront", "naive") for p in (False, True)] == ["wavefront"] * 2 + ["naive"] * 2
    assert ModelConfig().schedule == "auto"
    m = RecurrentModel(ModelConfig(kind="grid", hidden=3, layers=2), 2, 1)
    assert m.schedules() == {"train": "layerwise", "probe": "layerwise"}
    m(torch.randn(2, 4, 2))
    assert m.last_schedule == "layerwise"


def test_auto_runs_the_order_the_table_lists_per_kind():
    from gridlstm.nn import registry, schedule_table

    assert set(schedule_table.AUTO) <= set(registry.KINDS) and set(schedule_table.PROBE) <= set(registry.KINDS)
    for kind in registry.KINDS:
        order = schedule_table.AUTO.get(kind, schedule_table.DEFAULT)
        m = RecurrentModel(ModelConfig(kind=kind, hidden=3, layers=2), 2, 1)
        probe = schedule_table.PROBE.get(kind, "wavefront") if m.cell.layer_probe else "wavefront"
        assert resolve("auto", False, kind) == order and resolve("auto", True, kind, m.cell.layer_probe) == probe
        m(torch.randn(2, 4, 2))
        assert m.schedules() == {"train": order, "probe": probe} and m.last_schedule == order
        if probe == "layerwise":
            probe_gradients(m, make_task(TaskConfig(name="adding", length=4)), torch.randn(2, 4, 2), torch.randn(2, 1))
            assert m.last_schedule == "layerwise"
    assert resolve("auto", False, "a kind the table lacks") == schedule_table.DEFAULT


PROBE_KINDS = [k for k, opts in registry.cases().items()
               if RecurrentModel(ModelConfig(hidden=2, layers=1, **opts), 1, 1).cell.layer_probe]


@pytest.mark.parametrize("kind", PROBE_KINDS)
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("D", [1, 2, 3, 5])
@pytest.mark.parametrize("task_name", ["adding", "copy"])
def test_layerwise_probe_equals_the_wavefront_probe(kind, tied, D, task_name):
    """The probed layerwise pass (own time loops, timeloop.py) gives the wavefront probe's numbers in
    float64: states, outgoing and total gradients (in-block terms included) and ∂L/∂x, for every
    kind, variant and option set that probes a layer, tied or not, scored at the last step (adding)
    or at every step (copy)."""
    task = make_task(TaskConfig(name=task_name, length=5))
    x, y = task.sample(3, torch.Generator().manual_seed(1))
    y = y.double() if y.is_floating_point() else y
    wave, layer = pair(kind, D, tied, inp=task.input_size, out=task.output_size, schedules=("wavefront", "layerwise"))
    a, b = probe_gradients(wave, task, x.double(), y), probe_gradients(layer, task, x.double(), y)
    assert wave.last_schedule == "wavefront" and layer.last_schedule == "layerwise"
    assert a.loss == pytest.approx(b.loss, rel=1e-14)
    for field in ("states", "outgoing", "grads"):
        for name, want in getattr(a, field).items():
            assert getattr(b, field)[name].shape == want.shape == (x.shape[1], D, 3, 4)
            torch.testing.assert_close(getattr(b, field)[name], want, rtol=1e-11, atol=1e-14)
    assert max(float(g.abs().max()) for g in a.grads.values()) > 0  # not all zeros
    torch.testing.assert_close(b.x_grad, a.x_grad, rtol=1e-11, atol=1e-14)
    # the memory gates recorded by the pass are the reference's, recomputed from the states
    ref_gates = memory_gates(wave, x.double(), a.states)
    assert a.gates is None and b.gates.keys() == ref_gates.keys() == wave.cell.memories.keys()
    for name, g in ref_gates.items():
        torch.testing.assert_close(b.gates[name], g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_probe_under_auto_keeps_the_wavefront_where_no_layer_probe_exists(kind):
    task = make_task(TaskConfig(name="adding", length=5))
    x, y = task.sample(3, torch.Generator().manual_seed(1))
    wave, auto = pair(kind, 2, False, inp=task.input_size, out=task.output_size, schedules=("wavefront", "auto"))
    a, b = probe_gradients(wave, task, x.double(), y.double()), probe_gradients(auto, task, x.double(), y.double())
    assert auto.last_schedule == "wavefront"
    for name in a.grads:
        assert torch.equal(a.grads[name], b.grads[name])
    assert torch.equal(a.x_grad, b.x_grad)


def test_torch_weights_are_views_of_one_buffer_in_cudnn_order():
    """w_ih, w_hh, b_ih, b_hh back to back in one buffer (what cuDNN takes without a copy), each
    contiguous, with our values; b_hh is zero and gradients reach our (K, O)-oriented weights."""
    W = torch.randn(7, 12, dtype=D64, requires_grad=True)  # I = 4 input rows, H = 3 recurrent, 4H = 12
    b = torch.randn(12, dtype=D64, requires_grad=True)
    w_ih, w_hh, b_ih, b_hh = ws = torch_weights(W[:4], W[4:], b)
    assert all(w.is_contiguous() for w in ws)
    base, size = w_ih.data_ptr(), w_ih.element_size()
    offsets = [(w.data_ptr() - base) // size for w in ws]
    assert offsets == [0, 48, 48 + 36, 48 + 36 + 12] and w_ih.untyped_storage().nbytes() == (48 + 36 + 24) * size
    assert torch.equal(w_ih, W[:4].T) and torch.equal(w_hh, W[4:].T) and torch.equal(b_ih, b)
    assert not b_hh.any()
    gW, gb = torch.autograd.grad((w_ih.sum() + 2 * w_hh.sum() + 3 * b_ih.sum()), (W, b))
    assert torch.equal(gW, torch.cat([torch.ones(4, 12), 2 * torch.ones(3, 12)]).double())
    assert torch.equal(gb, torch.full((12,), 3.0, dtype=D64))


@pytest.mark.parametrize("output", ["standard", "paper"])
def test_time_loop_matches_its_equations_and_gradcheck(output):
    """``timeloop.lstm_loop`` (hoisted input half, hand-written backward) against ``lstm_update``
    stepped over t, and against finite differences; its sink holds c[t] and the gradients of h[t]
    and c[t] through step t+1 (autograd of the stepped reference)."""
    g = torch.Generator().manual_seed(4)
    T, B, n_in, H = 5, 2, 3, 4
    x, h0, c0 = (torch.randn(*s, dtype=D64, generator=g, requires_grad=True) for s in ((T, B, n_in), (B, H), (B, H)))
    w_x, w_h, b = (torch.randn(*s, dtype=D64, generator=g, requires_grad=True) for s in ((n_in, 4 * H), (H, 4 * H), (4 * H,)))
    args = (x, h0, c0, w_x, w_h, b)
    sink: dict = {}
    got = lstm_loop(*args, output, sink)
    h, c, ref, hs, cs, fs = h0, c0, [], [], [], []
    for t in range(T):
        z = x[t] @ w_x + h @ w_h + b
        h, c = lstm_update(z, c, output)
        ref.append(h)
        hs.append(h)
        cs.append(c)
        fs.append(torch.sigmoid(z[:, H:2 * H]).detach())
    ref = torch.stack(ref)
    torch.testing.assert_close(got, ref, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(sink["c"], torch.stack(cs).detach(), rtol=1e-13, atol=1e-14)
    w = torch.randn(T, B, H, dtype=D64, generator=g)
    ref_grads = torch.autograd.grad((ref * w).sum(), args, retain_graph=True)
    for a, r in zip(torch.autograd.grad((got * w).sum(), args), ref_grads, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(sink["dH"], w)
    # through step t+1 only: h[t]'s total gradient less the loss's own use (w); c[t]'s is f[t+1]⊙δc[t+1]
    total = torch.autograd.grad((ref * w).sum(), hs + cs)
    torch.testing.assert_close(sink["r_h"], torch.stack(total[:T]) - w, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(sink["r_c"][:-1], torch.stack(total[T + 1:]) * torch.stack(fs[1:]),
                               rtol=1e-12, atol=1e-13)
    assert not sink["r_h"][-1].any() and not sink["r_c"][-1].any()
    assert torch.autograd.gradcheck(lambda *a: lstm_loop(*a, output), args)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "grid memory_input", "grid paper priority=depth"])
@pytest.mark.parametrize("tied", [False, True])
def test_probe_gradients_agree_between_schedules(kind, tied):
    task = make_task(TaskConfig(name="adding", length=6))
    x, y = task.sample(3, torch.Generator().manual_seed(1))
    x, y = x.double(), y.double()
    got = []
    for m in pair(kind, 3, tied, inp=task.input_size, out=task.output_size):
        got.append(probe_gradients(m, task, x, y))
    naive, wave = got
    assert naive.grads.keys() == wave.grads.keys() and len(naive.grads) == len(naive.states)
    for name in naive.grads:
        assert naive.grads[name].shape == (6, 3, 3, 4)  # (T, D, B, H)
        assert naive.grads[name].abs().amax(dim=(2, 3)).gt(0).any()
        torch.testing.assert_close(wave.states[name], naive.states[name], rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(wave.grads[name], naive.grads[name], rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(wave.outgoing[name], naive.outgoing[name], rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(wave.x_grad, naive.x_grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("T,D", [(5, 3), (2, 4), (1, 3), (4, 1)])
def test_wavefront_visits_each_block_once_in_order(T, D):
    """T + D - 1 calls; call k covers the contiguous layers active on anti-diagonal k = t + d."""
    m = RecurrentModel(ModelConfig(kind="grid", hidden=3, layers=D), 2, 1)
    px = torch.randn(T, 2, 3)
    calls = []

    def probe(state, k, lo, hi):
        calls.append((k, lo, hi))
        assert all(s.shape == (hi - lo, 2, 3) for s in state)
        return state
    run_wavefront(m.cell, m.cell.bottom(px), m.cell.initial_left(2, px), probe)
    assert calls == [(k, max(0, k - T + 1), min(D, k + 1)) for k in range(T + D - 1)]
    calls.clear()
    run_naive(m.cell, m.cell.bottom(px), m.cell.initial_left(2, px), probe)
    assert calls == [(t + d, d, d + 1) for t in range(T) for d in range(D)]


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("lo,hi", [(0, 3), (1, 3), (0, 2), (2, 3)])
@pytest.mark.parametrize("output", ["standard", "paper"])
def test_fused_lstm_step_matches_unfused_update(tied, lo, hi, output):
    torch.manual_seed(lo * 7 + hi)
    tr = GateTransform(3, 4, 16, 3, tied).double()
    with torch.no_grad():
        tr.bias.normal_()
    L = hi - lo
    inp, rec, c = (torch.randn(L, 2, n, dtype=D64, requires_grad=True) for n in (3, 4, 4))
    args = (inp, rec, c, *tr.parameters())
    h1, c1 = tr.lstm(inp, rec, c, lo, hi, output)
    h2, c2 = lstm_update(tr(inp, rec, lo, hi), c, output)
    torch.testing.assert_close(h1, h2, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(c1, c2, rtol=1e-13, atol=1e-14)
    wh, wc = torch.randn_like(h1), torch.randn_like(c1)
    g1 = torch.autograd.grad((h1 * wh).sum() + (c1 * wc).sum(), args)
    g2 = torch.autograd.grad((h2 * wh).sum() + (c2 * wc).sum(), args)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    W, b = (p.detach().clone().requires_grad_(True) for p in tr.parameters())
    assert torch.autograd.gradcheck(
        lambda i, r, cp, W, b: LSTMStep.apply(i, r, cp, W, b, lo, hi, output == "paper"), (inp, rec, c, W, b))


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_fused_rnn_step_matches_unfused_update(tied, nonlinearity):
    torch.manual_seed(1)
    tr = GateTransform(3, 4, 4, 3, tied).double()
    with torch.no_grad():
        tr.bias.normal_()
    inp, rec = torch.randn(2, 5, 3, dtype=D64, requires_grad=True), torch.randn(2, 5, 4, dtype=D64, requires_grad=True)
    args = (inp, rec, *tr.parameters())
    h1 = tr.rnn(inp, rec, 1, 3, nonlinearity)
    h2 = rnn_update(tr(inp, rec, 1, 3), nonlinearity)
    torch.testing.assert_close(h1, h2, rtol=1e-13, atol=1e-14)
    w = torch.randn_like(h1)
    for a, b in zip(torch.autograd.grad((h1 * w).sum(), args), torch.autograd.grad((h2 * w).sum(), args), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    W, b = (p.detach().clone().requires_grad_(True) for p in tr.parameters())
    assert torch.autograd.gradcheck(
        lambda i, r, W, b: RNNStep.apply(i, r, W, b, 1, 3, nonlinearity == "relu"), (inp, rec, W, b))


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("lo,hi", [(0, 3), (1, 3)])
def test_onednn_products_match_bmm_in_float32(monkeypatch, tied, lo, hi):
    """The fused steps' oneDNN route (one thread, large products) gives the bmm route's numbers."""
    if not fused.onednn_available():
        pytest.skip("torch built without oneDNN")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(2)
        tr = GateTransform(8, 8, 32, 3, tied)
        inp, rec, c = (torch.randn(hi - lo, 5, 8, requires_grad=True) for _ in range(3))
        args = (inp, rec, c, *tr.parameters())
        got = []
        for min_macs in (1, 1 << 62):  # everything through oneDNN, then nothing
            monkeypatch.setattr(fused, "ONEDNN_MIN_MACS", min_macs)
            assert fused._use_onednn(torch.cat([inp, rec], -1), tr.weight) == (min_macs == 1)
            h, c_new = tr.lstm(inp, rec, c, lo, hi)
            grads = torch.autograd.grad((h * torch.arange(h.numel()).view_as(h).sin()).sum() + c_new.sum(), args)
            got.append((h, c_new, grads))
    finally:
        torch.set_num_threads(threads)
    (h1, c1, g1), (h2, c2, g2) = got
    torch.testing.assert_close(h1, h2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c1, c2, rtol=1e-5, atol=1e-6)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", [k for k, kw in KINDS.items() if registry.cell_class(kw["kind"], kw.get("variant")).memories])
def test_probe_totals_in_float32_match_float64(kind):
    """The probe's in-block terms (autograd through the cell's reference, gradients.py) give the
    float64 numbers to float32 precision."""
    task = make_task(TaskConfig(name="adding", length=6))
    x, y = task.sample(3, torch.Generator().manual_seed(1))
    m64 = pair(kind, 3, False, inp=task.input_size, out=task.output_size)[1]
    g64 = probe_gradients(m64, task, x.double(), y.double())
    g32 = probe_gradients(m64.float(), task, x, y)
    for name in g64.grads:
        scale = g64.grads[name].abs().max()
        torch.testing.assert_close(g32.grads[name].double(), g64.grads[name], rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("tied", [False, True])
def test_fast_path_equals_the_reference_formulation(kind, tied):
    """Each cell's ``forward`` (fused steps where it has them) and its readable ``reference``
    (update over transform, plain autograd): the same states and the same gradients, float64."""
    torch.manual_seed(3)
    cell = registry.build_cell(ModelConfig(hidden=4, layers=3, tied=tied, **KINDS[kind])).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(0.3 * torch.randn_like(p))
    below = tuple(torch.randn(2, 5, 4, dtype=D64, requires_grad=True) for _ in cell.up_idx)
    left = tuple(torch.randn(2, 5, 4, dtype=D64, requires_grad=True) for _ in cell.right_idx)
    args = (*below, *left, *cell.parameters())
    fast, ref = cell(below, left, 1, 3), cell.reference(below, left, 1, 3).states
    weights = [torch.randn_like(s) for s in ref]
    grads = [torch.autograd.grad(sum((s * w).sum() for s, w in zip(out, weights, strict=True)), args)
             for out in (fast, ref)]
    for a, b in zip(fast, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)


def test_state_probe_records_outgoing_gradients_and_zeros_where_none_arrive():
    """The probe's tap: the block's own uses of its state (before the probe) are not in the outgoing
    gradient, and a call none of whose outputs reaches the loss reports zeros."""
    from gridlstm.probe.gradients import StateProbe
    probe = StateProbe()
    a = torch.randn(2, 3, 4, dtype=D64, requires_grad=True)
    h = a * 2                                   # a block's state ...
    inside = h.sum()                            # ... used inside the block, before the probe
    h_out, c_out = probe((h, a * 3), 0, 0, 2)
    unused = probe((a * 5,), 1, 0, 2)
    w = torch.randn(2, 3, 4, dtype=D64)
    torch.autograd.grad((h_out * w).sum() + inside, a)
    out = probe.outgoing()
    torch.testing.assert_close(out[0][0], w)                      # ∂L/∂h after the probe only
    torch.testing.assert_close(out[0][1], torch.zeros_like(a))    # c_out unused: materialized zeros
    assert probe.grads[1] is None and torch.equal(out[1][0], torch.zeros_like(a))
    assert unused[0].requires_grad
