"""The file names of a run folder (docs/design.md §5), in one place: every other module asks here.

    RUN/config.yaml  meta.json  metrics.csv  checkpoint.pt  best.pt  summary.json
    RUN/gradients/   gradients.csv  summary.csv  depth.csv  summary.md  meta.json  profiles.csv

A sweep folder and a study folder keep their own ``meta.json`` (the same name, their own record).
"""
from __future__ import annotations

CONFIG = "config.yaml"
META = "meta.json"
SUMMARY = "summary.json"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
GRADIENTS_DIR = "gradients"
TRACEBACK = "traceback.txt"        # a run that failed: its traceback (sweeps and studies)
OUTPUT_LOG = "output.log"           # a worker process's stdout and stderr
GRADIENTS = "gradients.csv"         # gradcheck's table: step,seed,state,layer,t,norm
PROFILES = "profiles.csv"           # the same columns, recorded during training (gradients.at_steps)
GRADIENT_SUMMARY = "summary.csv"    # gradcheck's decay summary
GRADIENT_MARKDOWN = "summary.md"    # the same, with the theory, for people
DEPTH = "depth.csv"                 # gradcheck's depth theory; a depth study's table
GRADIENT_COLUMNS = ("step", "seed", "state", "layer", "t", "norm")
