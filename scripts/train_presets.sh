#!/usr/bin/env bash
# Trains and evaluates presets from their committed recipes, one after another (the
# machine has 2 cores: never two trainings at once). Resumable: rerun the same command
# after an interruption and each training continues from its last checkpoint.
#   bash scripts/train_presets.sh vae_mnist cvae_mnist      # named presets
#   NLL_EXAMPLES=1000 bash scripts/train_presets.sh ...     # evaluate on a test subset
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ZOO_ROOT/scripts/setup.sh" || exit 1
cd "$ZOO_ROOT" || exit 1
set -e
for name in "$@"; do
  k=$(python -c "import json,sys; print(json.load(open('zoo/recipes/$name.json'))['evaluation']['nll_k'])")
  if [ ! -f "saved_models/$name/metadata.json" ] || [ "$RETRAIN" = 1 ]; then
    zoo train --preset "$name" --out "saved_models/$name" --work-dir "runs/$name.work"
  fi
  zoo eval "$name" --k "$k" ${NLL_EXAMPLES:+--num-examples "$NLL_EXAMPLES"} --write-card
done
