#!/usr/bin/env bash
# The main job: loads the shipped vae_mnist preset offline and writes samples,
# reconstructions, an interpolation and a latent traversal as PNGs (outputs/).
# Another preset: bash scripts/demo.sh cvae_mnist. If the preset is not shipped in
# this checkout, a short real training run on MNIST makes one first.
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ZOO_ROOT/scripts/setup.sh" || exit 1
cd "$ZOO_ROOT" || exit 1
name="${1:-vae_mnist}"
if [ ! -f "saved_models/$name/metadata.json" ] && [ ! -d "$name" ]; then
  echo "[demo] $name is not shipped here: training a quick one (1 epoch on 10k MNIST images)"
  zoo train --preset vae_mnist --epochs 1 --take 10000 --out outputs/vae_mnist_quick --work-dir outputs/vae_mnist_quick.work || exit 1
  name="outputs/vae_mnist_quick"
fi
exec zoo demo "$name" --out-dir outputs
