"""Independent, hand-written transcriptions of the model equations (docs/models.md), for tests.

Written gate by gate with explicit loops over t and d, from the per-layer weights only
(``GateTransform.layer_weight(d)`` → W (I+R, 4H), b (4H,), gate order i, f, g, o). Nothing here
uses the library's cells, updates or schedules.
"""
from __future__ import annotations

import torch


def _gates(W, b, x, h, H):
    """Return the four gate pre-activations W_x· x + W_h· h + b, split by hand."""
    Wx, Wh = W[: x.shape[-1]], W[x.shape[-1]:]
    pre = {}
    for k, name in enumerate("ifgo"):
        cols = slice(k * H, (k + 1) * H)
        pre[name] = x @ Wx[:, cols] + h @ Wh[:, cols] + b[cols]
    return pre


def lstm_step(W, b, x, h, c, H, paper_output=False):
    p = _gates(W, b, x, h, H)
    i, f, g, o = torch.sigmoid(p["i"]), torch.sigmoid(p["f"]), torch.tanh(p["g"]), torch.sigmoid(p["o"])
    c_new = f * c + i * g
    h_new = torch.tanh(o * c_new) if paper_output else o * torch.tanh(c_new)
    return h_new, c_new


def grid_memory_input(model, x):
    """The assignment's grid (variant memory_input): time LSTM (input C'[t,d-1], rec h[t-1,d], mem C[t-1,d]);
    depth LSTM (input H[t,d], rec h'[t,d-1], mem C'[t,d-1]); h'[t,0] = C'[t,0] = P x_t."""
    cell, H, D = model.cell, model.cfg.hidden, model.cfg.layers
    B, T, _ = x.shape
    px = x @ model.proj.weight.T + model.proj.bias
    h = [torch.zeros(B, H, dtype=x.dtype) for _ in range(D)]
    C = [torch.zeros(B, H, dtype=x.dtype) for _ in range(D)]
    outs = []
    for t in range(T):
        hp, Cp = px[:, t], px[:, t]  # h'[t,0], C'[t,0]
        for d in range(D):
            Wt, bt = cell.time.layer_weight(d)
            Wd, bd = cell.depth.layer_weight(d)
            Ht, Ct = lstm_step(Wt, bt, Cp, h[d], C[d], H)       # time direction
            Hd, Cd = lstm_step(Wd, bd, Ht, hp, Cp, H)           # depth direction
            h[d], C[d] = Ht, Ct
            hp, Cp = Hd, Cd
        outs.append(hp)
    return torch.stack(outs, 1)  # (B, T, H)


def grid_paper(model, x, priority="none", paper_output=False):
    """Kalchbrenner et al. 2015: Hc = [h[t-1,d]; h'[t,d-1]];
    (h, m) = LSTM(Hc, m[t-1,d]; W_time); (h', m') = LSTM(Hc, m'[t,d-1]; W_depth)."""
    cell, H, D = model.cell, model.cfg.hidden, model.cfg.layers
    B, T, _ = x.shape
    px = x @ model.proj.weight.T + model.proj.bias
    h = [torch.zeros(B, H, dtype=x.dtype) for _ in range(D)]
    m = [torch.zeros(B, H, dtype=x.dtype) for _ in range(D)]
    outs = []
    for t in range(T):
        hp, mp = px[:, t], torch.zeros(B, H, dtype=x.dtype)
        for d in range(D):
            Wt, bt = cell.time.layer_weight(d)
            Wd, bd = cell.depth.layer_weight(d)
            h_new, m_new = lstm_step(Wt, bt, h[d], hp, m[d], H, paper_output)
            first = h_new if priority == "depth" else h[d]
            hp, mp = lstm_step(Wd, bd, first, hp, mp, H, paper_output)
            h[d], m[d] = h_new, m_new
        outs.append(hp)
    return torch.stack(outs, 1)


def rnn(model, x):
    """h[t,d] = φ(W_ih h[t,d-1] + W_hh h[t-1,d] + b), h[t,0] = P x_t."""
    cell, H, D = model.cell, model.cfg.hidden, model.cfg.layers
    phi = torch.tanh if model.cfg.nonlinearity == "tanh" else torch.relu
    B, T, _ = x.shape
    px = x @ model.proj.weight.T + model.proj.bias
    h = [torch.zeros(B, H, dtype=x.dtype) for _ in range(D)]
    outs = []
    for t in range(T):
        below = px[:, t]
        for d in range(D):
            W, b = cell.transform.layer_weight(d)
            h[d] = phi(below @ W[:H] + h[d] @ W[H:] + b)
            below = h[d]
        outs.append(below)
    return torch.stack(outs, 1)
