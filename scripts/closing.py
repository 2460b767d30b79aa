"""`make run`'s closing paragraph: what the run showed and which figure to open (from its files)."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def paragraph(run: Path) -> str:
    s = json.loads((run / "summary.json").read_text())
    compare = "≤" if s["metric_name"] == "mse" else "≥"
    outcome = (f"solved the task at step {s['steps']} (held-out {s['metric_name']} {s['eval_metric']:.3g} "
               f"{compare} {s['target']:.3g})" if s["solved"] else
               f"did not solve the task in {s['steps']} steps (held-out {s['metric_name']} "
               f"{s['eval_metric']:.3g}; the target is {compare} {s['target']:.3g})")
    said = json.loads((run / "gradients" / "meta.json").read_text()).get("conclusion")
    plots = run / "plots"
    memory = plots / "gradients-c-layer1.png"
    figure = (f"{memory} (layer 1's memory c against steps back, beside {plots / 'gradients.png'}: the "
              "top layer's h)" if memory.is_file() else f"{plots / 'gradients.png'} (the top layer's h against steps back)")
    text = (f"The {s['model']} (H={s['hidden']}, D={s['layers']}) on {s['task']} T={s['length']} {outcome} "
            f"in {s['wall_seconds']:.0f} s. ")
    if said:
        text += f"After training, {said}. "
    return text + f"Open {figure}; {plots / 'heatmap.png'} shows every state of every layer."


if __name__ == "__main__":
    print(paragraph(Path(sys.argv[1])))
