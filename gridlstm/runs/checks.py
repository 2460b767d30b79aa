"""Type checks of what a run folder's files hold, so that a damaged file is named in one line.

``checkpoint_problem`` checks the fields that train.py writes and resume/gradcheck read; a field
that is absent is left to the reader (older checkpoints lack some), one of the wrong type is not.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

CHECKPOINT_FORMAT = 1  # what train writes and every reader (resume, gradcheck) accepts
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
    "best": (lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 2
                                     and all(_is_number(x) for x in v)), "null or [step, metric]"),
}


def checkpoint_problem(payload: dict[str, Any]) -> Optional[str]:
    """None, or which field of a loaded checkpoint has the wrong type or format."""
    if _is_int(payload.get("format")) and payload["format"] != CHECKPOINT_FORMAT:
        return f"checkpoint format {payload['format']!r}, this gridlstm reads format {CHECKPOINT_FORMAT}"
    for key, (ok, expected) in CHECKPOINT_FIELDS.items():
        if key in payload and not ok(payload[key]):
            return f"field {key!r} should be {expected}, got {type(payload[key]).__name__}"
    return None


STATUSES = ("running", "completed", "failed", "interrupted", "diverged")  # records.Status
SUMMARY_NUMBERS = ("eval_loss", "eval_metric", "chance", "chance_heldout", "wall_seconds", "target")
SUMMARY_COUNTS = ("steps", "params", "layers", "hidden", "skipped_steps", "checkpoint_step")


def record_problem(data: dict[str, Any], kind: str) -> Optional[str]:
    """None, or what is wrong in a loaded meta.json (``kind="meta"``) or summary.json (``"summary"``):
    an unknown status, a number field holding text. Values are never quoted, only their type."""
    status = data.get("status")
    if kind == "summary" and status is None:
        return "no 'status' entry"
    if status is not None and status not in STATUSES:
        return f"field 'status' should be one of {', '.join(STATUSES)}"
    if kind == "summary":
        for key in SUMMARY_NUMBERS:
            if data.get(key) is not None and not _is_number(data[key]):
                return f"field {key!r} should be a number, got {type(data[key]).__name__}"
        for key in SUMMARY_COUNTS:
            if data.get(key) is not None and not _is_int(data[key]):
                return f"field {key!r} should be an integer, got {type(data[key]).__name__}"
    return None
