#!/usr/bin/env bash
# `simmatch train` on the tiny config: model and metrics log written, cost goes down, progress is
# plain lines when stderr is not a terminal; `simmatch encode` writes T x N_p float32 NPYs.
source "$(dirname "$0")/cli_common.sh"
need_digits
RUN=$TMP/run

if "$SIMMATCH" train experiments/tiny.toml output.dir="$RUN" 2>"$TMP/train.err"; then
  pass "train tiny.toml"
else
  fail "train tiny.toml exited $?: $(cat "$TMP/train.err")"
  finish
fi
[ -s "$RUN/model.npz" ] && pass "model.npz written" || fail "no model.npz"
ls "$RUN" | grep -qv -e '^model.npz$' -e '^metrics.jsonl$' && fail "stray files in output.dir: $(ls "$RUN")"
grep -q $'\r' "$TMP/train.err" && fail "progress bar drawn although stderr is not a terminal"
[ "$(grep -c '^simmatch: epoch [0-9]*/4:' "$TMP/train.err")" = 4 ] && pass "one log line per epoch" ||
  fail "expected 4 epoch log lines: $(cat "$TMP/train.err")"

EPOCHS=$(grep -c . "$RUN/metrics.jsonl")
[ "$EPOCHS" = 4 ] && pass "metrics.jsonl has 4 lines" || fail "metrics.jsonl has $EPOCHS lines, expected 4"

if have_python; then
  "$PYTHON" - "$RUN/metrics.jsonl" <<'PY' && pass "metrics are valid JSON, cost decreases" || fail "metrics check"
import json, math, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
keys = ["epoch", "learning_rate", "cost", "mean_iterations", "converged_fraction", "continued_fraction",
        "followed_fraction", "samples", "skipped", "seconds", "samples_per_second"]
for i, row in enumerate(rows):
    assert list(row) == keys, row
    assert row["epoch"] == i + 1 and row["samples"] == 200 and row["skipped"] == 0, row
    assert 0 <= row["converged_fraction"] <= 1 and row["seconds"] > 0, row
    assert 0 <= row["continued_fraction"] + row["followed_fraction"] <= 1, row
    assert all(isinstance(row[k], (int, float)) and math.isfinite(row[k]) for k in keys), row
assert rows[-1]["cost"] < rows[0]["cost"], [r["cost"] for r in rows]
assert rows[-1]["learning_rate"] < rows[0]["learning_rate"]
print("costs", [round(r["cost"], 3) for r in rows])
PY
  if "$PYTHON" -c 'import numpy' 2>/dev/null; then
    "$PYTHON" - "$RUN/model.npz" <<'PY' && pass "numpy.load opens the model" || fail "numpy.load"
import json, sys, numpy
with numpy.load(sys.argv[1]) as z:
    assert len(z.files) > 0
    for name in z.files:
        z[name]
    config = json.loads(z["config"].tobytes().decode())
    assert config["train"]["epochs"] == 4 and config["output"]["dir"].endswith("/run"), config
PY
  else
    echo "note: numpy not installed; numpy.load check skipped"
  fi
fi

# encode: top layer, an explicit layer, every layer.
"$SIMMATCH" encode "$RUN/model.npz" "$DIGITS" "$TMP/reps.npy" --split test --limit 30 2>"$TMP/encode.err" ||
  fail "encode exited $?: $(cat "$TMP/encode.err")"
grep -q "warning" "$TMP/encode.err" && fail "encode warned although every sample converged: $(cat "$TMP/encode.err")"
# Samples stopped by solver.max_steps short of their fixed point: written, exit 0, one warning line.
if "$SIMMATCH" encode "$RUN/model.npz" "$DIGITS" "$TMP/short.npy" --split test --limit 30 solver.max_steps=1 \
  2>"$TMP/short.err"; then
  [ -s "$TMP/short.npy" ] && [ "$(grep -c . "$TMP/short.err")" = 1 ] &&
    grep -q "^simmatch: warning: 30 of 30 samples encoded did not reach their fixed point within solver.max_steps = 1 " \
      "$TMP/short.err" && pass "encode warns once about samples short of their fixed point" ||
    fail "encode with solver.max_steps=1: $(cat "$TMP/short.err")"
