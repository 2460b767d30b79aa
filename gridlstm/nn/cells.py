"""Cells: one block of the (time × depth) grid, computed for a run of layers at once, with no loop.

A cell maps the state arriving from *below* (the same timestep t, layer d-1) and the state arriving
from the *left* (timestep t-1, the same layer d) to the block's state at (t, d):

    state[t, d] = cell(below = up(state[t, d-1]),  left = right(state[t-1, d]))

``right`` selects what travels along time, ``up`` what travels along depth. Every tensor is
``(L, B, H)``: L consecutive layers ``lo..hi-1`` evaluated together (L = 1 in the naive schedule,
a whole anti-diagonal in the wavefront schedule). The schedule (``schedule.py``) owns the loop.

| cell            | state              | right    | up         | bottom input (layer 0)  |
|-----------------|--------------------|----------|------------|-------------------------|
| RNNCell         | (h,)               | (h,)     | (h,)       | (P·x,)                  |
| LSTMCell        | (h, c)             | (h, c)   | (h,)       | (P·x,)                  |
| GRUCell         | (h,)               | (h,)     | (h,)       | (P·x,)                  |
| GridMemoryInput | (h, c, h', c')     | (h, c)   | (h', c')   | (P·x, P·x)              |
| GridPaper       | (h, m, h', m')     | (h, m)   | (h', m')   | (P·x, 0)                |

The first element of ``up`` is the block's output; the top layer's is fed to the readout.

Each cell class declares, in one place, all that the rest of gridlstm knows about it (``registry.py``
collects the classes; nothing outside ``gridlstm/nn`` names one):

    kind, variant, aliases   its ``model.kind`` / ``model.variant`` (and former variant names)
    options                  the ModelConfig fields it reads (``Option``: default, accepted values,
                             bounds, whether it changes what the weights compute); config.py builds
                             ModelConfig's cell options from the registered cells' declarations
    cost                     weights, biases and activations per layer for the memory estimate
                             (limits.py); None: the estimate assumes the largest built-in cell
    cases                    option sets that the tests and ``gradcheck --verify`` cover
    colors                   its line colour and colour map in figures
    state_names, right_idx, up_idx, bottom     its states and where they travel
    state_labels             each state's name in figures and tables: "depth memory c′" (the last
                             word is its symbol); by default the state's name
    depth_states()           the depth-carrying states: the ``up`` states, which pass the gradient
                             from layer d+1 down to layer d; the first is the hidden one
    reference                the equations, readable: state updates over gate transforms in plain
                             autograd, plus the memory gates; the oracle of the fast path, and what the
                             gradient probe differentiates for the uses of a state inside its block
    forward                  the fast path (the fused steps of fused.py); by default the reference
    memories                 which states a gate carries, along which direction (the decay theory)
    jacobian_bound           σ_max/γ of a step Jacobian diag(φ')·W_hh (Pascanu et al. 2013), if any
    depth_carrier            the up state s whose block Jacobian J_d = ∂s[t,d]/∂s[t,d-1] carries the
                             gradient down the stack at the scored step (rnn, lstm, gru: h), or None:
                             the grid's depth theory is its depth memories' gates (``memories`` along
                             "depth"); probe/depth_theory.py computes both

    layer                    layer d over all T steps at once, for the layer-by-layer schedule
                             (layerwise.py): fused whole-sequence kernels where the cell has them, by
                             default ``forward`` step by step; ``reference`` is its oracle too
    probed_layer, layer_probe  the same layer under a gradient probe (timeloop.py), where the cell has
                             one (``layer_probe``); the others are probed on the wavefront
"""
from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Optional

import torch
from torch import Tensor, nn

from .core import GateTransform, forget_gate, lstm_update, rnn_update
from .layerwise import lstm_sequence, rnn_sequence
from .timeloop import hidden_to_memory, lstm_loop

