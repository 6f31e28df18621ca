#!/usr/bin/env bash
# Bad configs, missing files and malformed data: exit code 1, exactly one "simmatch: error:" line
# naming the file or key, and nothing written. Command-line syntax errors exit 2.
source "$(dirname "$0")/cli_common.sh"
OUT=$TMP/out
TINY=experiments/tiny.toml
nothing_written() { [ -e "$OUT" ] && fail "$1: output written to $OUT: $(ls -R "$OUT")"; rm -rf "$OUT"; }

expect_error "override out of range" "command line: key 'train.eta': must be > 0, got -1" \
  "$SIMMATCH" train "$TINY" train.eta=-1 output.dir="$OUT"
nothing_written "override out of range"

printf '[data]\npath = "x"\n[train]\neta = -1\n' >"$TMP/bad.toml"
expect_error "config value out of range" "$TMP/bad.toml: key 'train.eta': must be > 0, got -1" \
  "$SIMMATCH" train "$TMP/bad.toml" output.dir="$OUT"
nothing_written "config value out of range"

printf '[train]\nepoch = 3\n' >"$TMP/unknown.toml"
expect_error "unknown key" "$TMP/unknown.toml: key 'train.epoch': unknown key (did you mean 'train.epochs'?)" \
  "$SIMMATCH" train "$TMP/unknown.toml" output.dir="$OUT"

printf '[train]\nepochs = "3"\n' >"$TMP/type.toml"
expect_error "wrong type" "$TMP/type.toml: key 'train.epochs': expected an integer" \
  "$SIMMATCH" train "$TMP/type.toml" output.dir="$OUT"

printf '[train\nepochs = 3\n' >"$TMP/syntax.toml"
expect_error "TOML syntax" "$TMP/syntax.toml:1:" "$SIMMATCH" train "$TMP/syntax.toml" output.dir="$OUT"

expect_error "missing config" "$TMP/missing.toml" "$SIMMATCH" train "$TMP/missing.toml"
expect_error "malformed override" "not of the form key=value" "$SIMMATCH" train "$TINY" train.eta

expect_error "missing data" "$TMP/no_such_dir" \
  "$SIMMATCH" train "$TINY" data.path="$TMP/no_such_dir" output.dir="$OUT"
nothing_written "missing data"

printf 'this is not an npy file' >"$TMP/bad.npy"
expect_error "malformed npy" "$TMP/bad.npy" \
  "$SIMMATCH" train "$TINY" data.format=npy data.path="$TMP/bad.npy" output.dir="$OUT"
nothing_written "malformed npy"

printf '\x00\x00\x08\x03\x00\x00\x00\x05\x00\x00\x00\x1c' >"$TMP/bad.idx"
expect_error "truncated idx" "$TMP/bad.idx" \
  "$SIMMATCH" train "$TINY" data.format=idx data.path="$TMP/bad.idx" output.dir="$OUT"
nothing_written "truncated idx"

mkdir -p "$TMP/json"
for d in 0 1 2 3 4 5 6 7 8 9; do printf '{"data": [0.5, 0.25' >"$TMP/json/$d.json"; done
expect_error "malformed mnist json" "$TMP/json" \
  "$SIMMATCH" train "$TINY" data.path="$TMP/json" output.dir="$OUT"
nothing_written "malformed mnist json"

if [ -f "$DIGITS/9.json" ]; then
  expect_error "stride does not fit the input" "command line: key 'layers.0.stride': stride 3 does not divide" \
    "$SIMMATCH" train "$TINY" layers.0.stride=3 output.dir="$OUT"
  nothing_written "stride does not fit"

  # A model to encode with (no training needed), then data of the wrong dimension.
  "$SIMMATCH" train "$TINY" train.epochs=0 data.limit=10 output.dir="$TMP/model" 2>/dev/null ||
    fail "train with epochs=0"
  "$PYTHON" - "$TMP/small.npy" <<'PY' || fail "writing small.npy"
