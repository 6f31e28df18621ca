# Shared helpers of the CLI integration scripts (sourced). Usage: cli_<name>.sh SIMMATCH
set -u
SIMMATCH=${1:?usage: $0 path/to/simmatch}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/simmatch_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILURES=0
DIGITS=data/mnist/package/src/digits

fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
pass() { echo "ok: $*"; }
finish() { if [ "$FAILURES" -gt 0 ]; then echo "$FAILURES check(s) failed" >&2; exit 1; fi; exit 0; }
need_digits() {
  if [ ! -f "$DIGITS/9.json" ]; then echo "skipped: $DIGITS missing (run ./setup.sh)"; exit 77; fi
}
# The system Python (where Debian's python3-numpy lives), else whatever python3 is on PATH.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3 || echo python3)
have_python() { command -v "$PYTHON" >/dev/null 2>&1; }

# expect_error NAME EXPECTED_SUBSTRING CMD...: exit code 1, and stderr is exactly one line
# "simmatch: error: ..." containing EXPECTED_SUBSTRING.
expect_error() {
  local name=$1 expected=$2
  shift 2
  "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"
  local rc=$?
  local lines
  lines=$(wc -l <"$TMP/err.txt")
  if [ "$rc" != 1 ]; then fail "$name: exit code $rc, expected 1 (stderr: $(cat "$TMP/err.txt"))"; return; fi
  if [ "$lines" != 1 ]; then fail "$name: $lines stderr lines, expected 1: $(cat "$TMP/err.txt")"; return; fi
  if ! grep -q '^simmatch: error: ' "$TMP/err.txt"; then fail "$name: not a 'simmatch: error:' line: $(cat "$TMP/err.txt")"; return; fi
  if ! grep -qF -- "$expected" "$TMP/err.txt"; then fail "$name: message lacks '$expected': $(cat "$TMP/err.txt")"; return; fi
  pass "$name: $(cat "$TMP/err.txt")"
}

# npy_header FILE: prints "dtype shape" of an NPY file, e.g. "<f4 (30, 784)" (Python stdlib only).
npy_header() {
  "$PYTHON" - "$1" <<'PY'
import ast, struct, sys
with open(sys.argv[1], "rb") as f:
    assert f.read(6) == b"\x93NUMPY", "bad magic"
    major = f.read(2)[0]
    n = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
    h = ast.literal_eval(f.read(n).decode("latin1"))
    print(h["descr"], tuple(h["shape"]), h["fortran_order"])
PY
}
