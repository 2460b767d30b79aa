"""Eager against torch.compile of the depth LSTM's pointwise work over T·B rows (the grid's depth
pass at bench shape 1: T=200, B=32, H=128), forward (gates, c, tanh c, h) and backward (δz, δc_prev).

    python benchmarks/compile_pointwise.py [THREADS]

Prints the compile time, the largest difference from the eager kernels (float32) and, interleaved
over 15 repeats, the median and fastest time of each. benchmarks/notes.md has what it showed."""
import statistics
import sys
import time

import torch

from gridlstm.nn.fused import lstm_gate_grads, lstm_gates_

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
T, B, H = 200, 32, 128
L = T * B

def fwd_eager(z, c_prev):
    G = lstm_gates_(z.clone(), H)
    i, f, g, o = G.unflatten(-1, (4, H)).unbind(-2)
    c = torch.addcmul(f * c_prev, i, g)
    tau = torch.tanh(c)
    return G, c, tau, o * tau

def fwd_pure(z, c_prev):
    i, f, g, o = z.unflatten(-1, (4, H)).unbind(-2)
    i, f, o, g = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
    c = f * c_prev + i * g
    tau = torch.tanh(c)
    return torch.cat([i, f, g, o], -1), c, tau, o * tau

def bwd_eager(G, c_prev, c, tau, dh, dc):
    dz, dc2 = lstm_gate_grads(G, c_prev, c, tau, dh, dc, False)
    return dz, dc2 * G.narrow(-1, H, H)

def bwd_pure(G, c_prev, c, tau, dh, dc):
    i, f, g, o = G.unflatten(-1, (4, H)).unbind(-2)
    do = dh * tau
    dc = dc + dh * o * (1 - tau * tau)
    dz = torch.cat([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g), do * o * (1 - o)], -1)
    return dz, dc * f


def main() -> None:
    t0 = time.perf_counter()
    fwd_c = torch.compile(fwd_pure, dynamic=False)
    bwd_c = torch.compile(bwd_pure, dynamic=False)
    z, c_prev, dh, dc = torch.randn(L, 4 * H), torch.randn(L, H), torch.randn(L, H), torch.randn(L, H)
    Gc = fwd_c(z, c_prev)
    bc = bwd_c(Gc[0], c_prev, Gc[1], Gc[2], dh, dc)
    compile_s = time.perf_counter() - t0
    Ge = fwd_eager(z, c_prev)  # exactness against the eager kernels
    be = bwd_eager(Ge[0], c_prev, Ge[1], Ge[2], dh, dc)
    err = max((a - b).abs().max().item() for a, b in zip([*Ge, *be], [*Gc, *bc], strict=True))
    back = (Ge[0], c_prev, Ge[1], Ge[2], dh, dc)
    cases = (("fwd eager", fwd_eager, (z, c_prev)), ("fwd compiled", fwd_c, (z, c_prev)),
             ("bwd eager", bwd_eager, back), ("bwd compiled", bwd_c, back))
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _ in range(15):
        for name, fn, args in cases:
            t = time.perf_counter()
            fn(*args)
            times[name].append(time.perf_counter() - t)
    print(f"threads {torch.get_num_threads()}, rows {L}, H {H}; compile {compile_s:.1f} s; "
          f"max |eager - compiled| {err:.2e}")
    for k, v in times.items():
        print(f"{k:14s} median {statistics.median(v) * 1e3:7.2f} ms  min {min(v) * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
