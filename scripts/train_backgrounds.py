"""Trains the likelihood-ratio background models (`zoo.evaluate.anomaly`): one small VAE
per dataset on randomly perturbed training images (Ren et al. 2019), written to
saved_models/backgrounds/<dataset>/ as a preset (sha256-checked like any other).

    python scripts/train_backgrounds.py                 # mnist and fashion_mnist
    python scripts/train_backgrounds.py fashion_mnist
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# dataset -> (preprocessing, likelihood) of its shipped presets: the background models the same inputs.
DATASETS = {"mnist": ("dynamic_binarize", "bernoulli"), "fashion_mnist": ("dequantize", "gaussian")}


def main(argv=None) -> int:
    import zoo
    from zoo.evaluate import anomaly

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", help=f"some of {sorted(DATASETS)} (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:
        parser.error(f"no background recipe for {unknown}; known: {sorted(DATASETS)}")
    for dataset in args.datasets or sorted(DATASETS):
        preprocessing, likelihood = DATASETS[dataset]
        start = time.time()
        model = anomaly.train_background(dataset, preprocessing, likelihood, seed=args.seed, verbose=2)
        seconds = time.time() - start
        path = zoo.save_preset(model, anomaly.background_path(dataset), {
            "name": f"background_{dataset}",
            "description": (f"Likelihood-ratio background of {dataset}: a small VAE trained on training images "
                            f"with {anomaly.BACKGROUND_PERTURBATION:.0%} of their pixels replaced by uniform "
                            "random grey levels (Ren et al. 2019)."),
            "dataset": dataset, "preprocessing": preprocessing, "likelihood": {"name": likelihood},
            "perturbation_rate": anomaly.BACKGROUND_PERTURBATION, "epochs": anomaly.BACKGROUND_EPOCHS,
            "architecture": anomaly.BACKGROUND_ARCHITECTURE, "seed": args.seed,
            "training_command": f"python scripts/train_backgrounds.py {dataset} --seed {args.seed}",
            "wall_time_seconds": round(seconds, 1),
        })
        print(f"{dataset}: {seconds:.0f} s -> {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
