"""The Lyapunov spectrum beside the measured decay: gradients/spectrum.csv, and the prediction
columns of summary.csv and depth.csv (docs/gradients.md, "Lyapunov spectrum"; the spectrum itself:
spectrum.py).

Time.  Every state's gradient is a component of the one backward product of the carried state.
The time map is block lower-triangular in the layers (layer d at t reads layers ≤ d only), so the
gradient of the carried state of layers ≥ d evolves by itself, and a state that first reaches
layer d's carried state (a carried state of layer d; a depth-only state of layer d − 1; x: layer 1)
is predicted to decay at λ₁(layers ≥ d)/ln 10 decades per step back, the top exponent of that
block (spectrum.py ``from_layer``; for layer 1 the whole model's λ₁).  summary.csv:
``predicted_slope`` (mean over the examples measured and the seeds), ``predicted_slope_std`` (their
spread), ``slope_over_predicted`` = measured slope / predicted.

Depth.  At the scored step g[T,1] = M g[T,top] with M = J_2ᵀ ⋯ J_topᵀ.  For a gradient in a
random direction, log ‖M g‖/‖g‖ is what the QR method's top exponent sums over the D − 1 layers
from its random frame: the predicted decades lost are −(D − 1)·λ₁/ln 10 (mean over examples and
seeds; ``predicted_decades``, per layer ``predicted_per_layer``; the two become −log10 σ₁(M) for a
long stack).  Per example ‖M g‖ ≤ σ₁(M)·‖g‖ for every g, so −log10 σ₁(M) is the fewest decades any
gradient can lose (``sigma1_decades``, a bound).  ``directions_1e-3`` / ``directions_1e-6`` count
the singular values of M above 1e-3 / 1e-6 of σ₁ (mean over examples and seeds): how many
directions of the state the bottom layer still receives.  The grid's product is that of its whole depth state (h′, memory′),
set beside each of its depth-carrying states.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, cast

import numpy as np
from torch import Tensor, nn

from gridlstm.nn.cells import Cell

from .spectrum import LN10, DepthSpectrum, TimeSpectrum, depth_spectrum, time_spectrum
from .spectrum_settings import SpectrumSettings


def _from_layer(t: TimeSpectrum) -> np.ndarray:
    """t.from_layer, which time_spectrum always sets."""
    assert t.from_layer is not None
    return t.from_layer


@dataclass
class Spectra:
    """The spectra of every measurement seed, in order."""

    settings: SpectrumSettings
    time: list[TimeSpectrum] = field(default_factory=list)
    depth: list[DepthSpectrum] = field(default_factory=list)
    carried: tuple[str, ...] = ()   # the cell's time-carried (right) states
    layers: int = 1

    def add(self, model: nn.Module, x: Tensor, states: dict[str, Tensor], seed: int) -> None:
        """The spectra of one seed's measured batch x (B, T, I) and its states (T, D, B, H)."""
        s = self.settings
        cell = cast(Cell, model.cell)
        self.carried, self.layers = tuple(cell.state_names[i] for i in cell.right_idx), cell.layers
        t = time_spectrum(model, x, states, s.k, s.examples, s.warmup, seed, s.segments)
        if t is not None:
            self.time.append(t)
        dep = depth_spectrum(model, x[:s.examples], {n: v[:, :, :s.examples] for n, v in states.items()}, s.k, seed)
        if dep is not None:
            self.depth.append(dep)

    def top_time(self) -> np.ndarray:
        """λ₁/ln 10 of every example of every seed, decades per step.  -> (S·B',)"""
        return np.concatenate([t.exponents[:, 0] for t in self.time]) / LN10

    def first_layer(self, state: str, layer: int) -> Optional[int]:
        """The lowest layer (1-based) whose carried state the gradient of (state, layer) reaches
        first: its own for a carried state, the next for a depth-only one, 1 for x; None past the top."""
        first = 1 if state == "x" else layer if state in self.carried else layer + 1
        return first if first <= self.layers else None

    def top_from(self, layer: int) -> np.ndarray:
        """λ₁(layers ≥ layer)/ln 10 of every example of every seed.  -> (S·B',)"""
        return np.concatenate([_from_layer(t)[:, layer - 1] for t in self.time]) / LN10

    def predicted_decades(self) -> np.ndarray:
        """−(D − 1)·λ₁/ln 10 (QR, from a random frame) of every example of every seed.  -> (S·B',)"""
        return -np.concatenate([d.exponents[:, 0] * d.layers for d in self.depth]) / LN10

    def sigma1_decades(self) -> np.ndarray:
        """−log10 σ₁(M) of every example of every seed: the fewest decades lost.  -> (S·B',)"""
        return -np.concatenate([d.log_singular[:, 0] for d in self.depth]) / LN10


