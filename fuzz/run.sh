#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time on its
# committed seed corpus. Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (build parallelism, default 2),
#   FUZZ_CORPUS_OUT: when set, new inputs found are kept in $FUZZ_CORPUS_OUT/<target>/ (the
#   committed seeds in fuzz/corpus are never modified by a run).
# Exits non-zero on the first crash, leak, sanitizer report or timeout; the reproducer is left
# in $FUZZ_BUILD_DIR/artifacts/<target>/.
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
status=0
for t in "${targets[@]}"; do
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
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz_$t.log" | sed "s/^/fuzz: $t /"
  if [ -n "${FUZZ_CORPUS_OUT:-}" ]; then mkdir -p "$FUZZ_CORPUS_OUT/$t" && cp -n "$work"/* "$FUZZ_CORPUS_OUT/$t/" 2>/dev/null || true; fi
  rm -rf "$work"
  [ $status -eq 0 ] || exit $status
done
echo "fuzz: all targets passed"
