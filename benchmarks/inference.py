"""Single-image inference latency and model size: Keras, tf.function, SavedModel, LiteRT.

    python benchmarks/inference.py                      # vae_mnist, writes benchmarks/inference.md
    python benchmarks/inference.py --preset NAME --calls 200 --runs 7

Everything runs on one thread (`tf.config.threading` for TensorFlow, `num_threads=1`
for the LiteRT interpreter), with batch 1, which is the phone/server-per-request
case. For each of `decode` (z -> image parameters), `sample` (noise -> image) and
`encode` (image -> posterior mean and stddev) it times

- Keras `predict` on the model's network (what a user calls first; includes the
  per-call overhead of `predict`),
- a `tf.function` of the same computation,
- the exported SavedModel's signature (`tf.saved_model.load`),
- each LiteRT variant (float32, float16, int8) through `ai_edge_litert`.

A run is `--calls` back-to-back calls after a warm-up; the table shows the median
over `--runs` runs of the per-call mean, and the min-max over runs as the spread.
Without a shipped preset the model is freshly built from the recipe, untrained:
latency does not depend on the weights, but the int8 calibration and error columns
do, and the table says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

import tensorflow as tf

# One thread, before TensorFlow's runtime starts.
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run as `python benchmarks/inference.py`: this checkout's packages
    sys.path.insert(0, ROOT)

from benchmarks.machine import cpu_name  # noqa: E402
from zoo.io import write_text  # noqa: E402


def _dir_bytes(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def _time(fn, calls: int, runs: int, warmup: int = 3) -> tuple[float, float, float]:
    """(median, min, max) over runs of the mean seconds per call."""
    for _ in range(warmup):
        fn()
    per_run = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        per_run.append((time.perf_counter() - start) / calls)
    return float(np.median(per_run)), float(min(per_run)), float(max(per_run))


def _model(preset: str):
    """(model, card, note): the shipped preset, else an untrained model of its recipe."""
    import zoo
    from zoo.presets import PresetError, read_metadata
    from zoo.training import build_model, load_recipe

    try:
        return zoo.load(preset), read_metadata(preset), f"preset `{preset}` (trained weights)"
    except PresetError:
        recipe = load_recipe(preset)
        card = {"name": preset, "dataset": recipe["dataset"], "preprocessing": recipe["preprocessing"]}
        return build_model(recipe), card, (f"**untrained** model built from the `{preset}` recipe "
                                           f"(no `saved_models/{preset}` preset found)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="vae_mnist")
    parser.add_argument("--calls", type=int, default=100, help="calls per timed run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (the table shows their median and range)")
    parser.add_argument("--out", default=os.path.join(HERE, "inference.md"))
    args = parser.parse_args(argv)

    import keras
    from ai_edge_litert.interpreter import Interpreter

    import zoo
    from zoo import data, export
    from zoo.export.signatures import make_functions

    model, card, note = _model(args.preset)
    try:
        x_train, y_train = data.load_numpy(card["dataset"], "train", card["preprocessing"], take=264)
        x_test, y_test = data.load_numpy(card["dataset"], "test", card["preprocessing"], take=1)
        data_note = f"{card['dataset']} ({card['preprocessing']})"
    except (data.DataSourceError, KeyError) as e:
        print(f"(no {card.get('dataset')} data: calibrating on noise images: {e})", file=sys.stderr)
        rng = np.random.default_rng(0)
        x_train = (rng.random((264, *model.image_shape)) < 0.5).astype("float32")
        y_train = rng.integers(0, max(model.num_classes, 1), 264)
        x_test, y_test = x_train[:1], y_train[:1]
        data_note = "random binary images (dataset unavailable)"

    work = tempfile.mkdtemp(prefix="zoo-bench-")
    try:
        metadata = {"name": card.get("name", args.preset)}
        saved = export.export_saved_model(model, os.path.join(work, "saved_model"), metadata)
        representative = (x_train, y_train) if model.conditional else x_train
        report = export.export_tflite(model, os.path.join(work, "tflite"), representative_data=representative,
                                      metadata=metadata)
        model.save_weights(os.path.join(work, "model.weights.h5"))
        keras_bytes = _dir_bytes(os.path.join(work, "model.weights.h5"))
        saved_bytes = _dir_bytes(saved)
        loaded = tf.saved_model.load(saved)
        functions = make_functions(model)

        rng = np.random.default_rng(0)
        z = model.encode(x_test, y_test if model.conditional else None).mean().numpy()
        eps = rng.standard_normal((1, model.latent_dim)).astype("float32")
        label = {"label": np.asarray(y_test[:1], np.int32)} if model.conditional else {}
        feeds = {"decode": {"z": z, **label}, "sample": {"eps": eps, **label}, "encode": {"x": x_test, **label}}
        condition = [keras.ops.one_hot(label["label"], model.num_classes)] if model.conditional else []
        # What Keras `predict` runs for each: the network behind the signature.
        keras_calls = {
            "decode": lambda: model.decoder.predict([z, *condition] if condition else z, verbose=0),
            "sample": lambda: model.decoder.predict([eps, *condition] if condition else eps, verbose=0),
            "encode": lambda: model.encoder.predict([x_test, *condition] if condition else x_test, verbose=0),
        }

        rows = []
        for signature, feed in feeds.items():
            if signature not in loaded.signatures:
                continue
            tensors = {k: tf.constant(v) for k, v in feed.items()}
            fn, specs = functions[signature]
            compiled = tf.function(fn, input_signature=specs)
            ordered = [tensors[s.name] for s in specs]
            candidates = [
                ("Keras `predict` (network only)", keras_bytes, keras_calls[signature]),
                ("`tf.function`", keras_bytes, lambda: compiled(*ordered)),
                ("SavedModel signature", saved_bytes, lambda: loaded.signatures[signature](**tensors)),
            ]
            for q in export.QUANTIZATIONS:
                path = os.path.join(work, "tflite", f"{signature}_{q}.tflite")
                runner = Interpreter(model_path=path, num_threads=1).get_signature_runner(signature)
                candidates.append((f"LiteRT {q}", _dir_bytes(path), lambda r=runner: r(**feed)))
            for name, size, call in candidates:
                median, low, high = _time(call, args.calls, args.runs)
                entry = report["files"].get(f"{signature}_{name.split()[-1]}.tflite", {}) if "LiteRT" in name else {}
                error = max(entry["max_abs_error"].values()) if entry else None
                rows.append((signature, name, size, median, low, high, error))
                print(f"{signature:7s} {name:32s} {size / 1024:9.1f} KiB {1e3 * median:8.3f} ms "
                      f"[{1e3 * low:.3f}, {1e3 * high:.3f}]", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        "# Inference benchmark",
        "",
        f"Model: {note}; {type(model).__name__}, latent {model.latent_dim}, input {list(model.image_shape)}, "
        f"{model.count_params():,} parameters. Calibration and error data: {data_note}.",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, zoo {zoo.__version__}. "
        "One thread everywhere (TensorFlow intra/inter-op = 1, LiteRT `num_threads=1`), batch 1.",
        "",
        f"Latency: median over {args.runs} runs of the mean per-call time of {args.calls} back-to-back calls "
        "(after 3 warm-up calls), with the min-max over runs. Size: the weights file for Keras and `tf.function`, "
        "the whole SavedModel directory (all signatures), the single-signature `.tflite` file. Max |error|: the "
        "largest absolute difference of any output from the SavedModel on held-out training images "
        "(`export_report.json`).",
        "",
        f"Command: `python benchmarks/inference.py --preset {args.preset} --calls {args.calls} --runs {args.runs}`, "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "| signature | runtime | size (KiB) | latency median (ms) | spread min-max (ms) | max abs error |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for signature, name, size, median, low, high, error in rows:
        err = "" if error is None else f"{error:.1e}"
        lines.append(f"| {signature} | {name} | {size / 1024:.1f} | {1e3 * median:.3f} | "
                     f"{1e3 * low:.3f}-{1e3 * high:.3f} | {err} |")
    decode_int8 = report["files"].get("decode_int8.tflite", {})
    if "reconstruction_nll_relative_change" in decode_int8:
        lines += ["", f"int8 `decode`: reconstruction NLL {decode_int8['reconstruction_nll']:.2f} nats vs "
                      f"{decode_int8['reconstruction_nll_float']:.2f} in float "
                      f"({100 * decode_int8['reconstruction_nll_relative_change']:.2f}% change)."]
    write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