States = tuple[Tensor, ...]
LayerParams = dict[str, tuple[Tensor, Tensor]]  # transform name -> (W (I+R, O), b (O,)) of one layer


class Memory(NamedTuple):
    """A state carried by a gate a: state = a ⊙ predecessor + (terms of the block's other inputs)."""

    along: str         # "time" (predecessor at t-1) or "depth" (predecessor at d-1)
    gate: str          # what the theory calls a, e.g. "forget gate"
    symbol: str        # and its symbol, e.g. "f"
    theory_kind: str   # summary.csv's theory_kind of the prediction from a
    only_gated: bool   # the predecessor enters the block only as a ⊙ predecessor, so that
    #                    ∂ℓ/∂predecessor (outgoing) = a ⊙ ∂ℓ/∂state (total): verify.py checks that


class Bound(NamedTuple):
    """∂s[t+1]/∂s[t] = diag(φ'(a))·W, so ‖∂s[t+1]/∂s[t]‖ ≤ γ·σ_max(W) per layer; along depth the same
    with the input weights: ∂s[t,d]/∂s[t,d-1] = diag(φ'(a))·W_in, ‖·‖ ≤ γ·σ_max(W_in)."""

    state: str
    gamma: float                # sup |φ'|
    matrices: list[Tensor]      # W of each layer, float64 on the CPU
    input_matrices: Optional[list[Tensor]] = None  # W_in of each layer (the depth direction), float64


class Option(NamedTuple):
    """A ModelConfig field that a cell reads (``model.<name>``), passed to its constructor.  Cells
    that share a name share the field: one default; the field accepts the union of the choices and
    each cell its own (config rules, registry.py)."""

    default: Any
    choices: Optional[tuple[Any, ...]] = None   # the values this cell accepts; None: any of the type
    weights: bool = True    # changes what the weights compute (a checkpoint must agree on it);
    #                         False: initialisation only (forget_bias, init)
    ge: Optional[float] = None                  # bounds of a number
    le: Optional[float] = None
    description: str = ""


class Cost(NamedTuple):
    """Memory per layer for the estimate (limits.py): weights in units of H², biases in units of H,
    activations kept per example, step and layer in units of H (the largest of the schedules)."""

    weights: int
    biases: int
    activations: int


class Block(NamedTuple):
    """A block computed by the reference formulation: its states and its memory gates (L, B, H)."""

    states: States
    gates: dict[str, Tensor]


