"""LiteRT export: `export_tflite` converts ``encode``, ``decode`` and ``sample`` from such a
SavedModel to LiteRT flatbuffers, **one file per signature and quantization**
(``decode_float32.tflite``, ``decode_int8.tflite``, ...; each holds one signature
of the same name), so an app ships only what it runs: a phone that only generates
needs ``sample`` alone. Variants:

- ``float32``: no quantization.
- ``float16``: float16 weights, dequantized to float32 at load (half the size).
- ``int8``: full-integer quantization calibrated on a representative dataset
  (training images; their posterior means for ``decode``; N(0, I) noise for
  ``sample``). Every op runs in int8; the model's inputs and outputs stay float32
  (a quantize op at the input and a dequantize op at the output), so the calling
  code is the same for all three variants.

Each file's errors against the SavedModel are measured on held-out rows of the
representative data and returned (and written to ``export_report.json``).

The batch dimension is dynamic by default; ``static_batch=True`` fixes it at 1 for
runtimes that reject dynamic shapes (LiteRT.js: a ``[-1, D]`` input fails at run
time), by re-tracing each signature with batch-1 inputs before conversion.
"""


from __future__ import annotations

import math
import os
import tempfile
import warnings

import numpy as np
import tensorflow as tf

from zoo import io
from zoo.export.metadata import METADATA_FILE, build_metadata
from zoo.export.saved_model import export_saved_model
from zoo.export.signatures import SIGNATURES, ExportError, check_model, select, supported
from zoo.validation import check_images

TFLITE_SIGNATURES = ("encode", "decode", "sample")
QUANTIZATIONS = ("float32", "float16", "int8")
REPORT_FILE = "export_report.json"


def _representative_arrays(model, representative_data):
    """(x float32 [N,H,W,C], labels int32 [N] or None) from an array or (x, y)."""
    if isinstance(representative_data, (tuple, list)):
        x, y = representative_data[0], (representative_data[1] if len(representative_data) > 1 else None)
    else:
        x, y = representative_data, None
    x = check_images(np.asarray(x, np.float32), model.image_shape, "representative_data").numpy()
    if model.conditional:
        if y is None:
            raise ExportError("representative_data: this model is conditional; pass (images, labels)")
        y = np.asarray(y)
        if y.ndim == 2:
            y = y.argmax(-1)
        y = y.astype(np.int32)
        if y.shape != (len(x),):
            raise ExportError(f"representative_data: {y.shape} labels for {len(x)} images")
    else:
        y = None
    return x, y


def _signature_inputs(signature, x, y, z, eps):
    inputs = {"encode": {"x": x}, "decode": {"z": z}, "sample": {"eps": eps}}[signature]
    if y is not None:
        inputs = {**inputs, "label": y}
    return inputs


def convert(saved_model_dir, signature, quantization, calibration):
    """The LiteRT flatbuffer of one signature of a SavedModel, in one quantization.

    Args:
        saved_model_dir: the SavedModel holding `signature`.
        signature: the signature to convert (the file's only signature, same name).
        quantization: "float32", "float16" or "int8".
        calibration: input name -> array of representative rows; int8 calibrates
            on them one row at a time (which also fits a batch fixed at 1).
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

        def dataset():
            n = len(next(iter(calibration.values())))
            for i in range(n):
                yield {k: v[i:i + 1] for k, v in calibration.items()}

        converter.representative_dataset = dataset
        # Every op in int8 (conversion fails rather than silently keeping float ops);
        # inputs/outputs stay float32 so callers need not know the scales.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif quantization != "float32":
        raise ExportError(f"unknown quantization {quantization!r}; choose from {list(QUANTIZATIONS)}")
    with warnings.catch_warnings():
        # The converter's int8 calibrator uses the deprecated tf.lite.Interpreter
        # internally; our own code runs files with ai_edge_litert.
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        return converter.convert()


def run_tflite(path: str, num_threads: int = 1, **inputs) -> dict:
    """Runs the single signature of a `.tflite` file with the LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=num_threads)
    (name,) = interpreter.get_signature_list()
    return interpreter.get_signature_runner(name)(**inputs)


