"""A model zoo of Variational Autoencoders for Keras 3 / TensorFlow Probability.

    import zoo
    zoo.list_models()              # shipped pretrained presets
    model = zoo.load("vae_mnist")  # a built keras.Model with weights
    images = model.sample(16, seed=0)

Attributes load on first use (PEP 562), so `import zoo` and the CLI's `--help` do
not import TensorFlow; `zoo.load`, a model class or a submodule brings it in.
"""

import importlib
import os

# Keras 3 must run on TensorFlow: the models use tensorflow_probability and tf.data.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "load": "zoo.presets",
    "list_models": "zoo.presets",
    "save_preset": "zoo.presets",
    "PresetError": "zoo.presets",
    "register_model": "zoo.registry",
    "registered_models": "zoo.registry",
    "get_model_class": "zoo.registry",
    "LatentVariableModel": "zoo.models",
    "VAE": "zoo.models",
    "AE": "zoo.models",
    "BetaVAE": "zoo.models",
    "CVAE": "zoo.models",
    "WAE": "zoo.models",
    "IWAE": "zoo.models",
    "VampVAE": "zoo.models",
    "IAFVAE": "zoo.models",
    "LadderVAE": "zoo.models",
    "BetaTCVAE": "zoo.models",
    "FactorVAE": "zoo.models",
    "DIPVAE": "zoo.models",
    "TwoStageVAE": "zoo.models",
    "VQVAE": "zoo.models",
    "PixelVAE": "zoo.models",
    "compress": "zoo.compression",
    "decompress": "zoo.compression",
}
_SUBMODULES = ("compression", "data", "distributions", "evaluate", "export", "io", "models", "nets", "pixelcnn",
               "plots", "presets", "registry", "training")

__all__ = ["__version__", *_EXPORTS, *_SUBMODULES]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"zoo.{name}")
    else:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
