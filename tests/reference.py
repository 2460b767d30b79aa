"""The tests' one independent transcription of the model equations (docs/models.md).

Written gate by gate with explicit loops over t and d, from the per-layer weights only
(``GateTransform.layer_weight(d)`` → W (I+R, G·H), b (G·H,); LSTM gate order i, f, g, o; GRU column
blocks r, z, n_x, n_h). Nothing here uses the library's cells, updates or schedules.

``forward(model, x)`` returns the top layer's output (B, T, H) and every state of every block,
``{name: [[state (B, H)] * D] * T}``, named as the probes name them; a kind it does not know is an
error, never another kind's equations.
"""
from __future__ import annotations

import torch


def _cols(W, b, k, H):
    """Column block k (of width H) of a stacked transform."""
    return W[:, k * H:(k + 1) * H], b[k * H:(k + 1) * H]


def _affine(W, b, x, h, k, H):
    """W_x·x + W_h·h + b for column block k, the input rows of W first."""
    Wk, bk = _cols(W, b, k, H)
    return x @ Wk[: x.shape[-1]] + h @ Wk[x.shape[-1]:] + bk


def lstm_step(W, b, x, h, c, H, paper_output=False):
    """i, f, g, o = σ, σ, tanh, σ; c' = f⊙c + i⊙g; h' = o⊙tanh(c') (paper: tanh(o⊙c'))."""
    i, f, g, o = (act(_affine(W, b, x, h, k, H))
                  for k, act in enumerate((torch.sigmoid, torch.sigmoid, torch.tanh, torch.sigmoid)))
    c_new = f * c + i * g
    h_new = torch.tanh(o * c_new) if paper_output else o * torch.tanh(c_new)
    return h_new, c_new


def gru_step(W, b, x, h, H):
    """r = σ(W_ir x + W_hr h + b_r), z = σ(W_iz x + W_hz h + b_z),
    n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)), h' = (1−z)⊙n + z⊙h."""
    I = x.shape[-1]  # noqa: E741
    r = torch.sigmoid(_affine(W, b, x, h, 0, H))
    z = torch.sigmoid(_affine(W, b, x, h, 1, H))
    W_in, b_in = _cols(W, b, 2, H)
    W_hn, b_hn = _cols(W, b, 3, H)
    n = torch.tanh(x @ W_in[:I] + b_in + r * (h @ W_hn[I:] + b_hn))
    return (1 - z) * n + z * h


def _states(names, T, D):
    return {n: [[None] * D for _ in range(T)] for n in names}


def _stacked(model, x, names, step):
    """A stack of one cell per layer: states[t,d] = step(W_d, b_d, h[t,d-1], *states[t-1,d]), the
    first state (h) passed up, h[t,0] = P x_t."""
    cell, H, D = model.cell, model.cfg.hidden, model.cfg.layers
    B, T, _ = x.shape
    px = x @ model.proj.weight.T + model.proj.bias
    S = _states(names, T, D)
    prev = [[torch.zeros(B, H, dtype=x.dtype) for _ in names] for _ in range(D)]
    for t in range(T):
        below = px[:, t]
        for d in range(D):
            W, b = cell.transform.layer_weight(d)
            prev[d] = step(W, b, below, *prev[d])
            for name, state in zip(names, prev[d], strict=True):
                S[name][t][d] = state
            below = prev[d][0]
    return S, "h"


def rnn(model, x):
    """h[t,d] = φ(W_ih h[t,d-1] + W_hh h[t-1,d] + b)."""
    H, phi = model.cfg.hidden, torch.tanh if model.cfg.nonlinearity == "tanh" else torch.relu
    return _stacked(model, x, ["h"], lambda W, b, below, h: (phi(below @ W[:H] + h @ W[H:] + b),))


def lstm(model, x):
    """(h, c)[t,d] = LSTM(input h[t,d-1]; recurrent h[t-1,d], memory c[t-1,d])."""
    H = model.cfg.hidden
    return _stacked(model, x, ["h", "c"], lambda W, b, below, h, c: lstm_step(W, b, below, h, c, H))


