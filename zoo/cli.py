"""The `zoo` command line: thin wrappers over the library.

Exit codes: 0 success, 1 a runtime failure (bad preset, missing data, ...),
2 a usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _cmd_list(args):
    from zoo.presets import list_models, read_metadata
    from zoo.training import list_recipes

    names = list_models()
    print("Pretrained presets (zoo.load(name)):")
    for name in names:
        card = read_metadata(name)
        m = card.get("metrics", {})
        if "nll_nats" in m and card.get("preprocessing") in ("dynamic_binarize", "binarize"):
            extra = f"  NLL {m['nll_nats']:.2f} nats"
        elif "bits_per_dim" in m:  # a density on dequantized pixels: bits/dim is the comparable number
            extra = f"  {m['bits_per_dim']:.3f} bits/dim"
        elif "reconstruction_error_nats" in m:
            extra = f"  reconstruction error {m['reconstruction_error_nats']:.2f} nats"
        else:
            extra = "  (not evaluated)"
        print(f"  {name:24s} {card.get('dataset', ''):14s} latent {card.get('latent_dim', '?')}{extra}")
    if not names:
        print("  (none shipped yet)")
    print("Training recipes (zoo train --preset NAME):")
    for name in list_recipes():
        print(f"  {name}")
    return 0


def _cmd_info(args):
    from zoo.presets import read_metadata

    card = read_metadata(args.name)
    if args.json:
        print(json.dumps(card, indent=2))
        return 0
    for key in ("name", "description", "variant", "dataset", "preprocessing", "likelihood", "prior", "latent_dim",
                "parameters", "epochs", "training_command", "wall_time_seconds_last_run", "machine",
                "weights_sha256"):
        if key in card:
            print(f"{key:28s} {card[key]}")
    for key, value in card.get("metrics", {}).items():
        print(f"metrics.{key:20s} {value}")
    return 0


def _cmd_train(args):
    from zoo.training import load_recipe, train

    recipe = load_recipe(args.config or args.preset)
    out = args.out or os.path.join("runs", recipe["name"])
    _, history = train(recipe, out, work_dir=args.work_dir, epochs=args.epochs, take=args.take,
                       verbose=1 if sys.stdout.isatty() else 2)
    print(f"preset written to {out}")
    return 0


def _cmd_eval(args):
    from zoo.evaluate.report import evaluate_preset
    from zoo.io import write_json
    from zoo.presets import METADATA_FILE, read_metadata, resolve

    sections = [s.strip() for s in args.metrics.split(",") if s.strip()] if args.metrics else None
    metrics = evaluate_preset(args.name, k=args.k, num_examples=args.num_examples, seed=args.seed,
                              sections=sections, log=lambda message: print(f"[eval] {message}", file=sys.stderr,
                                                                           flush=True))
    print(json.dumps(metrics, indent=2))
    if args.write_card:
        for entry in [metrics, *(v for v in metrics.values() if isinstance(v, dict))]:
            if "command" in entry:
                entry["command"] += " --write-card"
        card = read_metadata(args.name)
        card.setdefault("metrics", {}).update(metrics)
        write_json(os.path.join(resolve(args.name), METADATA_FILE), card)
    if args.out:
        write_json(args.out, metrics)
    return 0


def _cmd_train_judge(args):
    from zoo.evaluate.judges import train_judge

    card = train_judge(args.dataset, epochs=args.epochs, seed=args.seed, take=args.take, directory=args.out)
    print(json.dumps(card, indent=2))
    return 0


def _cmd_sample(args):
    from zoo.plots import save_grid
    from zoo.presets import load

    model = load(args.name)
    images = model.sample(args.n, seed=args.seed, labels=args.label)
    save_grid(images, args.out)
    print(f"wrote {args.out}")
    return 0


def _cmd_demo(args):
    import numpy as np

    from zoo import data, plots
    from zoo.presets import load, read_metadata

    model = load(args.name)
    card = read_metadata(args.name)
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    label = 0 if model.conditional else None

    def out(name):
        path = os.path.join(args.out_dir, f"{os.path.basename(os.path.normpath(args.name))}_{name}.png")
        written.append(path)
        return path

    labels = np.arange(64) % model.num_classes if model.conditional else None
    plots.save_grid(model.sample(64, seed=args.seed, labels=labels), out("samples"))
    try:
        x, y = data.load_numpy(card["dataset"], "test", card["preprocessing"], take=16)
    except data.DataSourceError as e:
        print(f"(no test data, so no reconstructions: {e})", file=sys.stderr)
        x = None
    if x is not None:
        recon = model.reconstruct(x, y if model.conditional else None)
        plots.save_grid(np.concatenate([x, recon]), out("reconstructions"), cols=16)
        plots.save_grid(plots.interpolation(model, x[0], x[1], 12, y=label if label is None else int(y[0])),
                        out("interpolation"), cols=12)
    dims = range(min(model.latent_dim, 10))
    plots.save_grid(plots.traversal(model, None if x is None else x[0], dims, y=label), out("traversal"), cols=9)
    print(f"{args.name}: {card.get('description', '')}")
    nll = card.get("metrics", {}).get("nll_nats")
    if nll is not None:
        print(f"test NLL {nll:.2f} nats (k={card['metrics'].get('nll_k')})")
    print("wrote:")
    for path in written:
        print(f"  {os.path.abspath(path)}")
    return 0


def _cmd_export(args):
    from zoo import data, export
    from zoo.presets import load, read_metadata, resolve

    model = load(args.name)
    card = read_metadata(args.name)
    metadata = {"name": card.get("name", os.path.basename(resolve(args.name)))}
    signatures = args.signatures.split(",") if args.signatures else None
    out = args.out or os.path.join("exports", f"{metadata['name']}_{args.format}")
    if args.format == "saved_model":
        path = export.export_saved_model(model, out, metadata, signatures=signatures)
        print(f"SavedModel written to {path} (signatures: {', '.join(export.read_metadata(path)['signatures'])})")
        return 0
    quantization = args.quantization.split(",")
    # Training images calibrate int8 and measure every variant's error; without
    # int8 they are optional (errors are then measured on noise images).
    try:
        x, y = data.load_numpy(card["dataset"], "train", card["preprocessing"], take=args.calibration_examples)
        representative = (x, y) if model.conditional else x
    except (KeyError, data.DataSourceError) as e:
        if "int8" in quantization:
            raise ValueError(f"int8 calibration needs the preset's training data: {e}") from e
        representative = None
    report = export.export_tflite(model, out, quantization, representative, signatures, metadata)
    for filename, entry in report["files"].items():
        worst = max(entry["max_abs_error"].values())
        extra = (f"  reconstruction NLL change {100 * entry['reconstruction_nll_relative_change']:.3f}%"
                 if "reconstruction_nll_relative_change" in entry else "")
        print(f"  {filename:28s} {entry['bytes'] / 1024:8.1f} KiB  max |error| {worst:.2e}{extra}")
    print(f"TFLite models written to {os.path.abspath(out)} (report: {export.REPORT_FILE})")
    return 0


def _test_images(card, take, seed=0, indices=None):
    """The first `take` test images of the preset's dataset (or those at `indices`),
    preprocessed as its model card says."""
    from zoo import data

    if "dataset" not in card:
        raise ValueError("the preset's model card names no dataset, so there are no test images to show")
    x, y = data.load_numpy(card["dataset"], "test", card.get("preprocessing", "float"), seed=seed, take=take)
    if indices is not None:
        for i in indices:
            if not 0 <= i < len(x):
                raise ValueError(f"image index {i} is outside the {card['dataset']} test split (0..{len(x) - 1})")
        x, y = x[list(indices)], y[list(indices)]
    return x, y


def _cmd_manifold(args):
    from zoo import plots
    from zoo.presets import load

    model = load(args.name)
    if model.conditional and args.label is None:
        raise ValueError("this model is conditional: pass --label C")
    if len(args.dims) != 2:
        raise ValueError(f"--dims: expected two latent dimensions, got {args.dims}")
    plots.save_grid(plots.manifold(model, args.n, args.dims, y=args.label), args.out, cols=args.n)
    print(f"wrote {args.out} ({args.n}x{args.n} grid over latent dims {args.dims[0]} (columns) and "
          f"{args.dims[1]} (rows); other dims 0)")
    return 0


def _cmd_latents(args):
    from zoo import plots
    from zoo.evaluate.representations import posterior_moments, project_2d
    from zoo.presets import load, read_metadata

    model = load(args.name)
    card = read_metadata(args.name)
    x, y = _test_images(card, args.n)
    means, _ = posterior_moments(model, x, y if model.conditional else None)
    how = "posterior means" if model.latent_dim == 2 else "first two principal components of the posterior means"
    plots.save_projection(project_2d(means), y, args.out, title=f"{args.name}: {how} of {len(x)} test images")
    print(f"wrote {args.out} ({how}, coloured by label)")
    return 0


def _dims(text):
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _values(text):
    parts = text.split(",")
    try:
        lo, hi, count = float(parts[0]), float(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH,COUNT (e.g. -3,3,9), got {text!r}") from None
    if len(parts) != 3 or count < 2:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH,COUNT with COUNT >= 2, got {text!r}")
    return lo, hi, count


def _cmd_reconstruct(args):
    import numpy as np

    from zoo import plots
    from zoo.presets import load, read_metadata

    if args.n < 1:
        raise ValueError(f"-n must be a positive number of images, got {args.n}")
    model = load(args.name)
    card = read_metadata(args.name)
    x, y = _test_images(card, args.n, seed=args.seed)
    recon = model.reconstruct(x, y if model.conditional else None)
    # Rows of up to 16 originals, each followed by the row of their reconstructions.
    cols = min(len(x), 16)
    blank = np.ones((1,) + x.shape[1:], np.float32)
    rows = []
    for start in range(0, len(x), cols):
        for images in (x[start:start + cols], recon[start:start + cols]):
            rows.append(np.concatenate([images] + [blank] * (cols - len(images))))
    plots.save_grid(np.concatenate(rows), args.out, cols=cols)
    print(f"wrote {args.out} ({len(x)} test images, each above its reconstruction)")
    return 0


def _cmd_interpolate(args):
    import numpy as np

    from zoo import plots
    from zoo.presets import load, read_metadata

    if args.steps < 2:
        raise ValueError(f"--steps must be at least 2, got {args.steps}")
    model = load(args.name)
    card = read_metadata(args.name)
    a, b = args.index_a, args.index_b
    x, y = _test_images(card, max(a, b) + 1, indices=[a, b])
    label = int(y[0]) if model.conditional else None
    path = plots.interpolation(model, x[0], x[1], args.steps, y=label)
    # The two real images frame the decoded path.
    plots.save_grid(np.concatenate([x[:1], path, x[1:]]), args.out, cols=args.steps + 2)
    print(f"wrote {args.out} (test images {a} and {b}, {args.steps} steps between their posterior means)")
    return 0


def _cmd_traverse(args):
    import numpy as np

    from zoo import plots
    from zoo.presets import load, read_metadata

    model = load(args.name)
    card = read_metadata(args.name)
    dims = args.dims if args.dims is not None else list(range(min(model.latent_dim, 10)))
    bad = [d for d in dims if not 0 <= d < model.latent_dim]
    if not dims or bad:
        raise ValueError(f"--dims: latent dimensions must lie in 0..{model.latent_dim - 1}, got {dims}")
    lo, hi, count = args.values
    values = np.linspace(lo, hi, count, dtype=np.float32)
    x, y = _test_images(card, args.index + 1, indices=[args.index])
    label = int(y[0]) if model.conditional else None
    images = plots.traversal(model, x[0], dims, values, y=label)  # row d, column value
    if args.out.lower().endswith(".gif"):
        grid_per_value = images.reshape(len(dims), count, *images.shape[1:]).transpose(1, 0, 2, 3, 4)
        frames = [plots.grid(column, cols=1) for column in grid_per_value]
        plots.save_gif(frames, args.out, duration_ms=args.frame_ms)
        print(f"wrote {args.out} ({count} frames, dims {dims} as rows, values {lo:g}..{hi:g})")
    elif args.out.lower().endswith(".png"):
        plots.save_grid(images, args.out, cols=count)
        print(f"wrote {args.out} (dims {dims} as rows, values {lo:g}..{hi:g} as columns)")
    else:
        raise ValueError(f"--out must end in .png or .gif, got {args.out!r}")
    return 0


def _read_anomaly_input(path, image_shape):
    """(uint8 images [N,H,W,C], names) from a .npy file or a directory of PNGs."""
    import numpy as np
    from PIL import Image

    h, w, c = image_shape
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.lower().endswith(".png"))
        if not files:
            raise ValueError(f"{path}: no .png files in this directory")
        images = []
        for name in files:
            with Image.open(os.path.join(path, name)) as img:
                if img.size != (w, h):
                    raise ValueError(f"{os.path.join(path, name)}: image size {img.width}x{img.height}, "
                                     f"the model takes {w}x{h} (resize it first)")
                array = np.asarray(img.convert("L" if c == 1 else "RGB"), dtype=np.uint8)
            images.append(array[..., None] if c == 1 else array)
        return np.stack(images), files
    if not path.lower().endswith(".npy"):
        raise ValueError(f"--input: expected a .npy file or a directory of PNGs, got {path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--input: no such file {path!r}")
    array = np.load(path, allow_pickle=False)
    if array.ndim == 3 and c == 1:
        array = array[..., None]
    if array.ndim != 4 or array.shape[1:] != (h, w, c):
        raise ValueError(f"{path}: array shape {array.shape}, the model takes [N, {h}, {w}, {c}]")
    if len(array) == 0:
        raise ValueError(f"{path}: the array holds no images")
    if array.dtype == np.uint8:
        return array, [f"{i}" for i in range(len(array))]
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{path}: dtype {array.dtype}; expected float in [0, 1] or uint8 0..255")
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError(f"{path}: float images must be finite and lie in [0, 1], got range "
                         f"[{np.nanmin(array):.4g}, {np.nanmax(array):.4g}]")
    return np.round(array * 255).astype(np.uint8), [f"{i}" for i in range(len(array))]


def _cmd_anomaly(args):
    import numpy as np

    from zoo import data
    from zoo.evaluate.anomaly import anomaly_scores, score_name, threshold_at_fpr
    from zoo.presets import load, read_metadata

    model = load(args.name)
    card = read_metadata(args.name)
    if model.conditional:
        raise ValueError(f"{args.name} is conditional: scoring an image needs its label, which anomaly does not take")
    preprocessing = card.get("preprocessing", "float")
    images, names = _read_anomaly_input(args.input, model.image_shape)
    x = data.preprocess(images, preprocessing, seed=args.seed)
    what = score_name(model, args.k)

    def counter(label):
        # In place on a terminal; one line per batch in a log file.
        in_place = sys.stderr.isatty()
        start = "\r" if in_place else ""

        def progress(done, total):
            print(f"{start}  {label}: {done}/{total}",
                  end="" if in_place and done < total else "\n", file=sys.stderr, flush=True)
        return progress

    if args.threshold is not None:
        threshold, source = float(args.threshold), "given"
    else:
        reference, _ = data.load_numpy(card["dataset"], "test", preprocessing, seed=args.seed,
                                       take=args.reference_examples)
        normal = anomaly_scores(model, reference, k=args.k, seed=args.seed,
                                progress=counter(f"scoring {card['dataset']} test images"))
        threshold = threshold_at_fpr(normal, args.fpr)
        source = f"fpr {args.fpr:g} on the first {len(reference)} {card['dataset']} test images"
    scores = anomaly_scores(model, x, k=args.k, seed=args.seed, progress=counter(f"scoring {args.input}"))
    flagged = scores > threshold

    label = "file" if os.path.isdir(args.input) else "index"
    width = max(len(label), *(len(n) for n in names[:args.max_rows]))
    print(f"{label:<{width}}  {'score':>10}  flagged")
    for name, score, flag in list(zip(names, scores, flagged))[:args.max_rows]:
        print(f"{name:<{width}}  {score:10.2f}  {'yes' if flag else 'no'}")
    if len(names) > args.max_rows:
        print(f"... {len(names) - args.max_rows} more rows (all are in --json)")
    print(f"score: {what}; preprocessing: {preprocessing}; threshold {threshold:.2f} ({source})")
    print(f"flagged {int(flagged.sum())} of {len(scores)} images ({100 * flagged.mean():.1f}%)")
    if args.json:
        report = {
            "preset": args.name, "input": args.input, "score": what, "k": args.k, "seed": args.seed,
            "preprocessing": preprocessing, "threshold": threshold, "threshold_source": source,
            "num_images": len(scores), "num_flagged": int(flagged.sum()),
            "results": [{label: name, "score": float(s), "flagged": bool(f)}
                        for name, s, f in zip(names, scores, flagged)],
        }
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="Pretrained Variational Autoencoders for Keras 3.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="list the pretrained presets and training recipes")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="show a preset's model card")
    p.add_argument("name", help="preset name or directory")
    p.add_argument("--json", action="store_true", help="print the whole card as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("train", help="train a preset from its recipe (resumable)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--preset", help="recipe name, e.g. vae_mnist")
    g.add_argument("--config", help="path to a recipe JSON file")
    p.add_argument("--out", help="preset directory to write (default runs/<name>)")
    p.add_argument("--work-dir", help="checkpoints and logs (default <out>.work); reuse it to resume")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--take", type=int, help="train on the first N examples only")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="measure a preset: NLL, latents, sample quality, anomaly, disentanglement")
    p.add_argument("name")
    p.add_argument("--metrics", help="comma-separated sections (likelihood, latents, sample_quality, conditional, "
                                     "anomaly, disentanglement); default: every one that applies")
    p.add_argument("--k", type=int, default=5000, help="importance samples per image")
    p.add_argument("--num-examples", type=int, help="first N test images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the result JSON here")
    p.add_argument("--write-card", action="store_true", help="record the result in the preset's model card")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("train-judge", help="train the classifier that judges a dataset's samples")
    p.add_argument("dataset")
    p.add_argument("--epochs", type=int, default=8, help="training epochs (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--take", type=int, help="train on the first N images only")
    p.add_argument("--out", help="judge directory (default saved_models/judges/<dataset>)")
    p.set_defaults(func=_cmd_train_judge)

    p = sub.add_parser("sample", help="write a grid of samples as PNG")
    p.add_argument("name")
    p.add_argument("-n", type=int, default=64)
    p.add_argument("--out", default="samples.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", type=int, help="class to generate (conditional models)")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("demo", help="samples, reconstructions, an interpolation and a traversal of a preset, as PNGs")
    p.add_argument("name", nargs="?", default="vae_mnist", help="preset name or directory (default vae_mnist)")
    p.add_argument("--out-dir", default="outputs", help="directory for the PNGs (default outputs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("export", help="export a preset as a SavedModel or LiteRT (TFLite) models for deployment")
    p.add_argument("name", help="preset name or directory")
    p.add_argument("--format", choices=("saved_model", "tflite"), default="saved_model")
    p.add_argument("--out", help="directory to write (default exports/<name>_<format>)")
    p.add_argument("--signatures", help="comma-separated subset (default: all the model supports)")
    p.add_argument("--quantization", default="float32,float16,int8", help="tflite: comma-separated variants")
    p.add_argument("--calibration-examples", type=int, default=264,
                   help="tflite: training images for int8 calibration (200) and error measurement (the rest)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("reconstruct", help="test images of the preset's dataset above their reconstructions, as PNG",
                       description="Writes one PNG: rows of up to 16 test images of the preset's dataset "
                                   "(preprocessed as its card says), each row followed by their reconstructions "
                                   "(decoded posterior means).")
    p.add_argument("name", help="preset name or directory")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("-n", "--n", type=int, default=16, help="number of test images (the first N)")
    p.add_argument("--seed", type=int, default=0, help="seed of the preprocessing noise (e.g. binarization)")
    p.set_defaults(func=_cmd_reconstruct)

    p = sub.add_parser("interpolate", help="decode the straight line between two test images' codes, as PNG",
                       description="Writes one PNG row: test image A, STEPS images decoded along the line "
                                   "between the posterior means of A and B, then test image B.")
    p.add_argument("name", help="preset name or directory")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--steps", type=int, default=10, help="decoded images along the path, endpoints included")
    p.add_argument("--index-a", type=int, default=0, help="index of the first test image")
    p.add_argument("--index-b", type=int, default=1, help="index of the second test image")
    p.set_defaults(func=_cmd_interpolate)

    p = sub.add_parser("traverse", help="sweep latent dimensions one at a time, as PNG grid or animated GIF",
                       description="Encodes one test image and sweeps each chosen latent dimension over VALUES, "
                                   "the others held at the posterior mean. PNG: one row per dimension, one column "
                                   "per value. GIF: one frame per value, every dimension as a row.")
    p.add_argument("name", help="preset name or directory")
    p.add_argument("--out", required=True, help="FILE.png (grid) or FILE.gif (animation)")
    p.add_argument("--dims", type=_dims, help="comma-separated latent dimensions (default: the first 10)")
    p.add_argument("--values", type=_values, default=(-3.0, 3.0, 9),
                   help="LOW,HIGH,COUNT, evenly spaced (default -3,3,9); write --values=-3,3,9 when LOW is "
                        "negative, since argparse reads a leading '-' as an option")
    p.add_argument("--index", type=int, default=0, help="test image whose code is the starting point")
    p.add_argument("--frame-ms", type=int, default=200, help="GIF: milliseconds per frame")
    p.set_defaults(func=_cmd_traverse)

    p = sub.add_parser("manifold", help="decode a grid over two latent dimensions (the 2-D latent manifold), as PNG")
    p.add_argument("name", help="preset name or directory")
    p.add_argument("--out", required=True, help="PNG file")
    p.add_argument("-n", type=int, default=15, help="grid size per axis (default 15)")
    p.add_argument("--dims", type=_dims, default=[0, 1], help="the two latent dimensions (default 0,1)")
    p.add_argument("--label", type=int, help="class, for conditional models")
    p.set_defaults(func=_cmd_manifold)

    p = sub.add_parser("latents", help="scatter plot of test images' posterior means in 2-D, coloured by label")
    p.add_argument("name", help="preset name or directory")
    p.add_argument("--out", required=True, help="PNG file")
    p.add_argument("-n", type=int, default=2000, help="number of test images (default 2000)")
    p.set_defaults(func=_cmd_latents)

    p = sub.add_parser("anomaly", help="score images by how badly the preset explains them; flag the outliers",
                       description="Scores each image by -ELBO (--k 1) or the -IWAE bound (--k > 1) in nats; "
                                   "autoencoders without a density (AE, WAE) use their reconstruction error. "
                                   "Higher = more anomalous; an image is flagged when its score is above the "
                                   "threshold, given with --threshold or fitted at --fpr on the first "
                                   "--reference-examples test images of the preset's dataset. Inputs are "
                                   "quantized to 0..255 and preprocessed as the preset's card says (e.g. dynamic "
                                   "binarization), like the reference images.")
    p.add_argument("name", help="preset name or directory")
    p.add_argument("--input", required=True,
                   help="a .npy file [N,H,W,C] (or [N,H,W] for one channel): float in [0,1], or uint8 0..255 "
                        "(divided by 255); or a directory of PNGs of the model's size (grey or RGB, converted to "
                        "the model's channels; never resized)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--threshold", type=float, help="flag scores above this many nats")
    g.add_argument("--fpr", type=float, default=0.05,
                   help="fit the threshold to flag this fraction of normal test images (default 0.05)")
    p.add_argument("--k", type=int, default=1, help="importance samples per image (1 = ELBO)")
    p.add_argument("--seed", type=int, default=0, help="seed of the preprocessing and posterior samples")
    p.add_argument("--reference-examples", type=int, default=1000, help="normal test images for --fpr")
    p.add_argument("--max-rows", type=int, default=100, help="rows of the printed table (all go to --json)")
    p.add_argument("--json", help="write the threshold and every image's score here")
    p.set_defaults(func=_cmd_anomaly)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from zoo.callbacks import NonFiniteLossError
    from zoo.data import DataSourceError
    from zoo.presets import PresetError
    from zoo.validation import InputError

    try:
        return args.func(args)
    except (PresetError, DataSourceError, InputError, NonFiniteLossError, ValueError, FileNotFoundError) as e:
        print(f"zoo {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
