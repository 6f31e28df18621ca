#!/usr/bin/env bash
# Result 4: hierarchical features. Trains the three-layer locally connected network of
# experiments/hierarchical.toml (photos: experiments/hierarchical_photos.toml, a rectified first
# layer) and draws every layer's receptive fields (reverse correlation,
# masked to each neuron's input region) as PNG mosaics.
#   experiments/hierarchical_features.sh fashion            # Fashion-MNIST
#   experiments/hierarchical_features.sh photos [FOLDER]    # 28x28 patches of the photographs in
#                                                           # FOLDER (default: skimage's data)
# Any folder of PNG/JPEG images works, e.g. Labeled Faces in the Wild for the paper's experiment
# (DOWNSAMPLE=4 turns 250x250 faces into 62x62 images, from which 28x28 patches are cut).
# Photograph patches are ZCA-whitened (`simmatch patches --whiten`; WHITEN=0 keeps raw pixels):
# natural images have a 1/f^2 spectrum, and without whitening the first layer learns smooth
# luminance gradients instead of edges (docs/results.md shows both).
# Environment: SIMMATCH=build/simmatch, OUT=runs/hierarchical/<data>, EPOCHS, SAMPLES, PATCHES,
# DOWNSAMPLE, WHITEN (1), FIELD_SAMPLES (samples for the reverse correlation), SOLVER,
# SET="key=value ..." (more config overrides, e.g. network.activation=tanh).
# Writes OUT/features_layer<p>.png and OUT/layer_activity.md (saturation and within-site copies).
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-fashion}
SIMMATCH=${SIMMATCH:-build/simmatch}
OUT=${OUT:-runs/hierarchical/$WHAT}
EPOCHS=${EPOCHS:-5}
SAMPLES=${SAMPLES:-1000}
FIELD_SAMPLES=${FIELD_SAMPLES:-3000}
SOLVER=${SOLVER:-euler}
read -r -a SET_ARGS <<<"${SET:-}"
FEATURE_SET=()
for kv in "${SET_ARGS[@]}"; do FEATURE_SET+=(--set "$kv"); done
mkdir -p "$OUT"
case "$WHAT" in
  fashion)
    CONFIG=experiments/hierarchical.toml DATA=()
    ENCODE_DATA=$(sed -n 's/^path = "\(.*\)"$/\1/p' "$CONFIG" | head -n 1)
    ;;
  photos)
    CONFIG=experiments/hierarchical_photos.toml
    FOLDER=${2:-/usr/lib/python3/dist-packages/skimage/data}
    "$SIMMATCH" patches "$FOLDER" "$OUT/patches.npy" --size 28 --count "${PATCHES:-20000}" \
      --downsample "${DOWNSAMPLE:-2}" --seed 1 --skip-unreadable $([ "${WHITEN:-1}" = 1 ] && echo --whiten)
    DATA=(data.format=npy data.path="$OUT/patches.npy" data.labels="")
    ENCODE_DATA=$OUT/patches.npy
    ;;
  *) echo "usage: $0 fashion | photos [FOLDER]" >&2; exit 2 ;;
esac
"$SIMMATCH" train "$CONFIG" "${DATA[@]}" train.epochs="$EPOCHS" \
  train.samples_per_epoch="$SAMPLES" solver.method="$SOLVER" "${SET_ARGS[@]}" output.dir="$OUT" 2>&1 | tail -n 2
"$SIMMATCH" features "$OUT/model.npz" --limit "$FIELD_SAMPLES" --out "$OUT" --max-neurons 196 --scale 3 \
  --set solver.method="$SOLVER" "${FEATURE_SET[@]}"
# How each layer responds on the same samples: saturation, and whether a site's neurons are copies
# of one another (experiments/layer_activity.py; docs/results.md, "Why the deeper layers...").
if /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  "$SIMMATCH" encode "$OUT/model.npz" "$ENCODE_DATA" "$OUT/activity.npy" --all --limit "$FIELD_SAMPLES" \
    solver.method="$SOLVER"
  /usr/bin/python3 experiments/layer_activity.py "$OUT/model.npz" "$OUT/activity" | tee "$OUT/layer_activity.md"
fi
