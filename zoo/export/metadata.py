"""The JSON description of an export: what a caller outside Python needs."""

from __future__ import annotations

import json
import os
import time

import keras
import tensorflow as tf

from zoo import __version__ as zoo_version
from zoo.export.signatures import supported

METADATA_FILE = "zoo_metadata.json"

PREPROCESSING_NOTES = {
    "dynamic_binarize": "binary images: x = 1 where a uniform draw u < pixel/255, else 0 (pixel/255 > 0.5 "
                        "is a deterministic alternative); float32 NHWC in {0, 1}",
    "binarize": "binary images: x = 1.0 where pixel/255 > 0.5, else 0.0; float32 NHWC",
    "float": "x = pixel / 255, float32 NHWC in [0, 1]",
    "dequantize": "x = (pixel + u) / 256 with u ~ U[0, 1) (pixel / 255 is a close deterministic alternative); "
                  "float32 NHWC in [0, 1]",
}


def _preset_card(model, metadata):
    card = dict(getattr(model, "preset_metadata", None) or {})
    card.update(metadata or {})
    return card


def describe_spec(spec) -> dict:
    return {"shape": [-1 if v is None else int(v) for v in spec.shape], "dtype": spec.dtype.name}


def build_metadata(model, metadata=None, signatures=None, info=None) -> dict:
    """The JSON description of an export: everything a non-Python caller needs.

    `info` is `zoo.export.signatures.supported(model)` when the caller has it.
    """
    card = _preset_card(model, metadata)
    info = info or supported(model)
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
        "prior_sampling": info["prior_sampling"],
        "posterior": info["posterior"],
        "latent_dim": model.latent_dim,
        "conditional": bool(model.conditional),
        "num_classes": model.num_classes if model.conditional else 0,
        "zoo_version": zoo_version,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "signatures": signatures or {},
        "unsupported_signatures": info["unsupported"],
        "model_config": model.get_config(),
    }
    if info["posterior"] == "transformed_gaussian":
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


