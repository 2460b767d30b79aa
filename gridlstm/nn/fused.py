"""The fused kernels: the fast paths that training and the probes run, each computing the readable
equations of core.py (and of the cells) with autograd off and a hand-written backward.

``tests/test_schedule.py`` and ``gradcheck --verify`` (probe/verify.py) check every one against the
readable formulation in float64. Here:

    LSTMStep / RNNStep      transform + update of layers lo..hi-1 as ONE autograd node (the
                            wavefront's and the naive order's steps; ``GateTransform.lstm`` / ``.rnn``)
    lstm_rows (LSTMRows)    one LSTM update over T·B independent rows (the grid's depth LSTM in the
                            layer-by-layer order), and ``rows_input_grad``, its backward for a probe
    affine, rows_product    the products, through oneDNN where that is faster (below)
    lstm_gates_, lstm_gate_grads   the gates in place, and their backward
"""
from __future__ import annotations

import functools
from typing import Optional

import torch
from torch import Tensor

# ----------------------------------------------------------------------------- fused steps
#
# The schedule runs T + D - 1 (wavefront) or T·D (naive) steps, each a handful of small ops, so
# the per-op cost of building and walking the autograd graph is a large part of a training step.
# ``LSTMStep`` / ``RNNStep`` compute transform + update with autograd off and write the backward
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


def affine(X: Tensor, W: Tensor, b: Tensor, lo: int, hi: int, dnn: bool = False) -> Tensor:
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
    """∂/∂W and ∂/∂b of affine given dz = ∂L/∂z.  X: (L, B, K), dz: (L, B, O)."""
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


# Products over T·B rows. On the CPU in float32 oneDNN's inner product runs AVX-512 and splits its
# rows over the threads: 2.5-3x torch's MKL (AVX2) ``mm`` for the forward and δX products at
# (6400 x 256) @ (256 x 512), two threads (benchmarks/notes.md). It needs contiguous (N, K) weights:
# a strided view is 60-100x slower, so the (K, O) weight is transposed once per call (O(K·O)).
# The weight gradient Xᵀδz contracts over the rows, which neither operand has contiguous: it stays
# on ``mm`` (a oneDNN product after two transposed copies was only 1.1-1.4x faster).

def _dnn(x: Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype == torch.float32 and onednn_available()


def rows_product(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """x @ w + b.  x (M, K), w (K, O), b (O,) -> (M, O)."""
    return onednn_linear(x, w.T.contiguous(), b) if _dnn(x) else torch.addmm(b, x, w)


def rows_product_t(dz: Tensor, w: Tensor) -> Tensor:
    """dz @ wᵀ.  dz (M, O), w (K, O) -> (M, K)."""
    return onednn_linear(dz, w.contiguous()) if _dnn(dz) else dz @ w.T


def lstm_gates_(z: Tensor, H: int) -> Tensor:
    """Pre-activations z (..., 4H) -> gates (i, f, g, o) = (σ, σ, tanh, σ), in place; returns z."""
    z.narrow(-1, 0, 2 * H).sigmoid_()  # narrow: cheaper to call than z[..., a:b]
    g_slot = z.narrow(-1, 2 * H, H)
    g_slot.copy_(g_slot.contiguous().tanh_())  # strided tanh_ runs on one thread: 2× slower on two
    z.narrow(-1, 3 * H, H).sigmoid_()
    return z


# In-place unary ops on a strided gate slice (``z[:, a:b].sigmoid_()``) run several times slower on
# T·B rows than the same op on the whole contiguous tensor (measured at (32 000, 4·64), two threads:
# ``lstm_gates_`` 31 ms against 8.5 ms for the version below, a clone subtracted from both).
# ``lstm_gates_`` keeps its form for the wavefront's 32-row steps; this one is for the T·B-row pass. (The
# backward's strided in-place ops rewritten the same way were slower: the extra temporaries cost more.)

def _gates_rows(z: Tensor, H: int) -> Tensor:
    """``lstm_gates_`` (gates (i, f, g, o) = (σ, σ, tanh, σ) of z, in place) with one σ over the
    whole contiguous z and the g slot's tanh written back.  z (M, 4H) -> z."""
    g = z.narrow(-1, 2 * H, H)
    tanh_g = g.tanh()
    z.sigmoid_()
    g.copy_(tanh_g)
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


class LSTMStep(torch.autograd.Function):
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
        G = lstm_gates_(affine(X, W, b, lo, hi, dnn), H)  # (L, B, 4H): i, f, g, o
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


def lstm_rows(inp: Tensor, rec: Tensor, c_prev: Tensor, W: Tensor, b: Tensor,
              output: str = "standard", sink: Optional[dict] = None) -> tuple[Tensor, Tensor]:
    """One LSTM update on every row at once, no recurrence:  z = [inp; rec] W + b,
    (h, c) = lstm_update(z, c_prev, output).  inp (T, B, I), rec (T, B, R), c_prev (T, B, H),
    W (I+R, 4H), b (4H,)  ->  h, c (T, B, H).  One product forward, two backward (``LSTMRows``);
    ``sink`` (a dict, optional) gets the forget gates ``f`` (T, B, H), and the gates ``G`` and τ
    (``rows_input_grad``'s inputs) over the T·B rows."""
    T, B = inp.shape[:2]
    h, c = LSTMRows.apply(inp.reshape(T * B, -1), rec.reshape(T * B, -1), c_prev.reshape(T * B, -1),
                           W, b, output == "paper", sink)
    if sink is not None:
        sink["f"] = sink["f"].view(T, B, -1)
    return h.view(T, B, -1), c.view(T, B, -1)


def rows_input_grad(sink: dict, c_prev: Tensor, c: Tensor, dh: Tensor, dc: Tensor, w_in: Optional[Tensor],
                    paper: bool) -> tuple[Optional[Tensor], Tensor]:
    """(∂L/∂inp, total ∂L/∂c) of ``lstm_rows`` given δh, δc at its outputs: δz W_inᵀ with δz from the
    gates its forward left in ``sink``, and δc + δh ∂h/∂c (``lstm_gate_grads``).
    c_prev, c, dh, dc (M, H), w_in (I, 4H) -> (M, I), (M, H); w_in None: no ∂L/∂inp (None)."""
    dz, dc_total = lstm_gate_grads(sink["G"], c_prev, c, sink["tau"], dh, dc, paper)
    return (None if w_in is None else rows_product_t(dz, w_in)), dc_total


class LSTMRows(torch.autograd.Function):
    """``LSTMStep`` for one layer's weights over M = T·B independent rows (same equations and
    backward formulas, ``lstm_gate_grads``):  X = [inp; rec],  G = gates(X W + b),
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


class RNNStep(torch.autograd.Function):
    """h = φ([inp; rec] W + b), φ = tanh or relu.  Backward: δz = δh⊙(1 − h²) (tanh) or δh⊙[h > 0]."""

    @staticmethod
    def forward(ctx, inp, rec, W, b, lo, hi, relu):
        X = torch.cat([inp, rec], dim=-1)  # (L, B, I+R)
        dnn = _use_onednn(X, W)
        h = affine(X, W, b, lo, hi, dnn)
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
