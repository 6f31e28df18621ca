#!/usr/bin/env bash
# CI: the unit and property tests built with AddressSanitizer + UndefinedBehaviorSanitizer, in the
# fuzz targets' clang tree (fuzz/CMakeLists.txt, SIMMATCH_FUZZ_WITH_TESTS=ON): the library is
# compiled once for the tests and for .ci/fuzz.sh, and clang's UBSan checks more than GCC's
# (pointer overflow). Any sanitizer report fails the run. (GCC's build of the same checks:
# cmake -DSIMMATCH_SANITIZE=ON; docs/reliability.md, "Sanitizers".)
# Usage: .ci/sanitize.sh [gtest filter]   (FUZZ_BUILD_DIR, default build-fuzz; FUZZ_JOBS, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-2}

mkdir -p "$build"
# -O1 with line tables only, as OSS-Fuzz builds and as fuzz/run.sh configures the same tree.
CXX=${FUZZ_CXX:-clang++} cmake -S fuzz -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DSIMMATCH_FUZZ_WITH_TESTS=ON \
  >"$build/cmake.log" 2>&1 || { cat "$build/cmake.log"; exit 1; }
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
  "$build/simmatch/tests/simmatch_${kind}_tests" --gtest_filter="$filter" --gtest_brief=1
done
echo "sanitize: all tests passed under ASan + UBSan"
