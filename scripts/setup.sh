#!/usr/bin/env bash
# Sets up a fresh machine for the zoo: a virtual environment with the package and its
# test extra, and the data directory. (The tests also need Fashion-MNIST: scripts/test.sh
# installs its Debian package; the demo does not use it.) Source it (`. scripts/setup.sh`) so that the venv and ZOO_DATA_DIR stay set.
set -e
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$ZOO_ROOT/.venv/bin/python" ]; then
  echo "[setup] creating $ZOO_ROOT/.venv"
  "$PYTHON" -m venv "$ZOO_ROOT/.venv"
fi
. "$ZOO_ROOT/.venv/bin/activate"
if ! python -c "import zoo, pytest, jupytext, ruff" >/dev/null 2>&1 || [ "$ZOO_REINSTALL" = 1 ]; then
  echo "[setup] installing the zoo and its dependencies (first run downloads TensorFlow)"
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -e "$ZOO_ROOT[test]"
fi
# MNIST: the workplace keeps the IDX files in ../shared/datasets/mnist.
if [ -z "$ZOO_DATA_DIR" ] && [ -d "$ZOO_ROOT/../shared/datasets" ]; then
  export ZOO_DATA_DIR="$(cd "$ZOO_ROOT/../shared/datasets" && pwd)"
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
set +e
