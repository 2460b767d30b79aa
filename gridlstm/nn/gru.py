"""The gated recurrent unit (Cho et al. 2014) with PyTorch's equations (``torch.nn.GRUCell``).

    r  = σ(W_ir x + b_ir + W_hr h + b_hr)
    z  = σ(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h                      x = h[t,d-1] (input), h = h[t-1,d] (recurrent)

n needs its input part and its recurrent part apart, so the ONE gate transform over [x; h] has four
H-column blocks (r, z, n_x, n_h), and n_x reads only the input rows, n_h only the recurrent rows:

    W = [[W_irᵀ, W_izᵀ, W_inᵀ, 0    ],     b = [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]
         [W_hrᵀ, W_hzᵀ, 0,     W_hnᵀ]]     (rows: I input, then R recurrent)

The two zero blocks are structural (``BlockTransform``): the product uses W ⊙ M for a fixed 0/1 mask
M, so they get no gradient and stay zero. Memory: ∂h'/∂h = diag(z) + (the paths through r, z, n),
so the update gate z carries h along time as the forget gate carries an LSTM's c. No fused step:
``forward`` is the reference formulation itself. A whole layer (the layerwise schedule) runs on
``torch.gru`` with the same weights regrouped as torch's (r, z, n): w_ih = the input rows of blocks
r, z, n_x; w_hh = the recurrent rows of r, z, n_h; b_ih = (b_r, b_z, b_in); b_hh = (0, 0, b_hn).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .cells import INIT, TIME, Block, Cell, Cost, LayerParams, Memory, States, orthogonal_blocks_
from .core import GateTransform, forget_gate
from .layerwise import gru_sequence


class BlockTransform(GateTransform):
    """``z = [inp; rec] (W ⊙ M) + b`` with a fixed 0/1 mask M (I+R, O): W's zero blocks stay zero."""

    mask: Tensor  # a buffer (I+R, O)

    def __init__(self, input_size: int, recurrent_size: int, out_size: int, layers: int, tied: bool,
                 mask: Tensor):
        super().__init__(input_size, recurrent_size, out_size, layers, tied)
        self.register_buffer("mask", mask, persistent=False)
        self.fixed_zeros = int((mask == 0).sum()) * (1 if tied else layers)  # not free parameters
        with torch.no_grad():
            self.weight.mul_(mask)

    def layer_weight(self, d: int) -> tuple[Tensor, Tensor]:
        W, b = super().layer_weight(d)
        return W * self.mask, b

    def product_weight(self) -> Tensor:
        return self.weight * self.mask


def gru_mask(input_size: int, hidden: int) -> Tensor:
    """1 where W may be non-zero: n_x (block 2) reads only the input rows, n_h (block 3) only the
    recurrent ones.  -> (I+H, 4H)."""
    mask = torch.ones(input_size + hidden, 4 * hidden)
    mask[input_size:, 2 * hidden:3 * hidden] = 0
    mask[:input_size, 3 * hidden:] = 0
    return mask


def gru_update(z: Tensor, h_prev: Tensor) -> Tensor:
    """h' from the pre-activations z (..., 4H) = (r, z, n_x, n_h) and h_prev (..., H)."""
    zr, zz, zx, zh = z.chunk(4, dim=-1)
    r, u = torch.sigmoid(zr), torch.sigmoid(zz)
    n = torch.tanh(zx + r * zh)
    return (1 - u) * n + u * h_prev


class GRUCell(Cell):
    """Stacked GRU layer: h[t,d] = GRU(input h[t,d-1]; recurrent h[t-1,d]), the equations above."""

    kind, colors, cost, options = "gru", ("#CC79A7", "RdPu"), Cost(6, 4, 20), {"init": INIT}
    state_names, right_idx, up_idx, state_labels = ("h",), (0,), (0,), {"h": TIME["h"]}
    memories = {"h": Memory("time", "update gate", "z", "update_gate", False)}
    depth_carrier = "h"

    def __init__(self, hidden: int, layers: int, tied: bool, init: str = "default"):
        super().__init__(hidden, layers)
        self.transform = BlockTransform(hidden, hidden, 4 * hidden, layers, tied, gru_mask(hidden, hidden))
        with torch.no_grad():
            self.transform.bias.zero_()
        if init == "orthogonal":
            orthogonal_blocks_(self.transform, (0, 1, 3))  # the recurrent blocks r, z, n_h

    def reference(self, below: States, left: States, lo: int, hi: int) -> Block:
        z = self.transform(below[0], left[0], lo, hi)  # (L, B, 4H): r, z, n_x, n_h
        return Block((gru_update(z, left[0]),), {"h": forget_gate(z)})  # σ(z_z): the update gate

    def layer(self, below: States, left0: States, p: LayerParams, d: int) -> States:
        # torch.gru over t; the masked blocks (n_x's recurrent rows, n_h's input rows) are not read
        W, b = p["transform"]  # (I+H, 4H): r, z, n_x, n_h;  (4H,)
        H = self.hidden
        w_x = W[:H, :3 * H]                                     # input rows of r, z, n_x
        w_h = torch.cat([W[H:, :2 * H], W[H:, 3 * H:]], dim=1)   # recurrent rows of r, z, n_h
        b_h = torch.cat([b.new_zeros(2 * H), b[3 * H:]])         # b_hn sits inside r ⊙ (...)
        return (gru_sequence(below[0], left0[0], w_x, w_h, b[:3 * H], b_h),)
