"""The whole-sequence kernels the layer-by-layer schedule runs on (the loop is schedule.py's).

Block (t, d) reads only (t-1, d) and (t, d-1), so all of layer d-1 can finish before layer d
starts (the order ``nn.LSTM`` itself uses). In that order a layer is two passes over all T steps:

* the time direction is an ordinary LSTM/RNN over t, run on PyTorch's fused recurrent kernel
  (``torch.lstm`` / ``torch.rnn_tanh`` / ``torch.rnn_relu``: oneDNN on the CPU, cuDNN on a GPU, no
  Python loop over t) with the model's own weights passed as views (``lstm_sequence``);
* the grid's depth LSTM has no recurrence in t: its inputs at (t, d) are all known once layer d's
  time pass is done, so it is ONE fused gate transform + update over all T·B rows (``lstm_rows``).

Only the paper's output form h = tanh(o⊙m) has no fused kernel: it runs ``timeloop.lstm_loop``, a
time loop whose input half is hoisted into one T·B-row product and whose backward is hand-written.

Each cell says what one of its layers computes (``Cell.layer``, with the equations); the schedule
(``schedule.run_layerwise``) owns the loop over d. The readable per-block formulation (``cells.py``:
``lstm_update`` over the gate transform) stays the oracle: ``tests/test_schedule.py`` compares this schedule with the
wavefront in float64 for every model, and the per-block states stay available only to the probed
schedules (a probe needs every (t, d) in the autograd graph, which a fused kernel hides).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .core import lstm_gate_grads
from .timeloop import lstm_loop, rows_product, rows_product_t

# ----------------------------------------------------------------------------- whole-sequence kernels

def torch_weights(w_x: Tensor, w_h: Tensor, b: Tensor, b_h: Optional[Tensor] = None) -> list[Tensor]:
    """Our (K, O)-oriented weights -> torch's [w_ih (O, I), w_hh (O, H), b_ih (O,), b_hh (O,)].

    One buffer, laid out as cuDNN wants one layer's weights (w_ih, w_hh, b_ih, b_hh, each row-major,
    back to back), and the four tensors are views of it. cuDNN then takes the buffer as it is: without
    it, ``_cudnn_rnn`` copies non-flat weights itself on every call and warns. The CPU (oneDNN) runs
    the same code, so the tests exercise it. Cost: one copy of this layer's weights per forward
    (O(H²), against the layer's O(T·B·H²)), never one per timestep. b_hh is ``b_h``, by default zero:
    an LSTM's or RNN's one bias is b_ih (a GRU needs the recurrent half of n's bias apart).
    """
    n_out = b.shape[-1]
    flat = torch.cat([w_x.T.reshape(-1), w_h.T.reshape(-1), b, b.new_zeros(n_out) if b_h is None else b_h])
    n_x, n_h = w_x.numel(), w_h.numel()
    return [flat[:n_x].view(n_out, -1), flat[n_x:n_x + n_h].view(n_out, -1),
            flat[n_x + n_h:n_x + n_h + n_out], flat[n_x + n_h + n_out:]]


def lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, w_x: Tensor, w_h: Tensor, b: Tensor,
                  output: str = "standard") -> Tensor:
    """h[t] for t = 0..T-1 of one LSTM layer:  z[t] = x[t] w_x + h[t-1] w_h + b  (gates i, f, g, o),
    c[t] = f⊙c[t-1] + i⊙g,  h[t] = o⊙tanh(c[t])  ("standard") or tanh(o⊙c[t])  ("paper").

    x (T, B, I), h0 = h[-1] and c0 = c[-1] (B, H), w_x (I, 4H), w_h (H, 4H), b (4H,)  ->  (T, B, H).
    "standard" runs ``torch.lstm`` (oneDNN / cuDNN); "paper" runs ``timeloop.lstm_loop``.
    """
    if output == "paper":
        return lstm_loop(x, h0, c0, w_x, w_h, b, output)
    train = torch.is_grad_enabled()
    out, _, _ = torch.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)), torch_weights(w_x, w_h, b),
                           True, 1, 0.0, train, False, False)
    return out


def rnn_sequence(x: Tensor, h0: Tensor, w_x: Tensor, w_h: Tensor, b: Tensor, nonlinearity: str) -> Tensor:
    """h[t] = φ(x[t] w_x + h[t-1] w_h + b), φ = tanh or relu, by ``torch.rnn_tanh`` / ``torch.rnn_relu``.

    x (T, B, I), h0 (B, H), w_x (I, H), w_h (H, H), b (H,)  ->  (T, B, H).
    """
    fn = torch.rnn_tanh if nonlinearity == "tanh" else torch.rnn_relu
    out, _ = fn(x, h0.unsqueeze(0), torch_weights(w_x, w_h, b), True, 1, 0.0, torch.is_grad_enabled(),
                False, False)
    return out


def gru_sequence(x: Tensor, h0: Tensor, w_x: Tensor, w_h: Tensor, b_x: Tensor, b_h: Tensor) -> Tensor:
    """h[t] of one GRU layer (gates r, z, n in torch's order) by ``torch.gru`` (oneDNN / cuDNN):
    r, z = σ(x w_x[r,z] + b_x[r,z] + h w_h[r,z] + b_h[r,z]),  n = tanh(x w_x[n] + b_x[n] + r⊙(h w_h[n] + b_h[n])),
    h[t] = (1 − z)⊙n + z⊙h[t-1].   x (T, B, I), h0 (B, H), w_x (I, 3H), w_h (H, 3H), b_x, b_h (3H,) -> (T, B, H).
    """
    out, _ = torch.gru(x, h0.unsqueeze(0), torch_weights(w_x, w_h, b_x, b_h), True, 1, 0.0,
                       torch.is_grad_enabled(), False, False)
    return out


def lstm_rows(inp: Tensor, rec: Tensor, c_prev: Tensor, W: Tensor, b: Tensor,
              output: str = "standard", sink: Optional[dict] = None) -> tuple[Tensor, Tensor]:
    """One LSTM update on every row at once, no recurrence:  z = [inp; rec] W + b,
    (h, c) = lstm_update(z, c_prev, output).  inp (T, B, I), rec (T, B, R), c_prev (T, B, H),
    W (I+R, 4H), b (4H,)  ->  h, c (T, B, H).  One product forward, two backward (``_LSTMRows``);
    ``sink`` (a dict, optional) gets the forget gates ``f`` (T, B, H), and the gates ``G`` and τ
    (``rows_input_grad``'s inputs) over the T·B rows."""
    T, B = inp.shape[:2]
    h, c = _LSTMRows.apply(inp.reshape(T * B, -1), rec.reshape(T * B, -1), c_prev.reshape(T * B, -1),
                           W, b, output == "paper", sink)
    if sink is not None:
        sink["f"] = sink["f"].view(T, B, -1)
    return h.view(T, B, -1), c.view(T, B, -1)


# In-place unary ops on a strided gate slice (``z[:, a:b].sigmoid_()``) run several times slower on
# T·B rows than the same op on the whole contiguous tensor (measured at (32 000, 4·64), two threads:
# ``core.lstm_gates_`` 31 ms against 8.5 ms for the version below, a clone subtracted from both).
# ``core`` keeps its form for the wavefront's 32-row steps; this one is for the T·B-row pass. (The
# backward's strided in-place ops rewritten the same way were slower: the extra temporaries cost more.)

def _gates_rows(z: Tensor, H: int) -> Tensor:
    """``core.lstm_gates_`` (gates (i, f, g, o) = (σ, σ, tanh, σ) of z, in place) with one σ over the
    whole contiguous z and the g slot's tanh written back.  z (M, 4H) -> z."""
    g = z.narrow(-1, 2 * H, H)
    tanh_g = g.tanh()
    z.sigmoid_()
    g.copy_(tanh_g)
    return z


def rows_input_grad(sink: dict, c_prev: Tensor, c: Tensor, dh: Tensor, dc: Tensor, w_in: Optional[Tensor],
                    paper: bool) -> tuple[Optional[Tensor], Tensor]:
    """(∂L/∂inp, total ∂L/∂c) of ``lstm_rows`` given δh, δc at its outputs: δz W_inᵀ with δz from the
    gates its forward left in ``sink``, and δc + δh ∂h/∂c (``core.lstm_gate_grads``).
    c_prev, c, dh, dc (M, H), w_in (I, 4H) -> (M, I), (M, H); w_in None: no ∂L/∂inp (None)."""
    dz, dc_total = lstm_gate_grads(sink["G"], c_prev, c, sink["tau"], dh, dc, paper)
    return (None if w_in is None else rows_product_t(dz, w_in)), dc_total


class _LSTMRows(torch.autograd.Function):
    """``core._LSTMStep`` for one layer's weights over M = T·B independent rows (same equations and
    backward formulas, ``core.lstm_gate_grads``):  X = [inp; rec],  G = gates(X W + b),
    c = f⊙c_prev + i⊙g,  h = o⊙tanh(c) or tanh(o⊙c);  δX = δz Wᵀ,  δW = Xᵀ δz,  δb = Σ_rows δz."""

    @staticmethod
    def forward(ctx, inp, rec, c_prev, W, b, paper, sink=None):
        X = torch.cat([inp, rec], dim=-1)  # (M, I+R)
        H = c_prev.shape[-1]
        G = _gates_rows(rows_product(X, W, b), H)  # (M, 4H): i, f, g, o
        i, f, g, o = G.unflatten(-1, (4, H)).unbind(-2)
        c = torch.addcmul(f * c_prev, i, g)
        tau = torch.tanh(o * c) if paper else torch.tanh(c)
        h = tau if paper else o * tau
        ctx.save_for_backward(X, W, G, c_prev, c, tau)
        ctx.paper, ctx.n_inp = paper, inp.shape[-1]
        if sink is not None:
            sink.update(f=f, G=G, tau=tau)
        return h, c

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dh, dc):
        X, W, G, c_prev, c, tau = ctx.saved_tensors
        H = c.shape[-1]
        dz, dc = lstm_gate_grads(G, c_prev, c, tau, dh, dc, ctx.paper)
        d_inp = d_rec = dW = db = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            dX = rows_product_t(dz, W)
            d_inp, d_rec = dX.narrow(-1, 0, ctx.n_inp), dX.narrow(-1, ctx.n_inp, dX.shape[-1] - ctx.n_inp)
        if ctx.needs_input_grad[3]:
            dW = X.T @ dz
        if ctx.needs_input_grad[4]:
            db = dz.sum(0)
        return d_inp, d_rec, dc * G.narrow(-1, H, H), dW, db, None, None
