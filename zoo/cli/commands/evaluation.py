"""Measuring presets: `zoo eval` (the model card's numbers) and `zoo anomaly`."""

from __future__ import annotations

import json
import os
import sys

from zoo.cli.arguments import (
    add_preset_argument,
    choices_list,
    chunk_shape,
    fraction,
    image_input,
    nonnegative_int,
    positive_int,
)

# The sections of zoo.evaluate.report.SECTIONS, in its order; a copy of the names, since
# importing the report imports TensorFlow (a test checks that the two agree).
SECTION_NAMES = ("likelihood", "latents", "sample_quality", "conditional", "anomaly", "disentanglement",
                 "codebook")
# The names of zoo.evaluate.anomaly.SCORES, copied for the same reason (a test checks them).
SCORE_NAMES = ("elbo", "iwae", "reconstruction", "complexity", "likelihood_ratio", "regret")
# Section -> its size parameter, which --num-examples sets (likelihood takes num_examples directly).
SECTION_SIZES = {"latents": "num_examples", "sample_quality": "num_samples", "anomaly": "num_images",
                 "codebook": "num_examples"}


def _log(message: str) -> None:
    print(f"[eval] {message}", file=sys.stderr, flush=True)


def record_commands(metrics: dict, args) -> None:
    """Completes each section's "command" with the options the report does not record
    (its size, the seed, --write-card), so that it is the command actually run."""
    sections = [("likelihood", metrics)] + [(name, entry) for name, entry in metrics.items()
                                             if name in SECTION_NAMES and isinstance(entry, dict)]
    for name, entry in sections:
        if "command" not in entry:
            continue
        if args.num_examples and name in SECTION_SIZES:
            entry["command"] += f" --num-examples {args.num_examples}"
        if args.seed:
            entry["command"] += f" --seed {args.seed}"
        if args.write_card:
            entry["command"] += " --write-card"


def keep_earlier_likelihood(card_metrics: dict, metrics: dict) -> None:
    """Before a new likelihood measurement replaces a card's, files the old one's numbers
    under "earlier_likelihood" (the one before only), so that a re-measurement, say with
    another evaluator shape or machine, shows beside the number it replaces."""
    if "nll_nats" not in metrics or "nll_nats" not in card_metrics:
        return
    card_metrics["earlier_likelihood"] = {key: value for key, value in card_metrics.items()
                                          if key in metrics and key not in SECTION_NAMES and key != "quick_check"}


def run_eval(args) -> int:
    """Measures a preset's sections; prints the JSON, optionally writes it and the card."""
    from zoo.evaluate.report import evaluate_preset
    from zoo.io import write_json
    from zoo.presets import METADATA_FILE, read_metadata, resolve

    sizes = {section: {option: args.num_examples} for section, option in SECTION_SIZES.items()} \
        if args.num_examples else None
    metrics = evaluate_preset(args.name, k=args.k, num_examples=args.num_examples, seed=args.seed,
                              sections=args.metrics, section_options=sizes, log=_log, chunks=args.chunks)
    record_commands(metrics, args)
    print(json.dumps(metrics, indent=2))
    if args.write_card:
        card = read_metadata(args.name)
        keep_earlier_likelihood(card.setdefault("metrics", {}), metrics)
        card["metrics"].update(metrics)
        print(f"wrote {write_json(os.path.join(resolve(args.name), METADATA_FILE), card)}", file=sys.stderr)
    if args.out:
        print(f"wrote {write_json(args.out, metrics)}", file=sys.stderr)
    return 0


def add_eval(subparsers):
    p = subparsers.add_parser(
        "eval", help="measure a preset: NLL, latents, sample quality, anomaly, disentanglement",
        description="Measures a preset and prints the numbers as JSON, each section with the command and "
                    "protocol that produced it. Sections: likelihood (importance-sampled NLL, -ELBO, bits/dim), "
                    "latents (active units, KL per dimension, linear probe), sample_quality (Fréchet distance, "
                    "precision/recall in the judge's features), conditional (class fidelity), anomaly (AUROC "
                    "against another dataset), disentanglement (dSprites metrics).")
    add_preset_argument(p)
    p.add_argument("--metrics", type=choices_list(SECTION_NAMES), metavar="SECTIONS",
                   help=f"comma-separated sections out of {', '.join(SECTION_NAMES)} (default: every one that "
                        "applies to the preset)")
    p.add_argument("--k", type=positive_int, default=5000, help="importance samples per image for the NLL")
    p.add_argument("--chunks", type=chunk_shape, default="auto", metavar="IMAGESxSAMPLES",
                   help="images x importance samples per call of the NLL's evaluator (default: auto, the fastest of "
                        "a few shapes timed for this model on this machine in a few seconds, cached; 100x100 unless "
                        "another shape is 10%% faster). The shape decides each sample's noise: the shipped cards' "
                        "NLLs were measured with 100x100, and each card's likelihood command records its shape")
    p.add_argument("-n", "--num-examples", type=positive_int, metavar="N",
                   help="limit every section's size to N (default: each section's full protocol): the first N "
                        "test images for likelihood and latents, N samples (and N real images) for "
                        "sample_quality, N normal and N/2 anomalous test images for anomaly")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of every random draw")
    p.add_argument("--out", help="also write the result JSON to this file (folders are created)")
    p.add_argument("--write-card", action="store_true", help="record the result in the preset's model card")
    return p


