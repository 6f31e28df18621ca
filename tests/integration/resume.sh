#!/usr/bin/env bash
# A training run killed with SIGKILL at a random moment after its first checkpoint, then resumed
# with `simmatch train --resume`, writes a model file byte-identical to an uninterrupted run with
# the same seed, and a metrics log with each epoch once. Also: --resume refuses a changed config
# and a folder without a checkpoint, and a finished run leaves no checkpoint behind.
source "$(dirname "$0")/cli_common.sh"
need_digits
RUN=$TMP/run
# 12 epochs of 300 digits (about 3 s: long enough that a kill lands before the end even on a fast
# machine), one sample per update, a checkpoint every 25 updates and after each epoch.
ARGS=(experiments/tiny.toml "output.dir=$RUN" data.limit=300 train.epochs=12 train.samples_per_epoch=300
      train.cost_samples=50 train.checkpoint_every=25)

# 1. The uninterrupted reference.
if ! "$SIMMATCH" train "${ARGS[@]}" 2>"$TMP/ref.err"; then
  fail "reference run exited $?: $(cat "$TMP/ref.err")"
  finish
fi
[ -f "$RUN/checkpoint.npz" ] && fail "a finished run left its checkpoint behind" || pass "finished run removed its checkpoint"
mv "$RUN/model.npz" "$TMP/reference.npz"
mv "$RUN/metrics.jsonl" "$TMP/reference.jsonl"
rm -rf "$RUN"

# 2. The same run, killed without warning a random moment after a new checkpoint appeared, then
# resumed and killed again, until a resumed run gets to the end by itself. The kills land at
# different points: mid-batch, mid-epoch, during the cost evaluation, perhaps mid-write.
kills=0
finished=0
for attempt in 1 2 3 4 5 6; do
  if [ $kills = 0 ]; then
    "$SIMMATCH" train "${ARGS[@]}" 2>>"$TMP/killed.err" &
  else
    "$SIMMATCH" train "${ARGS[@]}" --resume 2>>"$TMP/killed.err" &
  fi
  pid=$!
  # A new checkpoint is a new inode (each is renamed into place).
  before=$(stat -c %i "$RUN/checkpoint.npz" 2>/dev/null || echo none)
  for _ in $(seq 1 1200); do
    now=$(stat -c %i "$RUN/checkpoint.npz" 2>/dev/null || echo none)
    [ "$now" != none ] && [ "$now" != "$before" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.02
  done
  sleep "0.$((RANDOM % 25))"
  if kill -KILL $pid 2>/dev/null; then
    wait $pid 2>/dev/null
    kills=$((kills + 1))
    [ -f "$RUN/model.npz" ] && fail "kill $kills: the killed run wrote its final model"
    [ -f "$RUN/checkpoint.npz" ] || fail "kill $kills: no checkpoint after the kill"
    if [ $kills = 1 ]; then
      # A changed config is refused, naming the key, and leaves the checkpoint alone.
      expect_error "resume with another seed" "seed" "$SIMMATCH" train "${ARGS[@]}" seed=8 --resume
      expect_error "resume with another batch size" "train.batch_size" "$SIMMATCH" train "${ARGS[@]}" train.batch_size=2 --resume
    fi
  else
    if wait $pid; then finished=1; else fail "resumed run failed: $(tail -3 "$TMP/killed.err")"; fi
    break
  fi
done
[ $kills -ge 1 ] && pass "killed the run $kills time(s) with SIGKILL" || fail "the run was never killed"
# 3. Resume to the end, if the last resumption was killed too.
if [ $finished = 0 ] && [ $kills -ge 1 ]; then
  "$SIMMATCH" train "${ARGS[@]}" --resume 2>>"$TMP/killed.err" || fail "final resume exited $?: $(tail -3 "$TMP/killed.err")"
fi
[ -f "$RUN/model.npz" ] && pass "resumed run wrote its model" || { fail "no model after resuming"; finish; }
grep -q "^simmatch: resuming from .* at epoch" "$TMP/killed.err" && pass "resume is logged: $(grep -m1 resuming "$TMP/killed.err")" ||
  fail "resume not mentioned on stderr: $(cat "$TMP/killed.err")"

# 4. The same model, byte for byte (weights, structures and the stored config), and each epoch
# logged once with the same learning rate and cost.
if cmp -s "$TMP/reference.npz" "$RUN/model.npz"; then
  pass "resumed model is byte-identical to the uninterrupted one"
else
  fail "resumed model differs from the uninterrupted one"
fi
# Everything but the timings: an epoch resumed part-way counts the samples, iterations and
# converged fractions of the batches before the checkpoint too (its epoch_tally).
strip_times() { sed -E 's/,"seconds":[^,}]*//; s/,"samples_per_second":[^,}]*//' "$1"; }
if diff <(strip_times "$TMP/reference.jsonl") <(strip_times "$RUN/metrics.jsonl") >"$TMP/metrics.diff"; then
  pass "metrics log: $(grep -c . "$RUN/metrics.jsonl") epochs, the same as the uninterrupted run"
else
  fail "metrics logs differ: $(cat "$TMP/metrics.diff")"
fi
[ -f "$RUN/checkpoint.npz" ] && fail "checkpoint left after the resumed run finished" || pass "checkpoint removed"
ls "$RUN" | grep -q 'tmp-' && fail "temporary files left in $RUN: $(ls "$RUN")"

# 5. Nothing to resume.
expect_error "resume without a checkpoint" "no checkpoint" "$SIMMATCH" train "${ARGS[@]}" --resume
finish
