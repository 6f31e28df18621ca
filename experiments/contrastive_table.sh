#!/usr/bin/env bash
# Contrastive similarity matching (docs/theory.md, "Contrastive similarity matching"): test error of
# the network's own output (no external classifier) by architecture, against a linear SVM on the
# hidden layer of the same network trained without labels (train.mode = "unsupervised"), and
# against supervised similarity matching with the labels as an input (train.mode = "supervised",
# "Supervised similarity matching: labels as an input": the hidden layers alone, the last one
# receiving the labels; its own output V^T r and a linear SVM on that layer).
#   experiments/contrastive_table.sh mnist      # MNIST json subset, canonical split (i % 5 == 4 test)
#   experiments/contrastive_table.sh fashion    # full Fashion-MNIST, 60k / 10k
# Environment: ARCHS="500 500,500" (hidden layer sizes of each row, comma-separated, input side
# first; the output layer of 10 follows), EPOCHS, SAMPLES (per epoch; 0 = all), TRAIN_LIMIT /
# TEST_LIMIT (0 = all), BASELINE=1 (also the unsupervised row; MODES="unsupervised" runs only it;
# MODES="contrastive unsupervised supervised" all three),
# C="0.01,0.1,1" (its SVM grid),
# OUT=runs/contrastive_<data>, SIMMATCH=build/simmatch, SET="key=value ..." (more overrides),
# BASE_SET (overrides of the unsupervised row; default: eq. 17's reference rates, eta 5e-3 decaying
# to 1e-4, lateral_rate 1, no feedback, tanh on mean-subtracted pixels), SUP_SET (overrides of the
# supervised row; default: BASE_SET's and train.label_scale=3). Measured on the MNIST
# subset (docs/results.md, section 6): a dense layer of 500 trained without labels stalled the fast
# solver's Anderson iteration once L had learnt (17.6 % of the samples converged within 3,000 steps
# in epoch 1); since commit c0588bb such samples finish by implicit steps (100 % converged).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-mnist}
SIMMATCH=${SIMMATCH:-build/simmatch}
ARCHS=${ARCHS:-"500"}
EPOCHS=${EPOCHS:-10}
SAMPLES=${SAMPLES:-0}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
TEST_LIMIT=${TEST_LIMIT:-0}
BASELINE=${BASELINE:-1}
C=${C:-0.01,0.1,1}
OUT=${OUT:-runs/contrastive_$DATA}
read -r -a SET_ARGS <<<"${SET:-}"
BASE_DEFAULT="train.eta=5e-3 train.floor=1e-4 layers.lateral_rate=1 network.gamma=0 network.activation=tanh preprocess.subtract_mean=true"
read -r -a BASE_ARGS <<<"${BASE_SET:-$BASE_DEFAULT}"
read -r -a SUP_ARGS <<<"${SUP_SET:-$BASE_DEFAULT train.label_scale=3}"
mkdir -p "$OUT"

case "$DATA" in
  mnist)
    CONFIG=experiments/contrastive_mnist.toml
    DATA_ARGS=(data.limit="$TRAIN_LIMIT")
    EVAL_DATA=(--format mnist-json --data data/mnist/package/src/digits --limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT")
    ;;
  fashion)
    CONFIG=experiments/contrastive_fashion.toml
    F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
    DATA_ARGS=(data.path="$F/train-images-idx3-ubyte.gz" data.labels="$F/train-labels-idx1-ubyte.gz" data.limit="$TRAIN_LIMIT")
    EVAL_DATA=(--data "$F/train-images-idx3-ubyte.gz" --labels "$F/train-labels-idx1-ubyte.gz"
               --test-data "$F/t10k-images-idx3-ubyte.gz" --test-labels "$F/t10k-labels-idx1-ubyte.gz"
               --limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT")
    ;;
  *) echo "usage: $0 mnist|fashion" >&2; exit 2 ;;
