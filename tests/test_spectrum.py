"""The Lyapunov spectrum (probe/spectrum.py) against exact answers, in float64: a linear map with
known exponents, a memory with constant forget gates, the singular values of the explicitly
multiplied product, Jacobians written by hand and by torch.nn.LSTMCell, the measured slope of a tanh
RNN, and the depth product of a stacked LSTM from depth_theory's independent jacrev.  Each exact
check is also fed the transposed Jacobian (J in place of Jᵀ) and must then fail."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gridlstm.config import load_config
from gridlstm.probe import spectrum as sp
from gridlstm.probe.decay import decay_stats
from gridlstm.probe.depth_theory import at_last_step, block_jacobian
from gridlstm.probe.gradcheck import Source, build_model
from gridlstm.probe.gradients import block_inputs, measure


def model_and_batch(*overrides: str, batch: int = 4, double: bool = True, seed: int = 0):
    cfg = load_config(None, ["model.hidden=4", "task.length=6", *overrides])
    task, model = build_model(Source(cfg, "config", Path("configs/default.yaml")), seed, torch.device("cpu"))
    x, y = task.sample(batch, torch.Generator().manual_seed(seed))
    if double:
        model, x = model.double(), x.double()
    return task, model, x, y, measure(model, task, x, y)


def explicit(step, steps: int, n: int, batch: int) -> list[torch.Tensor]:
    """Each backward map A_k = J_kᵀ as an explicit (B, n, n) matrix: the step applied to the identity."""
    eye = torch.eye(n, dtype=torch.float64).expand(batch, n, n)
    return [step(k, eye) for k in range(steps)]


def product(maps: list[torch.Tensor]) -> torch.Tensor:
    """M = A_{N-1} ⋯ A_0 (A_0 applied first)."""
    m = maps[0]
    for a in maps[1:]:
        m = a @ m
    return m


def orthogonal(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64)).Q


# ----------------------------------------------------------------------------- exact answers


def test_linear_map_with_known_exponents():
    """h[t] = W h[t-1], W = Q diag(eᵃ) Qᵀ: the exponents are a (nats per step), to 1e-6."""
    n, a = 8, -0.3 * torch.arange(8, dtype=torch.float64) + 0.2
    Q = orthogonal(n, 1)
    W = Q @ torch.diag(torch.exp(a)) @ Q.T
    q0 = sp.random_frame(2, n, 5, seed=3)
    lam = sp.benettin(lambda k, q: W.T @ q, 400, q0, warmup=100)
    np.testing.assert_allclose(lam, a[:5].expand(2, 5).numpy(), atol=1e-6)


def constant_gate_lstm():
    """An LSTM (T = 300, H = 4) whose weights are zero: its forget gates are the constants f."""
    _, model, x, _, prof = model_and_batch("model.kind=lstm", "model.layers=1", "task.length=300")
    H = model.cell.hidden
    f = torch.tensor([0.9, 0.7, 0.5, 0.3], dtype=torch.float64)
    with torch.no_grad():
        model.cell.transform.weight.zero_()
        model.cell.transform.bias.copy_(torch.cat([torch.full((H,), 0.4), torch.logit(f[[2, 0, 3, 1]]),
                                                   torch.full((H,), -0.2), torch.full((H,), 0.1)]))
    return model, x, prof, f


def test_constant_forget_gates_give_log_f():
    """An LSTM whose weights are zero has constant gates: c[t] = f ⊙ c[t-1] + i ⊙ g and h[t] depends
    on c[t] only, so the carried (h, c) has exponents log f_u (top H, descending) and nothing else."""
    model, x, prof, f = constant_gate_lstm()
    H = model.cell.hidden
    ts = sp.time_spectrum(model, x, prof.states, k=H, warmup=150)
    np.testing.assert_allclose(ts.exponents, np.log(f.numpy())[None].repeat(len(x), 0), atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "grid", "gru"])
def test_qr_from_the_right_singular_vectors_gives_the_log_singular_values(kind):
    """For short T, the QR method started from the top-K right singular vectors V of the explicitly
    multiplied backward product M gives Σ_k log|R_ii| = log σ_i(M) exactly (QR(M V) = U Σ); from a
    random frame the partial sums stay below Σ_{j≤i} log σ_j.  Fed the transposed maps (J for Jᵀ), the first check fails."""
    _, model, x, _, prof = model_and_batch(f"model.kind={kind}", "model.layers=2")
    cell = sp.float64_cell(model)
    px = model.proj(x).transpose(0, 1).detach()
    carried = sp.carried_states(cell, prof.states)
    step = sp.time_jacobian_step(cell, px, carried)
    n, steps, B, K = len(carried) * 2 * 4, x.shape[1] - 1, len(x), 5
    maps = explicit(step, steps, n, B)
    U, S, Vh = torch.linalg.svd(product(maps))
    V = Vh.mT[..., :K]
    lam = sp.benettin(lambda k, q: maps[k] @ q, steps, V)
    np.testing.assert_allclose(lam * steps, torch.log(S[:, :K]), atol=1e-8)
    lam_lib = sp.benettin(step, steps, V)                       # the library's vjp, not the matrices
    np.testing.assert_allclose(lam_lib, lam, atol=1e-10)
    random = sp.benettin(step, steps, sp.random_frame(B, n, K, 0))  # top K: well above rounding
    assert np.all(np.cumsum(random.numpy(), 1) * steps <= np.cumsum(torch.log(S[:, :K]).numpy(), 1) + 1e-8)
    transposed = sp.benettin(lambda k, q: maps[k].mT @ q, steps, V)
    assert np.abs(transposed.numpy() * steps - torch.log(S[:, :K]).numpy()).max() > 1e-2
    # block lower-triangular in the layers: the gradient of layer 2's carried state evolves by itself
    upper = torch.arange(2).repeat_interleave(4).repeat(len(carried)) >= 1            # (n,) layer ≥ 2
    for m in maps:
        assert torch.all(m[:, upper][:, :, ~upper] == 0)
        assert m[:, ~upper][:, :, upper].abs().max() > 1e-6                           # not block-diagonal
    sub = product([m[:, upper][:, :, upper] for m in maps])
    torch.testing.assert_close(sub, product(maps)[:, upper][:, :, upper], atol=1e-12, rtol=1e-10)


def test_rnn_step_jacobian_is_the_hand_written_one():
    """tanh RNN, D = 1: J[t] = diag(1 − h[t]²)·W_hhᵀ (z = [x; h] W + b), built by hand; the library
    applies Jᵀ = W_hh·diag(1 − h[t]²), and its transpose (not symmetric here) would not match."""
    _, model, x, _, prof = model_and_batch("model.kind=rnn", "model.layers=1")
    cell = sp.float64_cell(model)
    px = model.proj(x).transpose(0, 1).detach()
    step = sp.time_jacobian_step(cell, px, sp.carried_states(cell, prof.states))
    W_hh = cell.transform.layer_weight(0)[0][4:]                                   # (H_in, H_out)
    T = x.shape[1]
    for k in range(T - 1):
        h = prof.states["h"][T - 1 - k, 0]                                          # (B, H)
        hand = (1 - h ** 2).unsqueeze(-1) * W_hh.T                                 # (B, H_out, H_in)
        got = explicit(lambda _, q, k=k: step(k, q), 1, 4, len(x))[0]
        torch.testing.assert_close(got, hand.mT, atol=1e-12, rtol=0)
        assert (got - hand).abs().max() > 1e-3


def test_lstm_step_jacobian_against_torch_lstmcell():
    """One LSTM layer: the backward map of the carried (h, c) equals the transposed Jacobian of
    torch.nn.LSTMCell with the same weights, by torch.autograd.functional.jacobian."""
    _, model, x, _, prof = model_and_batch("model.kind=lstm", "model.layers=1")
    cell = sp.float64_cell(model)
    px = model.proj(x).transpose(0, 1).detach()
    step = sp.time_jacobian_step(cell, px, sp.carried_states(cell, prof.states))
    W, b = cell.transform.layer_weight(0)
    ref = torch.nn.LSTMCell(4, 4).double()
    with torch.no_grad():
        ref.weight_ih.copy_(W[:4].T)
        ref.weight_hh.copy_(W[4:].T)
        ref.bias_ih.copy_(b)
        ref.bias_hh.zero_()
    t = x.shape[1] - 1                                                              # k = 0
    for e in range(len(x)):
        def f(hc, e=e):
            h, c = ref(px[t, e:e + 1], (hc[:4].unsqueeze(0), hc[4:].unsqueeze(0)))
            return torch.cat([h[0], c[0]])
        prev = torch.cat([prof.states["h"][t - 1, 0, e], prof.states["c"][t - 1, 0, e]])
        J = torch.autograd.functional.jacobian(f, prev)                            # (8, 8)
        got = explicit(step, 1, 8, len(x))[0][e]
        torch.testing.assert_close(got, J.T, atol=1e-12, rtol=0)
        assert (got - J).abs().max() > 1e-3


def test_tanh_rnn_slope_converges_to_the_top_exponent():
    """At initialisation (T = 400), the measured slope of log10 g over the last half of the steps
    back is λ₁/ln 10 within 5%."""
    _, model, x, _, prof = model_and_batch("model.kind=rnn", "model.layers=1", "model.hidden=32",
                                            "task.length=400", batch=8)
    g = prof.norms["h"][:, 0].numpy()[::-1]                                         # by steps back
    half = len(g) // 2
    s = np.arange(half, len(g))
    measured = np.polyfit(s, np.log10(g[half:]), 1)[0]
    assert decay_stats(g, 1e-300)["underflow_step"] is None
    ts = sp.time_spectrum(model, x, prof.states, k=1)
    predicted = ts.exponents[:, 0].mean() / math.log(10)
    assert measured == pytest.approx(predicted, rel=0.05)
    assert predicted < -0.05


def test_depth_spectrum_of_a_stacked_lstm_against_the_multiplied_jacobians():
    """D = 3 stacked LSTM: log σ_i of M = J_2ᵀ J_3ᵀ, J_d from depth_theory.block_jacobian (jacrev), is
    the library's depth spectrum; with K = n its per-layer QR exponents add up to log|det M| / 2.  The
    transposed Jacobians (J_2 J_3) give other singular values."""
    _, model, x, _, prof = model_and_batch("model.kind=lstm", "model.layers=3")
    ds = sp.depth_spectrum(model, x, prof.states, k=None)
    cell, B = model.cell, len(x)
    px = model.proj(x).transpose(0, 1).detach()
    J = [block_jacobian(cell, *at_last_step(*block_inputs(cell, px, prof.states, d), B), d, "h").double()
         for d in (1, 2)]                                                            # J_2, J_3: (B, H, H)
    M = J[0].mT @ J[1].mT
    np.testing.assert_allclose(ds.log_singular, torch.log(torch.linalg.svdvals(M)), atol=1e-8)
    np.testing.assert_allclose(ds.exponents.sum(1) * 2, torch.linalg.slogdet(M)[1], atol=1e-8)
    wrong = torch.log(torch.linalg.svdvals(J[0] @ J[1])).numpy()
    assert np.abs(wrong - ds.log_singular).max() > 1e-2
    assert np.all(ds.surviving(1e-3) >= ds.surviving(1e-6))


# ----------------------------------------------------------------------------- gradcheck --spectrum


def test_gradcheck_spectrum_writes_predictions_beside_measurements(tmp_path):
    """gradcheck --spectrum 3 of a 2-layer lstm: spectrum.csv has 3 time and 3 depth exponents
    (over 29 maps not necessarily in order), summary.csv has λ₁/ln10 and measured/predicted in every row, depth.csv the
    predicted decades, summary.md and the terminal say how far measurement is from prediction."""
    import csv

    from click.testing import CliRunner

    from gridlstm.cli.main import cli

    out = tmp_path / "g"
    res = CliRunner().invoke(cli, ["gradcheck", "configs/adding_lstm.yaml", "task.length=30", "model.hidden=8",
                                   "model.layers=2", "--batch", "6", "--spectrum", "3", "--spectrum-examples", "4",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(out / "spectrum.csv")))
    assert [(r["axis"], r["index"]) for r in rows] == [("time", "1"), ("time", "2"), ("time", "3"),
                                                      ("time_from_layer", "1"), ("time_from_layer", "2"),
                                                      ("depth", "1"), ("depth", "2"), ("depth", "3")]
    time = [float(r["decades"]) for r in rows if r["axis"] == "time"]
    from_layer = [float(r["decades"]) for r in rows if r["axis"] == "time_from_layer"]
    assert from_layer[0] == pytest.approx(time[0])   # layers ≥ 1: the whole model
    assert rows[0]["examples"] == "4" and rows[0]["maps"] == "29" and rows[0]["warmup"] == "2"
    summary = list(csv.DictReader(open(out / "summary.csv")))
    for r in summary:  # h, c of layer d (and x: layer 1) decay at the top exponent of layers ≥ d
        assert float(r["predicted_slope"]) == pytest.approx(from_layer[max(int(r["layer"]), 1) - 1])
        assert float(r["slope_over_predicted"]) == pytest.approx(float(r["slope_decades_per_step"]) / float(r["predicted_slope"]))
    depth = list(csv.DictReader(open(out / "depth.csv")))
    h = next(r for r in depth if r["state"] == "h")
    assert float(h["sigma1_decades"]) == pytest.approx(-float(rows[5]["log10_singular"]))
    assert float(h["predicted_decades"]) == pytest.approx(-float(rows[5]["decades"]))  # D − 1 = 1 layer
    assert float(h["predicted_decades"]) >= float(h["sigma1_decades"]) - 1e-9
    assert 1 <= float(h["directions_1e-6"]) <= 8
    md = (out / "summary.md").read_text()
    assert "λ₁/ln10" in md and "measured/predicted" in md and "predicted/layer" in md
    assert "measured/predicted" in res.output
    res = CliRunner().invoke(cli, ["report", str(out), "--format", "csv"])
    assert res.exit_code == 0, res.output
    rep = next(csv.DictReader(res.output.splitlines()))
    top_h = max((r for r in summary if r["state"] == "h"), key=lambda r: int(r["layer"]))
    assert float(rep["grad_predicted"]) == pytest.approx(float(top_h["predicted_slope"]), rel=1e-3)
    assert float(rep["depth_predicted_per_layer"]) == pytest.approx(float(h["predicted_per_layer"]), rel=1e-3)
    png = tmp_path / "spectrum.png"
    res = CliRunner().invoke(cli, ["plot", str(out), str(out), "--what", "spectrum", "--out", str(png)])
    assert res.exit_code == 0, res.output
    from matplotlib.image import imread
    assert imread(png).shape[0] > 300
    (out / "spectrum.csv").unlink()
    res = CliRunner().invoke(cli, ["plot", str(out), "--what", "spectrum", "--out", str(png)])
    assert res.exit_code == 2 and "no spectrum.csv" in res.output and "--spectrum" in res.output


@pytest.mark.parametrize("bad", ["off", "many", "2.5"])
def test_gradcheck_spectrum_rejects_a_bad_count(tmp_path, bad):
    from click.testing import CliRunner

    from gridlstm.cli.main import cli

    res = CliRunner().invoke(cli, ["gradcheck", "configs/adding_rnn.yaml", "task.length=5", f"--spectrum={bad}",
                                   "--out", str(tmp_path / "g")])
    assert res.exit_code == 2
    assert "--spectrum" in res.output and "'all'" in res.output
    assert not (tmp_path / "g").exists()


def test_each_layer_decays_at_the_top_exponent_of_its_block():
    """A 2-layer tanh RNN at T = 300: layer 2's gradient evolves by its own block (layers ≥ 2), layer
    1's by the whole model; with layer 2's recurrence weakened the two differ, and each measured
    slope (last half) is its block's λ₁/ln 10 within 5%."""
    task, model, x, y, _ = model_and_batch("model.kind=rnn", "model.layers=2", "model.hidden=32",
                                           "task.length=300", batch=8)
    with torch.no_grad():
        model.cell.transform.weight[1, 32:] *= 0.8          # layer 2's W_hh: its own block decays faster
    prof = measure(model, task, x, y)
    ts = sp.time_spectrum(model, x, prof.states, k=1)
    np.testing.assert_allclose(ts.from_layer[:, 0], ts.exponents[:, 0])
    assert ts.from_layer[:, 1].mean() < 1.2 * ts.from_layer[:, 0].mean()  # the blocks differ (nats < 0)
    for d in (0, 1):
        g = prof.norms["h"][:, d].numpy()[::-1]
        half = len(g) // 2
        measured = np.polyfit(np.arange(half, len(g)), np.log10(g[half:]), 1)[0]
        assert measured == pytest.approx(ts.from_layer[:, d].mean() / math.log(10), rel=0.05)


