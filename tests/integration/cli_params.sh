#!/usr/bin/env bash
# `simmatch params`: docs/parameters.md is what the table generates; JSON output parses.
source "$(dirname "$0")/cli_common.sh"

if "$SIMMATCH" params --markdown | diff -u docs/parameters.md - >"$TMP/diff.txt"; then
  pass "docs/parameters.md is up to date"
else
  fail "docs/parameters.md is stale; run: simmatch params --markdown > docs/parameters.md"
  cat "$TMP/diff.txt" >&2
fi

"$SIMMATCH" params >"$TMP/table.txt" || fail "params exits non-zero"
grep -q '^train.eta ' "$TMP/table.txt" && pass "params lists train.eta" || fail "params does not list train.eta"

if have_python; then
  "$SIMMATCH" params experiments/tiny.toml train.epochs=2 layers.0.neurons_per_site=8 >"$TMP/resolved.json"
  "$PYTHON" - "$TMP/resolved.json" <<'PY' && pass "params CONFIG prints the resolved config" || fail "resolved config wrong"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["train"]["epochs"] == 2, c["train"]
assert c["layers"][0]["neurons_per_site"] == 8
assert c["solver"]["method"] == "euler"
PY
  "$SIMMATCH" params --json | "$PYTHON" -c 'import json,sys; json.load(sys.stdin)' && pass "params --json parses" ||
    fail "params --json is not JSON"
fi

"$SIMMATCH" --version | grep -q '^simmatch [0-9]' && pass "--version" || fail "--version"
for cmd in "" train encode params; do
  # shellcheck disable=SC2086
  if "$SIMMATCH" $cmd --help >"$TMP/help.txt" 2>&1 && grep -q 'Usage' "$TMP/help.txt"; then
    pass "simmatch $cmd --help"
  else
    fail "simmatch $cmd --help"
  fi
done
finish