def _run_rows(path: str, inputs: dict) -> dict:
    """`run_tflite` one row at a time, outputs stacked: for a file whose batch is fixed at 1."""
    rows = [run_tflite(path, **{k: v[i:i + 1] for k, v in inputs.items()})
            for i in range(len(next(iter(inputs.values()))))]
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def _static_batch_saved_model(loaded, signature: str, path: str) -> str:
    """A SavedModel at `path` with `loaded`'s `signature` alone, its batch dimension fixed at 1.

    The signature is re-traced with batch-1 input specs, so the converter sees
    static shapes throughout and writes no dynamic dimension.
    """
    fn = loaded.signatures[signature]
    specs = {name: tf.TensorSpec([1, *spec.shape[1:]], spec.dtype, name=name)
             for name, spec in fn.structured_input_signature[1].items()}
    static = tf.function(lambda **inputs: fn(**inputs)).get_concrete_function(**specs)
    tf.saved_model.save(loaded, path, signatures={signature: static})
    return path


def _reconstruction_nll(params: dict, x) -> float | None:
    """Mean -log p(x|z) per example from exported likelihood parameters (numpy)."""
    axes = tuple(range(1, x.ndim))
    if "logits" in params:
        logits = params["logits"].astype(np.float64)
        return float(np.mean(np.sum(np.logaddexp(0.0, logits) - x * logits, axis=axes)))
    if "loc" in params and "scale" in params:
        loc, scale = params["loc"].astype(np.float64), params["scale"].astype(np.float64)
        nll = 0.5 * ((x - loc) / scale) ** 2 + np.log(scale) + 0.5 * math.log(2 * math.pi)
        return float(np.mean(np.sum(nll, axis=axes)))
    return None


def export_tflite(
    model,
    out_dir: str,
    quantization=QUANTIZATIONS,
    representative_data=None,
    signatures=None,
    metadata: dict | None = None,
    num_calibration: int = 200,
    num_evaluation: int = 64,
    static_batch: bool = False,
) -> dict:
    """Converts `encode`, `decode` and `sample` to LiteRT files and measures their errors.

    Writes ``<signature>_<quantization>.tflite`` files (one signature each), the
    export metadata (`zoo_metadata.json`, with each file's input/output details)
    and ``export_report.json`` to `out_dir`, atomically (temp dir, then rename).

    Args:
        model: a built zoo model.
        out_dir: the directory to write.
        quantization: any of "float32", "float16", "int8".
        representative_data: training images [N,H,W,C] in [0, 1] (or (images,
            labels) for a conditional model). Required for "int8" calibration; the
            first `num_calibration` rows calibrate, the next `num_evaluation` rows
            (or the same rows if there are too few) measure the errors. Without it,
            errors are measured on uniform noise images.
        signatures: subset of ("encode", "decode", "sample") (default: all the model
            supports).
        metadata: extra model-card entries, as for `export_saved_model`.
        static_batch: fix every file's batch dimension at 1 (for runtimes without
            dynamic shapes, such as LiteRT.js); the errors are then measured one
            row at a time. Default: a dynamic batch.
    Returns:
        The report: for each file its size and, per output, the max and mean
        absolute error against the SavedModel; for ``decode`` the mean
        reconstruction NLL (BCE for Bernoulli) of the evaluation images at their
        posterior means, from the SavedModel and from the file, and their relative
        difference.
    """
    check_model(model)
    quantization = [quantization] if isinstance(quantization, str) else list(quantization)
    for q in quantization:
        if q not in QUANTIZATIONS:
            raise ExportError(f"unknown quantization {q!r}; choose from {list(QUANTIZATIONS)}")
    if "int8" in quantization and representative_data is None:
        raise ExportError("int8 quantization needs representative_data (training images) to calibrate")
    info = supported(model)
    chosen = select(signatures, info, TFLITE_SIGNATURES)

    rng = np.random.default_rng(0)
    if representative_data is not None:
        x_all, y_all = _representative_arrays(model, representative_data)
    else:
        x_all = rng.random((num_evaluation, *model.image_shape), dtype=np.float32)
        y_all = rng.integers(0, model.num_classes, num_evaluation).astype(np.int32) if model.conditional else None
    n_cal = min(num_calibration, len(x_all))
    eval_rows = slice(n_cal, n_cal + num_evaluation) if len(x_all) >= n_cal + 8 else slice(0, num_evaluation)

    with io.atomic_dir(out_dir) as tmp, tempfile.TemporaryDirectory(prefix=".zoo-export-sm-",
                                                                 dir=os.path.dirname(tmp)) as work:
        saved_model_dir = export_saved_model(model, os.path.join(work, "saved_model"), metadata,
                                             signatures=_with_encode(chosen, info))
        loaded = tf.saved_model.load(saved_model_dir)

        def reference(signature, inputs):
            out = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
            return {k: v.numpy() for k, v in out.items()}

        def data_for(rows):
            x = x_all[rows]
            y = None if y_all is None else y_all[rows]
            z = reference("encode", _signature_inputs("encode", x, y, None, None))["mean"] if "encode" in \
                loaded.signatures else rng.standard_normal((len(x), model.latent_dim)).astype(np.float32)
            eps = rng.standard_normal((len(x), model.latent_dim)).astype(np.float32)
            return x, y, z, eps

        calibration = data_for(slice(0, n_cal))
        evaluation = data_for(eval_rows)
        x_eval = evaluation[0]

        report = {"files": {}, "evaluation_examples": int(len(x_eval)),
                  "evaluation_data": "held-out representative rows" if representative_data is not None
                  else "uniform noise images (no representative_data given)",
                  "int8_io": "float32 inputs and outputs; all internal ops int8 (full-integer quantization)"}
        described = {}
        for signature in chosen:
            ref_inputs = _signature_inputs(signature, *evaluation)
            expected = reference(signature, ref_inputs)
            source = (_static_batch_saved_model(loaded, signature, os.path.join(work, f"{signature}_batch1"))
                      if static_batch else saved_model_dir)
            for q in quantization:
                filename = f"{signature}_{q}.tflite"
                flatbuffer = convert(source, signature, q, _signature_inputs(signature, *calibration))
                path = io.write_bytes(os.path.join(tmp, filename), flatbuffer)
                got = _run_rows(path, ref_inputs) if static_batch else run_tflite(path, **ref_inputs)
                report["files"][filename] = {"signature": signature, "quantization": q,
                                             "bytes": os.path.getsize(path),
                                             **parity(expected, got, x_eval, signature)}
                described.setdefault(signature, _tflite_io(path))
        card = build_metadata(model, metadata, None, info)
        card["signatures"] = described
        if static_batch:
            card["input"]["batch"] = 1
        card["tflite"] = {
            "layout": "one .tflite file per signature and quantization, named <signature>_<quantization>.tflite; "
                      "each holds one signature with that name",
            "quantizations": quantization,
            "int8": report["int8_io"],
            "float16": "float16 weights, float32 inputs/outputs and compute",
        }
        io.write_json(os.path.join(tmp, METADATA_FILE), card)
        io.write_json(os.path.join(tmp, REPORT_FILE), report)
    return report