else
  fail "encode with solver.max_steps=1 exited $?: $(cat "$TMP/short.err")"
fi
# Euler steps beyond the dynamics' stability limit (2 / lambda_max <= 2): written, exit 0, a warning
# counting the samples and naming the limit and solver.step_min; the samples short of their fixed
# point are pointed at it, not at more solver.max_steps.
if "$SIMMATCH" encode "$RUN/model.npz" "$DIGITS" "$TMP/unstable.npy" --split test --limit 5 solver.method=euler \
  solver.step_initial=2.5 solver.step_min=2.5 solver.max_steps=4 2>"$TMP/unstable.err"; then
  grep -q "^simmatch: warning: 5 of 5 samples encoded were solved along the Euler step schedule, whose floor step \
solver.step_min = 2.5 is beyond the dynamics' stability limit 2 / lambda_max = " "$TMP/unstable.err" &&
    grep -q "^simmatch: warning: 5 of 5 samples encoded did not reach .*the step schedule is beyond its stability \
limit" "$TMP/unstable.err" && ! grep -q "raise solver.max_steps" "$TMP/unstable.err" && [ -s "$TMP/unstable.npy" ] &&
    pass "encode warns about Euler steps beyond the stability limit" ||
    fail "encode with solver.step_min=2.5: $(cat "$TMP/unstable.err")"
else
  fail "encode with solver.step_min=2.5 exited $?: $(cat "$TMP/unstable.err")"
fi
"$SIMMATCH" encode "$RUN/model.npz" "$DIGITS" "$TMP/all.npy" --all data.limit=12 2>"$TMP/encode.err" ||
  fail "encode --all exited $?: $(cat "$TMP/encode.err")"
if have_python; then
  [ "$(npy_header "$TMP/reps.npy")" = "<f4 (30, 784) False" ] && pass "encode writes (30, 784) float32" ||
    fail "encode output header: $(npy_header "$TMP/reps.npy")"
  [ "$(npy_header "$TMP/all.layer0.npy")" = "<f4 (12, 784) False" ] && pass "encode --all writes all.layer0.npy" ||
    fail "encode --all output: $(ls "$TMP")"
fi
expect_error "encode --layer out of range" "--layer 1: the model" \
  "$SIMMATCH" encode "$RUN/model.npz" "$DIGITS" "$TMP/none.npy" --layer 1
[ -e "$TMP/none.npy" ] && fail "encode wrote an output despite the error"
# network.precision on the command line runs the model in that precision (the weights converted).
"$SIMMATCH" encode "$RUN/model.npz" "$DIGITS" "$TMP/f64.npy" --split test --limit 30 network.precision=float64 \
  2>"$TMP/encode.err" || fail "encode network.precision=float64 exited $?: $(cat "$TMP/encode.err")"
if have_python && "$PYTHON" -c 'import numpy' 2>/dev/null; then
  "$PYTHON" - "$TMP/reps.npy" "$TMP/f64.npy" <<'PY' && pass "encode honours network.precision" || fail "encode precision"
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == b.shape and not np.array_equal(a, b), "float64 gave float32's bits: the override was ignored"
assert np.abs(a - b).max() < 1e-3, np.abs(a - b).max()
PY
fi
expect_error "encode with a bad precision" "network.precision" \
  "$SIMMATCH" encode "$RUN/model.npz" "$DIGITS" "$TMP/none.npy" network.precision=float16

# Two unbounded layers joined by feedback: the run starts, with a warning naming the keys.
{ sed -n '1,/^\[solver\]/p' experiments/tiny.toml | sed '$d'
  printf '[[layers]]\ntype = "dense"\nneurons = 5\n\n[solver]\nmethod = "euler"\n'; } >"$TMP/loop.toml"
"$SIMMATCH" train "$TMP/loop.toml" network.gamma=0.1 network.activation=relu data.limit=10 train.epochs=1 \
  train.samples_per_epoch=2 train.cost_samples=0 output.dir="$TMP/loop" 2>"$TMP/loop.err"
