#!/usr/bin/env bash
# Result 2: feedback shapes representations. Trains the two-layer network of
# experiments/feedback_two_layer.toml with gamma = 0 and gamma = GAMMA, then computes the RSMs of
# input, layer 1 and layer 2 on (A) test patterns of the training distribution and (B) first-layer
# input from a different distribution, with cluster-separation indices, and draws the figure.
#   experiments/feedback_rsm.sh            # OUT=runs/feedback, GAMMA=0.5, EPOCHS=10
# Environment: SIMMATCH=build/simmatch, OUT, GAMMA, EPOCHS, SAMPLES (per epoch), TRAIN (patterns).
set -euo pipefail
cd "$(dirname "$0")/.."
SIMMATCH=${SIMMATCH:-build/simmatch}
OUT=${OUT:-runs/feedback}
GAMMA=${GAMMA:-0.5}
EPOCHS=${EPOCHS:-10}
SAMPLES=${SAMPLES:-400}
TRAIN=${TRAIN:-2000}
TEST=${TEST:-120}

/usr/bin/python3 experiments/make_clusters.py "$OUT/data" --train "$TRAIN" --test "$TEST"
for g in 0 "$GAMMA"; do
  dir="$OUT/gamma$g"
  "$SIMMATCH" train experiments/feedback_two_layer.toml network.gamma="$g" train.epochs="$EPOCHS" \
    train.samples_per_epoch="$SAMPLES" data.path="$OUT/data/train.npy" data.labels="$OUT/data/train_labels.npy" \
    output.dir="$dir" 2>&1 | tail -n 1
  for set in a b; do
    echo "== gamma $g, test set $set"
    "$SIMMATCH" rsm "$dir/model.npz" --data "$OUT/data/test_$set.npy" --labels "$OUT/data/test_${set}_labels.npy" \
      --limit 0 --out "$dir/rsm_$set" | grep -v '^wrote'
  done
done
/usr/bin/python3 experiments/feedback_rsm.py "$OUT" 0 "$GAMMA"
