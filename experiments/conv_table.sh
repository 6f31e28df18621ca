#!/usr/bin/env bash
# Convolutional similarity matching (docs/theory.md, "Convolution: shared weights"): linear-SVM
# test error of conv2d layers read out through pooling, by filters per layer and pooling window.
#   experiments/conv_table.sh mnist             # MNIST json subset, canonical split (i % 5 == 4 test)
#   experiments/conv_table.sh fashion           # full Fashion-MNIST, 60k / 10k
# Environment: CHANNELS="16 32 64" (filters of layer 1), POOLS="max:4 avg:4 max:2" (--pool of the read-out),
# EPOCHS=10, SAMPLES=1000 (per epoch), TRAIN_LIMIT / TEST_LIMIT (0 = all), C="0.01,0.1,1",
# OUT=runs/conv_<data>, SIMMATCH=build/simmatch, SET="key=value ..." (more overrides for training,
# e.g. a second layer: "layers.1.type=conv2d layers.1.kernel=3 ..."), LAYER (read-out layer, default top).
# Writes OUT/c<k>/{model.npz,metrics.jsonl,eval_<pool>.json,time.txt} and prints one line per row.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-mnist}
SIMMATCH=${SIMMATCH:-build/simmatch}
CHANNELS=${CHANNELS:-"16 32 64"}
POOLS=${POOLS:-"max:4 avg:4 max:2"}
EPOCHS=${EPOCHS:-10}
SAMPLES=${SAMPLES:-1000}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
TEST_LIMIT=${TEST_LIMIT:-0}
C=${C:-0.01,0.1,1}
OUT=${OUT:-runs/conv_$DATA}
read -r -a SET_ARGS <<<"${SET:-}"
LAYER_ARGS=()
if [ -n "${LAYER:-}" ]; then LAYER_ARGS=(--layer "$LAYER"); fi
mkdir -p "$OUT"

case "$DATA" in
  mnist)
    CONFIG=experiments/conv_mnist.toml
    DATA_ARGS=()
    EVAL_DATA=(--format mnist-json --data data/mnist/package/src/digits --limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT")
    ;;
  fashion)
    CONFIG=experiments/conv_fashion.toml
    F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
    DATA_ARGS=(data.path="$F/train-images-idx3-ubyte.gz" data.labels="$F/train-labels-idx1-ubyte.gz")
    EVAL_DATA=(--data "$F/train-images-idx3-ubyte.gz" --labels "$F/train-labels-idx1-ubyte.gz"
               --test-data "$F/t10k-images-idx3-ubyte.gz" --test-labels "$F/t10k-labels-idx1-ubyte.gz"
               --limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT")
    ;;
  *) echo "usage: $0 mnist|fashion" >&2; exit 2 ;;
esac

for k in $CHANNELS; do
  dir="$OUT/c$k"
  start=$(date +%s)
  "$SIMMATCH" train "$CONFIG" "${DATA_ARGS[@]}" layers.0.neurons_per_site="$k" train.epochs="$EPOCHS" \
    train.samples_per_epoch="$SAMPLES" "${SET_ARGS[@]}" output.dir="$dir" 2>&1 | tail -n 2
  echo "train $(( $(date +%s) - start )) s" > "$dir/time.txt"
  for pool in $POOLS; do
    t0=$(date +%s)
    result=$("$SIMMATCH" evaluate "$dir/model.npz" "${EVAL_DATA[@]}" "${LAYER_ARGS[@]}" --pool "$pool" --c "$C" \
               --json "$dir/eval_${pool/:/_}.json")
    features=$(grep -oE "\(([0-9]+) features\)" <<<"$result" | head -n 1 | tr -dc 0-9)
    error=$(grep -oE "[0-9.]+ % error" <<<"$result")
    echo "encode + read-out ($pool) $(( $(date +%s) - t0 )) s" >> "$dir/time.txt"
    echo "| $k filters | $pool | $features | $error |"
  done
done