if grep -q "^simmatch: warning: layers 1 and 2 are both unbounded (relu and relu) and network.gamma = 0.1" "$TMP/loop.err"; then
  pass "unbounded layers with feedback: warned"
else
  fail "no warning for relu layers with feedback: $(cat "$TMP/loop.err")"
fi
"$SIMMATCH" train "$TMP/loop.toml" network.gamma=0.1 data.limit=10 train.epochs=1 train.samples_per_epoch=2 \
  train.cost_samples=0 output.dir="$TMP/quiet" 2>"$TMP/quiet.err"
grep -q "warning" "$TMP/quiet.err" && fail "tanh layers warned: $(cat "$TMP/quiet.err")" || pass "tanh layers: no warning"
"$SIMMATCH" train "$TMP/loop.toml" network.gamma=0.1 data.limit=10 train.epochs=1 train.samples_per_epoch=2 \
  train.cost_samples=0 solver.step_initial=2.5 solver.step_min=2.5 solver.max_steps=4 output.dir="$TMP/steep" \
  2>"$TMP/steep.err" || fail "train with solver.step_min=2.5 exited $?: $(cat "$TMP/steep.err")"
grep -Eq "^simmatch: warning: [0-9]+ of [0-9]+ samples trained on were solved along the Euler step schedule, whose \
floor step solver.step_min = 2.5 " "$TMP/steep.err" && pass "train warns about Euler steps beyond the stability limit" ||
  fail "no warning for solver.step_min=2.5: $(cat "$TMP/steep.err")"

# A conv2d layer trains from the command line; encode and evaluate pool its fixed points.
CONV=$TMP/conv
if "$SIMMATCH" train experiments/tiny.toml layers.0.type=conv2d layers.0.kernel=3 layers.0.stride=1 \
    layers.0.neurons_per_site=3 train.epochs=1 output.dir="$CONV" 2>"$TMP/conv.err"; then
  pass "train a conv2d layer"
  if have_python; then
    "$SIMMATCH" encode "$CONV/model.npz" data/mnist/package/src/digits "$TMP/conv.npy" --limit 7 --pool max:4 &&
      [ "$(npy_header "$TMP/conv.npy")" = "<f4 (7, 147) False" ] && pass "encode --pool max:4: 7 x (7 x 7 x 3)" ||
      fail "encode --pool: $(npy_header "$TMP/conv.npy" 2>&1)"
  fi
  expect_error "encode --pool with a window larger than the grid" "--pool: layer 0: pooling avg:40:40: the window is larger" \
    "$SIMMATCH" encode "$CONV/model.npz" data/mnist/package/src/digits "$TMP/bad.npy" --pool avg:40
  expect_error "encode --pool with a bad name" 'pooling "mean:2"' \
    "$SIMMATCH" encode "$CONV/model.npz" data/mnist/package/src/digits "$TMP/bad.npy" --pool mean:2
  [ -e "$TMP/bad.npy" ] && fail "a refused encode left $TMP/bad.npy"
else
  fail "train a conv2d layer: $(cat "$TMP/conv.err")"
fi
# Two layers: encode keeps the written layer alone, pooled; features --layer gives that layer's
# fields exactly as the run over every layer does.
DEEP=$TMP/deep
{ cat experiments/tiny.toml
  printf '\n[[layers]]\ntype = "conv2d"\nkernel = 3\nstride = 1\nneurons_per_site = 2\n'; } >"$TMP/deep.toml"
