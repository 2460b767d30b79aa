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

``Cell.layer`` is the same block for ONE layer d over all T steps at once, for the layer-by-layer
schedule (``layerwise.py``): it maps the layer's ``up`` sequence from below (each (T, B, H)) and its
initial ``right`` state (each (B, H)) to its own ``up`` sequence, on fused whole-sequence kernels.
It gives the numbers of ``forward`` run for t = 0..T-1 (tests/test_schedule.py, float64).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .core import GateTransform
from .layerwise import lstm_rows, lstm_sequence, rnn_sequence

States = tuple[Tensor, ...]
LayerParams = dict[str, tuple[Tensor, Tensor]]  # transform name -> (W (I+R, O), b (O,)) of one layer


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

    def layer_params(self) -> list[LayerParams]:
        """Per layer d, every transform's (W[d], b[d]): the stacked parameters unbound ONCE (their
        backward is one stack, where D separate ``W[d]`` views would zero-fill D full gradients)."""
        per = {}
        for name, tr in self.transforms().items():
            if tr.tied:
                per[name] = [(tr.weight, tr.bias)] * self.layers
            else:
                per[name] = list(zip(tr.weight.unbind(0), tr.bias.view(self.layers, -1).unbind(0), strict=True))
        return [{name: per[name][d] for name in per} for d in range(self.layers)]

    def layer(self, below: States, left0: States, p: LayerParams) -> States:
        """Layer d over every t: below = up(state[·, d-1]) (each (T, B, H)), left0 = right(state[-1, d])
        (each (B, H)), p = ``layer_params()[d]``  ->  up(state[·, d]) (each (T, B, H))."""
        raise NotImplementedError


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

    def layer(self, below: States, left0: States, p: LayerParams) -> States:
        # h[t,d] = φ(h[t,d-1] W[:H] + h[t-1,d] W[H:] + b): torch.rnn_tanh / rnn_relu over t
        W, b = p["transform"]
        H = self.hidden
        return (rnn_sequence(below[0], left0[0], W[:H], W[H:], b, self.nonlinearity),)


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

    def layer(self, below: States, left0: States, p: LayerParams) -> States:
        # input h[·,d-1] (rows W[:H]), recurrent h[t-1,d] (rows W[H:]), memory c: torch.lstm over t
        W, b = p["transform"]
        H = self.hidden
        return (lstm_sequence(below[0], left0[0], left0[1], W[:H], W[H:], b),)


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

    def layer(self, below: States, left0: States, p: LayerParams) -> States:
        # time LSTM: an ordinary LSTM over t with input C'[·,d-1] (torch.lstm); its H[·,d] then
        # completes every depth LSTM input (H[t,d], h'[t,d-1], C'[t,d-1]): one update over T·B rows.
        h_below, c_below = below
        (W, b), H = p["time"], self.hidden
        h = lstm_sequence(c_below, left0[0], left0[1], W[:H], W[H:], b)   # H[·,d]
        return lstm_rows(h, h_below, c_below, *p["depth"])               # H'[·,d], C'[·,d]


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

    def layer(self, below: States, left0: States, p: LayerParams) -> States:
        # time LSTM: input h'[·,d-1] (rows W[H:]), recurrent h[t-1,d] (rows W[:H]), memory m; then
        # the depth LSTM reads [h[t-1,d] (h[t,d] with depth priority); h'[t,d-1]] and m'[t,d-1],
        # all known by now: one update over T·B rows.  Output "paper": time loop (_LSTMLayer).
        h_below, m_below = below
        h0, m0 = left0
        (W, b), H = p["time"], self.hidden
        h = lstm_sequence(h_below, h0, m0, W[H:], W[:H], b, self.output)  # h[·,d]
        h_in = h if self.priority == "depth" else torch.cat([h0.unsqueeze(0), h[:-1]])  # h[t-1,d]
        return lstm_rows(h_in, h_below, m_below, *p["depth"], self.output)  # h'[·,d], m'[·,d]
