"""gridlstm/probe/zeros.py on hand-made profiles (indexed by steps back from the loss)."""
from __future__ import annotations

import numpy as np
import pytest

from gridlstm.probe.zeros import STRUCTURAL_JUMP, UNDERFLOW, structural_zero_step, underflow_step


def test_flt_min_is_float32s_smallest_normal_number():
    assert UNDERFLOW == 2.0 ** -126 and STRUCTURAL_JUMP == 1e-20


@pytest.mark.parametrize("g, zero_from, underflow", [
    ([1.0, 0.5, 0.0, 0.0], 2, None),          # a jump from 0.5 to exact 0: no path to the loss from s = 2
    ([1.0, 0.5, 0.0], 2, None),               # the first value below FLT_MIN is the structural zero itself
    ([0.0, 0.0, 0.0], 0, None),               # no path at all (the top layer's depth memory)
    ([1.0, 1e-10, 1e-39, 0.0], None, 2),      # falls gradually through FLT_MIN, then to 0: underflow
    ([1.0, 1e-30, 0.0, 0.0], None, 2),        # reaches 0 from below 1e-20: underflow, not structure
    ([1.0, 1e-40, 1e-41], None, 1),           # a subnormal counts as underflow, not only an exact 0
    ([1e-40, 1e-41], None, 0),                # never a normal value
    ([0.0, 1.0, 0.5], None, None),            # zero at the loss step only (h_depth before T), then alive
    ([1.0, 0.1, 0.01], None, None),           # an ordinary decay
])
def test_structural_zero_and_underflow_by_hand(g, zero_from, underflow):
    assert structural_zero_step(np.array(g)) == zero_from
    assert underflow_step(np.array(g)) == underflow


def test_underflow_threshold_can_be_chosen():
    g = np.array([1.0, 1e-3, 1e-6])
    assert underflow_step(g, tiny=1e-4) == 2 and underflow_step(g) is None
