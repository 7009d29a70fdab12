"""Measures every anomaly score (and every compressor of the complexity score) on a
small slice: AUROC of normal test images against each shift, and seconds per 1000
images. The numbers behind the choices in `zoo.evaluate.anomaly`'s docstring.

    python scripts/measure_anomaly_scores.py vae_fashion_mnist vae_mnist --num-images 300
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None) -> int:

    import zoo
    from zoo import data
    from zoo.evaluate import anomaly, shifts
    from zoo.evaluate.report import ANOMALY_PAIRS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+")
    parser.add_argument("--num-images", type=int, default=300)
    parser.add_argument("--scores", default=",".join(anomaly.SCORES))
    parser.add_argument("--shifts", default=",".join(shifts.SHIFTS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n, seed = args.num_images, args.seed
    for name in args.presets:
        model = zoo.load(name)
        card = model.preset_metadata
        dataset, preprocessing = card["dataset"], card["preprocessing"]
        sets = {"normal": data.load_numpy(dataset, "test", preprocessing, seed=seed, take=n)[0]}
        for shift in args.shifts.split(","):
            sets[shift] = data.preprocess(shifts.shifted_images(shift, n, dataset, ANOMALY_PAIRS.get(dataset), seed),
                                          preprocessing, seed)
        methods = [m for m in args.scores.split(",") if m in anomaly.applicable_scores(model)]
        columns = {m: (lambda x, m=m: anomaly.anomaly_scores(model, x, method=m, seed=seed)) for m in methods}
        for compressor in anomaly.COMPRESSORS:
            columns[f"bits:{compressor}"] = lambda x, c=compressor: anomaly.code_length_bits(x, c)
            if model.has_density:
                columns[f"complexity:{compressor}"] = (
                    lambda x, c=compressor: anomaly.complexity_score(model, x, seed=seed, compressor=c))
        print(f"\n{name} ({dataset}, {preprocessing}), {n} images per set, AUROC against the normal test images")
        print(f"{'score':<22}{'s/1000':>8}" + "".join(f"{s:>15}" for s in sets if s != "normal"))
        for column, fn in columns.items():
            start = time.time()
            scores = {s: fn(x) for s, x in sets.items()}
            per_1000 = (time.time() - start) / sum(len(x) for x in sets.values()) * 1000
            aurocs = [anomaly.auroc(scores["normal"], scores[s]) for s in sets if s != "normal"]
            print(f"{column:<22}{per_1000:8.1f}" + "".join(f"{a:15.3f}" for a in aurocs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
