"""Deployment: SavedModel signatures and LiteRT (TFLite) models that run without `zoo`.

`export_saved_model` writes a TensorFlow SavedModel with named signatures, all
float32 with a dynamic batch dimension (conditional models add an int32 `label`
[N] input to every signature; it is one-hot encoded inside the graph, and an
out-of-range label such as -1 gives the all-zero "null label" row):

===============  =============================  =======================================
signature        inputs                         outputs
===============  =============================  =======================================
``encode``       ``x`` [N,H,W,C] in [0, 1]      ``mean``, ``stddev`` [N,D] of q(z|x)
``decode``       ``z`` [N,D]                    the likelihood's parameters (``logits``
                                                for Bernoulli, ``loc``/``scale`` for
                                                Gaussian) and ``mean`` = E[x|z]
``sample``       ``eps`` [N,D] ~ N(0, I)        ``images`` = E[x|z] for z = T(eps), the
                                                prior's reparameterization (z = eps for
                                                the standard normal prior)
``reconstruct``  ``x``                          ``images`` = E[x|z = posterior mean]
``score``        ``x``, ``eps`` [N,K,D] ~ N(0,I)  ``score`` [N] = -(IWAE bound with those K
                                                draws); K = 1 gives -ELBO (one sample)
===============  =============================  =======================================

No signature contains a random op: the caller supplies the noise, so outputs are
reproducible on every runtime. When the posterior is not a plain diagonal Gaussian
but a bijector applied to one (flows), `encode` returns that base Gaussian and the
metadata says so. The model's description (input shape, preprocessing, likelihood,
prior, latent size, label count, preset name, zoo version, every signature's names,
shapes and dtypes) is written to ``assets/zoo_metadata.json`` in the SavedModel.

The graphs are built with `keras.export.ExportArchive.add_endpoint`: a hand-written
`tf.Module` around a Keras 3 model exported fine but converted to a TFLite model
that returned garbage (see DESIGN.md), so that path is not used.

`export_tflite` converts ``encode``, ``decode`` and ``sample`` from such a
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
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import warnings

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

SIGNATURES = ("encode", "decode", "sample", "reconstruct", "score")
TFLITE_SIGNATURES = ("encode", "decode", "sample")
QUANTIZATIONS = ("float32", "float16", "int8")
METADATA_FILE = "zoo_metadata.json"
REPORT_FILE = "export_report.json"

PREPROCESSING_NOTES = {
    "dynamic_binarize": "binary images: x = 1 where a uniform draw u < pixel/255, else 0 (pixel/255 > 0.5 "
                        "is a deterministic alternative); float32 NHWC in {0, 1}",
    "binarize": "binary images: x = 1.0 where pixel/255 > 0.5, else 0.0; float32 NHWC",
    "float": "x = pixel / 255, float32 NHWC in [0, 1]",
    "dequantize": "x = (pixel + u) / 256 with u ~ U[0, 1) (pixel / 255 is a close deterministic alternative); "
                  "float32 NHWC in [0, 1]",
}


class ExportError(ValueError):
    """A model, signature or option cannot be exported as asked."""


# --------------------------------------------------------------------------- the math of the signatures


def _posterior_parts(posterior):
    """(kind, mean, stddev, bijector) with z = bijector(mean + stddev * eps), eps ~ N(0, I).

    `bijector` is None for a plain diagonal Gaussian or a point mass.

    Raises:
        ExportError: for a posterior that is neither a diagonal Gaussian, a bijector
            of one, nor a point mass.
    """
    if isinstance(posterior, tfd.MultivariateNormalDiag):
        return "gaussian", posterior.mean(), posterior.stddev(), None
    if isinstance(posterior, tfd.Independent):
        inner = posterior.distribution
        if isinstance(inner, tfd.Normal):
            return "gaussian", inner.loc + tf.zeros_like(inner.scale), inner.scale + tf.zeros_like(inner.loc), None
        if isinstance(inner, tfd.Deterministic):
            return "point_mass", inner.loc, tf.zeros_like(inner.loc), None
    if isinstance(posterior, tfd.TransformedDistribution):
        kind, mean, stddev, inner_bijector = _posterior_parts(posterior.distribution)
        if kind == "gaussian" and inner_bijector is None:
            return "transformed_gaussian", mean, stddev, posterior.bijector
    raise ExportError(
        f"cannot export a posterior of type {type(posterior).__name__}: the signatures need q(z|x) to be a "
        "diagonal Gaussian, a bijector applied to one, or a point mass"
    )


def _prior_transform(prior):
    """(description, fn) with fn(eps) a draw from `prior` for eps ~ N(0, I) [N, D].

    Raises:
        ExportError: if the prior is not a reparameterized transform of N(0, I)
            (mixtures such as the VampPrior are not).
    """
    if isinstance(prior, tfd.MultivariateNormalDiag):
        loc, scale = prior.mean(), prior.stddev()
        standard = bool(np.all(loc.numpy() == 0) and np.all(scale.numpy() == 1)) if tf.executing_eagerly() else False
        if standard:
            return "z = eps (standard normal prior)", lambda eps: eps
        return "z = loc + scale * eps (diagonal Gaussian prior)", lambda eps: prior.mean() + prior.stddev() * eps
    if isinstance(prior, tfd.TransformedDistribution) and isinstance(prior.distribution, tfd.MultivariateNormalDiag):
        base_desc, base = _prior_transform(prior.distribution)
        return (f"z = bijector({base_desc.split(' (')[0].replace('z = ', '')}) ({type(prior.bijector).__name__})",
                lambda eps: prior.bijector.forward(base(eps)))
    raise ExportError(
        f"the prior is a {type(prior).__name__}, not a reparameterized transform of N(0, I), so the noise-driven "
        "'sample' signature cannot express it; export without it (signatures=[...] without 'sample')"
    )


def _probe(model) -> dict:
    """Runs the model eagerly once to learn which signatures it supports, and why not."""
    h, w, c = model.image_shape
    x = tf.zeros([1, h, w, c])
    condition = tf.one_hot([0], model.num_classes) if model.conditional else None
    info = {"unsupported": {}}
    try:
        info["posterior"] = _posterior_parts(model._encode(x, condition))[0]
    except ExportError as e:
        info["posterior"] = "unsupported"
        for name in ("encode", "reconstruct", "score"):
            info["unsupported"][name] = str(e)
    from zoo.models.base import LatentVariableModel

    own_weights = any(getattr(type(model), m, None) is not getattr(LatentVariableModel, m, None)
                      for m in ("importance_log_terms", "log_importance_weights"))
    if getattr(model, "prior_latent_dim", model.latent_dim) != model.latent_dim or own_weights:
        reason = (f"{type(model).__name__} computes its own importance weights (a hierarchy of latents); the "
                  "exported score only covers one latent layer")
        info["unsupported"].setdefault("score", reason)
    if getattr(model, "prior_latent_dim", model.latent_dim) != model.latent_dim:
        info["unsupported"]["sample"] = (f"the prior is over {model.prior_latent_dim} top-layer latents, not the "
                                         f"{model.latent_dim} the decoder takes; sampling needs the model's "
                                         "top-down pass")
    if info["posterior"] == "point_mass":
        info["unsupported"]["score"] = ("the posterior is a point mass (a deterministic encoder): q(z|x) has no "
                                        "density, so there is no ELBO or IWAE bound to score with")
    try:
        info["prior_sampling"] = _prior_transform(model.prior_distribution())[0]
    except ExportError as e:
        info["prior_sampling"] = None
        info["unsupported"]["sample"] = str(e)
    if "sample" in info["unsupported"]:
        info["prior_sampling"] = None
    return info


def _make_functions(model) -> dict:
    """name -> (fn(x, ..., label=None), [input specs]) for every signature, in graph terms."""
    h, w, c = model.image_shape
    d = model.latent_dim
    conditional = model.conditional

    def condition_of(label):
        return tf.one_hot(label, model.num_classes) if conditional else None

    def images(x):
        # A loaded signature does not enforce its input spec by itself: a wrong
        # channel count would otherwise reach the first conv and fail there with an
        # unrelated message ("grouped convolutions").
        return tf.ensure_shape(x, [None, h, w, c])

    def encode(x, label=None):
        x = images(x)
        _, mean, stddev, _ = _posterior_parts(model._encode(x, condition_of(label)))
        return {"mean": mean, "stddev": stddev}

    def decode(z, label=None):
        raw = model._decode_raw(z, condition_of(label))
        return {**model.likelihood.parameters(raw), "mean": model.likelihood.mean(raw)}

    def sample(eps, label=None):
        _, to_z = _prior_transform(model.prior_distribution())
        return {"images": model.likelihood.mean(model._decode_raw(to_z(eps), condition_of(label)))}

    def reconstruct(x, label=None):
        x = images(x)
        condition = condition_of(label)
        z = model._encode(x, condition).mean()
        return {"images": model.likelihood.mean(model._decode_raw(z, condition))}

    def score(x, eps, label=None):
        x = images(x)
        condition = condition_of(label)
        posterior = model._encode(x, condition)
        _, mean, stddev, bijector = _posterior_parts(posterior)
        # Draws first ([K, N, D]) so that the posterior's batch [N] (and a flow's
        # per-example context) broadcasts against them.
        u = mean + stddev * tf.transpose(eps, [1, 0, 2])
        if bijector is None:
            z, log_q = u, posterior.log_prob(u)
        else:
            # log q(z) by the change of variables at the base draw: exact, and no
            # inverse of the flow is needed.
            base = tfd.MultivariateNormalDiag(mean, stddev)
            z = bijector.forward(u)
            log_q = base.log_prob(u) - bijector.forward_log_det_jacobian(u, event_ndims=1)
        k, n = tf.shape(eps)[1], tf.shape(eps)[0]
        flat_condition = None if condition is None else tf.tile(condition, [k, 1])
        raw = model._decode_raw(tf.reshape(z, [k * n, d]), flat_condition)
        log_px = tf.reshape(model.likelihood.distribution(raw).log_prob(tf.tile(x, [k, 1, 1, 1])), [k, n])
        log_w = log_px + model.prior_distribution().log_prob(z) - log_q  # [K, N]
        iwae = tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(tf.cast(k, tf.float32))
        return {"score": -iwae}

    x_spec = tf.TensorSpec([None, h, w, c], tf.float32, name="x")
    label_spec = [tf.TensorSpec([None], tf.int32, name="label")] if conditional else []
    specs = {
        "encode": (encode, [x_spec]),
        "decode": (decode, [tf.TensorSpec([None, d], tf.float32, name="z")]),
        "sample": (sample, [tf.TensorSpec([None, d], tf.float32, name="eps")]),
        "reconstruct": (reconstruct, [x_spec]),
        "score": (score, [x_spec, tf.TensorSpec([None, None, d], tf.float32, name="eps")]),
    }
    functions = {}
    for name, (fn, inputs) in specs.items():
        # Keyword names become the signature's input names, so each function gets
        # explicit parameters rather than *args.
        functions[name] = (_named(fn, [s.name for s in inputs], conditional), inputs + label_spec)
    return functions


def _named(fn, names, conditional):
    """`fn` behind a function whose parameter names are the signature's input names."""
    if names == ["x"]:
        return (lambda x, label: fn(x, label=label)) if conditional else (lambda x: fn(x))
    if names == ["z"]:
        return (lambda z, label: fn(z, label=label)) if conditional else (lambda z: fn(z))
    if names == ["eps"]:
        return (lambda eps, label: fn(eps, label=label)) if conditional else (lambda eps: fn(eps))
    return (lambda x, eps, label: fn(x, eps, label=label)) if conditional else (lambda x, eps: fn(x, eps))


