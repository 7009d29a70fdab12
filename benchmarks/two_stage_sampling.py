"""How should a two-stage VAE draw its codes: z ~ p(z|u), or z = E[z|u]?

    python benchmarks/two_stage_sampling.py                        # two_stage_vae_mnist, 10,000 samples each
    python benchmarks/two_stage_sampling.py --preset DIR --samples 2000 --out /dev/null

A `TwoStageVAE` samples u ~ N(0, I), then a code z from the second stage's
p(z|u) = N(mu(u), diag sigma(u)^2), then the image E[x|z]. The second stage is
fitted to codes z ~ q(z|x), which carry the first stage's posterior noise, so
sigma(u) is not small (the posteriors of vamp_mnist's codes are wide, not point
masses) and a drawn z can leave the region the first stage's decoder was trained on.
Taking z = E[z|u] instead keeps the model, its density and its training as they
are and changes only how a sample's code is chosen, the way images are E[x|z]
rather than drawn pixels.

The script loads a two-stage preset and measures, for each `code_sampling`, the
zoo's sample-quality protocol (`zoo.evaluate.sample_quality`: Fréchet distance,
precision and recall in the dataset judge's features, against the test images,
same seed), and writes benchmarks/two_stage_sampling.md. The preset's card
records the sampling its config names; this table shows what the other gives.
A last row decodes the encoder's own codes of training images, z ~ q(z|x): the
distribution the second stage is fitted to, so about the best any model of the
codes can do with this decoder.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run as `python benchmarks/two_stage_sampling.py`: this checkout's packages
    sys.path.insert(0, ROOT)

from benchmarks.machine import cpu_name  # noqa: E402
from zoo.io import write_text  # noqa: E402

DEFAULT_PRESET = "two_stage_vae_mnist"
DEFAULT_SAMPLES = 10000
SEED = 0


class EncoderCodes:
    """A stand-in sampler whose "samples" decode codes z ~ q(z|x) of training images:
    the aggregate posterior, which the second stage is fitted to."""

    conditional = False

    def __init__(self, model, train_images):
        self.model, self.train_images = model, train_images

    def sample(self, n, seed=0, labels=None):
        import numpy as np

        rows = np.random.default_rng(seed).choice(len(self.train_images), int(n), replace=False)
        z = self.model.encode(self.train_images[rows]).sample(seed=[seed % 2**31, 1])
        return self.model.decode_mean(z).numpy()


def measure(preset: str, num_samples: int) -> dict:
    """Sample quality of `preset` under each code sampling; the model's own choice first."""
    import zoo
    from zoo import data
    from zoo.evaluate.judges import load_judge, real_images
    from zoo.evaluate.sample_quality import sample_quality
    from zoo.models import TwoStageVAE

    model = zoo.load(preset)
    if not isinstance(model, TwoStageVAE):
        raise SystemExit(f"two_stage_sampling: {preset} is a {type(model).__name__}, not a TwoStageVAE")
    dataset = model.preset_metadata["dataset"]
    judge = load_judge(dataset)
    (x_test, _), (x_train, _) = real_images(dataset, take=num_samples)
    own = model.code_sampling
    rows = []
    for sampling in (own, *[s for s in TwoStageVAE.code_samplings if s != own]):
        model.code_sampling = sampling  # read when codes are drawn; the networks are unchanged
        start = time.perf_counter()
        result = sample_quality(model, judge, x_test, x_train, num_samples=num_samples, seed=SEED)
        rows.append({"code_sampling": sampling, "preset_default": sampling == own,
                     "seconds": time.perf_counter() - start, **result})
    model.code_sampling = own
    train, _ = data.load_numpy_for_card(model.preset_metadata, "train", take=num_samples, seed=SEED)
    start = time.perf_counter()
    result = sample_quality(EncoderCodes(model, train), judge, x_test, x_train, num_samples=num_samples, seed=SEED)
    rows.append({"code_sampling": None, "preset_default": False, "seconds": time.perf_counter() - start, **result})
    return {"preset": preset, "dataset": dataset, "num_samples": num_samples, "rows": rows,
            "judge_accuracy": judge.judge_metadata["test_accuracy"]}


def render(result: dict) -> str:
    n = result["num_samples"]
    lines = [
        "# Two-stage VAE: drawing codes z ~ p(z|u) or taking z = E[z|u]",
        "",
        f"`python benchmarks/two_stage_sampling.py --preset {result['preset']} --samples {n}` on {cpu_name()}.",
        "",
        f"{n} samples E[x|z] per row (seed {SEED}) against the first {n} {result['dataset']} test images, in the "
        f"features of the {result['dataset']} judge (test accuracy {result['judge_accuracy']:.4f}); precision and "
        "recall with k=3 on 5,000 of each (fewer when fewer samples). Lower FD is better.",
        "",
        "| code sampling | FD | FD train vs test (floor) | precision | recall | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        if row["code_sampling"] is None:
            name = f"reference: codes of {n} training images drawn from the encoder's posteriors"
        else:
            name = f"`{row['code_sampling']}`" + (" (the preset's)" if row["preset_default"] else "")
        lines.append(f"| {name} | {row['frechet_distance']:.2f} | {row['frechet_distance_train_vs_test']:.2f} | "
                     f"{row['precision']:.3f} | {row['recall']:.3f} | {row['seconds']:.0f} |")
    lines += ["", "`draw`: z ~ p(z|u), ancestral sampling. `mean`: z = E[z|u] = mu(u).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET, help=f"a two-stage preset (default: {DEFAULT_PRESET})")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                        help=f"samples per code sampling (default: {DEFAULT_SAMPLES})")
    parser.add_argument("--out", default=os.path.join(HERE, "two_stage_sampling.md"))
    args = parser.parse_args(argv)
    if args.samples < 10:
        parser.error("--samples must be at least 10 (a Fréchet distance needs a covariance)")
    text = render(measure(args.preset, args.samples))
    if args.out == "/dev/null":
        print(text)
    else:
        write_text(args.out, text)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
