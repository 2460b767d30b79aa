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

This module is the readable reference: the equations above, as written. The cells train through
``GateTransform.lstm`` / ``.rnn``, transform and update computed as ONE autograd node with a
hand-written backward (same numbers as ``lstm_update(transform(...))``): those fused kernels, and
the products they route through oneDNN, are fused.py's.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .fused import LSTMStep, RNNStep, affine


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

    def product_weight(self) -> Tensor:
        """The weight the product multiplies: ``weight`` itself (a BlockTransform masks it)."""
        return self.weight

    def forward(self, inp: Tensor, rec: Tensor, lo: int, hi: int) -> Tensor:
        # inp: (L, B, I), rec: (L, B, R) with L = hi - lo  ->  (L, B, O)
        z, W = torch.cat([inp, rec], dim=-1), self.product_weight()  # (L, B, I+R)
        if self.tied:
            return torch.matmul(z, W) + self.bias
        return affine(z, W, self.bias, lo, hi)

    def lstm(self, inp: Tensor, rec: Tensor, c_prev: Tensor, lo: int, hi: int,
             output: str = "standard") -> tuple[Tensor, Tensor]:
        """``lstm_update(self(inp, rec, lo, hi), c_prev, output)`` as ONE autograd node (same numbers).

        inp (L, B, I), rec (L, B, R), c_prev (L, B, H) -> h, c: (L, B, H).
        """
        return LSTMStep.apply(inp, rec, c_prev, self.weight, self.bias, lo, hi, output == "paper")

    def rnn(self, inp: Tensor, rec: Tensor, lo: int, hi: int, nonlinearity: str = "tanh") -> Tensor:
        """``rnn_update(self(inp, rec, lo, hi), nonlinearity)`` as ONE autograd node -> (L, B, O)."""
        return RNNStep.apply(inp, rec, self.weight, self.bias, lo, hi, nonlinearity == "relu")


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
    """f = σ(z_f), the second of the four H-column blocks of pre-activations z: (..., 4H) -> (..., H);
    the GRU's update gate σ(z_z) is the same block (gru.py). Used to report memory decay."""
    return torch.sigmoid(z.chunk(4, dim=-1)[1])