# --------------------------------------------------------------------------- metadata


def _preset_card(model, metadata):
    card = dict(getattr(model, "preset_metadata", None) or {})
    card.update(metadata or {})
    return card


def _describe_spec(spec) -> dict:
    return {"shape": [-1 if v is None else int(v) for v in spec.shape], "dtype": spec.dtype.name}


def build_metadata(model, metadata=None, signatures=None, probe=None) -> dict:
    """The JSON description of an export: everything a non-Python caller needs."""
    import keras

    import zoo

    card = _preset_card(model, metadata)
    probe = probe or _probe(model)
    preprocessing = card.get("preprocessing", model.likelihood.preprocessing)
    result = {
        "format": "zoo-export/1",
        "preset": card.get("name", model.name),
        "model_class": type(model).__name__,
        "dataset": card.get("dataset"),
        "input_shape": list(model.image_shape),
        "input": {"dtype": "float32", "layout": "NHWC", "range": [0.0, 1.0], "batch": "dynamic"},
        "preprocessing": preprocessing,
        "preprocessing_note": PREPROCESSING_NOTES.get(preprocessing, ""),
        "likelihood": model.likelihood.get_config(),
        "prior": model.prior_config,
        "prior_sampling": probe["prior_sampling"],
        "posterior": probe["posterior"],
        "latent_dim": model.latent_dim,
        "conditional": bool(model.conditional),
        "num_classes": model.num_classes if model.conditional else 0,
        "zoo_version": zoo.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "signatures": signatures or {},
        "unsupported_signatures": probe["unsupported"],
        "model_config": model.get_config(),
    }
    if probe["posterior"] == "transformed_gaussian":
        result["posterior_note"] = ("q(z|x) is a bijector applied to a diagonal Gaussian; 'encode' returns that base "
                                    "Gaussian's mean and stddev, not the moments of q(z|x)")
    if model.conditional:
        result["label_note"] = (f"int32 class index in [0, {model.num_classes}); an out-of-range index (e.g. -1) "
                                "is the all-zero one-hot row (the null label)")
    for key in ("description", "metrics", "weights_sha256", "training_command"):
        if key in card:
            result[key] = card[key]
    return result


