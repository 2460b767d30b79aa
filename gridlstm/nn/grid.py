"""The two 2D Grid LSTM blocks (docs/models.md): the assignment's formulation and the paper's."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, zeros_like

from .cells import (
    FORGET,
    LSTM_OPTIONS,
    TIME,
    Block,
    Cell,
    Cost,
    LayerParams,
    Memory,
    Option,
    States,
    _init_lstm_transform,
    outgoing_of,
)
from .core import GateTransform, forget_gate, lstm_update
from .fused import lstm_rows, rows_input_grad
from .layerwise import lstm_sequence
from .timeloop import hidden_to_memory, lstm_loop, tap


def _depth_use(up: dict, c_prev: Tensor, c: Tensor, dh: Tensor, dc: Tensor, w_in: Optional[Tensor],
               paper: bool) -> tuple[Optional[Tensor], Tensor]:
    """(∂L/∂(the depth LSTM's input), total ∂L/∂c') of a probed layer, each (T, B, H), given the
    outgoing δh', δc' at its outputs (c' also makes h' inside the block); w_in None: only the latter."""
    T, B, H = c.shape
    c_prev, c, dh, dc = (s.reshape(T * B, H) for s in (c_prev, c, dh, dc))
    d_in, dc_total = rows_input_grad(up, c_prev, c, dh, dc, w_in, paper)
    return (None if d_in is None else d_in.view(T, B, -1)), dc_total.view(T, B, H)


DEPTH_FORGET = Memory("depth", "depth forget gate", "f'", "forget_gate_depth", True)


class _GridCell(Cell):
    """Two LSTMs per block, one per direction: ``time`` and ``depth`` gate transforms."""

    kind, colors, cost = "grid", ("#009E73", "Greens"), Cost(16, 8, 21)
    right_idx, up_idx = (0, 1), (2, 3)

    def __init__(self, hidden: int, layers: int, tied: bool, forget_bias: float = 1.0,
                 init: str = "default"):
        super().__init__(hidden, layers)
        self.time = GateTransform(hidden, hidden, 4 * hidden, layers, tied)
        self.depth = GateTransform(hidden, hidden, 4 * hidden, layers, tied)
        for tr in (self.time, self.depth):
            _init_lstm_transform(tr, forget_bias, init)


class GridMemoryInputCell(_GridCell):
    """2D Grid LSTM block exactly as the assignment writes it; primes mark the depth direction.

    Named ``memory_input`` for what sets it apart: the depth memory C' arriving from below is the
    time LSTM's *input*, and the time LSTM's new hidden H is the depth LSTM's input: a time LSTM
    feeding a depth LSTM (the paper's block instead gives both LSTMs the same hidden vectors).

    time LSTM   (input C'[t,d-1], recurrent h[t-1,d], memory C[t-1,d]):
        i = σ(W_ii C' + W_hi h + b_i)   f = σ(W_if C' + W_hf h + b_f)
        o = σ(W_io C' + W_ho h + b_o)   g = tanh(W_ig C' + W_hg h + b_g)
        C[t,d] = f⊙C[t-1,d] + i⊙g          H[t,d] = o⊙tanh(C[t,d])
    depth LSTM  (input H[t,d], recurrent h'[t,d-1], memory C'[t,d-1]): the same with primed weights
        C'[t,d] = f'⊙C'[t,d-1] + i'⊙g'     H'[t,d] = o'⊙tanh(C'[t,d])
    bottom: h'[t,0] = C'[t,0] = P·x_t.  Output at time t: H'[t,D].
    """

    variant, aliases, options = "memory_input", ("seed",), LSTM_OPTIONS
    state_names = ("h", "c", "h_depth", "c_depth")
    state_labels = {**TIME, "h_depth": "depth hidden state h′", "c_depth": "depth memory c′"}
    # C'[t,d-1] is also the time LSTM's input: its gradient is more than f' ⊙ that of C'[t,d]
    memories = {"c": FORGET, "c_depth": DEPTH_FORGET._replace(only_gated=False)}

    def bottom(self, px: Tensor) -> States:
        return (px, px)

    def reference(self, below: States, left: States, lo: int, hi: int) -> Block:
        (h_below, c_below), (h_left, c_left) = below, left  # h'[t,d-1], C'[t,d-1]; h[t-1,d], C[t-1,d]
        z = self.time(c_below, h_left, lo, hi)
        h, c = lstm_update(z, c_left)
        z_depth = self.depth(h, h_below, lo, hi)
        h_depth, c_depth = lstm_update(z_depth, c_below)
        return Block((h, c, h_depth, c_depth), {"c": forget_gate(z), "c_depth": forget_gate(z_depth)})

    def forward(self, below: States, left: States, lo: int, hi: int) -> States:
        # fast path of ``reference``: each LSTM is one fused step (fused.py)
        (h_below, c_below), (h_left, c_left) = below, left
        h, c = self.time.lstm(c_below, h_left, c_left, lo, hi)
        h_depth, c_depth = self.depth.lstm(h, h_below, c_below, lo, hi)
        return h, c, h_depth, c_depth

    def layer(self, below: States, left0: States, p: LayerParams, d: int) -> States:
        # time LSTM: an ordinary LSTM over t with input C'[·,d-1] (torch.lstm); its H[·,d] then
        # completes every depth LSTM input (H[t,d], h'[t,d-1], C'[t,d-1]): one update over T·B rows.
        h_below, c_below = below
        (W, b), H = p["time"], self.hidden
        h = lstm_sequence(c_below, left0[0], left0[1], W[:H], W[H:], b)   # H[·,d]
        return lstm_rows(h, h_below, c_below, *p["depth"])               # H'[·,d], C'[·,d]

    layer_probe = True

    def probed_layer(self, below: States, left0: States, p: LayerParams, d: int, probe: Any) -> States:
        # H[t,d] feeds its own block's depth LSTM (a use inside the block, not outgoing) and (t+1, d)
        h_below, c_below = below
        (W, b), H = p["time"], self.hidden
        sink: dict[str, Tensor] = {}   # lstm_loop's memories, gates and per-step gradients
        up: dict[str, Any] = {}        # lstm_rows' gates and tap's gradient tuple ("d")
        h = lstm_loop(c_below, left0[0], left0[1], W[:H], W[H:], b, "standard", sink)
        h_depth, c_depth = tap(up, *lstm_rows(h, h_below, c_below, *p["depth"], sink=up))

        def totals(out: dict[str, Tensor]) -> dict[str, Tensor]:
            # H feeds the depth LSTM, whose states' totals are their outgoing; C feeds H
            d_in, c_depth_total = _depth_use(up, c_below, c_depth, out["h_depth"], out["c_depth"], p["depth"][0][:H], False)
            h_total = out["h"] + d_in  # type: ignore[operator]
            return {**out, "h": h_total, "c": out["c"] + h_total * hidden_to_memory(h, sink["c"], sink["o"], False),
                    "c_depth": c_depth_total}
        probe.layer(d, {"h": h.detach(), "c": sink["c"], "h_depth": h_depth.detach(), "c_depth": c_depth.detach()},
                    lambda: {"h": outgoing_of(sink, "r_h"), "c": outgoing_of(sink, "r_c"),
                             "h_depth": outgoing_of(up, "d", 0), "c_depth": outgoing_of(up, "d", 1)},
                    {"c": sink["f"], "c_depth": up["f"]}, totals)
        return h_depth, c_depth


class GridPaperCell(_GridCell):
    """2D Grid LSTM block of Kalchbrenner, Danihelka & Graves (2015), §3.1–3.5.

        Hc = [h[t-1,d]; h'[t,d-1]]
        (h[t,d],  m[t,d])  = LSTM(Hc, m[t-1,d];  W_time)
        (h'[t,d], m'[t,d]) = LSTM(Hc, m'[t,d-1]; W_depth)
    priority "depth": the depth LSTM reads [h[t,d] (new); h'[t,d-1]] instead of Hc.
    output "standard": h = o⊙tanh(m);  output "paper": h = tanh(o⊙m) (the paper's eq. 3).
    bottom: h'[t,0] = P·x_t, m'[t,0] = 0.  Output at time t: h'[t,D].
    """

    variant = "paper"
    options = {**LSTM_OPTIONS,
               "priority": Option("none", ("none", "depth"), description="depth: the depth LSTM reads the new h"),
               "output": Option("standard", ("standard", "paper"), description="h = o⊙tanh(m) or tanh(o⊙m)")}
    cases = {"": {}, "priority=depth": {"priority": "depth"}, "output=paper": {"output": "paper"},
             "output=paper priority=depth": {"output": "paper", "priority": "depth"}}
    state_names = ("h", "m", "h_depth", "m_depth")
    state_labels = {"h": TIME["h"], "m": "time memory m", "h_depth": "depth hidden state h′",
                    "m_depth": "depth memory m′"}
    memories = {"m": FORGET, "m_depth": DEPTH_FORGET}

    def __init__(self, hidden: int, layers: int, tied: bool, forget_bias: float = 1.0,
                 init: str = "default", priority: str = "none", output: str = "standard"):
        super().__init__(hidden, layers, tied, forget_bias, init)
        self.priority, self.output = priority, output

    def bottom(self, px: Tensor) -> States:
        return (px, zeros_like(px))

    def reference(self, below: States, left: States, lo: int, hi: int) -> Block:
        (h_below, m_below), (h_left, m_left) = below, left  # h'[t,d-1], m'[t,d-1]; h[t-1,d], m[t-1,d]
        z = self.time(h_left, h_below, lo, hi)
        h, m = lstm_update(z, m_left, self.output)
        z_depth = self.depth(h if self.priority == "depth" else h_left, h_below, lo, hi)
        h_depth, m_depth = lstm_update(z_depth, m_below, self.output)
        return Block((h, m, h_depth, m_depth), {"m": forget_gate(z), "m_depth": forget_gate(z_depth)})

    def forward(self, below: States, left: States, lo: int, hi: int) -> States:
        # fast path of ``reference``: each LSTM is one fused step (fused.py)
        (h_below, m_below), (h_left, m_left) = below, left
        h, m = self.time.lstm(h_left, h_below, m_left, lo, hi, self.output)
        h_in = h if self.priority == "depth" else h_left
        h_depth, m_depth = self.depth.lstm(h_in, h_below, m_below, lo, hi, self.output)
        return h, m, h_depth, m_depth

    def layer(self, below: States, left0: States, p: LayerParams, d: int) -> States:
        # time LSTM: input h'[·,d-1] (rows W[H:]), recurrent h[t-1,d] (rows W[:H]), memory m; then
        # the depth LSTM reads [h[t-1,d] (h[t,d] with depth priority); h'[t,d-1]] and m'[t,d-1],
        # all known by now: one update over T·B rows.  Output "paper": time loop (layerwise.py).
        h_below, m_below = below
        h0, m0 = left0
        (W, b), H = p["time"], self.hidden
        h = lstm_sequence(h_below, h0, m0, W[H:], W[:H], b, self.output)  # h[·,d]
        h_in = h if self.priority == "depth" else torch.cat([h0.unsqueeze(0), h[:-1]])  # h[t-1,d]
        return lstm_rows(h_in, h_below, m_below, *p["depth"], self.output)  # h'[·,d], m'[·,d]

    layer_probe = True

    def probed_layer(self, below: States, left0: States, p: LayerParams, d: int, probe: Any) -> States:
        # h[t,d] is used by (t+1, d): its time LSTM (r_h) and, without depth priority, its depth LSTM
        # (dH, through h_in); with depth priority the depth LSTM's use is inside the block
        h_below, m_below = below
        h0, m0 = left0
        (W, b), H = p["time"], self.hidden
        sink: dict[str, Tensor] = {}   # lstm_loop's memories, gates and per-step gradients
        up: dict[str, Any] = {}        # lstm_rows' gates and tap's gradient tuple ("d")
        h = lstm_loop(h_below, h0, m0, W[H:], W[:H], b, self.output, sink)
        h_in = h if self.priority == "depth" else torch.cat([h0.unsqueeze(0), h[:-1]])
        h_depth, m_depth = tap(up, *lstm_rows(h_in, h_below, m_below, *p["depth"], self.output, up))

        def outgoing() -> dict[str, Optional[Tensor]]:
            r_h = outgoing_of(sink, "r_h")
            if r_h is not None and self.priority != "depth":
                r_h = r_h + sink["dH"]
            return {"h": r_h, "m": outgoing_of(sink, "r_c"), "h_depth": outgoing_of(up, "d", 0),
                    "m_depth": outgoing_of(up, "d", 1)}
        paper = self.output == "paper"

        def totals(out: dict[str, Tensor]) -> dict[str, Tensor]:
            # m feeds h and m' feeds h'; with depth priority h feeds the depth LSTM
            depth_priority = self.priority == "depth"
            w_in = p["depth"][0][:H] if depth_priority else None
            d_in, m_depth_total = _depth_use(up, m_below, m_depth, out["h_depth"], out["m_depth"], w_in, paper)
            h_total = out["h"] + d_in if d_in is not None else out["h"]
            return {**out, "h": h_total, "m": out["m"] + h_total * hidden_to_memory(h, sink["c"], sink["o"], paper),
                    "m_depth": m_depth_total}
        probe.layer(d, {"h": h.detach(), "m": sink["c"], "h_depth": h_depth.detach(), "m_depth": m_depth.detach()},
                    outgoing, {"m": sink["f"], "m_depth": up["f"]}, totals)
        return h_depth, m_depth