def parity(expected: dict, got: dict, x, signature: str) -> dict:
    """A converted file's errors against the SavedModel's outputs on the same inputs.

    Per output the max and mean absolute error (for integer outputs, the share that
    agrees); for ``decode``, also the mean
    reconstruction NLL of the images `x` at their posterior means from both, and
    its relative change (the number that says whether a quantized decoder still
    models the data).
    """
    # Integer outputs (a VQ-VAE's code indices) are labels, not quantities: a code off
    # by one is as wrong as one off by a hundred, so they get the share that agrees.
    labels = [k for k in expected if np.issubdtype(np.asarray(expected[k]).dtype, np.integer)]
    values = [k for k in expected if k not in labels]
    entry = {
        "max_abs_error": {k: float(np.max(np.abs(got[k] - expected[k]))) for k in values},
        "mean_abs_error": {k: float(np.mean(np.abs(got[k] - expected[k]))) for k in values},
    }
    if labels:
        entry["agreement"] = {k: float(np.mean(got[k] == expected[k])) for k in labels}
    float_nll = _reconstruction_nll(expected, x) if signature == "decode" else None
    if float_nll is not None:
        nll = _reconstruction_nll(got, x)
        entry["reconstruction_nll"] = nll
        entry["reconstruction_nll_float"] = float_nll
        entry["reconstruction_nll_relative_change"] = abs(nll - float_nll) / max(abs(float_nll), 1e-12)
    return entry


def _with_encode(chosen, info):
    """The SavedModel behind the conversion also needs `encode` (latents to test `decode`)."""
    names = set(chosen)
    if "encode" not in info["unsupported"]:
        names.add("encode")
    return [s for s in SIGNATURES if s in names]


def _tflite_io(path: str) -> dict:
    """Input/output names, shapes (-1 = dynamic) and dtypes of a file's signature."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    (name,) = interpreter.get_signature_list()
    runner = interpreter.get_signature_runner(name)

    def describe(details):
        return {k: {"shape": [int(v) for v in d["shape_signature"]], "dtype": np.dtype(d["dtype"]).name}
                for k, d in details.items()}

    return {"inputs": describe(runner.get_input_details()), "outputs": describe(runner.get_output_details())}