import struct, sys
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }"
header += " " * (118 - len(header)) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\x00" * 60)
PY
  expect_error "encode data of the wrong size" "$TMP/small.npy" \
    "$SIMMATCH" encode "$TMP/model/model.npz" "$TMP/small.npy" "$TMP/reps.npy" --format npy
  [ -e "$TMP/reps.npy" ] && fail "encode wrote an output despite the error"
fi

# Contrastive mode: bad mode, unstable beta, a top layer smaller than the labels, no labels.
expect_error "unknown train.mode" "key 'train.mode'" \
  "$SIMMATCH" train "$TINY" train.mode=supervized output.dir="$OUT"
expect_error "beta too large for the Euler steps" "key 'train.beta': must be < 1 / solver.step_initial" \
  "$SIMMATCH" train "$TINY" train.mode=contrastive train.beta=6 output.dir="$OUT"
nothing_written "beta too large for the Euler steps"
expect_error "labels beyond the top layer" "label 4 of sample 4 is outside [0, 4)" \
  "$SIMMATCH" train "$TINY" train.mode=contrastive layers.0.type=dense layers.0.neurons=4 data.limit=20 \
  train.epochs=1 output.dir="$OUT"
if [ -e "$TMP/model/model.npz" ]; then
  expect_error "predict with an unsupervised model" "was trained with train.mode = \"unsupervised\"" \
    "$SIMMATCH" predict "$TMP/model/model.npz" --out "$TMP/pred.npy"
  [ -e "$TMP/pred.npy" ] && fail "predict wrote an output despite the error"
  expect_error "evaluate --readout output of an unsupervised model" "evaluate --readout output" \
    "$SIMMATCH" evaluate "$TMP/model/model.npz" --readout output --limit 20 --test-limit 10
fi

printf 'not a zip' >"$TMP/bad.npz"
expect_error "malformed model" "$TMP/bad.npz" "$SIMMATCH" encode "$TMP/bad.npz" "$DIGITS" "$TMP/reps.npy"
expect_error "missing model" "$TMP/none.npz" "$SIMMATCH" encode "$TMP/none.npz" "$DIGITS" "$TMP/reps.npy"

# A config that never ends is refused at its 1 MiB limit, not read until memory runs out.
expect_error "config that never ends" "/dev/zero: larger than the 1.0 MiB limit of config files" \
  "$SIMMATCH" train /dev/zero

# Command-line syntax: exit code 2 with one line naming what is wrong.
expect_syntax_error() {
  local name=$1 expected=$2
  shift 2
  "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"
  local rc=$?
  if [ "$rc" = 2 ] && [ "$(wc -l <"$TMP/err.txt")" = 1 ] && grep -qF -- "$expected" "$TMP/err.txt" &&
    [ ! -s "$TMP/out.txt" ]; then
    pass "$name: $(cat "$TMP/err.txt")"
  else
    fail "$name: exit $rc, stdout: $(head -c 200 "$TMP/out.txt"), stderr: $(cat "$TMP/err.txt")"
  fi
}
expect_syntax_error "unknown subcommand" "simmatch: error: unknown subcommand 'nonsense' (subcommands: train," \
  "$SIMMATCH" nonsense
expect_syntax_error "help of an unknown subcommand" "unknown subcommand 'classify'" "$SIMMATCH" classify --help
expect_syntax_error "integer beyond 64 bits" "--batch-size: out of range for a 64-bit integer: 99999999999999999999" \
  "$SIMMATCH" encode a b c --batch-size 99999999999999999999
expect_syntax_error "negative unsigned integer" "--seed: must not be negative, got -1" \
  "$SIMMATCH" patches a b --seed -1

for args in "train" "bogus" "train $TINY --no-such-flag" "encode a b" "evaluate --raw --solver newton"; do
  # shellcheck disable=SC2086
  "$SIMMATCH" $args >/dev/null 2>"$TMP/err.txt"
  rc=$?
  if [ "$rc" = 2 ] && [ "$(wc -l <"$TMP/err.txt")" = 1 ]; then pass "'simmatch $args' exits 2"; else
    fail "'simmatch $args': exit $rc, stderr: $(cat "$TMP/err.txt")"; fi
done
finish
