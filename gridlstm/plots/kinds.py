"""The names `plot` offers (figure kinds, x axes) and the default resolution: no matplotlib here, so
the command line's choices and --help load at once."""
from __future__ import annotations

WHAT = ("gradients", "heatmap", "loss", "profiles", "depth", "spectrum")  # figures.py draws each
X_AXES = ("auto", "steps-back", "timestep")  # gradients.py: steps back from the loss, or timestep t
DPI = 150
