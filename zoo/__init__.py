"""A model zoo of Variational Autoencoders for Keras 3 / TensorFlow Probability.

    import zoo
    zoo.list_models()              # shipped pretrained presets
    model = zoo.load("vae_mnist")  # a built keras.Model with weights
    images = model.sample(16, seed=0)
"""

import os

# Keras 3 must run on TensorFlow: the models use tensorflow_probability and tf.data.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from zoo import data, distributions, export, models  # noqa: E402
from zoo.models import MODELS, VAE, LatentVariableModel  # noqa: E402
from zoo.presets import PresetError, list_models, load, save_preset  # noqa: E402

__all__ = [
    "MODELS",
    "VAE",
    "LatentVariableModel",
    "PresetError",
    "__version__",
    "data",
    "distributions",
    "export",
    "list_models",
    "load",
    "models",
    "save_preset",
]
