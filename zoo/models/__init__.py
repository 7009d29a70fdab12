"""Model classes, one variant a file, and the registry that names them."""

from zoo.models.base import LatentVariableModel
from zoo.models.vae import VAE

# Variant name (as used in preset names and configs) -> class.
MODELS = {
    "vae": VAE,
}


def get_model_class(name: str):
    if name not in MODELS:
        import difflib

        close = difflib.get_close_matches(name, MODELS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model variant {name!r}; known: {sorted(MODELS)}.{hint}")
    return MODELS[name]


__all__ = ["MODELS", "LatentVariableModel", "VAE", "get_model_class"]
