#!/usr/bin/env bash
# Result 1: linear-SVM test error of one locally connected layer (stride 2, radius 4, tanh,
# lateral radius 0) by neurons per site, with the raw-pixel baseline.
#   experiments/nps_table.sh mnist             # MNIST json subset, canonical split (i % 5 == 4 test)
#   experiments/nps_table.sh fashion           # full Fashion-MNIST, 60k / 10k
# Environment: NPS="4 8 16 32 64 100", EPOCHS=10, SAMPLES=1000 (per epoch), TRAIN_LIMIT / TEST_LIMIT
# (0 = all), SOLVER=euler|fast, C="0.01,0.1,1,10", OUT=runs/nps_<data>, SIMMATCH=build/simmatch,
# SET="key=value ..." (more config overrides for training and encoding, e.g. solver.newton_max_site=100).
# Writes OUT/nps<k>/{model.npz,metrics.jsonl,eval.json}, OUT/raw.json and OUT/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-mnist}
SIMMATCH=${SIMMATCH:-build/simmatch}
NPS=${NPS:-"4 8 16 32 64 100"}
EPOCHS=${EPOCHS:-10}
SAMPLES=${SAMPLES:-1000}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
TEST_LIMIT=${TEST_LIMIT:-0}
SOLVER=${SOLVER:-euler}
C=${C:-0.01,0.1,1,10}
OUT=${OUT:-runs/nps_$DATA}
read -r -a SET_ARGS <<<"${SET:-}"
EVAL_SET=()
for kv in "${SET_ARGS[@]}"; do EVAL_SET+=(--set "$kv"); done
mkdir -p "$OUT"

case "$DATA" in
  mnist)
    CONFIG=experiments/mnist_local.toml
    DATA_ARGS=()
    EVAL_DATA=(--limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT")
    RAW_DATA=(--format mnist-json --data data/mnist/package/src/digits "${EVAL_DATA[@]}")
    ;;
  fashion)
    CONFIG=experiments/fashion_local.toml
    F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
    DATA_ARGS=(data.path="$F/train-images-idx3-ubyte.gz" data.labels="$F/train-labels-idx1-ubyte.gz")
    EVAL_DATA=(--data "$F/train-images-idx3-ubyte.gz" --labels "$F/train-labels-idx1-ubyte.gz"
               --test-data "$F/t10k-images-idx3-ubyte.gz" --test-labels "$F/t10k-labels-idx1-ubyte.gz"
               --limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT")
    RAW_DATA=(--format idx "${EVAL_DATA[@]}")
    ;;
  *) echo "usage: $0 mnist|fashion" >&2; exit 2 ;;
esac

echo "== raw pixels"
"$SIMMATCH" evaluate --raw "${RAW_DATA[@]}" --c "$C" --json "$OUT/raw.json" | grep -E "chosen|test"

for k in $NPS; do
  echo "== $k neurons per site"
  dir="$OUT/nps$k"
  start=$(date +%s)
  "$SIMMATCH" train "$CONFIG" "${DATA_ARGS[@]}" layers.0.neurons_per_site="$k" train.epochs="$EPOCHS" \
    train.samples_per_epoch="$SAMPLES" solver.method="$SOLVER" "${SET_ARGS[@]}" output.dir="$dir" 2>&1 | tail -n 2
  mid=$(date +%s)
  "$SIMMATCH" evaluate "$dir/model.npz" "${EVAL_DATA[@]}" --c "$C" --set solver.method="$SOLVER" "${EVAL_SET[@]}" \
    --json "$dir/eval.json" | grep -E "chosen|test"
  end=$(date +%s)
  echo "train $((mid - start)) s, encode + read-out $((end - mid)) s" | tee "$dir/time.txt"
done

/usr/bin/python3 experiments/nps_table.py "$OUT" "$DATA" > "$OUT/table.md"
cat "$OUT/table.md"