def gru(model, x):
    """h[t,d] = GRU(input h[t,d-1]; recurrent h[t-1,d])."""
    H = model.cfg.hidden
    return _stacked(model, x, ["h"], lambda W, b, below, h: (gru_step(W, b, below, h, H),))


def grid_memory_input(model, x):
    """The assignment's grid (variant memory_input): time LSTM (input C'[t,d-1], rec h[t-1,d], mem C[t-1,d]);
    depth LSTM (input H[t,d], rec h'[t,d-1], mem C'[t,d-1]); h'[t,0] = C'[t,0] = P x_t."""
    cell, H, D = model.cell, model.cfg.hidden, model.cfg.layers
    B, T, _ = x.shape
    px = x @ model.proj.weight.T + model.proj.bias
    S = _states(["h", "c", "h_depth", "c_depth"], T, D)
    h, C = ([torch.zeros(B, H, dtype=x.dtype) for _ in range(D)] for _ in range(2))
    for t in range(T):
        hp, Cp = px[:, t], px[:, t]  # h'[t,0], C'[t,0]
        for d in range(D):
            Wt, bt = cell.time.layer_weight(d)
            Wd, bd = cell.depth.layer_weight(d)
            Ht, Ct = lstm_step(Wt, bt, Cp, h[d], C[d], H)       # time direction
            Hd, Cd = lstm_step(Wd, bd, Ht, hp, Cp, H)           # depth direction
            h[d], C[d], hp, Cp = Ht, Ct, Hd, Cd
            S["h"][t][d], S["c"][t][d], S["h_depth"][t][d], S["c_depth"][t][d] = Ht, Ct, Hd, Cd
    return S, "h_depth"


def grid_paper(model, x):
    """Kalchbrenner et al. 2015: Hc = [h[t-1,d]; h'[t,d-1]]; (h, m) = LSTM(Hc, m[t-1,d]; W_time);
    (h', m') = LSTM(Hc, m'[t,d-1]; W_depth); priority depth: the depth LSTM reads the new h[t,d]."""
    cell, H, D = model.cell, model.cfg.hidden, model.cfg.layers
    priority, paper_output = model.cfg.priority, model.cfg.output == "paper"
    B, T, _ = x.shape
    px = x @ model.proj.weight.T + model.proj.bias
    S = _states(["h", "m", "h_depth", "m_depth"], T, D)
    h, m = ([torch.zeros(B, H, dtype=x.dtype) for _ in range(D)] for _ in range(2))
    for t in range(T):
        hp, mp = px[:, t], torch.zeros(B, H, dtype=x.dtype)
        for d in range(D):
            Wt, bt = cell.time.layer_weight(d)
            Wd, bd = cell.depth.layer_weight(d)
            h_new, m_new = lstm_step(Wt, bt, h[d], hp, m[d], H, paper_output)
            first = h_new if priority == "depth" else h[d]
            hp, mp = lstm_step(Wd, bd, first, hp, mp, H, paper_output)
            h[d], m[d] = h_new, m_new
            S["h"][t][d], S["m"][t][d], S["h_depth"][t][d], S["m_depth"][t][d] = h_new, m_new, hp, mp
    return S, "h_depth"


def forward(model, x):
    """(top layer's output (B, T, H), every state) of ``model`` on x (B, T, input)."""
    m = model.cfg
    kinds = {("rnn", None): rnn, ("lstm", None): lstm, ("gru", None): gru,
             ("grid", "memory_input"): grid_memory_input, ("grid", "paper"): grid_paper}
    key = (m.kind, m.variant if m.kind == "grid" else None)
    if key not in kinds:
        raise LookupError(f"tests/reference.py has no equations for {key}: write them out here")
    S, top = kinds[key](model, x)
    T, D = x.shape[1], m.layers
    return torch.stack([S[top][t][D - 1] for t in range(T)], 1), S
