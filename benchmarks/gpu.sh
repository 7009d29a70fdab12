#!/usr/bin/env bash
# vae_mnist on an NVIDIA GPU: one training epoch and the k=5000 likelihood of the 10,000
# test images, written to benchmarks/gpu.md (see benchmarks/gpu.py). Needs TensorFlow's
# CUDA build: in the project's venv, `pip install "tensorflow[and-cuda]==2.21.*"` once
# (scripts/setup.sh installs the CPU build). Extra arguments go to gpu.py.
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ZOO_ROOT/scripts/setup.sh" || exit 1
cd "$ZOO_ROOT" || exit 1
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "[gpu] no nvidia-smi: this machine has no NVIDIA GPU (python benchmarks/gpu.py still runs, on the CPU)" >&2
  exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if ! python -c "import sys, tensorflow as tf; sys.exit(not tf.config.list_physical_devices('GPU'))" 2>/dev/null; then
  echo "[gpu] TensorFlow sees no GPU: install its CUDA build, pip install 'tensorflow[and-cuda]==2.21.*'" >&2
  exit 1
fi
exec python benchmarks/gpu.py "$@"