def read_anomaly_input(path: str, image_shape) -> tuple:
    """(uint8 images [N,H,W,C], names) from a .npy file or a folder of PNGs.

    Args:
        path: a .npy file ([N,H,W,C], or [N,H,W] for one channel; float in [0, 1] or
            uint8) or a folder of PNGs of the model's size (grey or RGB).
        image_shape: the model's (height, width, channels).
    Returns:
        The images and their names: file names for a folder, indices (int) for an array.
    Raises:
        ValueError: an image of the wrong size (every such file is named), shape, dtype or range.
    """
    import numpy as np

    if os.path.isdir(path):
        return _read_png_folder(path, image_shape)
    h, w, c = image_shape
    array = np.load(path, allow_pickle=False)
    if array.ndim == 3 and c == 1:
        array = array[..., None]
    if array.ndim != 4 or array.shape[1:] != (h, w, c):
        raise ValueError(f"{path}: array shape {array.shape}, the model takes [N, {h}, {w}, {c}]")
    if len(array) == 0:
        raise ValueError(f"{path}: the array holds no images")
    indices = list(range(len(array)))
    if array.dtype == np.uint8:
        return array, indices
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{path}: dtype {array.dtype}; expected float in [0, 1] or uint8 0..255")
    non_finite = int(np.sum(~np.isfinite(array)))
    if non_finite:
        raise ValueError(f"{path}: {non_finite} NaN/Inf values; float images must be finite and lie in [0, 1]")
    if array.min() < 0 or array.max() > 1:
        raise ValueError(f"{path}: float images must lie in [0, 1], got range [{array.min():.4g}, {array.max():.4g}]")
    return np.round(array * 255).astype(np.uint8), indices


# Wrong-size files named in the error, before "... and N more".
LISTED_BAD_FILES = 5


def _read_png_folder(path: str, image_shape) -> tuple:
    import numpy as np
    from PIL import Image

    h, w, c = image_shape
    files = sorted(f for f in os.listdir(path) if f.lower().endswith(".png"))
    if not files:
        raise ValueError(f"{path}: no .png files in this directory")
    images, wrong_size = [], []
    for name in files:
        with Image.open(os.path.join(path, name)) as img:
            if img.size != (w, h):
                wrong_size.append(f"{name} ({img.width}x{img.height})")
                continue
            array = np.asarray(img.convert("L" if c == 1 else "RGB"), dtype=np.uint8)
        images.append(array[..., None] if c == 1 else array)
    if wrong_size:
        more = len(wrong_size) - LISTED_BAD_FILES
        listed = ", ".join(wrong_size[:LISTED_BAD_FILES]) + (f" and {more} more" if more > 0 else "")
        raise ValueError(f"{path}: {len(wrong_size)} of {len(files)} images are not {w}x{h}, the size the model "
                         f"takes (resize them first): {listed}")
    return np.stack(images), files


