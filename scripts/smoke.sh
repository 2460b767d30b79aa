#!/usr/bin/env bash
# End-to-end smoke test of the installed CLI (pytorch/examples style: every variant, one short run).
# Usage: scripts/smoke.sh [path/to/gridlstm]
set -euo pipefail
GRIDLSTM=${1:-gridlstm}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$GRIDLSTM" --help >/dev/null
"$GRIDLSTM" train --help >/dev/null

check_run() {  # a complete run folder
  for f in config.yaml meta.json metrics.csv checkpoint.pt summary.json; do
    [ -s "$1/$f" ] || { echo "smoke: $1/$f missing"; exit 1; }
  done
  grep -q '"status": "completed"' "$1/meta.json" || { echo "smoke: $1 not completed"; exit 1; }
}

# every starting config, a few steps each
for cfg in configs/*.yaml; do
  run=$("$GRIDLSTM" train "$cfg" train.steps=3 train.eval_every=3 train.batch_size=4 \
        task.length=10 model.hidden=8 --out "$OUT" 2>/dev/null | tail -n 1)
  check_run "$run"
  echo "smoke: ok  $cfg -> $run"
done

# a bad config: one-line error, exit code 2, no run folder
before=$(find "$OUT" -mindepth 2 -maxdepth 2 | wc -l)
set +e
"$GRIDLSTM" train model.hiden=3 --out "$OUT" 2>"$OUT/err.txt"
code=$?
set -e
after=$(find "$OUT" -mindepth 2 -maxdepth 2 | wc -l)
[ "$code" = 2 ] && grep -q "did you mean model.hidden" "$OUT/err.txt" && [ "$before" = "$after" ] \
  || { echo "smoke: bad config not handled (exit $code)"; cat "$OUT/err.txt"; exit 1; }
echo "smoke: ok  bad config -> exit 2"
echo "smoke: all passed"
