#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time on its
# committed seed corpus. Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (build parallelism, default 2),
#   FUZZ_PARALLEL (targets fuzzed side by side, default 2),
#   FUZZ_CORPUS_OUT: when set, new inputs found are kept in $FUZZ_CORPUS_OUT/<target>/ (the
#   committed seeds in fuzz/corpus are never modified by a run).
# Exits non-zero after a crash, leak, sanitizer report or timeout in any target; the reproducer
# is left in $FUZZ_BUILD_DIR/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy npz idx mnist_json config)
build=${FUZZ_BUILD_DIR:-build-fuzz}

mkdir -p "$build"
# -O1 with line tables only, as OSS-Fuzz builds (fuzz/CMakeLists.txt).
CXX=${FUZZ_CXX:-clang++} cmake -S fuzz -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >"$build/cmake.log" 2>&1 ||
  { cat "$build/cmake.log"; exit 1; }
cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

# Leak checking stays on; the UBSan runtime must abort on a report rather than log and go on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# One target's run on a copy of its seeds: the summary on stdout, libFuzzer's log in
# $build/fuzz_<target>.log; the status is non-zero on a finding.
run_target() {
  local t=$1 work status=0
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$t/." "$work/"
  mkdir -p "$build/artifacts/$t"
  echo "fuzz: $t for ${seconds}s ($(ls "$work" | wc -l) seeds)"
  # rss_limit: a corrupt header must not be able to make a reader allocate gigabytes;
  # max_len: inputs larger than the readers' interesting headers only slow the search.
  if ! "$build/fuzz_$t" "$work" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
      -max_len=8192 -timeout=10 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" \
      -dict="fuzz/dict/$t.dict" 2>"$build/fuzz_$t.log"; then
    tail -60 "$build/fuzz_$t.log"
    echo "fuzz: $t FAILED (reproducer in $build/artifacts/$t/)"
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz_$t.log" | sed "s/^/fuzz: $t /" || true
  if [ -n "${FUZZ_CORPUS_OUT:-}" ]; then mkdir -p "$FUZZ_CORPUS_OUT/$t" && cp -n "$work"/* "$FUZZ_CORPUS_OUT/$t/" 2>/dev/null || true; fi
  rm -rf "$work"
  return $status
}

# libFuzzer runs one process per target, so FUZZ_PARALLEL targets (default 2, the cores) run side
# by side; each batch's summaries print when it ends, and every target runs even after a finding.
parallel=${FUZZ_PARALLEL:-2}
status=0
for ((first = 0; first < ${#targets[@]}; first += parallel)); do
  batch=("${targets[@]:first:parallel}")
  pids=()
  for t in "${batch[@]}"; do
    run_target "$t" >"$build/fuzz_$t.summary" 2>&1 &
    pids+=($!)
  done
  for i in "${!batch[@]}"; do
    wait "${pids[$i]}" || status=1
    cat "$build/fuzz_${batch[$i]}.summary"
  done
done
[ $status -eq 0 ] || { echo "fuzz: a target FAILED"; exit $status; }
echo "fuzz: all targets passed"
