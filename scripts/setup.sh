#!/usr/bin/env bash
# Sets up a fresh machine for the zoo: a virtual environment with the package and its
# test extra, the Fashion-MNIST Debian package where apt is available, and the data
# directory. Source it (`. scripts/setup.sh`) so that the venv and ZOO_DATA_DIR stay set.
set -e
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$ZOO_ROOT/.venv/bin/python" ]; then
  echo "[setup] creating $ZOO_ROOT/.venv"
  "$PYTHON" -m venv "$ZOO_ROOT/.venv"
fi
. "$ZOO_ROOT/.venv/bin/activate"
if ! python -c "import zoo, pytest, jupytext" >/dev/null 2>&1 || [ "$ZOO_REINSTALL" = 1 ]; then
  echo "[setup] installing the zoo and its dependencies (first run downloads TensorFlow)"
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -e "$ZOO_ROOT[test]"
fi
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1; then
  echo "[setup] installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null \
    || echo "[setup] could not install dataset-fashion-mnist; Fashion-MNIST needs \$ZOO_DATA_DIR or TFDS"
fi
# MNIST: the workplace keeps the IDX files in ../shared/datasets/mnist.
if [ -z "$ZOO_DATA_DIR" ] && [ -d "$ZOO_ROOT/../shared/datasets" ]; then
  export ZOO_DATA_DIR="$(cd "$ZOO_ROOT/../shared/datasets" && pwd)"
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
set +e