def spectrum_meta(spectra: Spectra, batch: int) -> dict[str, Any]:
    """meta.json's spectrum: what was computed (n: the time state's size; depth_n: the depth state's)."""
    t = spectra.time[0] if spectra.time else None
    d = spectra.depth[0] if spectra.depth else None
    return {"k": spectra.settings.k or "all", "examples": min(spectra.settings.examples, batch),
            "n": t.n if t else None, "warmup": t.warmup if t else None, "maps": t.steps if t else 0,
            "segments": t.segments if t else None,
            "depth_n": int(d.log_singular.shape[1]) if d else None, "depth_maps": d.layers if d else 0}


SPECTRUM_FIELDS = ("axis", "index", "exponent", "decades", "decades_std_examples", "decades_std_seeds",
                   "log10_singular", "examples", "seeds", "maps", "warmup")


def _axis_rows(axis: str, per_seed: list[np.ndarray], maps: int, warmup: int,
               singular: Optional[list[np.ndarray]] = None) -> list[dict[str, Any]]:
    """Rows of one axis: per_seed[s] (B', K) nats per map; singular[s] (B', n) log σ_i (depth)."""
    every = np.concatenate(per_seed)                                          # (S·B', K)
    seed_means = np.stack([p.mean(0) for p in per_seed]) / LN10              # (S, K)
    rows = []
    for i in range(every.shape[1]):
        row: dict[str, Any] = {
            "axis": axis, "index": i + 1, "exponent": float(every[:, i].mean()),
            "decades": float(every[:, i].mean() / LN10), "decades_std_examples": float(every[:, i].std() / LN10),
            "decades_std_seeds": float(seed_means[:, i].std(ddof=1)) if len(per_seed) > 1 else math.nan,
            "examples": every.shape[0], "seeds": len(per_seed), "maps": maps, "warmup": warmup}
        if singular is not None:
            row["log10_singular"] = float(np.concatenate(singular)[:, i].mean() / LN10)
        rows.append(row)
    return rows


def spectrum_rows(spectra: Spectra) -> list[dict[str, Any]]:
    """spectrum.csv: one row per axis (time, depth) and exponent index i (1 = the top), with
    exponent = mean λ_i (nats per step or per layer), decades = λ_i/ln 10, the spread over all
    examples and over the seed means; depth also log10 σ_i of the product M; axis time_from_layer
    (D > 1): index d, the top exponent of the carried state of layers ≥ d alone."""
    t, rows = spectra.time, []
    if t:
        rows += _axis_rows("time", [s.exponents for s in t], t[0].steps, t[0].warmup)
    if t and spectra.layers > 1:
        rows += _axis_rows("time_from_layer", [_from_layer(s) for s in t], t[0].steps, t[0].warmup)
    if spectra.depth:
        d = spectra.depth
        k = d[0].exponents.shape[1]
        rows += _axis_rows("depth", [s.exponents for s in d], d[0].layers, 0, [s.log_singular[:, :k] for s in d])
    return rows


