"""A run's depth decay, read from its gradients.csv: the computation is probe/depth.py's
(profiles, decades, the depth-carrying states, the two kinds of zero)."""
from __future__ import annotations

from typing import Optional

from gridlstm.probe.depth import DepthDecay, depth_decay, depth_hidden, depth_profile
from gridlstm.runs.layout import GRADIENTS
from gridlstm.runs.run import RunFolder


def run_depth_decay(run: RunFolder, state: Optional[str] = None) -> Optional[DepthDecay]:
    """The depth decay of ``state`` (default: the hidden depth-carrying one) at the scored step of
    the latest weights in RUN's gradients.csv; None without gradients or with one layer."""
    if not run.gradient_file(GRADIENTS).is_file():
        return None
    table = run.gradients()
    state = state or depth_hidden(table.states, run.config_data()["model"])
    if state not in table.states or len(table.layers(state)) < 2:
        return None
    return depth_decay(depth_profile(table, state))
