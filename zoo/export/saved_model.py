"""SavedModel export: the model's signatures as a TensorFlow SavedModel.

Built with `keras.export.ExportArchive.add_endpoint`: a hand-written `tf.Module`
around a Keras 3 model exported fine but converted to a TFLite model that returned
garbage (see DESIGN.md), so that path is not used.
"""

from __future__ import annotations

import os

import keras

from zoo import io
from zoo.export.metadata import METADATA_FILE, build_metadata, describe_spec
from zoo.export.signatures import check_model, make_functions, select, supported


def export_saved_model(model, path: str, metadata: dict | None = None, signatures=None) -> str:
    """Writes `model` as a SavedModel with the signatures of `zoo.export.signatures`.

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
    check_model(model)
    info = supported(model)
    chosen = select(signatures, info)
    functions = make_functions(model)

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
            "inputs": {s.name: describe_spec(s) for s in specs},
            "outputs": {k: describe_spec(v) for k, v in outputs.items()},
        }
    card = build_metadata(model, metadata, described, info)

    with io.atomic_dir(path) as tmp:
        archive.write_out(tmp, verbose=False)
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        io.write_json(os.path.join(tmp, "assets", METADATA_FILE), card)
    return os.path.abspath(path)
