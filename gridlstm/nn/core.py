"""The shared recurrent core: one gate transform and the two state updates built on it.

Every model in gridlstm (naive RNN, stacked LSTM, both 2D Grid LSTM variants) is made of these
three pieces and nothing else:

    gate transform   z = W·[input; recurrent] + b          (ONE matmul for all gates)
    RNN update       h = φ(z),  φ ∈ {tanh, relu}
    LSTM update      i, f, g, o = σ(z_i), σ(z_f), tanh(z_g), σ(z_o)
                     c = f ⊙ c_prev + i ⊙ g
                     h = o ⊙ tanh(c)          (output form "standard")
                     h = tanh(o ⊙ c)          (output form "paper", Kalchbrenner et al. 2015 eq. 3)

Gate order inside z is (i, f, g, o), the order of ``torch.nn.LSTMCell``, so its weights can be
copied in for testing.

Weights are stored *stacked over layers*, ``(D, I+R, G·H)``, so a schedule can run several layers
in one batched matmul (``baddbmm``); a tied transform stores one ``(I+R, G·H)`` matrix shared by
every layer (the "Tied 2-LSTM" of the paper, §3.5).

The cells call ``GateTransform.lstm`` / ``.rnn``: transform and update computed as ONE autograd
node with a hand-written backward (same numbers as ``lstm_update(transform(...))``, which stays as
the plain reference formulation; see "fused steps" below).
"""
from __future__ import annotations

import functools
import math
from typing import Optional

import torch
from torch import Tensor, nn


class GateTransform(nn.Module):
    """``z[l] = [input[l]; recurrent[l]] @ W[lo + l] + b[lo + l]`` for the layers ``lo..hi-1``.

    ``weight`` is ``(D, I+R, O)`` (untied) or ``(I+R, O)`` (tied); ``bias`` is ``(D, 1, O)`` or
    ``(O,)``. Rows ``[:I]`` multiply the input, rows ``[I:]`` the recurrent vector.
    """

    def __init__(self, input_size: int, recurrent_size: int, out_size: int, layers: int, tied: bool):
        super().__init__()
        self.input_size, self.recurrent_size, self.out_size = input_size, recurrent_size, out_size
        self.layers, self.tied = layers, tied
        rows = input_size + recurrent_size
        if tied:
            self.weight = nn.Parameter(torch.empty(rows, out_size))
            self.bias = nn.Parameter(torch.zeros(out_size))
        else:
            self.weight = nn.Parameter(torch.empty(layers, rows, out_size))
            self.bias = nn.Parameter(torch.zeros(layers, 1, out_size))
        bound = 1.0 / math.sqrt(recurrent_size)  # torch.nn.LSTM's default: U(-1/√H, 1/√H)
        nn.init.uniform_(self.weight, -bound, bound)

    def layer_weight(self, d: int) -> tuple[Tensor, Tensor]:
        """(W (I+R, O), b (O,)) used by layer ``d``: the same tensors for every d when tied."""
        if self.tied:
            return self.weight, self.bias
        return self.weight[d], self.bias[d, 0]

    def forward(self, inp: Tensor, rec: Tensor, lo: int, hi: int) -> Tensor:
        # inp: (L, B, I), rec: (L, B, R) with L = hi - lo  ->  (L, B, O)
        z = torch.cat([inp, rec], dim=-1)  # (L, B, I+R)
        if self.tied:
            return torch.matmul(z, self.weight) + self.bias
        return _affine(z, self.weight, self.bias, lo, hi)

    def lstm(self, inp: Tensor, rec: Tensor, c_prev: Tensor, lo: int, hi: int,
             output: str = "standard") -> tuple[Tensor, Tensor]:
        """``lstm_update(self(inp, rec, lo, hi), c_prev, output)`` as ONE autograd node (same numbers).

        inp (L, B, I), rec (L, B, R), c_prev (L, B, H) -> h, c: (L, B, H).
        """
        return _LSTMStep.apply(inp, rec, c_prev, self.weight, self.bias, lo, hi, output == "paper")

    def rnn(self, inp: Tensor, rec: Tensor, lo: int, hi: int, nonlinearity: str = "tanh") -> Tensor:
        """``rnn_update(self(inp, rec, lo, hi), nonlinearity)`` as ONE autograd node -> (L, B, O)."""
        return _RNNStep.apply(inp, rec, self.weight, self.bias, lo, hi, nonlinearity == "relu")


