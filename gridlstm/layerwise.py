"""The layer-by-layer schedule and the whole-sequence kernels it runs on.

Block (t, d) reads only (t-1, d) and (t, d-1), so all of layer d-1 can finish before layer d
starts (the order ``nn.LSTM`` itself uses). In that order a layer is two passes over all T steps:

* the time direction is an ordinary LSTM/RNN over t, run on PyTorch's fused recurrent kernel
  (``torch.lstm`` / ``torch.rnn_tanh`` / ``torch.rnn_relu``: oneDNN on the CPU, cuDNN on a GPU, no
  Python loop over t) with the model's own weights passed as views (``lstm_sequence``);
* the grid's depth LSTM has no recurrence in t: its inputs at (t, d) are all known once layer d's
  time pass is done, so it is ONE fused gate transform + update over all T·B rows (``lstm_rows``).

Only the paper's output form h = tanh(o⊙m) has no fused kernel: it runs ``_LSTMLayer``, a time
loop whose input half is hoisted into one T·B-row product and whose backward is hand-written.

Each cell says what one of its layers computes (``Cell.layer``, with the equations); this module
owns the loop over d. The readable per-block formulation (``cells.py``: ``lstm_update`` over the
gate transform) stays the oracle: ``tests/test_schedule.py`` compares this schedule with the
wavefront in float64 for every model, and the per-block states stay available only to the probed
schedules (a probe needs every (t, d) in the autograd graph, which a fused kernel hides).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .core import _LSTMStep, lstm_gate_grads, lstm_gates_

if TYPE_CHECKING:
    from .cells import Cell, States


def run_layerwise(cell: Cell, bottom: States, left0: States) -> Tensor:
    """Layer 0 over every t, then layer 1, ...: D cell-layer calls.  Same contract as
    ``schedule.run_naive`` without a probe: bottom (T, B, H) tuples, left0 (D, B, H) -> top (T, B, H)."""
    params = cell.layer_params()  # per layer: the weight views, unbound once (one stack in backward)
    up = bottom
    for d in range(cell.layers):
        up = cell.layer(up, tuple(s[d] for s in left0), params[d])
    return up[0]


# ----------------------------------------------------------------------------- whole-sequence kernels

def torch_weights(w_x: Tensor, w_h: Tensor, b: Tensor) -> list[Tensor]:
    """Our (K, O)-oriented weights -> torch's [w_ih (O, I), w_hh (O, H), b_ih (O,), b_hh (O,)].

    One buffer, laid out as cuDNN wants one layer's weights (w_ih, w_hh, b_ih, b_hh, each row-major,
    back to back), and the four tensors are views of it. cuDNN then takes the buffer as it is: without
    it, ``_cudnn_rnn`` copies non-flat weights itself on every call and warns. The CPU (oneDNN) runs
    the same code, so the tests exercise it. Cost: one copy of this layer's weights per forward
    (O(H²), against the layer's O(T·B·H²)), never one per timestep. b_hh is zero: our one bias is b_ih.
    """
    n_out = b.shape[-1]
    flat = torch.cat([w_x.T.reshape(-1), w_h.T.reshape(-1), b, b.new_zeros(n_out)])
    n_x, n_h = w_x.numel(), w_h.numel()
    return [flat[:n_x].view(n_out, -1), flat[n_x:n_x + n_h].view(n_out, -1),
            flat[n_x + n_h:n_x + n_h + n_out], flat[n_x + n_h + n_out:]]


def lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, w_x: Tensor, w_h: Tensor, b: Tensor,
                  output: str = "standard") -> Tensor:
    """h[t] for t = 0..T-1 of one LSTM layer:  z[t] = x[t] w_x + h[t-1] w_h + b  (gates i, f, g, o),
    c[t] = f⊙c[t-1] + i⊙g,  h[t] = o⊙tanh(c[t])  ("standard") or tanh(o⊙c[t])  ("paper").

    x (T, B, I), h0 = h[-1] and c0 = c[-1] (B, H), w_x (I, 4H), w_h (H, 4H), b (4H,)  ->  (T, B, H).
    "standard" runs ``torch.lstm`` (oneDNN / cuDNN); "paper" runs ``_LSTMLayer``.
    """
    if output == "paper":
        return _LSTMLayer.apply(x, h0, c0, w_x, w_h, b)
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


def lstm_rows(inp: Tensor, rec: Tensor, c_prev: Tensor, W: Tensor, b: Tensor,
              output: str = "standard") -> tuple[Tensor, Tensor]:
    """One LSTM update on every row at once, no recurrence:  z = [inp; rec] W + b,
    (h, c) = lstm_update(z, c_prev, output).  inp (T, B, I), rec (T, B, R), c_prev (T, B, H),
    W (I+R, 4H), b (4H,)  ->  h, c (T, B, H).  The fused step of ``core.py`` over (1, T·B) rows:
    one product forward, two backward."""
    T, B = inp.shape[:2]
    h, c = _LSTMStep.apply(inp.reshape(1, T * B, -1), rec.reshape(1, T * B, -1),
                           c_prev.reshape(1, T * B, -1), W, b, 0, 1, output == "paper")
    return h.view(T, B, -1), c.view(T, B, -1)


class _LSTMLayer(torch.autograd.Function):
    """One LSTM layer with output form "paper" over all T steps (``lstm_sequence``'s equations, h =
    tanh(o⊙c)), as one autograd node.  Forward: Z_x = X w_x + b for all t in ONE product (hoisted),
    then per t only z[t] = Z_x[t] + h[t-1] w_h and the update.  Backward, reverse in t, per step the
    gate formulas of ``core.lstm_gate_grads`` and δh[t-1] = δz[t] w_hᵀ, δc[t-1] = δc[t]⊙f[t]; then
    δX = δZ w_xᵀ, δw_x = Xᵀ δZ, δw_h = H_prevᵀ δZ, δb = Σ δZ, each ONE product over all T·B rows.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_x, w_h, b):
        T, B, n_in = x.shape
        H = h0.shape[-1]
        G = torch.addmm(b, x.reshape(T * B, n_in), w_x).view(T, B, 4 * H)  # input half, all t at once
        hs, cs = x.new_empty(T + 1, B, H), x.new_empty(T + 1, B, H)     # h[t-1], c[t-1] at row t
        hs[0], cs[0] = h0, c0
        for t in range(T):
            g = lstm_gates_(G[t].addmm_(hs[t], w_h), H)
            i, f, gg, o = g.unflatten(-1, (4, H)).unbind(-2)
            c = torch.addcmul(f * cs[t], i, gg, out=cs[t + 1])
            torch.tanh(o * c, out=hs[t + 1])
        ctx.save_for_backward(x, w_x, w_h, G, hs, cs)
        return hs[1:].clone()  # h[t] = τ[t] = tanh(o⊙c): what the backward reads as τ

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dH):
        x, w_x, w_h, G, hs, cs = ctx.saved_tensors
        T, B, n_in = x.shape
        H = hs.shape[-1]
        dZ = torch.empty_like(G)
        dh_next, dc = torch.zeros_like(hs[0]), torch.zeros_like(cs[0])
        w_hT = w_h.T
        for t in range(T - 1, -1, -1):
            dz, dc = lstm_gate_grads(G[t], cs[t], cs[t + 1], hs[t + 1], dH[t] + dh_next, dc, True)
            dZ[t] = dz
            dh_next = dz @ w_hT
            dc = dc * G[t].narrow(-1, H, H)  # δc[t-1] = δc[t]⊙f[t]
        dZ2 = dZ.view(T * B, 4 * H)
        dx = (dZ2 @ w_x.T).view(T, B, n_in) if ctx.needs_input_grad[0] else None
        dw_x = x.reshape(T * B, n_in).T @ dZ2 if ctx.needs_input_grad[3] else None
        dw_h = hs[:-1].reshape(T * B, H).T @ dZ2 if ctx.needs_input_grad[4] else None
        db = dZ2.sum(0) if ctx.needs_input_grad[5] else None
        return dx, dh_next, dc, dw_x, dw_h, db
