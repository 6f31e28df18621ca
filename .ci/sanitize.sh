#!/usr/bin/env bash
# CI: the unit and property tests built with AddressSanitizer + UndefinedBehaviorSanitizer (GCC,
# -DSIMMATCH_SANITIZE=ON). Only the test executables are built (no CLI, Python or benchmarks) to
# keep CI time down; any sanitizer report fails the run.
# Usage: .ci/sanitize.sh [gtest filter]   (ASAN_BUILD_DIR, default build-asan; ASAN_JOBS, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${ASAN_BUILD_DIR:-build-asan}
jobs=${ASAN_JOBS:-2}

mkdir -p "$build"
# -O1 keeps the tests fast enough under ASan; -g1 (line tables) keeps the stack traces' files and
# lines and compiles a fifth faster than -g.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DSIMMATCH_SANITIZE=ON -DSIMMATCH_WITH_MPI=OFF -DSIMMATCH_BUILD_PYTHON=OFF -DSIMMATCH_BUILD_BENCH=OFF \
  -DSIMMATCH_BUILD_TESTS=ON >"$build/cmake.log" 2>&1 || { cat "$build/cmake.log"; exit 1; }
cmake --build "$build" -j"$jobs" --target simmatch_unit_tests simmatch_property_tests

# halt_on_error/abort: a report is a failure, never a log line that scrolls by. Leak checking is
# on; OpenMP's thread pool is torn down at exit, so it does not count as a leak.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Two OpenMP threads match the CI machine and still exercise the parallel paths.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
filter=${1:-*}
for kind in unit property; do
  echo "sanitize: $kind tests"
  "$build/tests/simmatch_${kind}_tests" --gtest_filter="$filter" --gtest_brief=1
done
echo "sanitize: all tests passed under ASan + UBSan"
