#!/usr/bin/env bash
# CI: builds the libFuzzer targets (clang, ASan + UBSan; in build-fuzz/, whose library
# .ci/sanitize.sh has built already) and runs each for FUZZ_SECONDS (default 45; .ci/run sets 30)
# on its committed seed corpus; fails on any crash, sanitizer report, leak or timeout, leaving the
# reproducer in build-fuzz/artifacts/<target>/. Needs clang and libomp-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
exec fuzz/run.sh "${FUZZ_SECONDS:-45}"
