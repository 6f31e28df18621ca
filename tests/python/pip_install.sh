#!/usr/bin/env bash
# `pip install .` as a user runs it, offline: a fresh `python3 -m venv --system-site-packages` (NumPy,
# scikit-learn and the build backends come from Debian), `pip install --no-build-isolation`, the
# installed package imported from outside the source tree with its metadata, a clean uninstall,
# then the same for `pip install -e .`. SIMMATCH_CMAKE_BUILD_DIR points setup.py at the build being
# tested, so pip builds nothing that is not built already.
# Usage: pip_install.sh SOURCE_DIR BUILD_DIR PYTHON
set -euo pipefail
src=$1 build=$2 python=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/simmatch-pip.XXXXXX")
inplace_before=$(ls "$src"/python/simmatch/_simmatch*.so 2>/dev/null || true)
egg_info_before=$(ls -d "$src"/python/simmatch.egg-info 2>/dev/null || true)
cleanup() {
  rm -rf "$work"
  # pip builds in the source tree: an editable install puts the module in place, and setuptools
  # writes its metadata next to the package; remove what was not there before.
  if [ -z "$inplace_before" ]; then rm -f "$src"/python/simmatch/_simmatch*.so; fi
  if [ -z "$egg_info_before" ]; then rm -rf "$src"/python/simmatch.egg-info; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

unset PYTHONPATH
export SIMMATCH_CMAKE_BUILD_DIR=$build PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
"$python" -m venv --system-site-packages "$work/venv"
py=$work/venv/bin/python
site=$("$py" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')
cd "$work"  # the source tree must not be importable by accident

echo "== pip install $src"
"$py" -m pip install --no-build-isolation "$src" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "pip install"; }
"$py" - "$site" <<'PY' || fail "the installed package"
import importlib.metadata, inspect, os, sys
import simmatch
site = sys.argv[1]
assert simmatch.__file__.startswith(site), f"imported from {simmatch.__file__}, not {site}"
version = importlib.metadata.version("simmatch")
assert version == simmatch.__version__, (version, simmatch.__version__)
files = {str(f) for f in importlib.metadata.files("simmatch")}
for name in ("simmatch/__init__.py", "simmatch/estimator.py", "simmatch/plot.py", "simmatch/_simmatch.pyi",
             "simmatch/py.typed"):
    assert name in files, f"{name} not installed"
assert any(f.startswith("simmatch/_simmatch") and f.endswith(".so") for f in files), "no native module"
assert "X" in inspect.signature(simmatch.Network.fit).parameters
assert simmatch.SimilarityMatching().get_params()["epochs"] >= 0
print(f"installed simmatch {version} in {site}")
PY
"$py" -m pip uninstall -y simmatch >"$work/uninstall.log" 2>&1 || { cat "$work/uninstall.log"; fail "pip uninstall"; }
left=$(find "$site" -maxdepth 1 -iname 'simmatch*' | head -5)
[ -z "$left" ] || fail "uninstall left $left"
! "$py" -m pip show simmatch >/dev/null 2>&1 || fail "pip still lists simmatch after uninstall"
echo "uninstalled: nothing left in $site"

echo "== pip install -e $src"
"$py" -m pip install --no-build-isolation -e "$src" >"$work/editable.log" 2>&1 || { cat "$work/editable.log"; fail "pip install -e"; }
"$py" - "$src" <<'PY' || fail "the editable package"
import importlib.metadata, os, sys
import simmatch
src = os.path.realpath(sys.argv[1])
assert os.path.realpath(simmatch.__file__).startswith(os.path.join(src, "python", "simmatch")), simmatch.__file__
assert importlib.metadata.version("simmatch") == simmatch.__version__
print(f"editable simmatch {simmatch.__version__} from {os.path.dirname(simmatch.__file__)}")
PY
"$py" -m pip uninstall -y simmatch >"$work/uninstall.log" 2>&1 || { cat "$work/uninstall.log"; fail "pip uninstall (editable)"; }
! "$py" -m pip show simmatch >/dev/null 2>&1 || fail "pip still lists simmatch after uninstalling the editable install"
echo "PASS: pip install, metadata, uninstall, editable install"