def rnn_update(z: Tensor, nonlinearity: str) -> Tensor:
    """h = tanh(z) or relu(z).  z: (..., H) -> (..., H)."""
    return torch.tanh(z) if nonlinearity == "tanh" else torch.relu(z)


def lstm_update(z: Tensor, c_prev: Tensor, output: str = "standard") -> tuple[Tensor, Tensor]:
    """One LSTM state update from pre-activations.  z: (..., 4H), c_prev: (..., H) -> (h, c).

    i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o);  c = f⊙c_prev + i⊙g;
    h = o⊙tanh(c) ("standard") or tanh(o⊙c) ("paper").
    """
    zi, zf, zg, zo = z.chunk(4, dim=-1)
    c = torch.sigmoid(zf) * c_prev + torch.sigmoid(zi) * torch.tanh(zg)
    o = torch.sigmoid(zo)
    h = o * torch.tanh(c) if output == "standard" else torch.tanh(o * c)
    return h, c


def forget_gate(z: Tensor) -> Tensor:
    """f = σ(z_f) from pre-activations z: (..., 4H) -> (..., H); used to report memory decay."""
    return torch.sigmoid(z.chunk(4, dim=-1)[1])


# ----------------------------------------------------------------------------- fused steps
#
# The schedule runs T + D - 1 (wavefront) or T·D (naive) steps, each a handful of small ops, so
# the per-op cost of building and walking the autograd graph is a large part of a training step.
# ``_LSTMStep`` / ``_RNNStep`` compute transform + update with autograd off and write the backward
# by hand: one graph node per transform instead of ~15 (cat, baddbmm, chunk, 3 σ, 2 tanh, muls).
# ``verify.py``'s float64 gradcheck of every cell runs through these backward formulas.


# Matrix products.  torch's CPU matmul/bmm call MKL, which runs AVX2 code on AMD CPUs (about
# 95 GFLOP/s per core here); oneDNN, which torch.nn.LSTM itself uses, runs AVX-512 (120-200). Inside
# the fused steps (autograd off) a product large enough to pay for a call per layer goes through
# oneDNN's inner product, ``torch.ops.mkldnn._linear_pointwise(x, w, b) = x @ wᵀ + b``, when torch
# runs one thread: with more, one bmm spreads the layers over the threads while oneDNN's 32-row
# products do not parallelise (measured: 4 layers, B=32, 256→512: oneDNN 1.5× faster than bmm on one
# thread, bmm 1.1-1.4× faster on two).  Small products, float64, non-CPU tensors and builds without
# oneDNN keep the one bmm/addmm.
ONEDNN_MIN_MACS = 1 << 21  # B·K·O per layer; below it the per-layer calls cost more than they save


@functools.lru_cache(maxsize=1)
def onednn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _use_onednn(X: Tensor, W: Tensor) -> bool:
    """Route the products of a fused step through oneDNN?  X: (L, B, K), W: (..., K, O)."""
    return (torch.get_num_threads() == 1  # first: the cheapest test, and false on two threads
            and X.device.type == "cpu" and X.dtype == torch.float32 and W.dtype == torch.float32
            and X.shape[1] * X.shape[2] * W.shape[-1] >= ONEDNN_MIN_MACS and onednn_available())


def onednn_linear(x: Tensor, w: Tensor, b: Optional[Tensor] = None) -> Tensor:
    """x @ wᵀ + b by oneDNN.  x: (M, K), w: (N, K) -> (M, N)."""
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")


def _layer(W: Tensor, lo: int, hi: int) -> Tensor:
    """Layers lo..hi-1 of an untied (D, ...) tensor, without a view when that is all of it."""
    return W if hi - lo == W.shape[0] else W[lo:hi]


def _affine(X: Tensor, W: Tensor, b: Tensor, lo: int, hi: int, dnn: bool = False) -> Tensor:
    """X @ W[lo:hi] + b[lo:hi] (untied, one baddbmm) or X @ W + b (tied, one addmm).  X: (L, B, K)."""
    L, B, K = X.shape
    if W.dim() == 2:  # tied: every layer and example is a row of one matmul
        X2 = X.reshape(L * B, K)
        z = onednn_linear(X2, W.T, b) if dnn else torch.addmm(b, X2, W)
        return z.view(L, B, W.shape[-1])
    W, b = _layer(W, lo, hi), _layer(b, lo, hi)  # slice only when needed: its backward zero-fills D
    if dnn:
        return torch.stack([onednn_linear(X[j], W[j].T, b[j, 0]) for j in range(L)])
    return torch.baddbmm(b, X, W)