def annotate_summary(summary: list[dict[str, Any]], spectra: Spectra) -> None:
    """Put λ₁(layers ≥ d)/ln 10 beside every measured slope of summary.csv (in place)."""
    for r in summary if spectra.time else []:
        first = spectra.first_layer(r["state"], int(r["layer"]))
        if first is None:
            continue
        top = spectra.top_from(first)
        r.update(predicted_slope=float(top.mean()), predicted_slope_std=float(top.std()))
        slope = r.get("slope_decades_per_step")
        if slope is not None and np.isfinite(slope):
            r["slope_over_predicted"] = float(slope / top.mean())


def annotate_depth(depth: list[dict[str, Any]], spectra: Spectra, layers: int) -> None:
    """Put −log10 σ₁ of the depth product beside every depth row whose top layer is the model's top
    (in place; a grid's depth memory, whose top layer has no path to the loss, gets the same product
    over one layer fewer: not annotated)."""
    if not spectra.depth:
        return
    pred = spectra.predicted_decades()
    dirs = {k: np.concatenate([d.surviving(10.0 ** -k) for d in spectra.depth]) for k in (3, 6)}
    for r in depth:
        if r["top_layer"] != layers:
            continue
        r.update(predicted_decades=float(pred.mean()), predicted_per_layer=float(pred.mean() / (layers - 1)),
                 sigma1_decades=float(spectra.sigma1_decades().mean()),
                 **{f"directions_1e-{k}": float(v.mean()) for k, v in dirs.items()})
        if pred.mean() != 0:
            r["decades_over_predicted"] = float(r["decades"] / pred.mean())


# ----------------------------------------------------------------------------- text


def time_head(spectra: Spectra, n: int) -> str:
    """What was computed along time, and the whole model's λ₁."""
    t, s, top = spectra.time[0], spectra.settings, spectra.top_time()
    return (f"Lyapunov spectrum along time (QR method, {t.exponents.shape[1]} of {t.n} exponents of the "
            f"carried state, {t.steps} maps back from the loss, the first {t.warmup} left out as warm-up"
            + (f", in {t.segments} windows side by side, each after {t.warmup} warm-up maps; " if t.segments > 1 else "; ")
            + f"the first {min(s.examples, n)} example(s) of each batch, {len(spectra.time)} seed(s)): "
            f"λ₁/ln 10 = {top.mean():+.4g} ± {top.std():.2g} decades/step (a prediction of the slope, "
            "not a bound)")


def spectrum_lines(spectra: Spectra, summary: list[dict[str, Any]], depth: list[dict[str, Any]],
                   n: int) -> list[str]:
    """Plain-text lines: what was computed, and how far each measurement is from its prediction."""
    lines = [time_head(spectra, n)] if spectra.time else []
    for r in summary if spectra.time else []:
        ratio = r.get("slope_over_predicted")
        if ratio is not None and not r.get("structural_zero"):
            which = "" if spectra.layers == 1 else f" (layers ≥ {spectra.first_layer(r['state'], int(r['layer']))})"
            lines.append(f"layer {r['layer']}, {r['state']}: measured slope {r['slope_decades_per_step']:+.4g}, "
                         f"predicted λ₁{which}/ln 10 {r['predicted_slope']:+.4g}: measured/predicted = {ratio:.3g} "
                         f"({100 * (ratio - 1):+.0f}%)")
    for r in depth:
        if "predicted_decades" in r:
            lines.append(f"{r['state']} along depth (layers {r['top_layer']} → 1): measured {r['decades']:.4g} "
                         f"decades lost, predicted −(D−1)·λ₁/ln 10 = {r['predicted_decades']:.4g} "
                         f"({r['predicted_per_layer']:+.4g}/layer; measured/predicted = "
                         f"{r.get('decades_over_predicted', math.nan):.3g}); bound: no gradient loses fewer than "
                         f"−log10 σ₁(J_2ᵀ⋯J_Dᵀ) = {r['sigma1_decades']:.4g}; directions above 1e-3 / 1e-6 of "
                         f"the top one after {r['top_layer'] - 1} layers: {r['directions_1e-3']:.3g} / "
                         f"{r['directions_1e-6']:.3g}")
    return lines
