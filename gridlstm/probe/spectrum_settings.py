"""What ``gradcheck --spectrum`` computes: torch-free, so the command line can read it for --help."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

EXAMPLES = 8  # the examples of the measured batch whose spectra are computed (the first ones)
PREDICTION_K = 1  # what every gradcheck computes unless told otherwise: the top exponent only,
PREDICTION_EXAMPLES = 2  # on the first 2 examples (the cost is T − 1 sequential steps: docs/gradients.md)


@dataclass(frozen=True)
class SpectrumSettings:
    """What to compute: the top ``k`` exponents (None: all) of the first ``examples`` examples
    of each measured batch, the first ``warmup`` maps back from the loss left out (None: spectrum.py's
    default, a tenth)."""

    k: Optional[int] = 8
    examples: int = EXAMPLES
    warmup: Optional[int] = None
    segments: Optional[int] = 1  # windows of the time product run side by side (spectrum.segment_plan)


# The prediction every gradcheck carries by default (docs/gradients.md, "Lyapunov spectrum"): λ₁
# along time (and of each layer's block) and along depth, on the first PREDICTION_EXAMPLES examples.
# (long sequences in windows side by side, 4 from T = 889: warm-up + 0.23·(T − 1) sequential steps).
PREDICTION = SpectrumSettings(k=PREDICTION_K, examples=PREDICTION_EXAMPLES, segments=None)
