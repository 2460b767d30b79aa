"""The order ``model.schedule: auto`` runs for an unprobed pass (training, evaluation), per cell
kind: the exact order the benchmark measured fastest. Written by ``benchmarks/bench.py
--write-table`` (``make bench``) from its run; edit by rerunning it, not by hand.

Every order gives the same numbers (float64 tests in tests/test_schedule.py), so this table
changes only the time a step takes. A kind the benchmark does not measure runs ``DEFAULT``.
"""

DEFAULT = "layerwise"

# kind -> the order auto runs unprobed
AUTO = {
    "grid": "layerwise",
    "lstm": "layerwise",
    "rnn": "wavefront",
}

# kind -> the order auto runs under a gradient probe (the wavefront for a kind not listed)
PROBE = {
    "grid": "layerwise",
    "lstm": "layerwise",
}

# where AUTO comes from: per kind, the median training-step time of each order over nn.* of the
# same shape, at each benchmark shape "B,T,H,D"
MEASURED = {
    "date": "2026-11-30 17:55 UTC (benchmarks/results.json)",
    "grid": {
        "32,200,128,4": {"layerwise": 2.148, "wavefront": 3.816},
        "32,1000,64,2": {"layerwise": 1.846, "wavefront": 4.553},
    },
    "lstm": {
        "32,200,128,4": {"layerwise": 1.051, "wavefront": 1.82},
        "32,1000,64,2": {"layerwise": 1.036, "wavefront": 2.21},
    },
    "rnn": {
        "32,200,128,4": {"layerwise": 1.086, "wavefront": 0.751},
        "32,1000,64,2": {"layerwise": 0.981, "wavefront": 0.666},
    },
}
