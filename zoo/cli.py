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
        nll = card.get("metrics", {}).get("nll_nats")
        extra = f"  NLL {nll:.2f} nats" if nll is not None else ""
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
    from zoo.presets import METADATA_FILE, _write_json_atomic, read_metadata, resolve

    metrics = evaluate_preset(args.name, k=args.k, num_examples=args.num_examples, seed=args.seed)
    print(json.dumps(metrics, indent=2))
    if args.write_card:
        card = read_metadata(args.name)
        card.setdefault("metrics", {}).update(metrics)
        _write_json_atomic(os.path.join(resolve(args.name), METADATA_FILE), card)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(metrics, f, indent=2)
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

    p = sub.add_parser("eval", help="importance-sampled test NLL of a preset")
    p.add_argument("name")
    p.add_argument("--k", type=int, default=5000, help="importance samples per image")
    p.add_argument("--num-examples", type=int, help="first N test images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the result JSON here")
    p.add_argument("--write-card", action="store_true", help="record the result in the preset's model card")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("sample", help="write a grid of samples as PNG")
    p.add_argument("name")
    p.add_argument("-n", type=int, default=64)
    p.add_argument("--out", default="samples.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", type=int, help="class to generate (conditional models)")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("demo", help="samples, reconstructions, an interpolation and a traversal of a preset, as PNGs")
    p.add_argument("name", nargs="?", default="vae_mnist")
    p.add_argument("--out-dir", default="outputs")
    p.add_argument("--seed", type=int, default=0)
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