def _weight_grads(X: Tensor, dz: Tensor, W: Tensor, lo: int, hi: int, dnn: bool) -> tuple[Tensor, Tensor]:
    """∂/∂W and ∂/∂b of _affine given dz = ∂L/∂z.  X: (L, B, K), dz: (L, B, O)."""
    L, B, K = X.shape
    if W.dim() == 2:
        X2, dz2 = X.reshape(L * B, K), dz.reshape(L * B, -1)
        return (onednn_linear(X2.T, dz2.T) if dnn else X2.T @ dz2), dz2.sum(0)
    if dnn:
        dW = torch.stack([onednn_linear(X[j].T, dz[j].T) for j in range(L)])  # (L, K, O)
    else:
        dW = torch.bmm(X.transpose(1, 2), dz)                              # (L, K, O)
    db = dz.sum(1, keepdim=True)                                           # (L, 1, O)
    if hi - lo < W.shape[0]:
        full_W, full_b = W.new_zeros(W.shape), W.new_zeros(W.shape[0], 1, W.shape[-1])
        full_W[lo:hi], full_b[lo:hi] = dW, db
        return full_W, full_b
    return dW, db


def _input_grads(dz: Tensor, W: Tensor, lo: int, hi: int, n_inp: int, dnn: bool) -> tuple[Tensor, Tensor]:
    """∂L/∂input, ∂L/∂recurrent: dz @ Wᵀ split at row I.  dz: (L, B, O)."""
    L, B, N = dz.shape
    if W.dim() == 2:
        dX = (onednn_linear(dz.reshape(L * B, N), W) if dnn else dz.reshape(L * B, N) @ W.T).view(L, B, -1)
    else:
        W = _layer(W, lo, hi)
        dX = torch.stack([onednn_linear(dz[j], W[j]) for j in range(L)]) if dnn else torch.bmm(dz, W.transpose(1, 2))
    return dX.narrow(-1, 0, n_inp), dX.narrow(-1, n_inp, dX.shape[-1] - n_inp)


def lstm_gates_(z: Tensor, H: int) -> Tensor:
    """Pre-activations z (..., 4H) -> gates (i, f, g, o) = (σ, σ, tanh, σ), in place; returns z."""
    z.narrow(-1, 0, 2 * H).sigmoid_()  # narrow: cheaper to call than z[..., a:b]
    g_slot = z.narrow(-1, 2 * H, H)
    g_slot.copy_(g_slot.contiguous().tanh_())  # strided tanh_ runs on one thread: 2× slower on two
    z.narrow(-1, 3 * H, H).sigmoid_()
    return z


def lstm_gate_grads(G: Tensor, c_prev: Tensor, c: Tensor, tau: Tensor, dh: Tensor, dc: Tensor,
                    paper: bool) -> tuple[Tensor, Tensor]:
    """Backward of one LSTM update from its gates: (δz (..., 4H), total δc (..., H)).

    G = (i, f, g, o) (..., 4H); τ = tanh(c), or tanh(o⊙c) with ``paper``; δh, δc from downstream.
        standard:  δo = δh⊙τ,              δc += δh⊙o⊙(1 − τ²)
        paper:     δu = δh⊙(1 − τ²),  δo = δu⊙c,  δc += δu⊙o
        δz = [δc⊙g⊙i(1−i),  δc⊙c_prev⊙f(1−f),  δc⊙i⊙(1−g²),  δo⊙o(1−o)]
    """
    H = c.shape[-1]
    i, f, g, o = G.unflatten(-1, (4, H)).unbind(-2)  # views (Tensor.split's Python wrapper is slower)
    dtau = torch.addcmul(torch.ones_like(tau), tau, tau, value=-1.0)  # 1 − τ²
    if paper:
        du = dh * dtau
        do, dc = du * c, torch.addcmul(dc, du, o)
    else:
        do, dc = dh * tau, torch.addcmul(dc, dh * o, dtau)
    dz = torch.addcmul(G, G, G, value=-1.0)   # σ'(z) = s(1−s) in the i, f, o slots
    dz4 = dz.unflatten(-1, (4, H))             # (..., 4, H) view
    dz_i, dz_f, dz_g, dz_o = dz4.unbind(-2)
    dz_g.sub_(g).add_(1.0)                     # g slot: g − g² → 1 − g²
    dz_i.mul_(g)
    dz_f.mul_(c_prev)
    dz_g.mul_(i)
    dz4[..., :3, :].mul_(dc.unsqueeze(-2))
    dz_o.mul_(do)
    return dz, dc