class Cell(nn.Module):
    """Base class: subclasses declare the attributes below and implement ``reference``."""

    kind: ClassVar[str]
    variant: ClassVar[Optional[str]] = None
    aliases: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[dict[str, Option]] = {}
    cost: ClassVar[Optional[Cost]] = None
    cases: ClassVar[dict[str, dict[str, Any]]] = {"": {}}
    colors: ClassVar[tuple[str, str]] = ("#555555", "Greys")
    # whether one layer of it can read the task's input itself (model.input_projection false): its
    # constructor then takes input_size, the width of its first transform's input rows
    raw_input: ClassVar[bool] = False
    state_names: ClassVar[tuple[str, ...]]
    right_idx: ClassVar[tuple[int, ...]]
    up_idx: ClassVar[tuple[int, ...]]
    state_labels: ClassVar[dict[str, str]] = {}
    memories: ClassVar[dict[str, Memory]] = {}
    depth_carrier: ClassVar[Optional[str]] = None
    layer_probe: ClassVar[bool] = False  # has ``probed_layer``

    @classmethod
    def depth_states(cls) -> tuple[str, ...]:
        """The states that travel up (``up_idx``): they carry the gradient down the stack."""
        return tuple(cls.state_names[i] for i in cls.up_idx)

    @classmethod
    def label(cls, state: str) -> str:
        """'depth memory c′' for a state of this cell; its name for one it does not label."""
        return cls.state_labels.get(state, state)

    def __init__(self, hidden: int, layers: int):
        super().__init__()
        self.hidden, self.layers = hidden, layers

    def reference(self, below: States, left: States, lo: int, hi: int) -> Block:
        """The block's equations; every cell kind declares its own (registry.py lists them)."""
        raise TypeError(f"{type(self).__name__} declares no reference equations: a Cell subclass must")

    def forward(self, below: States, left: States, lo: int, hi: int) -> States:
        return self.reference(below, left, lo, hi).states

    def jacobian_bound(self) -> Optional[Bound]:
        return None

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
        per: dict[str, list[tuple[Tensor, Tensor]]] = {}
        for name, tr in self.transforms().items():
            if tr.tied:
                per[name] = [(tr.weight, tr.bias)] * self.layers
            else:
                per[name] = list(zip(tr.weight.unbind(0), tr.bias.view(self.layers, -1).unbind(0), strict=True))
        return [{name: per[name][d] for name in per} for d in range(self.layers)]

    def layer(self, below: States, left0: States, p: LayerParams, d: int) -> States:
        """Layer d over every t: below = up(state[·, d-1]) (each (T, B, H)), left0 = right(state[-1, d])
        (each (B, H)), p = ``layer_params()[d]``  ->  up(state[·, d]) (each (T, B, H)).

        This default runs ``forward`` for t = 0..T-1 (exact, one step at a time); cells with a fused
        whole-sequence kernel override it."""
        left = tuple(s.unsqueeze(0) for s in left0)  # (1, B, H)
        ups = []
        for t in range(below[0].shape[0]):
            state = self(tuple(b[t:t + 1] for b in below), left, d, d + 1)
            left = self.right(state)
            ups.append(self.up(state))
        return tuple(torch.cat(u) for u in zip(*ups, strict=True))  # each (T, B, H)


    def probed_layer(self, below: States, left0: States, p: LayerParams, d: int, probe: Any) -> States:
        """``layer`` under a gradient probe: also ``probe.layer(d, states, outgoing, gates)`` with
        every state of layer d at every t (each (T, B, H)), a function that returns, after the
        backward pass, each state's *outgoing* gradient ∂L/∂state[t, d] (the uses after its block:
        the blocks (t+1, d) and (t, d+1); probe/gradients.py), and the gate of each memory
        (``memories``: the reference's ``gates``, from the same forward pass).  Cells with
        ``layer_probe`` override it. A fifth argument, if given, maps the outgoing gradients to the
        total ones (the uses inside the block added) from the same pass: ``block_totals``' numbers
        (probe/gradients.py) without rerunning the reference."""
        raise TypeError(f"{type(self).__name__} has no probed layer: probe it on the wavefront")


def outgoing_of(sink: dict, key: str, index: Optional[int] = None) -> Optional[Tensor]:
    """A gradient a time loop's or tap's backward left in ``sink`` (timeloop.py), or None when no
    gradient reached it (the probe then reports zeros)."""
    if key not in sink:
        return None
    return sink[key] if index is None else sink[key][index]


def layer_views(tr: GateTransform) -> list[Tensor]:
    return [tr.weight] if tr.tied else list(tr.weight)


def orthogonal_blocks_(tr: GateTransform, blocks: tuple[int, ...]) -> None:
    """Orthogonal init of the recurrent rows of the given H-column gate blocks, every layer."""
    H = tr.recurrent_size
    with torch.no_grad():
        for W in layer_views(tr):
            for k in blocks:
                nn.init.orthogonal_(W[tr.input_size:, k * H:(k + 1) * H])