if "$SIMMATCH" train "$TMP/deep.toml" train.epochs=1 train.samples_per_epoch=20 train.cost_samples=0 \
    output.dir="$DEEP" 2>"$TMP/deep.err"; then
  if have_python; then
    "$SIMMATCH" encode "$DEEP/model.npz" "$DIGITS" "$TMP/deep.npy" --limit 5 --pool avg:2 2>"$TMP/deep.err" &&
      [ "$(npy_header "$TMP/deep.npy")" = "<f4 (5, 98) False" ] && pass "encode --pool avg:2 of the top layer: 5 x (7 x 7 x 2)" ||
      fail "encode --pool of a second layer: $(npy_header "$TMP/deep.npy" 2>&1) $(cat "$TMP/deep.err")"
  fi
  if "$SIMMATCH" features "$DEEP/model.npz" --limit 20 --out "$TMP/fields_all" --npy >/dev/null 2>"$TMP/deep.err" &&
      "$SIMMATCH" features "$DEEP/model.npz" --limit 20 --out "$TMP/fields_top" --npy --layer 1 >/dev/null \
        2>"$TMP/deep.err"; then
    [ "$(ls "$TMP/fields_top" | tr '\n' ' ')" = "features_layer1.npy features_layer1.png filters_layer1.png " ] &&
      cmp -s "$TMP/fields_all/features_layer1.npy" "$TMP/fields_top/features_layer1.npy" &&
      cmp -s "$TMP/fields_all/features_layer1.png" "$TMP/fields_top/features_layer1.png" &&
      cmp -s "$TMP/fields_all/filters_layer1.png" "$TMP/fields_top/filters_layer1.png" &&
      pass "features --layer 1: that layer's fields alone, the same bytes" ||
      fail "features --layer 1: $(ls "$TMP/fields_top" | tr '\n' ' ')"
  else
    fail "features of a two-layer model exited $?: $(cat "$TMP/deep.err")"
  fi
else
  fail "train two layers: $(cat "$TMP/deep.err")"
fi
expect_error "conv2d padding outside the choices" "layers.0.padding" \
  "$SIMMATCH" train experiments/tiny.toml layers.0.type=conv2d layers.0.padding=full output.dir="$TMP/never"
expect_error "conv2d kernel larger than a valid input" "layers.0.kernel" \
  "$SIMMATCH" train experiments/tiny.toml layers.0.type=conv2d layers.0.padding=valid layers.0.kernel=29 \
  output.dir="$TMP/never"

# A contrastive model classifies with its own output: predict writes classes (and scores), evaluate
# scores the output without a classifier (--readout auto).
CSM=$TMP/csm
if "$SIMMATCH" train experiments/tiny.toml train.mode=contrastive network.gamma=0.5 layers.0.type=dense \
    layers.0.neurons=16 layers.1.type=dense layers.1.neurons=10 train.batch_size=10 train.eta=0.1 \
    train.epochs=2 output.dir="$CSM" 2>"$TMP/csm.err"; then
  pass "train a contrastive model"
  "$SIMMATCH" predict "$CSM/model.npz" --limit 30 --out "$TMP/pred.npy" --scores "$TMP/scores.npy" >"$TMP/pred.txt" &&
    grep -q "predicted 30 samples into $TMP/pred.npy: accuracy" "$TMP/pred.txt" && pass "predict reports the accuracy" ||
    fail "predict: $(cat "$TMP/pred.txt")"
  if have_python; then
    [ "$(npy_header "$TMP/pred.npy")" = "<i8 (30,) False" ] && [ "$(npy_header "$TMP/scores.npy")" = "<f4 (30, 10) False" ] &&
      pass "predict writes 30 classes and 30 x 10 scores" ||
      fail "predict outputs: $(npy_header "$TMP/pred.npy") / $(npy_header "$TMP/scores.npy")"
  fi
  "$SIMMATCH" evaluate "$CSM/model.npz" --limit 40 --test-limit 20 --json "$TMP/csm.json" >"$TMP/csm_eval.txt" &&
    grep -q "network output (10 classes, no external classifier)" "$TMP/csm_eval.txt" &&
    grep -q '"readout": "output"' "$TMP/csm.json" && pass "evaluate scores a contrastive model's own output" ||
    fail "evaluate of a contrastive model: $(cat "$TMP/csm_eval.txt")"
  "$SIMMATCH" evaluate "$CSM/model.npz" --readout svm --layer 0 --limit 40 --test-limit 20 --c 1 >"$TMP/csm_svm.txt" &&
    grep -q "% error" "$TMP/csm_svm.txt" && pass "evaluate --readout svm reads out a contrastive model's hidden layer" ||
    fail "evaluate --readout svm: $(cat "$TMP/csm_svm.txt")"
else
  fail "train a contrastive model: $(cat "$TMP/csm.err")"
fi

