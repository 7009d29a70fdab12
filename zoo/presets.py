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

import json
import os

import keras

from zoo import io, registry

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


def compress_weights(path: str) -> None:
    """Rewrites a Keras `.weights.h5` file with HDF5's byte-shuffle + gzip on every array.

    Lossless (h5py and Keras read it transparently; the arrays are bit-identical) and
    8-14% smaller on the shipped presets' float32 weights, whose exponent bytes repeat.
    Written to a temp file that replaces `path` only if it is smaller (chunk overhead
    can outweigh the gain on tiny models).
    """
    import h5py

    with io.atomic_path(path, suffix=".weights.h5") as tmp:
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
        if os.path.getsize(tmp) >= os.path.getsize(path):
            os.remove(tmp)  # keeps the original


def save_preset(model, directory: str, metadata: dict | None = None) -> str:
    """Writes `model` as a preset directory that `load(directory)` reads back.

    The model's class must be registered (`zoo.register_model`). What only training
    uses (`model.training_only_objects()`, e.g. FactorVAE's discriminator and its
    optimizer) is left out; the card says so under `not_shipped`. Written atomically
    (a temp folder, then a rename), replacing an existing preset there.

    Returns:
        The absolute directory.
    Raises:
        PresetError: the class is not registered.
    """
    try:
        variant = registry.variant_of(model)
    except ValueError as e:
        raise PresetError(str(e)) from None
    with io.atomic_dir(directory) as tmp:
        io.write_json(os.path.join(tmp, CONFIG_FILE), {
            "class_name": type(model).__name__,
            "config": model.get_config(),
        })
        weights = os.path.join(tmp, WEIGHTS_FILE)
        shipped = _inference_copy(model)
        skipped = shipped.training_only_objects()
        keras.saving.save_weights(shipped, weights, objects_to_skip=skipped)
        compress_weights(weights)
        skipped_ids = {id(v) for obj in skipped for v in getattr(obj, "variables", [])}
        parameters = sum(int(v.numpy().size) for v in shipped.weights if id(v) not in skipped_ids)
        card = dict(metadata or {})
        card.update({
            "variant": variant,
            "class_name": type(model).__name__,
            "parameters": parameters,
            **({"not_shipped": f"training-only state {list(model.training_only_state)}: fine-tuning starts it afresh"}
               if model.training_only_state else {}),
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": io.sha256(weights),
            "weights_bytes": os.path.getsize(weights),
        })
        io.write_json(os.path.join(tmp, METADATA_FILE), card)
    return os.path.abspath(directory)


def resolve(name_or_path: str) -> str:
    """The directory of a preset name or path; unknown names list close matches."""
    if os.path.isdir(name_or_path):
        return os.path.abspath(name_or_path)
    candidate = os.path.join(presets_dir(), name_or_path)
    if os.path.isdir(candidate):
        return candidate
    known = list_models()
    hint = io.did_you_mean(name_or_path, known, cutoff=0.5)
    raise PresetError(f"unknown preset {name_or_path!r} (not a name in {presets_dir()} nor a directory).{hint} "
                      f"Available: {', '.join(known) or 'none'}")


def read_json(path: str) -> dict:
    """A preset's JSON file; PresetError when it is missing or not valid JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise PresetError(f"preset file missing: {path}") from None
    except json.JSONDecodeError as e:
        raise PresetError(f"{path} is not valid JSON: {e}") from e


def read_metadata(name_or_path: str) -> dict:
    """The model card of a preset."""
    return read_json(os.path.join(resolve(name_or_path), METADATA_FILE))


def load(name_or_path: str, verify: bool = True):
    """Loads a preset by name (see `list_models()`) or directory, built and with weights.

    Raises:
        PresetError: unknown name, missing files, an unregistered class, or weights
            whose sha256 differs from the model card (corrupt or truncated file).
    """
    directory = resolve(name_or_path)
    spec = read_json(os.path.join(directory, CONFIG_FILE))
    card = read_json(os.path.join(directory, METADATA_FILE))
    try:
        cls = registry.class_named(spec.get("class_name"))
    except ValueError as e:
        raise PresetError(f"{directory}: {e}") from None
    weights = os.path.join(directory, card.get("weights_file", WEIGHTS_FILE))
    if not os.path.isfile(weights):
        raise PresetError(f"preset file missing: {weights}")
    if verify:
        expected = card.get("weights_sha256")
        if not expected:
            raise PresetError(f"{directory}/{METADATA_FILE} records no weights_sha256")
        actual = io.sha256(weights)
        if actual != expected:
            raise PresetError(f"{weights}: sha256 {actual} does not match the model card's {expected}; "
                              "the file is corrupt or truncated")
    model = cls.from_config(spec["config"])
    try:
        model.load_weights(weights, objects_to_skip=model.training_only_objects())
    except Exception as e:  # noqa: BLE001 - h5py/keras raise many kinds
        raise PresetError(f"cannot load weights from {weights}: {e}") from e
    model.preset_metadata = card
    return model
