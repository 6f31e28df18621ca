#!/usr/bin/env bash
# CI: the unit and property tests built with AddressSanitizer + UndefinedBehaviorSanitizer, in the
# fuzz targets' clang tree (fuzz/CMakeLists.txt, SIMMATCH_FUZZ_WITH_TESTS=ON): the library is
# compiled once for the tests and for .ci/fuzz.sh, and clang's UBSan checks more than GCC's
# (pointer overflow). Any sanitizer report fails the run. (GCC's build of the same checks:
# cmake -DSIMMATCH_SANITIZE=ON; docs/reliability.md, "Sanitizers".)
# Usage: .ci/sanitize.sh [gtest filter, default all but some fidelity cases (below)]   (FUZZ_BUILD_DIR, default build-fuzz; FUZZ_JOBS, default 2)
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
# Each test runs in its own process, two processes at a time, each with one OpenMP thread: one
# process of two threads kept 1.6 cores busy on average, and two gtest shards ended 190 s apart.
# (Tests that compare thread counts set their own, so the parallel paths still run.)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# The parameterised fidelity cases are three quarters of the property tests' time under ASan
# (624 of 820 s of one thread). Their tanh and clipped-ReLU instances at the middle feedback
# strength (gamma3, 188 s) repeat the activations, depths and lateral radii of the weaker and
# stronger ones (gamma1, gamma5) with numbers in between, so here they are left to the Release
# tests (ctest runs them all). An argument replaces the whole filter.
filter=${1:-*-IndefiniteNetworks/SolverFidelity.*/tanh_*_gamma3_*:IndefiniteNetworks/SolverFidelity.*/clipped_relu_*_gamma3_*}
tests=$(mktemp)
trap 'rm -f "$tests"' EXIT
for kind in property unit; do
  binary="$build/simmatch/tests/simmatch_${kind}_tests"
  # Suite lines are unindented ("Suite." or "Suite.  # TypeParam = ..."), their tests indented.
  "$binary" --gtest_list_tests --gtest_filter="$filter" |
    awk -v binary="$binary" '/^[^ ]/ { suite = $1; next } /^  / { print binary, suite $1 }' >>"$tests"
done
run_one() {
  local out
  out=$("$1" --gtest_filter="$2" --gtest_brief=1 2>&1) || { echo "$out"; echo "sanitize: $2 failed" >&2; return 1; }
}
export -f run_one
echo "sanitize: $(wc -l <"$tests") tests, $jobs at a time"
if ! xargs -P "$jobs" -n 2 bash -c 'run_one "$@"' _ <"$tests"; then
  echo "sanitize: tests failed under ASan + UBSan (their output is above)" >&2
  exit 1
fi
echo "sanitize: all tests passed under ASan + UBSan"
