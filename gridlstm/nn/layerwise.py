"""The whole-sequence kernels the layer-by-layer schedule runs on (the loop is schedule.py's).

Block (t, d) reads only (t-1, d) and (t, d-1), so all of layer d-1 can finish before layer d
starts (the order ``nn.LSTM`` itself uses). In that order a layer is two passes over all T steps:

* the time direction is an ordinary LSTM/RNN over t, run on PyTorch's fused recurrent kernel
  (``torch.lstm`` / ``torch.rnn_tanh`` / ``torch.rnn_relu``: oneDNN on the CPU, cuDNN on a GPU, no
  Python loop over t) with the model's own weights passed as views (``lstm_sequence``);
* the grid's depth LSTM has no recurrence in t: its inputs at (t, d) are all known once layer d's
  time pass is done, so it is ONE fused gate transform + update over all T·B rows (``fused.lstm_rows``).

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

from .timeloop import lstm_loop

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