def test_windows_side_by_side_give_the_single_runs_exponents():
    """segment_plan's windows (the default prediction's, from T = 1000 on): constant forget gates
    still give log f exactly, a tanh RNN's λ₁ is the single run's within 1%, and the plan covers
    every counted map once."""
    assert sp.segment_plan(999, 99, None) == (4, 225) and sp.segment_plan(199, 19, None) == (1, 180)
    S, L = sp.segment_plan(299, 30, 4)
    assert S * L >= 299 - 30 > (S - 1) * L
    model, x, prof, f = constant_gate_lstm()
    ts = sp.time_spectrum(model, x, prof.states, k=model.cell.hidden, warmup=60, segments=4)
    assert ts.segments == 4
    np.testing.assert_allclose(ts.exponents, np.log(f.numpy())[None].repeat(len(x), 0), atol=1e-6)
    _, model, x, _, prof = model_and_batch("model.kind=rnn", "model.layers=2", "model.hidden=16",
                                           "task.length=800", batch=2)
    one = sp.time_spectrum(model, x, prof.states, k=1)
    four = sp.time_spectrum(model, x, prof.states, k=1, segments=4)
    np.testing.assert_allclose(four.exponents, one.exponents, rtol=0.01)
    np.testing.assert_allclose(four.from_layer, one.from_layer, rtol=0.01)
