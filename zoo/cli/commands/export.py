"""Deployment: `zoo export` (SavedModel, LiteRT, or a static web page running LiteRT.js)."""

from __future__ import annotations

import os

from zoo.cli.arguments import UsageError, add_preset_argument, positive_int

DEFAULT_QUANTIZATION = "float32,float16,int8"


def run_export(args) -> int:
    """Exports a preset as a SavedModel, LiteRT files with their measured errors, or a web page."""
    if args.format == "web" and (args.signatures or args.quantization):
        # The page runs encode, decode and sample in float32: there is nothing to choose.
        raise UsageError("--format web exports encode, decode and sample in float32; "
                         "--signatures and --quantization do not apply")
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
    if args.format == "web":
        report = export.export_web(model, out, metadata)
        worst = max(max(entry["max_abs_error"].values()) for entry in report["files"].values())
        print(f"Web explorer written to {os.path.abspath(out)} (float32, batch 1; max |error| {worst:.2e})\n"
              f"  serve it: python -m http.server -d {out}   then open http://127.0.0.1:8000/")
        return 0
    quantization = (args.quantization or DEFAULT_QUANTIZATION).split(",")
    # Training images calibrate int8 and measure every variant's error; without
    # int8 they are optional (errors are then measured on noise images).
    try:
        x, y = data.load_numpy_for_card(card, "train", take=args.calibration_examples)
        representative = (x, y) if model.conditional else x
    except (ValueError, data.DataSourceError) as e:
        if "int8" in quantization:
            raise ValueError(f"int8 calibration needs the preset's training data: {e}") from e
        representative = None
    report = export.export_tflite(model, out, quantization, representative, signatures, metadata)
    for filename, entry in report["files"].items():
        worst = max(entry["max_abs_error"].values())
        extra = (f"  reconstruction NLL change {100 * entry['reconstruction_nll_relative_change']:.3f}%"
                 if "reconstruction_nll_relative_change" in entry else "")
        extra += "".join(f"  {name} agree {100 * share:.1f}%" for name, share in entry.get("agreement", {}).items())
        print(f"  {filename:28s} {entry['bytes'] / 1024:8.1f} KiB  max |error| {worst:.2e}{extra}")
    print(f"TFLite models written to {os.path.abspath(out)} (report: {export.REPORT_FILE})")
    return 0


def add_export(subparsers):
    p = subparsers.add_parser(
        "export", help="export a preset as a SavedModel, LiteRT (TFLite) models or a web page for deployment",
        description="Writes a SavedModel (signatures encode, decode, sample, reconstruct, score; no random ops), "
                    "LiteRT .tflite files in float32/float16/int8 with their measured errors against the "
                    "Keras model, or (web) a static folder with a latent explorer that runs the model in the "
                    "browser with LiteRT.js (serve it with `python -m http.server -d DIR`).")
    add_preset_argument(p)
    p.add_argument("--format", choices=("saved_model", "tflite", "web"), default="saved_model", help="what to write")
    p.add_argument("--out", help="directory to write (default: exports/<name>_<format>)")
    p.add_argument("--signatures", help="comma-separated subset of the signatures (default: all the model supports)")
    p.add_argument("--quantization",
                   help=f"tflite: comma-separated variants out of float32, float16, int8 (default: "
                        f"{DEFAULT_QUANTIZATION})")
    p.add_argument("--calibration-examples", type=positive_int, default=264,
                   help="tflite: training images for int8 calibration (200) and error measurement (the rest)")
    return p


COMMANDS = {"export": (add_export, run_export)}