esac

for arch in $ARCHS; do
  IFS=, read -r -a sizes <<<"$arch"
  layer_args=()
  for i in "${!sizes[@]}"; do layer_args+=(layers."$i".type=dense layers."$i".neurons="${sizes[$i]}"); done
  top=${#sizes[@]}
  hidden_args=("${layer_args[@]}")
  layer_args+=(layers."$top".type=dense layers."$top".neurons=10)
  modes=(contrastive)
  if [ "$BASELINE" = 1 ]; then modes+=(unsupervised); fi
  if [ -n "${MODES:-}" ]; then read -r -a modes <<<"$MODES"; fi
  for mode in "${modes[@]}"; do
    dir="$OUT/${arch//,/-}/$mode"
    mode_args=()
    net_args=("${layer_args[@]}")
    if [ "$mode" = unsupervised ]; then mode_args=("${BASE_ARGS[@]}"); fi
    config=$CONFIG
    if [ "$mode" = supervised ]; then
      # No output layer (the supervised configs list one layer): the last hidden layer receives the
      # labels, read by its label synapses.
      config=experiments/supervised_$DATA.toml
      mode_args=("${SUP_ARGS[@]}")
      net_args=("${hidden_args[@]}")
    fi
    start=$(date +%s)
    "$SIMMATCH" train "$config" "${DATA_ARGS[@]}" "${net_args[@]}" train.mode="$mode" train.epochs="$EPOCHS" \
      train.samples_per_epoch="$SAMPLES" "${SET_ARGS[@]}" "${mode_args[@]}" output.dir="$dir" 2>&1 | tail -n 2
    echo "train $(( $(date +%s) - start )) s" > "$dir/time.txt"
    t0=$(date +%s)
    if [ "$mode" = contrastive ]; then
      result=$("$SIMMATCH" evaluate "$dir/model.npz" "${EVAL_DATA[@]}" --json "$dir/eval.json")
      error=$(grep -oE "\([0-9.]+ % error\)" <<<"$result" | tr -dc '0-9.')
      echo "evaluate $(( $(date +%s) - t0 )) s" >> "$dir/time.txt"
      echo "| ${arch//,/-}-10 | contrastive, own output | $error % |"
    elif [ "$mode" = supervised ]; then
      result=$("$SIMMATCH" evaluate "$dir/model.npz" "${EVAL_DATA[@]}" --json "$dir/eval.json")
      error=$(grep -oE "\([0-9.]+ % error\)" <<<"$result" | tr -dc '0-9.')
      echo "| ${arch//,/-} + labels | supervised, own output V^T r | $error % |"
      result=$("$SIMMATCH" evaluate "$dir/model.npz" "${EVAL_DATA[@]}" --readout svm --layer $((top - 1)) --c "$C" \
                 --json "$dir/eval_svm.json")
      error=$(grep -oE "[0-9.]+ % error" <<<"$result" | head -n 1 | tr -dc '0-9.')
      echo "evaluate (own output + SVM) $(( $(date +%s) - t0 )) s" >> "$dir/time.txt"
      echo "| ${arch//,/-} + labels | supervised, SVM on hidden layer $top (${sizes[$((top - 1))]}) | $error % |"
    else
      # The same network's last hidden layer, trained without labels, read out by a linear SVM.
      result=$("$SIMMATCH" evaluate "$dir/model.npz" "${EVAL_DATA[@]}" --readout svm --layer $((top - 1)) --c "$C" \
                 --json "$dir/eval.json")
      error=$(grep -oE "[0-9.]+ % error" <<<"$result" | head -n 1 | tr -dc '0-9.')
      echo "encode + read-out $(( $(date +%s) - t0 )) s" >> "$dir/time.txt"
      echo "| ${arch//,/-}-10 | unsupervised, SVM on hidden layer $top (${sizes[$((top - 1))]}) | $error % |"
    fi
  done
done
