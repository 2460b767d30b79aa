"""Type checks of what a run folder's files hold, so that a damaged file is named in one line.

``checkpoint_problem`` checks the fields that train.py writes and resume/gradcheck read; a field
that is absent is left to the reader (older checkpoints lack some), one of the wrong type is not.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

Number = (int, float)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, Number) and not isinstance(v, bool)


def _tensor_dict(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items())


CHECKPOINT_FIELDS = {
    "format": (_is_int, "an integer"),
    "model": (_tensor_dict, "a mapping of parameter names to tensors"),
    "config": (lambda v: isinstance(v, dict), "a mapping"),
    "optimizer": (lambda v: isinstance(v, dict) and isinstance(v.get("state", {}), dict)
                  and isinstance(v.get("param_groups", []), list), "an optimizer state"),
    "step": (lambda v: _is_int(v) and v >= 0, "a step number >= 0"),
    "elapsed": (_is_number, "a number of seconds"),
    "rng": (lambda v: isinstance(v, dict) and all(isinstance(v.get(k), torch.Tensor) for k in ("torch", "data")),
            "the RNG states (tensors 'torch' and 'data')"),
    "last_eval": (lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 2
                                          and all(_is_number(x) for x in v)), "null or [loss, metric]"),
    "skipped": (lambda v: _is_int(v) and v >= 0, "a count >= 0"),
    "skips_in_row": (lambda v: _is_int(v) and v >= 0, "a count >= 0"),
}


def checkpoint_problem(payload: dict[str, Any]) -> Optional[str]:
    """None, or which field of a loaded checkpoint has the wrong type."""
    for key, (ok, expected) in CHECKPOINT_FIELDS.items():
        if key in payload and not ok(payload[key]):
            return f"field {key!r} should be {expected}, got {type(payload[key]).__name__}"
    return None
