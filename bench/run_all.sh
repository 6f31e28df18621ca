#!/usr/bin/env bash
# Every benchmark of docs/performance.md in one command: the end-to-end `simmatch bench`
# configurations measured against issue 5's targets, then the Google Benchmark kernels.
#   bench/run_all.sh                 # uses build/ (configure it Release: ./setup.sh does)
#   BUILD=build-perf bench/run_all.sh
#   QUICK=1 bench/run_all.sh         # fewer samples (a smoke run, ~1 min; figures are noisier)
#   KERNEL_FILTER=Solve bench/run_all.sh   # only the kernels matching a regex
# Environment: BUILD, MNIST (json digit folder; default the one ./setup.sh installs, else the
# bench's seeded synthetic digits), OMP_WAIT_POLICY (default passive: on a shared machine the
# default active waiting of OpenMP workers halves throughput), QUICK.
# Output: the raw bench lines per configuration, a summary table against the targets, the kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/simmatch
KERNELS=$BUILD/bench/simmatch_kernels_bench
[ -x "$BIN" ] || { echo "run_all.sh: $BIN not found; build first (./setup.sh or cmake --build $BUILD)" >&2; exit 2; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
MNIST=${MNIST:-data/mnist/package/src/digits}
DATA=()
[ -d "$MNIST" ] && DATA=(--mnist "$MNIST")
if [ "${QUICK:-0}" = 1 ]; then N=1000; N1=500; N100=100; W100=100; MIN_TIME=0.05; else N=5000; N1=3000; N100=1000; W100=200; MIN_TIME=0.2; fi

echo "# simmatch benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=$OMP_WAIT_POLICY, OMP_NUM_THREADS=${OMP_NUM_THREADS:-all}"

SUMMARY=()
# run NAME TARGET_TRAIN TARGET_ENCODE ARGS...: one end-to-end configuration.
run() {
  local name=$1 target_train=$2 target_encode=$3
  shift 3
  echo
  echo "## $name: simmatch bench $*"
  local out
  out=$("$BIN" bench "$@" "${DATA[@]}")
  echo "$out"
  local train encode iters rss
  train=$(awk '/^train:/ {print $2}' <<<"$out")
  encode=$(awk '/^encode:/ {print $2}' <<<"$out")
  iters=$(sed -n 's/^train:.*mean iterations \([0-9.]*\).*/\1/p' <<<"$out")
  rss=$(awk '/^memory:/ {print $2}' <<<"$out")
  SUMMARY+=("| $name | $train | $target_train | $encode | $target_encode | $iters | $rss |")
}

run "reference, batch 100, fast" ">= 10,000" ">= 30,000" --batch 100 --solver fast --samples "$N" --encode-samples "$N"
run "reference, batch 100, euler" "-" "-" --batch 100 --solver euler --samples "$N1" --encode-samples "$N1" --no-peak
run "reference, batch 1 (online), fast" ">= 2,000" "-" --batch 1 --solver fast --samples "$N1" --encode-samples "$N1" --no-peak
run "reference, batch 100, fast, float64" "-" "-" --batch 100 --solver fast --precision float64 --samples "$N1" --encode-samples "$N1" --no-peak
run "100 per site, batch 100, fast" ">= 100" "-" --batch 100 --solver fast --neurons-per-site 100 \
  --samples "$N100" --encode-samples "$N100" --warmup "$W100" --no-peak

echo
echo "## summary (samples/s, wall clock; peak RSS target for 100 per site: < 2,048 MB)"
echo
echo "| configuration | train/s | target | encode/s | target | mean iterations | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${SUMMARY[@]}"

echo
echo "## kernels: $KERNELS"
if [ -x "$KERNELS" ]; then
  "$KERNELS" --benchmark_min_time="$MIN_TIME" --benchmark_filter="${KERNEL_FILTER:-.}"
else
  echo "(not built: configure with the Google Benchmark package installed)"
fi
