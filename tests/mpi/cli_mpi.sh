#!/usr/bin/env bash
# `mpirun -np 2 simmatch train/encode` against one process, from the source folder.
# Usage: cli_mpi.sh SIMMATCH MODEL_DIFF "MPIRUN [FLAGS] -n"   (exit 77 = skipped)
set -u
SIMMATCH=${1:?usage: $0 SIMMATCH MODEL_DIFF MPIRUN}
MODEL_DIFF=${2:?}
read -r -a MPIRUN <<<"${3:?}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/simmatch_mpi.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILURES=0
fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
pass() { echo "ok: $*"; }
command -v python3 >/dev/null 2>&1 || { echo "skipped: python3 is needed to write the test data"; exit 77; }

# Data: 48 samples of 4x4 values in an NPY (python3 stdlib only); a copy with sample 29 NaN.
python3 - "$TMP" <<'PY'
import random, struct, sys
def write(path, rows):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 4, 4), }" % len(rows)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        for row in rows:
            f.write(struct.pack("<16f", *row))
rng = random.Random(3)
rows = [[rng.gauss(0, 1) for _ in range(16)] for _ in range(48)]
write(sys.argv[1] + "/data.npy", rows)
rows[29] = [float("nan")] * 16
write(sys.argv[1] + "/nan.npy", rows)
header = "{'descr': '<i4', 'fortran_order': False, 'shape': (48,), }"
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open(sys.argv[1] + "/labels.npy", "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
    f.write(struct.pack("<48i", *[t % 3 for t in range(48)]))
PY
cat >"$TMP/config.toml" <<EOF
seed = 4
[data]
format = "npy"
path = "$TMP/data.npy"
[network]
activation = "tanh"
gamma = 0.5
precision = "float64"
[[layers]]
type = "dense"
neurons = 6
[[layers]]
type = "dense"
neurons = 3
[train]
epochs = 3
samples_per_epoch = 40
batch_size = 8
eta = 0.02
cost_samples = 20
EOF

# Training: one process vs two ranks, the same model to rounding; only rank 0 writes and logs.
if "$SIMMATCH" train "$TMP/config.toml" output.dir="$TMP/one" 2>"$TMP/one.err"; then
  pass "one process trains"
else
  fail "one process: $(cat "$TMP/one.err")"
fi
if "${MPIRUN[@]}" 2 "$SIMMATCH" train "$TMP/config.toml" output.dir="$TMP/two" >"$TMP/two.out" 2>"$TMP/two.err"; then
  pass "two ranks train"
else
  fail "two ranks: $(cat "$TMP/two.out" "$TMP/two.err")"
fi
if grep -q "2 processes" "$TMP/two.err"; then pass "the log names the 2 processes"; else fail "no '2 processes' in the log: $(cat "$TMP/two.err")"; fi
lines=$(grep -c "^simmatch: training" "$TMP/two.err")
if [ "$lines" = 1 ]; then pass "only rank 0 logs"; else fail "$lines 'training' lines: $(cat "$TMP/two.err")"; fi
if out=$("$MODEL_DIFF" "$TMP/one/model.npz" "$TMP/two/model.npz" 1e-12 2>&1); then
  pass "np=2 reproduces np=1 ($out)"
else
  fail "np=2 vs np=1: $out"
fi
if [ "$(wc -l <"$TMP/two/metrics.jsonl")" = 3 ]; then pass "one metrics line per epoch"; else fail "metrics: $(cat "$TMP/two/metrics.jsonl")"; fi

# A conv2d layer (shared filters, tied learning) over a local2d layer: two ranks reproduce one.
CONV=(layers.0.type=conv2d layers.0.kernel=3 layers.0.stride=1 layers.0.neurons_per_site=3
      layers.0.lateral_radius=1 layers.1.type=local2d layers.1.stride=2 layers.1.radius=1.5
      layers.1.neurons_per_site=2)
"$SIMMATCH" train "$TMP/config.toml" "${CONV[@]}" output.dir="$TMP/conv1" 2>"$TMP/conv1.err" ||
  fail "conv2d, one process: $(cat "$TMP/conv1.err")"
"${MPIRUN[@]}" 2 "$SIMMATCH" train "$TMP/config.toml" "${CONV[@]}" output.dir="$TMP/conv2" >"$TMP/conv2.out" \
  2>"$TMP/conv2.err" || fail "conv2d, two ranks: $(cat "$TMP/conv2.out" "$TMP/conv2.err")"
if out=$("$MODEL_DIFF" "$TMP/conv1/model.npz" "$TMP/conv2/model.npz" 1e-12 2>&1); then
  pass "conv2d: np=2 reproduces np=1 ($out)"
else
  fail "conv2d: np=2 vs np=1: $out"
fi

# Contrastive training holding samples out: the ranks share the held-out samples and log the
# validation accuracy one process logs.
VAL=(data.labels="$TMP/labels.npy" train.mode=contrastive train.validation=0.25)
"$SIMMATCH" train "$TMP/config.toml" "${VAL[@]}" output.dir="$TMP/val1" 2>"$TMP/val1.err" ||
  fail "validation, one process: $(cat "$TMP/val1.err")"
"${MPIRUN[@]}" 2 "$SIMMATCH" train "$TMP/config.toml" "${VAL[@]}" output.dir="$TMP/val2" >"$TMP/val2.out" \
  2>"$TMP/val2.err" || fail "validation, two ranks: $(cat "$TMP/val2.out" "$TMP/val2.err")"
acc1=$(grep -o '"validation_accuracy":[^,}]*' "$TMP/val1/metrics.jsonl" || true)
acc2=$(grep -o '"validation_accuracy":[^,}]*' "$TMP/val2/metrics.jsonl" || true)
if [ "$(echo "$acc1" | wc -l)" = 3 ] && [ "$acc1" = "$acc2" ]; then
  pass "np=2 logs the held-out accuracy of np=1"
else
  fail "held-out accuracy: np=1 [$acc1] np=2 [$acc2]"
fi

# Encoding: one NPY in the original order, identical bytes to one process.
"$SIMMATCH" encode "$TMP/one/model.npz" "$TMP/data.npy" "$TMP/one.npy" --all --batch-size 5 2>"$TMP/enc1.err" ||
  fail "encode, one process: $(cat "$TMP/enc1.err")"
"${MPIRUN[@]}" 2 "$SIMMATCH" encode "$TMP/one/model.npz" "$TMP/data.npy" "$TMP/two.npy" --all --batch-size 5 \
  >"$TMP/enc2.out" 2>"$TMP/enc2.err" || fail "encode, two ranks: $(cat "$TMP/enc2.out" "$TMP/enc2.err")"
for p in 0 1; do
  if cmp -s "$TMP/one.layer$p.npy" "$TMP/two.layer$p.npy"; then
    pass "np=2 encoding of layer $p is byte-identical"
  else
    fail "np=2 encoding of layer $p differs from np=1"
  fi
done

# One layer alone: the ranks keep only that layer, and it arrives with the bytes of --all's.
"${MPIRUN[@]}" 2 "$SIMMATCH" encode "$TMP/one/model.npz" "$TMP/data.npy" "$TMP/bottom.npy" --layer 0 --batch-size 5 \
  >"$TMP/enc3.out" 2>"$TMP/enc3.err" || fail "encode --layer 0, two ranks: $(cat "$TMP/enc3.out" "$TMP/enc3.err")"
if cmp -s "$TMP/one.layer0.npy" "$TMP/bottom.npy"; then
  pass "np=2 encoding of layer 0 alone is byte-identical"
else
  fail "np=2 encoding of layer 0 alone differs from np=1 --all"
fi

# Samples short of their fixed point (solver.max_steps = 1) are counted over every rank and reported
# once, by rank 0, in the words of one process.
"$SIMMATCH" encode "$TMP/one/model.npz" "$TMP/data.npy" "$TMP/short1.npy" --batch-size 5 solver.max_steps=1 \
  2>"$TMP/short1.err" || fail "encode solver.max_steps=1, one process: $(cat "$TMP/short1.err")"
"${MPIRUN[@]}" 2 "$SIMMATCH" encode "$TMP/one/model.npz" "$TMP/data.npy" "$TMP/short2.npy" --batch-size 5 \
  solver.max_steps=1 >"$TMP/short2.out" 2>"$TMP/short2.err" ||
  fail "encode solver.max_steps=1, two ranks: $(cat "$TMP/short2.out" "$TMP/short2.err")"
if grep -q "^simmatch: warning: .* samples encoded did not reach their fixed point" "$TMP/short1.err" &&
  [ "$(grep -c "warning" "$TMP/short2.err")" = 1 ] && grep -qxF "$(grep warning "$TMP/short1.err")" "$TMP/short2.err"; then
  pass "np=2 encoding warns once, with every rank's count"
else
  fail "unconverged warning: np=1 [$(cat "$TMP/short1.err")] np=2 [$(cat "$TMP/short2.err")]"
fi

# Euler steps beyond the dynamics' stability limit: one warning, from rank 0, counting every rank's
# samples.
"${MPIRUN[@]}" 2 "$SIMMATCH" encode "$TMP/one/model.npz" "$TMP/data.npy" "$TMP/steep.npy" --batch-size 5 \
  solver.method=euler solver.step_initial=2.5 solver.step_min=2.5 solver.max_steps=4 >"$TMP/steep.out" \
  2>"$TMP/steep.err" || fail "encode solver.step_min=2.5, two ranks: $(cat "$TMP/steep.out" "$TMP/steep.err")"
if [ "$(grep -c "^simmatch: warning: 48 of 48 samples encoded were solved along the Euler step schedule, whose \
floor step solver.step_min = 2.5 " "$TMP/steep.err")" = 1 ]; then
  pass "np=2 encoding warns once about steps beyond the stability limit"
else
  fail "schedule warning under mpirun: $(cat "$TMP/steep.err")"
fi

# A bad shard: rank 1 reads a file with a NaN sample (MPMD launch), rank 0 a good one. Both stop
# with a clear message and status 1, and no model is written.
NP_FLAG=${MPIRUN[${#MPIRUN[@]}-1]}
"${MPIRUN[@]}" 1 "$SIMMATCH" train "$TMP/config.toml" output.dir="$TMP/bad" : \
  "$NP_FLAG" 1 "$SIMMATCH" train "$TMP/config.toml" data.path="$TMP/nan.npy" output.dir="$TMP/bad" \
  >"$TMP/bad.out" 2>"$TMP/bad.err"
rc=$?
if [ "$rc" != 0 ]; then pass "a bad shard on rank 1 stops the job with status $rc"; else fail "bad shard: the job succeeded"; fi
# mpirun stops the job as soon as one rank exits non-zero, so either rank's line may be the only
# one printed; both name rank 1 and the NaN (rank 0 quotes rank 1's message). No ^ anchors: the
# ranks' stderr lines may interleave at the "simmatch: error: " prefix.
if grep -Eq "rank 1 of 2: .*sample 29 holds NaN|stopped while reading the data: rank 1 of 2 failed: .*sample 29 holds NaN" \
     "$TMP/bad.err"; then
  pass "the printed message names rank 1 and the NaN"
else
  fail "messages: $(cat "$TMP/bad.err")"
fi
if [ ! -e "$TMP/bad/model.npz" ]; then pass "no model written"; else fail "a model was written despite the bad shard"; fi
# The same bad file on every rank: the job fails naming the NaN. mpirun aborts the job as soon as
# the first rank exits non-zero, so the second rank's own line may never be printed.
"${MPIRUN[@]}" 2 "$SIMMATCH" train "$TMP/config.toml" data.path="$TMP/nan.npy" output.dir="$TMP/nan" \
  >"$TMP/nan.out" 2>"$TMP/nan.err"
rc=$?
if [ "$rc" != 0 ] && [ "$(grep -o 'rank . of 2: [^ ]*nan.npy: sample 29 holds NaN' "$TMP/nan.err" | wc -l)" -ge 1 ]; then
  pass "bad data on every rank: status $rc, the NaN is named"
else
  fail "bad data on every rank: status $rc: $(cat "$TMP/nan.err")"
fi

if [ "$FAILURES" -gt 0 ]; then echo "$FAILURES check(s) failed" >&2; exit 1; fi
