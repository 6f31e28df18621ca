#!/usr/bin/env bash
# Malformed input and numerical failure through the `simmatch` command: each case exits with 1 and
# one "simmatch: error: ..." line naming what is wrong, and a failed run never replaces the model
# already in its output folder. (Format-by-format cases are in cli_errors.sh and the unit tests.)
source "$(dirname "$0")/cli_common.sh"
OUT=$TMP/out

# npy_f4 FILE ROWS COLS VALUE...: a float32 NPY written with printf; values are little-endian
# byte escapes such as '\x00\x00\x80\x3f' (1.0).
npy_f4() {
  local file=$1 rows=$2 cols=$3
  shift 3
  local dict="{'descr': '<f4', 'fortran_order': False, 'shape': ($rows, $cols), }"
  local pad=$(((64 - (10 + ${#dict} + 1) % 64) % 64))
  local header
  header="$dict$(printf '%*s' $pad '')"
  local hlen=$((${#header} + 1))
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((hlen & 255)))\\x$(printf %02x $((hlen >> 8)))"
    printf '%s\n' "$header"
    for v in "$@"; do printf "$v"; done
  } >"$file"
}
ONE='\x00\x00\x80\x3f' HALF='\x00\x00\x00\x3f' QUARTER='\x00\x00\x80\x3e' THREE_Q='\x00\x00\x40\x3f'
NAN='\x00\x00\xc0\x7f' BIG='\x99\x76\x61\x7f' NEG_BIG='\x99\x76\x61\xff'  # +-3e38
ROWS=()
for i in 1 2 3 4 5 6; do ROWS+=("$ONE" "$HALF" "$QUARTER" "$THREE_Q" "$HALF" "$QUARTER"); done
npy_f4 "$TMP/good.npy" 6 6 "${ROWS[@]}"
printf '[[layers]]\ntype = "dense"\nneurons = 3\n[train]\nepochs = 2\ncost_samples = 0\n' >"$TMP/dense.toml"
TRAIN=("$SIMMATCH" train "$TMP/dense.toml" data.format=npy "output.dir=$OUT")

if "${TRAIN[@]}" "data.path=$TMP/good.npy" 2>"$TMP/good.err"; then
  pass "train on a small NPY"
else
  fail "train on a small NPY exited $?: $(cat "$TMP/good.err")"
  finish
fi
cp "$OUT/model.npz" "$TMP/good_model.npz"

# NaN in the data, and data that overflow once each sample's mean is subtracted.
BAD=("${ROWS[@]}")
BAD[8]=$NAN
npy_f4 "$TMP/nan.npy" 6 6 "${BAD[@]}"
expect_error "NaN in the data" "$TMP/nan.npy: sample 1 holds NaN at feature 2" "${TRAIN[@]}" "data.path=$TMP/nan.npy"
BAD=("${ROWS[@]}")
BAD[6]=$BIG BAD[7]=$NEG_BIG BAD[8]=$NEG_BIG
npy_f4 "$TMP/big.npy" 6 6 "${BAD[@]}"
expect_error "data overflowing when centred" "after preprocessing" "${TRAIN[@]}" "data.path=$TMP/big.npy" \
  preprocess.scale=none
# Weights that blow up: stopped with the epoch and batch, and the good model stays.
"${TRAIN[@]}" "data.path=$TMP/good.npy" train.eta=1e30 train.schedule=constant 2>"$TMP/div.err"
rc=$?
last=$(tail -1 "$TMP/div.err")
if [ $rc = 1 ] && [[ "$last" == "simmatch: error: epoch 1, batch "*"weights became NaN/Inf"* ]]; then
  pass "diverging weights: $last"
else
  fail "diverging weights: exit $rc, $(cat "$TMP/div.err")"
fi
cmp -s "$TMP/good_model.npz" "$OUT/model.npz" && pass "the model on disk was not replaced by the failed run" ||
  fail "a failed run changed $OUT/model.npz"
# An override that is not UTF-8 text.
expect_error "override not UTF-8" "key 'output.model': is not valid UTF-8" "${TRAIN[@]}" "data.path=$TMP/good.npy" \
  "output.model=m$(printf '\xe9').npz"
# IDX labels that are not exact class numbers.
printf '\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04' >"$TMP/images.idx"
printf '\x00\x00\x0c\x01\x00\x00\x00\x02\x00\x00\x00\x01\x7f\xff\xff\xff' >"$TMP/labels.idx"
expect_error "IDX label out of range" "$TMP/labels.idx: label of sample 1" "$SIMMATCH" train "$TMP/dense.toml" \
  data.format=idx "data.path=$TMP/images.idx" "data.labels=$TMP/labels.idx" "output.dir=$OUT"
# A model holding NaN: it used to load and encode with exit status 0, writing NaN activities.
if have_python; then
  "$PYTHON" - "$TMP/good_model.npz" "$TMP/nan_model.npz" <<'PY' || fail "writing nan_model.npz"
import struct, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    entries = {name: z.read(name) for name in z.namelist()}
w = bytearray(entries["W1_data.npy"])
header_end = 10 + struct.unpack("<H", w[8:10])[0]
w[header_end + 8:header_end + 12] = struct.pack("<f", float("nan"))  # weight 2
entries["W1_data.npy"] = bytes(w)
with zipfile.ZipFile(sys.argv[2], "w") as z:
    for name, data in entries.items():
        z.writestr(name, data)
PY
  expect_error "model with a NaN weight" "$TMP/nan_model.npz: array 'W1_data': entry 2 is nan" \
    "$SIMMATCH" encode "$TMP/nan_model.npz" "$TMP/good.npy" "$TMP/reps.npy" --format npy
  [ -e "$TMP/reps.npy" ] && fail "encode wrote representations of a NaN model"
fi
# NPY versions NumPy does not write.
cp "$TMP/good.npy" "$TMP/v11.npy"
printf '\x01' | dd of="$TMP/v11.npy" bs=1 seek=7 conv=notrunc 2>/dev/null
expect_error "NPY version 1.1" "$TMP/v11.npy: unsupported NPY format version 1.1" "${TRAIN[@]}" "data.path=$TMP/v11.npy"
# A legal 254-byte file name: the temporary name used to push it past NAME_MAX.
LONG=$(printf 'm%.0s' $(seq 250)).npz
if "${TRAIN[@]}" "data.path=$TMP/good.npy" "output.model=$LONG" 2>"$TMP/long.err" && [ -s "$OUT/$LONG" ]; then
  pass "a 254-byte model file name is written"
else
  fail "254-byte model file name: $(cat "$TMP/long.err")"
fi
# A damaged checkpoint is refused by --resume, naming the file.
printf 'PK\x03\x04 not really a zip' >"$OUT/checkpoint.npz"
expect_error "damaged checkpoint" "$OUT/checkpoint.npz" "${TRAIN[@]}" "data.path=$TMP/good.npy" --resume
finish
