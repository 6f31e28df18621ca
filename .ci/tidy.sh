#!/usr/bin/env bash
# CI: the names of src/ and include/ against the style .clang-tidy states (only its
# readability-identifier-naming check, which is fast; the others are advice for editors). Every
# source file of src/ is checked with the flags of the build's compile_commands.json, and the
# headers of include/simmatch and src/ through them. Any finding fails the run.
# Usage: .ci/tidy.sh [build folder, default build]   (TIDY_JOBS, default 2; CLANG_TIDY, default
# clang-tidy-14)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${TIDY_JOBS:-2}
tidy=${CLANG_TIDY:-clang-tidy-14}
root=$(pwd)

if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "tidy: $build/compile_commands.json is missing (configure the build first: ./setup.sh or cmake -S . -B $build)" >&2
  exit 1
fi
# The project's own translation units that the build compiles (the MPI communicator only when
# the build has MPI); tests, benchmarks and bindings are not the library's names. Their commands
# are copied without the precompiled header (cmake/PrecompiledHeaders.cmake): clang cannot read
# GCC's, and each source must compile on its own includes.
commands=$(mktemp -d)
trap 'rm -rf "$commands"' EXIT
mapfile -t files < <(python3 - "$build/compile_commands.json" "$root" "$commands" <<'EOF'
import json, os, re, sys
root = os.path.realpath(sys.argv[2])
seen, kept = set(), []
for entry in json.load(open(sys.argv[1])):
    path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
    if path.startswith(os.path.join(root, "src") + os.sep) and path not in seen:
        seen.add(path)
        entry["command"] = re.sub(r" -Winvalid-pch| -include \S*cmake_pch\.hxx", "", entry["command"])
        kept.append(entry)
        print(path)
json.dump(kept, open(os.path.join(sys.argv[3], "compile_commands.json"), "w"))
EOF
)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "tidy: no source of src/ in $build/compile_commands.json" >&2
  exit 1
fi

log="$commands/tidy.log"
printf '%s\n' "${files[@]}" |
  xargs -P "$jobs" -n 4 "$tidy" -p "$commands" --quiet --checks='-*,readability-identifier-naming' \
    --warnings-as-errors='readability-identifier-naming' --header-filter="^$root/(include/simmatch|src)/" \
    >"$log" 2>&1 || true
# A header included by several files reports once.
findings=$(grep -E '^/.*: (warning|error): ' "$log" | sort -u || true)
if [[ -n "$findings" ]]; then
  echo "$findings"
  echo "tidy: $(wc -l <<<"$findings") names do not follow .clang-tidy's style" >&2
  exit 1
fi
if grep -qE 'error: |Error while processing' "$log"; then
  cat "$log" >&2
  echo "tidy: clang-tidy failed" >&2
  exit 1
fi
echo "tidy: ${#files[@]} files of src/ (and the headers they include) follow the naming style"