def glorot_blocks_(tr: GateTransform) -> None:
    """Glorot-uniform (Glorot & Bengio 2010) for every matrix of a transform, every layer: each
    gate's input block (I × H) ~ U(±√(6/(I+H))) and recurrent block (R × H) ~ U(±√(6/(R+H))),
    as Arjovsky, Shah & Bengio 2016's code draws each of its matrices. Biases are left as they are."""
    H, n_in = tr.recurrent_size, tr.input_size
    with torch.no_grad():
        for W in layer_views(tr):
            for k in range(tr.out_size // H):
                for rows, fan_in in ((slice(0, n_in), n_in), (slice(n_in, None), tr.recurrent_size)):
                    bound = (6.0 / (fan_in + H)) ** 0.5
                    nn.init.uniform_(W[rows, k * H:(k + 1) * H], -bound, bound)


def _init_lstm_transform(tr: GateTransform, forget_bias: float, init: str) -> None:
    H = tr.recurrent_size
    with torch.no_grad():
        tr.bias.zero_()
        tr.bias[..., H:2 * H] = forget_bias  # gate order (i, f, g, o)
    if init == "orthogonal":
        orthogonal_blocks_(tr, (0, 1, 2, 3))


INIT = Option("default", ("default", "orthogonal"), weights=False,
              description="initialisation: uniform ±1/√H (default) or orthogonal recurrent blocks")
GLOROT = ("glorot: every matrix (each gate's input and recurrent block, the input projection, the readout) "
          "Glorot-uniform, as Arjovsky, Shah & Bengio 2016's code")
LSTM_OPTIONS = {"forget_bias": Option(1.0, weights=False, description="initial bias of the forget gates"),
                "init": INIT._replace(choices=("default", "orthogonal", "glorot"),
                                      description=f"{INIT.description}; {GLOROT}")}
TIME = {"h": "time hidden state h", "c": "time memory c"}
FORGET = Memory("time", "forget gate", "f", "forget_gate", True)


class RNNCell(Cell):
    """Naive (Elman) RNN, the assignment's model along time:  h[t,d] = φ(W_ih·h[t,d-1] + W_hh·h[t-1,d] + b)."""

    kind, colors, cost = "rnn", ("#D55E00", "Oranges"), Cost(2, 1, 4)
    options = {"nonlinearity": Option("tanh", ("tanh", "relu"), description="φ"),
               "init": INIT._replace(choices=("default", "orthogonal", "identity", "glorot"),
                                     description=f"{INIT.description}; identity: the identity recurrence (IRNN); {GLOROT}")}
    state_names, right_idx, up_idx, state_labels = ("h",), (0,), (0,), {"h": TIME["h"]}
    depth_carrier = "h"  # J_d = diag(φ'(a))·W_in: h[t,d-1] enters only through the input rows
    raw_input = True

    def __init__(self, hidden: int, layers: int, tied: bool, nonlinearity: str = "tanh",
                 init: str = "default", input_size: Optional[int] = None):
        super().__init__(hidden, layers)
        self.nonlinearity = nonlinearity
        self.transform = GateTransform(input_size or hidden, hidden, hidden, layers, tied)
        with torch.no_grad():
            self.transform.bias.zero_()
            for W in layer_views(self.transform):
                n_in = self.transform.input_size
                if init == "orthogonal":
                    nn.init.orthogonal_(W[n_in:])
                elif init == "identity":  # IRNN (Le, Jaitly, Hinton 2015)
                    W[n_in:].copy_(torch.eye(hidden))
                    nn.init.normal_(W[:n_in], std=0.001)

    def reference(self, below: States, left: States, lo: int, hi: int) -> Block:
        # below = (h[t,d-1],), left = (h[t-1,d],): each (L, B, H)
        return Block((rnn_update(self.transform(below[0], left[0], lo, hi), self.nonlinearity),), {})

    def forward(self, below: States, left: States, lo: int, hi: int) -> States:
        # fast path of ``reference``: transform and update as one autograd node
        return (self.transform.rnn(below[0], left[0], lo, hi, self.nonlinearity),)

    def layer(self, below: States, left0: States, p: LayerParams, d: int) -> States:
        # h[t,d] = φ(h[t,d-1] W[:I] + h[t-1,d] W[I:] + b): torch.rnn_tanh / rnn_relu over t
        W, b = p["transform"]
        n_in = self.transform.input_size  # H, or the task's width without an input projection
        return (rnn_sequence(below[0], left0[0], W[:n_in], W[n_in:], b, self.nonlinearity),)

    def jacobian_bound(self) -> Bound:
        """∂h[t+1]/∂h[t] = diag(φ'(a))·W_hh, γ = sup|φ'| = 1 (tanh and relu); W_hh = rows I: of W.
        Along depth ∂h[t,d]/∂h[t,d-1] = diag(φ'(a))·W_in, W_in = rows :I of W (transposed: same σ)."""
        tr = self.transform
        with torch.no_grad():
            W = [tr.layer_weight(d)[0].detach().double().cpu() for d in range(self.layers)]  # (I+R, O)
        return Bound("h", 1.0, [w[tr.input_size:] for w in W], [w[:tr.input_size] for w in W])


class LSTMCell(Cell):
    """Stacked LSTM layer: (h[t,d], c[t,d]) = LSTM(input h[t,d-1]; recurrent h[t-1,d], c[t-1,d]).

        z = W·[h[t,d-1]; h[t-1,d]] + b;  i, f, g, o = σ, σ, tanh, σ of z
        c[t,d] = f⊙c[t-1,d] + i⊙g;       h[t,d] = o⊙tanh(c[t,d])
    """

    kind, colors, options, cost = "lstm", ("#0072B2", "Blues"), LSTM_OPTIONS, Cost(8, 4, 12)
    state_names, right_idx, up_idx, state_labels = ("h", "c"), (0, 1), (0,), TIME
    memories = {"c": FORGET}
    depth_carrier = "h"  # c[t,d-1] stays in its layer: only h carries the gradient down the stack
    raw_input = True

    def __init__(self, hidden: int, layers: int, tied: bool, forget_bias: float = 1.0,
                 init: str = "default", input_size: Optional[int] = None):
        super().__init__(hidden, layers)
        self.transform = GateTransform(input_size or hidden, hidden, 4 * hidden, layers, tied)
        _init_lstm_transform(self.transform, forget_bias, init)

    def reference(self, below: States, left: States, lo: int, hi: int) -> Block:
        z = self.transform(below[0], left[0], lo, hi)  # (L, B, 4H)
        return Block(lstm_update(z, left[1]), {"c": forget_gate(z)})

    def forward(self, below: States, left: States, lo: int, hi: int) -> States:
        return self.transform.lstm(below[0], left[0], left[1], lo, hi)  # fast path of ``reference``

    def layer(self, below: States, left0: States, p: LayerParams, d: int) -> States:
        # input h[·,d-1] (rows W[:I]), recurrent h[t-1,d] (rows W[I:]), memory c: torch.lstm over t
        W, b = p["transform"]
        n_in = self.transform.input_size  # H, or the task's width without an input projection
        return (lstm_sequence(below[0], left0[0], left0[1], W[:n_in], W[n_in:], b),)

    layer_probe = True

    def probed_layer(self, below: States, left0: States, p: LayerParams, d: int, probe: Any) -> States:
        # the same on our own time loop: h[t] is used by (t+1, d) through the recurrence (r_h) and by
        # (t, d+1) or the readout from outside the loop (dH); c[t] only by (t+1, d) (r_c)
        W, b = p["transform"]
        n_in = self.transform.input_size  # H, or the task's width without an input projection
        sink: dict[str, Tensor] = {}
        h = lstm_loop(below[0], left0[0], left0[1], W[:n_in], W[n_in:], b, "standard", sink)
        probe.layer(d, {"h": h.detach(), "c": sink["c"]},
                    lambda: {"h": sink["dH"] + sink["r_h"] if "dH" in sink else None,
                             "c": outgoing_of(sink, "r_c")}, {"c": sink["f"]},
                    lambda out: {"h": out["h"], "c": out["c"] + out["h"] * hidden_to_memory(h, sink["c"], sink["o"], False)})
        return (h,)