def read_metadata(path: str) -> dict:
    """The metadata of an export: a SavedModel directory or a TFLite export directory."""
    for candidate in (os.path.join(path, "assets", METADATA_FILE), os.path.join(path, METADATA_FILE)):
        if os.path.isfile(candidate):
            with open(candidate) as f:
                return json.load(f)
    raise FileNotFoundError(f"no {METADATA_FILE} in {path} (nor in its assets/): not a zoo export")


# --------------------------------------------------------------------------- atomic directories


def _atomic_dir(path: str):
    """A temp directory beside `path`, and a commit function that renames it into place."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}-", dir=parent)

    def commit():
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}-old-", dir=parent)
            os.replace(path, os.path.join(old, "x"))
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        return path

    return tmp, commit


# --------------------------------------------------------------------------- SavedModel


def _select(requested, supported_info, allowed=SIGNATURES):
    if requested is None:
        chosen = [s for s in allowed if s not in supported_info["unsupported"]]
        for s in allowed:
            if s in supported_info["unsupported"]:
                warnings.warn(f"not exporting '{s}': {supported_info['unsupported'][s]}", stacklevel=3)
        return chosen
    requested = list(requested)
    for s in requested:
        if s not in allowed:
            raise ExportError(f"unknown signature {s!r}; choose from {list(allowed)}")
        if s in supported_info["unsupported"]:
            raise ExportError(f"signature {s!r}: {supported_info['unsupported'][s]}")
    if not requested:
        raise ExportError("no signatures to export")
    return requested


def _check_model(model):
    if not getattr(model, "built", False) or not hasattr(model, "_decode_raw"):
        raise ExportError(f"expected a built zoo model (LatentVariableModel), got {type(model).__name__}")


def export_saved_model(model, path: str, metadata: dict | None = None, signatures=None) -> str:
    """Writes `model` as a SavedModel with the signatures of this module.

    The directory appears complete or not at all: it is written to a temp dir and
    renamed into place (replacing an existing export).

    Args:
        model: a built zoo model.
        path: the SavedModel directory to write.
        metadata: extra model-card entries (e.g. ``{"name": ..., "preprocessing": ...}``);
            a preset's own card (`model.preset_metadata`) is used by default.
        signatures: names to export (default: every signature the model supports;
            the others are listed in the metadata with the reason).
    Returns:
        The absolute path written.
    Raises:
        ExportError: an unknown signature, or one the model cannot support (e.g.
            ``sample`` for a prior that is not a transform of N(0, I)).
    """
    import keras

    _check_model(model)
    probe = _probe(model)
    chosen = _select(signatures, probe)
    functions = _make_functions(model)

    archive = keras.export.ExportArchive()
    # No `archive.track(model)`: the endpoints capture the variables they use and
    # those are saved; tracking the model as well stored every weight twice (and
    # the sampling-noise state, which no signature uses).
    described = {}
    for name in chosen:
        fn, specs = functions[name]
        endpoint = archive.add_endpoint(name, fn, input_signature=specs)
        outputs = endpoint.get_concrete_function().structured_outputs
        described[name] = {
            "inputs": {s.name: _describe_spec(s) for s in specs},
            "outputs": {k: _describe_spec(v) for k, v in outputs.items()},
        }
    card = build_metadata(model, metadata, described, probe)

    tmp, commit = _atomic_dir(path)
    try:
        archive.write_out(tmp, verbose=False)
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        with open(os.path.join(tmp, "assets", METADATA_FILE), "w") as f:
            json.dump(card, f, indent=2)
        return commit()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- TFLite


def _representative_arrays(model, representative_data):
    """(x float32 [N,H,W,C], labels int32 [N] or None) from an array or (x, y)."""
    from zoo.validation import check_images

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


def _convert(saved_model_dir, signature, quantization, calibration):
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
    Returns:
        The report: for each file its size and, per output, the max and mean
        absolute error against the SavedModel; for ``decode`` the mean
        reconstruction NLL (BCE for Bernoulli) of the evaluation images at their
        posterior means, from the SavedModel and from the file, and their relative
        difference.
    """
    _check_model(model)
    quantization = [quantization] if isinstance(quantization, str) else list(quantization)
    for q in quantization:
        if q not in QUANTIZATIONS:
            raise ExportError(f"unknown quantization {q!r}; choose from {list(QUANTIZATIONS)}")
    if "int8" in quantization and representative_data is None:
        raise ExportError("int8 quantization needs representative_data (training images) to calibrate")
    probe = _probe(model)
    chosen = _select(signatures, probe, TFLITE_SIGNATURES)

    rng = np.random.default_rng(0)
    if representative_data is not None:
        x_all, y_all = _representative_arrays(model, representative_data)
    else:
        x_all = rng.random((num_evaluation, *model.image_shape), dtype=np.float32)
        y_all = rng.integers(0, model.num_classes, num_evaluation).astype(np.int32) if model.conditional else None
    n_cal = min(num_calibration, len(x_all))
    eval_rows = slice(n_cal, n_cal + num_evaluation) if len(x_all) >= n_cal + 8 else slice(0, num_evaluation)

    tmp, commit = _atomic_dir(out_dir)
    work = tempfile.mkdtemp(prefix=".zoo-export-sm-", dir=os.path.dirname(tmp))
    try:
        saved_model_dir = export_saved_model(model, os.path.join(work, "saved_model"), metadata,
                                             signatures=_with_encode(chosen, probe))
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
            if signature == "decode":
                float_nll = _reconstruction_nll(expected, x_eval)
            for q in quantization:
                filename = f"{signature}_{q}.tflite"
                flatbuffer = _convert(saved_model_dir, signature, q, _signature_inputs(signature, *calibration))
                with open(os.path.join(tmp, filename), "wb") as f:
                    f.write(flatbuffer)
                got = run_tflite(os.path.join(tmp, filename), **ref_inputs)
                entry = {
                    "signature": signature,
                    "quantization": q,
                    "bytes": len(flatbuffer),
                    "max_abs_error": {k: float(np.max(np.abs(got[k] - expected[k]))) for k in expected},
                    "mean_abs_error": {k: float(np.mean(np.abs(got[k] - expected[k]))) for k in expected},
                }
                if signature == "decode" and float_nll is not None:
                    nll = _reconstruction_nll(got, x_eval)
                    entry["reconstruction_nll"] = nll
                    entry["reconstruction_nll_float"] = float_nll
                    entry["reconstruction_nll_relative_change"] = abs(nll - float_nll) / max(abs(float_nll), 1e-12)
                report["files"][filename] = entry
                if signature not in described:
                    described[signature] = _tflite_io(os.path.join(tmp, filename))
        card = build_metadata(model, metadata, None, probe)
        card["signatures"] = described
        card["tflite"] = {
            "layout": "one .tflite file per signature and quantization, named <signature>_<quantization>.tflite; "
                      "each holds one signature with that name",
            "quantizations": quantization,
            "int8": report["int8_io"],
            "float16": "float16 weights, float32 inputs/outputs and compute",
        }
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(card, f, indent=2)
        with open(os.path.join(tmp, REPORT_FILE), "w") as f:
            json.dump(report, f, indent=2)
        commit()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _with_encode(chosen, probe):
    """The SavedModel behind the conversion also needs `encode` (latents to test `decode`)."""
    names = set(chosen)
    if "encode" not in probe["unsupported"]:
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
