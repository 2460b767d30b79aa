"""gridlstm/runs/checks.py: each checkpoint field of the wrong type is named; absent fields are fine."""
from __future__ import annotations

import pytest
import torch

from gridlstm.runs.checks import CHECKPOINT_FORMAT, checkpoint_problem

GOOD = {"format": CHECKPOINT_FORMAT, "model": {"w": torch.zeros(2)}, "config": {}, "optimizer": {"state": {}, "param_groups": []},
        "step": 5, "elapsed": 1.5, "rng": {"torch": torch.zeros(1), "data": torch.zeros(1)},
        "last_eval": [0.1, 0.2], "skipped": 0, "skips_in_row": 0, "best": None}


def test_a_well_formed_checkpoint_and_an_old_one_without_fields_pass():
    assert checkpoint_problem(GOOD) is None
    assert checkpoint_problem({"model": {"w": torch.zeros(1)}}) is None  # older checkpoints lack fields
    assert checkpoint_problem({**GOOD, "last_eval": None, "best": [3, 0.9], "elapsed": 2}) is None


@pytest.mark.parametrize("field, value, expected, got", [
    ("format", "2", "an integer", "str"),
    ("format", True, "an integer", "bool"),  # a boolean is not a number here
    ("model", {"w": [0.0]}, "a mapping of parameter names to tensors", "dict"),
    ("model", [torch.zeros(1)], "a mapping of parameter names to tensors", "list"),
    ("config", "a: 1", "a mapping", "str"),
    ("optimizer", {"state": []}, "an optimizer state", "dict"),
    ("step", -1, "a step number >= 0", "int"),
    ("step", 1.0, "a step number >= 0", "float"),
    ("elapsed", "1.5", "a number of seconds", "str"),
    ("rng", {"torch": torch.zeros(1)}, "the RNG states (tensors 'torch' and 'data')", "dict"),
    ("last_eval", [0.1], "null or [loss, metric]", "list"),
    ("skipped", -2, "a count >= 0", "int"),
    ("skips_in_row", None, "a count >= 0", "NoneType"),
    ("best", [1, "x"], "null or [step, metric]", "list"),
])
def test_each_wrong_field_is_named_with_what_it_should_be(field, value, expected, got):
    assert checkpoint_problem({**GOOD, field: value}) == f"field {field!r} should be {expected}, got {got}"


def test_the_first_wrong_field_is_the_one_named():
    assert checkpoint_problem({**GOOD, "step": "x", "skipped": "y"}).startswith("field 'step'")
