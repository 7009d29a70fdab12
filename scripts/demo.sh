#!/usr/bin/env bash
# The main job: loads the shipped vae_mnist preset offline and writes samples,
# reconstructions, an interpolation and a latent traversal as PNGs.
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ZOO_ROOT/scripts/setup.sh" || exit 1
exec zoo demo "${@:-vae_mnist}"