# train.validation holds labelled samples out of training and scores the network's own output on
# them after each epoch; the unsupervised mode, which has no output of its own, refuses it.
if "$SIMMATCH" train experiments/tiny.toml train.mode=contrastive network.gamma=0.5 layers.0.type=dense \
    layers.0.neurons=16 layers.1.type=dense layers.1.neurons=10 train.batch_size=10 train.eta=0.1 \
    train.epochs=2 train.validation=0.2 output.dir="$TMP/csm_val" 2>"$TMP/csm_val.err"; then
  grep -q "more held out for validation" "$TMP/csm_val.err" &&
    [ "$(grep -c "validation accuracy" "$TMP/csm_val.err")" = 2 ] &&
    [ "$(grep -c '"validation_accuracy":' "$TMP/csm_val/metrics.jsonl")" = 2 ] &&
    pass "train.validation reports the held-out accuracy after each epoch" ||
    fail "train.validation: $(cat "$TMP/csm_val.err")"
else
  fail "train with train.validation: $(cat "$TMP/csm_val.err")"
fi
expect_error "held-out samples without an own output" "train.validation" \
  "$SIMMATCH" train experiments/tiny.toml train.validation=0.2 output.dir="$TMP/never"

# A supervised model (labels as an input of its top layer, here a local2d layer) scores classes
# with its label synapses, V^T r, without the labels: predict and evaluate read its own output.
SSM=$TMP/ssm
if "$SIMMATCH" train experiments/tiny.toml train.mode=supervised train.label_scale=3 train.epochs=2 \
    train.batch_size=10 train.eta=0.05 solver.method=fast output.dir="$SSM" 2>"$TMP/ssm.err"; then
  pass "train a supervised model"
  "$SIMMATCH" predict "$SSM/model.npz" --limit 30 --out "$TMP/spred.npy" --scores "$TMP/sscores.npy" >"$TMP/spred.txt" &&
    grep -q "predicted 30 samples into $TMP/spred.npy: accuracy" "$TMP/spred.txt" &&
    pass "predict reads a supervised model's label synapses" || fail "predict (supervised): $(cat "$TMP/spred.txt")"
  if have_python; then
    [ "$(npy_header "$TMP/sscores.npy")" = "<f4 (30, 10) False" ] && pass "supervised predict writes 30 x 10 scores" ||
      fail "supervised scores: $(npy_header "$TMP/sscores.npy")"
  fi
  "$SIMMATCH" evaluate "$SSM/model.npz" --limit 40 --test-limit 20 >"$TMP/ssm_eval.txt" &&
    grep -q "network output (10 classes, no external classifier)" "$TMP/ssm_eval.txt" &&
    pass "evaluate scores a supervised model's own output" || fail "evaluate (supervised): $(cat "$TMP/ssm_eval.txt")"
else
  fail "train a supervised model: $(cat "$TMP/ssm.err")"
fi
expect_error "supervised training without labels" "needs labels" \
  "$SIMMATCH" train experiments/tiny.toml train.mode=supervised data.format=npy data.path="$TMP/reps.npy" data.limit=0 layers.0.type=dense layers.0.neurons=8 \
  output.dir="$TMP/never"

# Every experiment config whose data are present runs at tiny size, so none of them can rot.
for config in experiments/*.toml; do
  "$SIMMATCH" params "$config" >"$TMP/resolved.json" 2>"$TMP/params.err" || {
    fail "$config does not load: $(cat "$TMP/params.err")"
    continue
  }
  data=$(grep -m1 '"path"' "$TMP/resolved.json" | sed 's/.*"path": "\(.*\)",*$/\1/')
  if [ -z "$data" ] || [ ! -e "$data" ]; then echo "skipped: $config (data '$data' not present)"; continue; fi
  if "$SIMMATCH" train "$config" output.dir="$TMP/exp" data.limit=20 train.epochs=1 train.samples_per_epoch=10 \
      train.cost_samples=10 2>"$TMP/exp.err" && [ -s "$TMP/exp/model.npz" ]; then
    pass "$config runs at tiny size"
  else
    fail "$config at tiny size: $(cat "$TMP/exp.err")"
  fi
  rm -rf "$TMP/exp"
done
finish