class _LSTMStep(torch.autograd.Function):
    """z = [inp; rec] W + b;  i, f, g, o = σ, σ, tanh, σ;  c = f⊙c_prev + i⊙g;
    h = o⊙tanh(c)  (or tanh(o⊙c) with ``paper``).

    Backward, with δh = ∂L/∂h and δc = ∂L/∂c from downstream, τ = tanh(c) (or tanh(o⊙c)):
        standard:  δo = δh⊙τ,              δc += δh⊙o⊙(1 − τ²)
        paper:     δu = δh⊙(1 − τ²),  δo = δu⊙c,  δc += δu⊙o
        δz = [δc⊙g⊙i(1−i),  δc⊙c_prev⊙f(1−f),  δc⊙i⊙(1−g²),  δo⊙o(1−o)],   δc_prev = δc⊙f
        δ[inp; rec] = δz Wᵀ,   δW = [inp; rec]ᵀ δz,   δb = Σ_batch δz
    """

    @staticmethod
    def forward(ctx, inp, rec, c_prev, W, b, lo, hi, paper):
        X = torch.cat([inp, rec], dim=-1)  # (L, B, I+R)
        dnn = _use_onednn(X, W)
        H = c_prev.shape[-1]
        G = lstm_gates_(_affine(X, W, b, lo, hi, dnn), H)  # (L, B, 4H): i, f, g, o
        i, f, g, o = G.unflatten(-1, (4, H)).unbind(-2)
        c = torch.addcmul(f * c_prev, i, g)
        tau = torch.tanh(o * c) if paper else torch.tanh(c)
        h = tau if paper else o * tau
        ctx.save_for_backward(X, W, G, c_prev, c, tau)
        ctx.lo, ctx.hi, ctx.paper, ctx.n_inp, ctx.dnn = lo, hi, paper, inp.shape[-1], dnn
        return h, c

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dh, dc):
        X, W, G, c_prev, c, tau = ctx.saved_tensors
        dz, dc = lstm_gate_grads(G, c_prev, c, tau, dh, dc, ctx.paper)
        f = G.narrow(-1, c.shape[-1], c.shape[-1])
        d_inp = d_rec = dW = db = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            d_inp, d_rec = _input_grads(dz, W, ctx.lo, ctx.hi, ctx.n_inp, ctx.dnn)
        if ctx.needs_input_grad[3] or ctx.needs_input_grad[4]:
            dW, db = _weight_grads(X, dz, W, ctx.lo, ctx.hi, ctx.dnn)
        return d_inp, d_rec, dc * f, dW, db, None, None, None


class _RNNStep(torch.autograd.Function):
    """h = φ([inp; rec] W + b), φ = tanh or relu.  Backward: δz = δh⊙(1 − h²) (tanh) or δh⊙[h > 0]."""

    @staticmethod
    def forward(ctx, inp, rec, W, b, lo, hi, relu):
        X = torch.cat([inp, rec], dim=-1)  # (L, B, I+R)
        dnn = _use_onednn(X, W)
        h = _affine(X, W, b, lo, hi, dnn)
        h = h.relu_() if relu else h.tanh_()
        ctx.save_for_backward(X, W, h)
        ctx.lo, ctx.hi, ctx.relu, ctx.n_inp, ctx.dnn = lo, hi, relu, inp.shape[-1], dnn
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dh):
        X, W, h = ctx.saved_tensors
        if ctx.relu:
            dz = dh * (h > 0)
        else:
            dz = torch.addcmul(dh, dh * h, h, value=-1.0)  # δh (1 − h²)
        d_inp = d_rec = dW = db = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            d_inp, d_rec = _input_grads(dz, W, ctx.lo, ctx.hi, ctx.n_inp, ctx.dnn)
        if ctx.needs_input_grad[2] or ctx.needs_input_grad[3]:
            dW, db = _weight_grads(X, dz, W, ctx.lo, ctx.hi, ctx.dnn)
        return d_inp, d_rec, dW, db, None, None, None

