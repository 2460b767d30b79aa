"""One LSTM layer's time loop as ONE autograd node with a hand-written backward (``lstm_loop``).

The layer-by-layer schedule runs it where no fused kernel fits: the paper's output form
h = tanh(o⊙m) in training, and every probed layer (gradient profiles), whose backward also hands
the per-step gradients to a ``sink``. A fused kernel (``torch.lstm``) cannot: its recurrent use of
h[t] and c[t] at t+1 is inside the kernel.

Forward, x (T, B, I), h[-1] = h0, c[-1] = c0 (B, H), weights w_x (I, 4H), w_h (H, 4H), b (4H,):
    Z_x = X w_x + b for all t in ONE product (hoisted), then per t
    z[t] = Z_x[t] + h[t-1] w_h;  i, f, g, o = σ, σ, tanh, σ of z[t];  c[t] = f⊙c[t-1] + i⊙g
    h[t] = o⊙tanh(c[t])  ("standard")   or   tanh(o⊙c[t])  ("paper", Kalchbrenner et al. 2015 eq. 3)

Backward (the formulas of ``fused.lstm_gate_grads``). Every factor that does not depend on the
incoming gradient is formed for all t at once first:
    standard:  A_c = o⊙(1 − τ²),  A_o = τ⊙o(1−o)           with τ = tanh(c)
    paper:     A_c = (1 − h²)⊙o,  A_o = (1 − h²)⊙c⊙o(1−o)
    P = [g⊙i(1−i),  c[t-1]⊙f(1−f),  i⊙(1−g²)]                                  (T, B, 3, H)
then per t, in reverse, with δH[t] = ∂L/∂h[t] from outside the loop:
    δh = δH[t] + r_h[t],   δc = r_c[t] + δh⊙A_c[t],   δz[t] = [δc⊙P[t], δh⊙A_o[t]]
    r_h[t-1] = δz[t] w_hᵀ,   r_c[t-1] = δc⊙f[t]
where r_h[t], r_c[t] are the gradients of h[t], c[t] through step t+1 (zero at t = T-1), and last
δX = δZ w_xᵀ, δw_x = Xᵀ δZ, δw_h = H_prevᵀ δZ, δb = Σ δZ, each ONE product over T·B rows.

``sink`` (a dict, optional): the forward puts the memories ``c`` and gates ``f``, ``o`` (T, B, H) there, the backward
``dH`` = δH, ``r_h`` and ``r_c`` (T, B, H) each. ``tap`` records the gradient arriving at any
tensors the same way (identity forward).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .fused import rows_product, rows_product_t


def lstm_loop(x: Tensor, h0: Tensor, c0: Tensor, w_x: Tensor, w_h: Tensor, b: Tensor,
              output: str = "standard", sink: Optional[dict] = None) -> Tensor:
    """h[t] for t = 0..T-1 of one LSTM layer (module docstring).  x (T, B, I) -> (T, B, H)."""
    return _LSTMLoop.apply(x, h0, c0, w_x, w_h, b, output == "paper", sink)


class _LSTMLoop(torch.autograd.Function):
    """``lstm_loop`` as one node: forward and backward as in the module docstring."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_x, w_h, b, paper, sink):
        T, B, n_in = x.shape
        H = h0.shape[-1]
        G = rows_product(x.reshape(T * B, n_in), w_x, b).view(T, B, 4 * H)  # input half, all t at once
        hs, cs = x.new_empty(T + 1, B, H), x.new_empty(T + 1, B, H)     # h[t-1], c[t-1] at row t
        hs[0], cs[0] = h0, c0
        g_tmp = x.new_empty(B, H)
        Gt, ht, ct = G.unbind(0), hs.unbind(0), cs.unbind(0)
        i, f, g, o = (s.unbind(0) for s in G.unflatten(-1, (4, H)).unbind(-2))  # per t, (B, H) views
        for t in range(T):
            Gt[t].addmm_(ht[t], w_h)                  # z[t]
            torch.tanh(g[t], out=g_tmp)
            Gt[t].sigmoid_()
            g[t].copy_(g_tmp)                         # gates (i, f, g, o) in place of z[t]
            torch.mul(f[t], ct[t], out=ct[t + 1]).addcmul_(i[t], g[t])
            if paper:
                torch.tanh(o[t] * ct[t + 1], out=ht[t + 1])
            else:
                torch.mul(o[t], torch.tanh(ct[t + 1]), out=ht[t + 1])
        ctx.save_for_backward(x, w_x, w_h, G, hs, cs)
        ctx.paper, ctx.sink = paper, sink
        if sink is not None:
            sink.update(c=cs[1:], f=G.narrow(-1, H, H), o=G.narrow(-1, 3 * H, H))
        return hs[1:].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dH):
        x, w_x, w_h, G, hs, cs = ctx.saved_tensors
        T, B, n_in = x.shape
        H = hs.shape[-1]
        i, f, g, o = G.unflatten(-1, (4, H)).unbind(-2)   # (T, B, H) each
        h, c, c_prev = hs[1:], cs[1:], cs[:-1]
        do = o - o * o
        if ctx.paper:
            A = 1 - h * h
            A_c, A_o = A * o, A * c * do
        else:
            tau = torch.tanh(c)
            A_c, A_o = o * (1 - tau * tau), tau * do
        P = torch.stack([g * (i - i * i), c_prev * (f - f * f), i * (1 - g * g)], dim=2)  # (T, B, 3, H)
        dZ = torch.empty_like(G)
        dZ4 = dZ.unflatten(-1, (4, H))                    # (T, B, 4, H)
        r_h, r_c = torch.empty_like(hs), torch.empty_like(cs)  # row t + 1: through step t + 1
        r_h[T].zero_()
        r_c[T].zero_()
        w_hT = w_h.T
        for t in range(T - 1, -1, -1):
            dh = dH[t] + r_h[t + 1]
            dc = torch.addcmul(r_c[t + 1], dh, A_c[t])
            torch.mul(P[t], dc.unsqueeze(1), out=dZ4[t, :, :3])
            torch.mul(A_o[t], dh, out=dZ4[t, :, 3])
            torch.mm(dZ[t], w_hT, out=r_h[t])
            torch.mul(dc, f[t], out=r_c[t])
        if ctx.sink is not None:
            ctx.sink.update(dH=dH, r_h=r_h[1:], r_c=r_c[1:])
        dZ2 = dZ.view(T * B, 4 * H)
        dx = rows_product_t(dZ2, w_x).view(T, B, n_in) if ctx.needs_input_grad[0] else None
        dw_x = x.reshape(T * B, n_in).T @ dZ2 if ctx.needs_input_grad[3] else None
        dw_h = hs[:-1].reshape(T * B, H).T @ dZ2 if ctx.needs_input_grad[4] else None
        db = dZ2.sum(0) if ctx.needs_input_grad[5] else None
        return dx, r_h[0], r_c[0], dw_x, dw_h, db, None, None


def hidden_to_memory(h: Tensor, c: Tensor, o: Tensor, paper: bool) -> Tensor:
    """∂h/∂c (elementwise) of one LSTM update: o⊙(1 − tanh²(c)), or (1 − h²)⊙o for h = tanh(o⊙c)."""
    return (1 - h * h) * o if paper else o * (1 - torch.tanh(c) ** 2)


def tap(sink: dict, *tensors: Tensor) -> tuple[Tensor, ...]:
    """``tensors`` unchanged; the backward puts the gradient arriving at each at ``sink["d"]`` (a tuple)."""
    return _Tap.apply(sink, *tensors)


class _Tap(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sink, *tensors):
        ctx.sink = sink
        return tuple(t.view_as(t) for t in tensors)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        ctx.sink["d"] = grads  # unused outputs arrive as zeros (materialized grads)
        return (None, *grads)
