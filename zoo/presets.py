"""Presets: a trained model on disk, loaded by name.

A preset is a directory holding

- ``config.json``: ``{"class_name": ..., "config": {...}}``; the class must be one of
  the zoo's registered models, so loading never runs code from the directory;
- ``model.weights.h5``: the weights;
- ``metadata.json``: the model card (dataset, preprocessing, training command,
  measured metrics, ...) and the sha256 of the weights, checked at load.

Shipped presets live in ``saved_models/<variant>_<dataset>/``; `load` also takes the
path of a directory written by `save_preset`.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import shutil
import tempfile

import keras

from zoo.models import MODELS

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"


class PresetError(RuntimeError):
    """A preset is unknown, incomplete, corrupt or does not match its checksum."""


def presets_dir() -> str:
    """The shipped presets: `saved_models/` beside the package (or $ZOO_PRESETS_DIR)."""
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
    return os.environ.get("ZOO_PRESETS_DIR", default)


def list_models() -> list[str]:
    """Names of the shipped presets."""
    root = presets_dir()
    if not os.path.isdir(root):
        return []
    return sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, CONFIG_FILE)))


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def model_class_name(model) -> str:
    for name, cls in MODELS.items():
        if type(model) is cls:
            return cls.__name__
    raise PresetError(f"{type(model).__name__} is not a registered zoo model")


def _inference_copy(model):
    """An uncompiled copy of `model` with its weights and noise state.

    A compiled model's `save_weights` also writes the optimizer's slots (Adam: twice
    the weights again); a preset ships the model only.
    """
    if getattr(model, "optimizer", None) is None:
        return model
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    copy.seed_generator.state.assign(model.seed_generator.state)
    return copy


@contextlib.contextmanager
def _inference_state_only(model):
    """Hides the model's `training_only_state` (e.g. FactorVAE's discriminator and its
    optimizer, 60 MB) from Keras' weight walk, which visits a model's attributes and
    its tracked layers: the preset's weights file holds what inference needs."""
    parts = {name: model.__dict__.pop(name) for name in model.training_only_state if name in model.__dict__}
    tracked = list(model._layers)
    model._layers[:] = [layer for layer in tracked if not any(layer is part for part in parts.values())]
    try:
        yield model
    finally:
        model._layers[:] = tracked
        model.__dict__.update(parts)


def compress_weights(path: str) -> None:
    """Rewrites a Keras `.weights.h5` file with HDF5's byte-shuffle + gzip on every array.

    Lossless (h5py and Keras read it transparently; the arrays are bit-identical) and
    8-14% smaller on the shipped presets' float32 weights, whose exponent bytes repeat.
    Written to a temp file that replaces `path` only if it is smaller (chunk overhead
    can outweigh the gain on tiny models).
    """
    import h5py

    tmp = path + ".tmp.weights.h5"
    try:
        with h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
            dst.attrs.update(src.attrs)

            def copy(name, item):
                if isinstance(item, h5py.Dataset):
                    packed = {"compression": "gzip", "compression_opts": 9, "shuffle": True} if item.size > 1 else {}
                    out = dst.create_dataset(name, data=item[()], **packed)
                else:
                    out = dst.require_group(name)
                out.attrs.update(item.attrs)

            src.visititems(copy)
        if os.path.getsize(tmp) < os.path.getsize(path):
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_preset(model, directory: str, metadata: dict | None = None) -> str:
    """Writes `model` as a preset directory (atomically: a temp dir, then a rename).

    Returns the directory. An existing preset there is replaced.
    """
    directory = os.path.abspath(directory)
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".preset-", dir=parent)
    try:
        _write_json_atomic(os.path.join(tmp, CONFIG_FILE), {
            "class_name": model_class_name(model),
            "config": model.get_config(),
        })
        weights = os.path.join(tmp, WEIGHTS_FILE)
        with _inference_state_only(_inference_copy(model)) as shipped:
            shipped.save_weights(weights)
            compress_weights(weights)
            parameters = int(shipped.count_params())
        card = dict(metadata or {})
        card.update({
            "variant": next(k for k, v in MODELS.items() if type(model) is v),
            "class_name": model_class_name(model),
            "parameters": parameters,
            **({"not_shipped": f"training-only state {list(model.training_only_state)}: fine-tuning starts it afresh"}
               if model.training_only_state else {}),
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": sha256(weights),
            "weights_bytes": os.path.getsize(weights),
        })
        _write_json_atomic(os.path.join(tmp, METADATA_FILE), card)
        if os.path.isdir(directory):
            old = directory + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def resolve(name_or_path: str) -> str:
    """The directory of a preset name or path; unknown names list close matches."""
    if os.path.isdir(name_or_path):
        return os.path.abspath(name_or_path)
    candidate = os.path.join(presets_dir(), name_or_path)
    if os.path.isdir(candidate):
        return candidate
    known = list_models()
    close = difflib.get_close_matches(name_or_path, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise PresetError(f"unknown preset {name_or_path!r} (not a name in {presets_dir()} nor a directory).{hint} "
                      f"Available: {', '.join(known) or 'none'}")


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise PresetError(f"preset file missing: {path}") from None
    except json.JSONDecodeError as e:
        raise PresetError(f"{path} is not valid JSON: {e}") from e


def read_metadata(name_or_path: str) -> dict:
    """The model card of a preset."""
    return _read_json(os.path.join(resolve(name_or_path), METADATA_FILE))


def load(name_or_path: str, verify: bool = True):
    """Loads a preset by name (see `list_models()`) or directory, built and with weights.

    Raises:
        PresetError: unknown name, missing files, an unregistered class, or weights
            whose sha256 differs from the model card (corrupt or truncated file).
    """
    directory = resolve(name_or_path)
    spec = _read_json(os.path.join(directory, CONFIG_FILE))
    card = _read_json(os.path.join(directory, METADATA_FILE))
    classes = {cls.__name__: cls for cls in MODELS.values()}
    cls = classes.get(spec.get("class_name"))
    if cls is None:
        raise PresetError(f"{directory}: class {spec.get('class_name')!r} is not a zoo model "
                          f"(known: {sorted(classes)})")
    weights = os.path.join(directory, card.get("weights_file", WEIGHTS_FILE))
    if not os.path.isfile(weights):
        raise PresetError(f"preset file missing: {weights}")
    if verify:
        expected = card.get("weights_sha256")
        if not expected:
            raise PresetError(f"{directory}/{METADATA_FILE} records no weights_sha256")
        actual = sha256(weights)
        if actual != expected:
            raise PresetError(f"{weights}: sha256 {actual} does not match the model card's {expected}; "
                              "the file is corrupt or truncated")
    model = cls.from_config(spec["config"])
    try:
        with _inference_state_only(model):
            model.load_weights(weights)
    except Exception as e:  # noqa: BLE001 - h5py/keras raise many kinds
        raise PresetError(f"cannot load weights from {weights}: {e}") from e
    model.preset_metadata = card
    return model
