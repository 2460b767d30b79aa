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

# where AUTO comes from: per kind, the fastest training-step time of each order over nn.*'s of the
# same shape, at each benchmark shape "B,T,H,D" ("probe": a gradient profile over the same)
MEASURED = {
    "date": "2026-12-04 02:13 UTC",
    "grid": {"32,200,128,4": {"layerwise": 3.7, "wavefront": 5.87}, "32,1000,64,2": {"layerwise": 1.804, "wavefront": 3.308}},
    "lstm": {"32,200,128,4": {"layerwise": 1.588, "wavefront": 3.225}, "32,1000,64,2": {"layerwise": 0.801, "wavefront": 1.805}},
    "rnn": {"32,200,128,4": {"layerwise": 1.471, "wavefront": 1.299}, "32,1000,64,2": {"layerwise": 0.733, "wavefront": 0.743}},
    "probe": {
        "grid": {"32,200,128,4": {"layerwise": 4.477, "wavefront": 8.858}, "32,1000,64,2": {"layerwise": 2.588, "wavefront": 4.669}},
        "lstm": {"32,200,128,4": {"layerwise": 2.823, "wavefront": 5.517}, "32,1000,64,2": {"layerwise": 1.367, "wavefront": 2.645}},
    },
}
