#!/usr/bin/env bash
# Result 3: the structured deep cost decreases over training. Trains experiments/cost_deep.toml
# (two locally connected layers, feedback gamma = 0.2) and plots the per-epoch cost of its metrics
# log to OUT/cost.csv and OUT/cost.png.
#   experiments/cost_curve.sh [key=value ...]     # OUT=runs/cost, SIMMATCH=build/simmatch
set -euo pipefail
cd "$(dirname "$0")/.."
SIMMATCH=${SIMMATCH:-build/simmatch}
OUT=${OUT:-runs/cost}
"$SIMMATCH" train experiments/cost_deep.toml output.dir="$OUT" "$@" 2>&1 | tail -n 3
/usr/bin/python3 experiments/plot_cost.py "$OUT/metrics.jsonl" "$OUT/cost.csv" "$OUT/cost.png"
