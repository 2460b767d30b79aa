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

# measure, verify, draw and tabulate the default run; list a sweep without running it
run=$("$GRIDLSTM" train train.steps=20 train.eval_every=10 --out "$OUT" 2>/dev/null | tail -n 1)
"$GRIDLSTM" gradcheck "$run" --seeds 2 >/dev/null 2>&1
for f in gradients.csv summary.csv summary.md meta.json profiles.csv; do
  [ -s "$run/gradients/$f" ] || { echo "smoke: $run/gradients/$f missing"; exit 1; }
done
"$GRIDLSTM" gradcheck configs/adding_rnn.yaml task.length=20 model.hidden=8 --verify --out "$OUT/verify" \
  >/dev/null 2>&1 || { echo "smoke: gradcheck --verify failed"; exit 1; }
"$GRIDLSTM" plot "$run" --what gradients >/dev/null 2>&1 && "$GRIDLSTM" plot "$run" --what loss >/dev/null 2>&1
[ -s "$run/plots/gradients.png" ] && [ -s "$run/plots/loss.png" ] || { echo "smoke: plots missing"; exit 1; }
"$GRIDLSTM" report "$run" --format md 2>/dev/null | grep -q "| adding |" || { echo "smoke: report row missing"; exit 1; }
"$GRIDLSTM" sweep configs/sweeps/adding_length.yaml --dry-run >/dev/null 2>&1 || { echo "smoke: sweep --dry-run failed"; exit 1; }
echo "smoke: ok  gradcheck, --verify, plot, report, sweep --dry-run on $run"

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
