"""What ``gradcheck --spectrum`` computes: torch-free, so the command line can read it for --help."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

EXAMPLES = 8  # the examples of the measured batch whose spectra are computed (the first ones)


@dataclass(frozen=True)
class SpectrumSettings:
    """What to compute: the top ``k`` exponents (None: all) of the first ``examples`` examples
    of each measured batch, the first ``warmup`` maps back from the loss left out (None: spectrum.py's
    default, a tenth)."""

    k: Optional[int] = 8
    examples: int = EXAMPLES
    warmup: Optional[int] = None