def progress_counter(label: str):
    """A progress callback(done, total) printing "label: done/total" to stderr: redrawn in
    place on a terminal, one line per call in a log file."""
    in_place = sys.stderr.isatty()

    def progress(done, total):
        end = "\r" if in_place and done < total else "\n"
        print(f"  {label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return progress


def run_anomaly(args) -> int:
    """Scores images against a preset, fits or takes a threshold, prints and saves the table."""
    from zoo import data
    from zoo.evaluate.anomaly import anomaly_scores, applicable_scores, default_score, score_name, threshold_at_fpr
    from zoo.io import write_json
    from zoo.presets import load, read_metadata

    model = load(args.name)
    card = read_metadata(args.name)
    if model.conditional:
        raise ValueError(f"{args.name} is conditional: scoring an image needs its label, which anomaly does not take")
    preprocessing = card.get("preprocessing", "float")
    images, names = read_anomaly_input(args.input, model.image_shape)
    x = data.preprocess(images, preprocessing, seed=args.seed)
    method = args.score or default_score(model)
    if method not in applicable_scores(model):
        raise ValueError(f"--score {method} does not apply to {args.name}; choose one of "
                         f"{', '.join(applicable_scores(model))}")
    what = score_name(model, args.k, method)

    if args.threshold is not None:
        threshold, source = args.threshold, "given"
    else:
        reference, _ = data.load_numpy_for_card(card, "test", take=args.reference_examples, seed=args.seed)
        normal = anomaly_scores(model, reference, method=method, k=args.k, seed=args.seed,
                                progress=progress_counter(f"scoring {len(reference)} {card['dataset']} test images"))
        threshold = threshold_at_fpr(normal, args.fpr)
        source = (f"the {method} score's threshold at fpr {args.fpr:g}, fitted on the first {len(reference)} "
                  f"{card['dataset']} test images (normal data)")
    scores = anomaly_scores(model, x, method=method, k=args.k, seed=args.seed,
                            progress=progress_counter(f"scoring {len(x)} images of {args.input}"))
    flagged = scores > threshold

    label = "file" if os.path.isdir(args.input) else "index"
    shown = list(zip(names, scores, flagged))[:args.max_rows]
    width = max(len(label), *(len(str(name)) for name, _, _ in shown)) if shown else len(label)
    print(f"{label:<{width}}  {'score':>10}  flagged")
    for name, score, flag in shown:
        print(f"{name!s:<{width}}  {score:10.2f}  {'yes' if flag else 'no'}")
    if len(names) > args.max_rows:
        print(f"... {len(names) - args.max_rows} more rows" + (" (all are in --json)" if args.json else ""))
    print(f"score: {what}; preprocessing: {preprocessing}; threshold {threshold:.2f} ({source})")
    print(f"flagged {int(flagged.sum())} of {len(scores)} images ({100 * flagged.mean():.1f}%)")
    if args.json:
        report = {
            "preset": args.name, "input": args.input, "score_method": method,
            "score_method_is_default": args.score is None, "score": what, "k": args.k, "seed": args.seed,
            "preprocessing": preprocessing, "threshold": float(threshold), "threshold_source": source,
            "num_images": len(scores), "num_flagged": int(flagged.sum()),
            "results": [{label: name, "score": float(s), "flagged": bool(f)}
                        for name, s, f in zip(names, scores, flagged)],
        }
        print(f"wrote {write_json(args.json, report)}")
    return 0


def add_anomaly(subparsers):
    p = subparsers.add_parser(
        "anomaly", help="score images by how badly the preset explains them; flag the outliers",
        description="Scores each image in nats, higher = more anomalous, by --score: the default is the best "
                    "measured score for the preset's kind (zoo.evaluate.anomaly.default_score: input complexity, "
                    "-log p(x) minus the PNG code length, for grey levels; -ELBO for binary pixels; the "
                    "reconstruction error for autoencoders without a density). The model card's anomaly section "
                    "measures every score on several shifts. An image "
                    "is flagged when its score is above the threshold, given with --threshold or fitted at --fpr "
                    "on the first --reference-examples test images of the preset's dataset. Inputs are quantized "
                    "to 0..255 and preprocessed as the preset's card says (e.g. dynamic binarization), like the "
                    "reference images. Progress goes to stderr.")
    add_preset_argument(p)
    p.add_argument("--input", required=True, type=image_input,
                   help="a .npy file [N,H,W,C] (or [N,H,W] for one channel): float in [0,1], or uint8 0..255 "
                        "(divided by 255); or a directory of PNGs of the model's size (grey or RGB, converted to "
                        "the model's channels; never resized)")
    threshold = p.add_mutually_exclusive_group()
    threshold.add_argument("--threshold", type=float, help="flag scores above this many nats")
    threshold.add_argument("--fpr", type=fraction, default=0.05,
                           help="fit the threshold to flag this fraction of normal test images, in [0, 1)")
    p.add_argument("--score", choices=SCORE_NAMES,
                   help="the anomaly score (default: the best measured one for this preset's kind)")
    p.add_argument("--k", type=positive_int, default=1,
                   help="importance samples of -log p(x) inside the score (1 = ELBO)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the preprocessing and posterior samples")
    p.add_argument("--reference-examples", type=positive_int, default=1000,
                   help="normal test images the --fpr threshold is fitted on")
    p.add_argument("--max-rows", type=nonnegative_int, default=100,
                   help="rows of the printed table (all go to --json)")
    p.add_argument("--json", help="write the threshold and every image's score to this file (folders are created)")
    return p


COMMANDS = {"eval": (add_eval, run_eval), "anomaly": (add_anomaly, run_anomaly)}
