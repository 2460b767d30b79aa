"""Cells: one block of the (time × depth) grid, computed for a run of layers at once, with no loop.

A cell maps the state arriving from *below* (the same timestep t, layer d-1) and the state arriving
from the *left* (timestep t-1, the same layer d) to the block's state at (t, d):

    state[t, d] = cell(below = up(state[t, d-1]),  left = right(state[t-1, d]))

``right`` selects what travels along time, ``up`` what travels along depth. Every tensor is
``(L, B, H)``: L consecutive layers ``lo..hi-1`` evaluated together (L = 1 in the naive schedule,
a whole anti-diagonal in the wavefront schedule). The schedule (``schedule.py``) owns the loop.

| cell       | state                      | right    | up         | bottom input (layer 0)  |
|------------|----------------------------|----------|------------|-------------------------|
| RNNCell    | (h,)                       | (h,)     | (h,)       | (P·x,)                  |
| LSTMCell   | (h, c)                     | (h, c)   | (h,)       | (P·x,)                  |
| GridSeed   | (h, c, h', c')             | (h, c)   | (h', c')   | (P·x, P·x)              |
| GridPaper  | (h, m, h', m')             | (h, m)   | (h', m')   | (P·x, 0)                |

The first element of ``up`` is the block's output; the top layer's is fed to the readout.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .core import GateTransform

States = tuple[Tensor, ...]


class Cell(nn.Module):
    """Base class: subclasses set the names/indices and implement ``forward`` and ``bottom``."""

    state_names: tuple[str, ...]
    right_idx: tuple[int, ...]
    up_idx: tuple[int, ...]

    def __init__(self, hidden: int, layers: int):
        super().__init__()
        self.hidden, self.layers = hidden, layers

    def right(self, state: States) -> States:
        return tuple(state[i] for i in self.right_idx)

    def up(self, state: States) -> States:
        return tuple(state[i] for i in self.up_idx)

    def initial_left(self, batch: int, like: Tensor) -> States:
        """h[0, d] = c[0, d] = 0 for every layer: tuple of (D, B, H) zeros."""
        zeros = like.new_zeros(self.layers, batch, self.hidden)
        return tuple(zeros for _ in self.right_idx)

    def bottom(self, px: Tensor) -> States:
        """The ``up`` state entering layer 0 at every t.  px = P·x: (T, B, H)."""
        return (px,)

    def transforms(self) -> dict[str, GateTransform]:
        return {name: m for name, m in self.named_children() if isinstance(m, GateTransform)}


def _init_lstm_transform(tr: GateTransform, forget_bias: float, init: str) -> None:
    H = tr.recurrent_size
    with torch.no_grad():
        tr.bias.zero_()
        tr.bias[..., H:2 * H] = forget_bias  # gate order (i, f, g, o)
        if init == "orthogonal":
            for W in _layer_views(tr):
                for k in range(4):
                    nn.init.orthogonal_(W[tr.input_size:, k * H:(k + 1) * H])


def _layer_views(tr: GateTransform) -> list[Tensor]:
    return [tr.weight] if tr.tied else list(tr.weight)


class RNNCell(Cell):
    """Naive (Elman) RNN, seed Q1:  h[t,d] = φ(W_ih·h[t,d-1] + W_hh·h[t-1,d] + b)."""

    state_names, right_idx, up_idx = ("h",), (0,), (0,)

    def __init__(self, hidden: int, layers: int, tied: bool, nonlinearity: str = "tanh",
                 init: str = "default"):
        super().__init__(hidden, layers)
        self.nonlinearity = nonlinearity
        self.transform = GateTransform(hidden, hidden, hidden, layers, tied)
        with torch.no_grad():
            self.transform.bias.zero_()
            for W in _layer_views(self.transform):
                if init == "orthogonal":
                    nn.init.orthogonal_(W[hidden:])
                elif init == "identity":  # IRNN (Le, Jaitly, Hinton 2015)
                    W[hidden:].copy_(torch.eye(hidden))
                    nn.init.normal_(W[:hidden], std=0.001)

    def forward(self, below: States, left: States, lo: int, hi: int) -> States:
        # below = (h[t,d-1],), left = (h[t-1,d],): each (L, B, H)
        return (self.transform.rnn(below[0], left[0], lo, hi, self.nonlinearity),)  # = rnn_update(z)


class LSTMCell(Cell):
    """Stacked LSTM layer: (h[t,d], c[t,d]) = LSTM(input h[t,d-1]; recurrent h[t-1,d], c[t-1,d])."""

    state_names, right_idx, up_idx = ("h", "c"), (0, 1), (0,)

    def __init__(self, hidden: int, layers: int, tied: bool, forget_bias: float = 1.0,
                 init: str = "default"):
        super().__init__(hidden, layers)
        self.transform = GateTransform(hidden, hidden, 4 * hidden, layers, tied)
        _init_lstm_transform(self.transform, forget_bias, init)

    def forward(self, below: States, left: States, lo: int, hi: int) -> States:
        return self.transform.lstm(below[0], left[0], left[1], lo, hi)  # = lstm_update(z, c[t-1,d])


class GridSeedCell(Cell):
    """2D Grid LSTM block exactly as the seed (Q2) writes it; primes mark the depth direction.

    time LSTM   (input C'[t,d-1], recurrent h[t-1,d], memory C[t-1,d]):
        i = σ(W_ii C' + W_hi h + b_i)   f = σ(W_if C' + W_hf h + b_f)
        o = σ(W_io C' + W_ho h + b_o)   g = tanh(W_ig C' + W_hg h + b_g)
        C[t,d] = f⊙C[t-1,d] + i⊙g          H[t,d] = o⊙tanh(C[t,d])
    depth LSTM  (input H[t,d], recurrent h'[t,d-1], memory C'[t,d-1]): the same with primed weights
        C'[t,d] = f'⊙C'[t,d-1] + i'⊙g'     H'[t,d] = o'⊙tanh(C'[t,d])
    bottom: h'[t,0] = C'[t,0] = P·x_t.  Output at time t: H'[t,D].
    """

    state_names, right_idx, up_idx = ("h", "c", "h_depth", "c_depth"), (0, 1), (2, 3)

    def __init__(self, hidden: int, layers: int, tied: bool, forget_bias: float = 1.0,
                 init: str = "default"):
        super().__init__(hidden, layers)
        self.time = GateTransform(hidden, hidden, 4 * hidden, layers, tied)
        self.depth = GateTransform(hidden, hidden, 4 * hidden, layers, tied)
        for tr in (self.time, self.depth):
            _init_lstm_transform(tr, forget_bias, init)

    def bottom(self, px: Tensor) -> States:
        return (px, px)

    def forward(self, below: States, left: States, lo: int, hi: int) -> States:
        h_below, c_below = below  # h'[t,d-1], C'[t,d-1]: (L, B, H)
        h_left, c_left = left     # h[t-1,d],  C[t-1,d]:  (L, B, H)
        h, c = self.time.lstm(c_below, h_left, c_left, lo, hi)
        h_depth, c_depth = self.depth.lstm(h, h_below, c_below, lo, hi)
        return h, c, h_depth, c_depth


class GridPaperCell(Cell):
    """2D Grid LSTM block of Kalchbrenner, Danihelka & Graves (2015), §3.1–3.5.

        Hc = [h[t-1,d]; h'[t,d-1]]
        (h[t,d],  m[t,d])  = LSTM(Hc, m[t-1,d];  W_time)
        (h'[t,d], m'[t,d]) = LSTM(Hc, m'[t,d-1]; W_depth)
    priority "depth": the depth LSTM reads [h[t,d] (new); h'[t,d-1]] instead of Hc.
    output "standard": h = o⊙tanh(m);  output "paper": h = tanh(o⊙m) (the paper's eq. 3).
    bottom: h'[t,0] = P·x_t, m'[t,0] = 0.  Output at time t: h'[t,D].
    """

    state_names, right_idx, up_idx = ("h", "m", "h_depth", "m_depth"), (0, 1), (2, 3)

    def __init__(self, hidden: int, layers: int, tied: bool, forget_bias: float = 1.0,
                 init: str = "default", priority: str = "none", output: str = "standard"):
        super().__init__(hidden, layers)
        self.priority, self.output = priority, output
        self.time = GateTransform(hidden, hidden, 4 * hidden, layers, tied)
        self.depth = GateTransform(hidden, hidden, 4 * hidden, layers, tied)
        for tr in (self.time, self.depth):
            _init_lstm_transform(tr, forget_bias, init)

    def bottom(self, px: Tensor) -> States:
        return (px, torch.zeros_like(px))

    def forward(self, below: States, left: States, lo: int, hi: int) -> States:
        h_below, m_below = below  # h'[t,d-1], m'[t,d-1]: (L, B, H)
        h_left, m_left = left     # h[t-1,d],  m[t-1,d]:  (L, B, H)
        h, m = self.time.lstm(h_left, h_below, m_left, lo, hi, self.output)
        h_in = h if self.priority == "depth" else h_left
        h_depth, m_depth = self.depth.lstm(h_in, h_below, m_below, lo, hi, self.output)
        return h, m, h_depth, m_depth
