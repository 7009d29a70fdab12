#!/usr/bin/env bash
# The main job: loads a shipped preset offline and writes samples, reconstructions,
# an interpolation and a latent traversal as labelled PNGs (outputs/). Without an
# argument `zoo demo` picks the MNIST preset with the best samples (and says why);
# another preset: bash scripts/demo.sh cvae_mnist. If the preset (or, without an
# argument, any MNIST preset) is not shipped in this checkout, a short real training
# run on MNIST makes one first.
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ZOO_ROOT/scripts/setup.sh" || exit 1
cd "$ZOO_ROOT" || exit 1
name="${1:-}"
if { [ -n "$name" ] && [ ! -f "saved_models/$name/metadata.json" ] && [ ! -d "$name" ]; } ||
   { [ -z "$name" ] && ! grep -qs '"dataset": "mnist"' saved_models/*/metadata.json; }; then
  echo "[demo] ${name:-an MNIST preset} is not shipped here: training a quick one (1 epoch on 10k MNIST images)"
  zoo train --preset vae_mnist --epochs 1 --take 10000 --out outputs/vae_mnist_quick --work-dir outputs/vae_mnist_quick.work || exit 1
  name="outputs/vae_mnist_quick"
fi
exec zoo demo ${name:+"$name"} --out-dir outputs
