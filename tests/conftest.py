"""Shared fixtures: real data slices and small model configurations.

The tests read the real MNIST / Fashion-MNIST files. $ZOO_DATA_DIR wins; otherwise
the workplace's ../shared/datasets is used when it exists.
"""

import importlib.util
import os

import numpy as np
import pytest

_SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
if not os.environ.get("ZOO_DATA_DIR") and os.path.isdir(_SHARED):
    os.environ["ZOO_DATA_DIR"] = _SHARED

import keras  # noqa: E402

import zoo  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_benchmark(name: str):
    """benchmarks/<name>.py imported as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Small networks so that a few hundred steps take seconds on 2 cores.
SMALL = dict(latent_dim=8, widths=(16, 32), hidden_dim=64)
# The same for 64x64 dSprites images.
SPRITES = dict(image_shape=(64, 64, 1), latent_dim=6, widths=(8, 8, 16, 16), hidden_dim=32)
# The shared CIFAR-10 JPEG folder (../shared/datasets, found through $ZOO_DATA_DIR): the
# CIFAR-10 tests are skipped where it is absent.
CIFAR10_FOLDER = os.path.join(os.environ.get("ZOO_DATA_DIR", "").split(os.pathsep)[0], "cifar10-jpeg")
needs_cifar10 = pytest.mark.skipif(not os.path.isdir(CIFAR10_FOLDER), reason="no cifar10-jpeg folder in $ZOO_DATA_DIR")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture(scope="session")
def mnist_binary():
    """(x_train, y_train, x_test, y_test): 4096 / 1000 dynamically binarized MNIST images."""
    xtr, ytr = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=4096)
    xte, yte = zoo.data.load_numpy("mnist", "test", "dynamic_binarize", take=1000)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="session")
def fashion_dequantized():
    xtr, ytr = zoo.data.load_numpy("fashion_mnist", "train", "dequantize", take=4096)
    xte, yte = zoo.data.load_numpy("fashion_mnist", "test", "dequantize", take=1000)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="session")
def mnist_float():
    """Grey-level MNIST: what the sample classifier learns from and the reference for
    Fréchet distances (model samples are E[x|z], grey levels too)."""
    xtr, ytr = zoo.data.load_numpy("mnist", "train", "float", take=4096)
    xte, yte = zoo.data.load_numpy("mnist", "test", "float", take=1000)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="session")
def classifier(mnist_float):
    """A small MNIST digit classifier (zoo.evaluate.classifier) that judges samples."""
    from zoo.evaluate.classifier import train_classifier

    xtr, ytr, _, _ = mnist_float
    return train_classifier(xtr, ytr, epochs=5, seed=0)


@pytest.fixture(scope="session")
def sprites():
    """512 random dSprites images, float32 in {0, 1}."""
    from zoo.data import dsprites

    classes = dsprites.dsprites_factors()[1]
    rows = np.random.default_rng(0).choice(dsprites.NUM_IMAGES, 512, replace=False)
    return (dsprites.render(classes[rows]) / 255.0).astype("float32")


# The likelihood-path variants, trained once per session on an MNIST slice and shared
# by their own test files and the likelihood evaluator's (tests/evaluate/test_likelihood.py).
LIKELIHOOD_VARIANTS = {
    "iwae": dict(num_samples=3),
    "vamp_vae": dict(num_components=16),
    "iaf_vae": dict(num_flows=2, context_dim=16, made_hidden_units=(64,)),
    "ladder_vae": dict(upper_latent_dims=(4,), ladder_hidden_dim=64),
}
LIKELIHOOD_TRAIN_STEPS = 96


@pytest.fixture(scope="session")
def trained_small(mnist_binary):
    """trained_small(variant) -> (model, test -ELBO before, after): a SMALL model of a
    LIKELIHOOD_VARIANTS variant trained for LIKELIHOOD_TRAIN_STEPS steps, once per session."""
    cache = {}

    def get(name):
        if name not in cache:
            xtr, _, xte, _ = mnist_binary
            keras.utils.set_random_seed(0)
            model = zoo.get_model_class(name)(seed=0, **SMALL, **LIKELIHOOD_VARIANTS[name])
            before = negative_elbo(model, xte)
            model.compile(optimizer=keras.optimizers.Adam(2e-3))
            model.fit(xtr[:LIKELIHOOD_TRAIN_STEPS * 64 // 3], batch_size=64, epochs=3, verbose=0)
            cache[name] = (model, before, negative_elbo(model, xte))
        return cache[name]

    return get


def fit_steps(model, x, y=None, steps=64, batch_size=64, lr=2e-3):
    """Compiles with Adam(lr) and fits about `steps` steps (whole epochs); returns the history."""
    model.compile(optimizer=keras.optimizers.Adam(lr))
    epochs = max(1, steps * batch_size // len(x))
    args = (x,) if y is None else (x, y)
    return model.fit(*args, batch_size=batch_size, epochs=epochs, verbose=0)


def negative_elbo(model, x, seed=0):
    return float(-np.mean(model.elbo(x, seed=seed)))


# Densities by hand, in float64 numpy: the references the models' log-densities are checked against.


def gaussian_log_density(z, loc, scale):
    """Sum over the last axis of log N(z; loc, scale)."""
    z, loc, scale = (np.asarray(a, np.float64) for a in (z, loc, scale))
    return np.sum(-0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi), axis=-1)


def softplus(a):
    return np.logaddexp(0.0, np.asarray(a, np.float64))


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-np.asarray(a, np.float64)))


def bernoulli_log_prob(x, logits):
    """Sum over pixels of log Bernoulli(x; logits): x * logits - softplus(logits)."""
    x, logits = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    return np.sum(x * logits - softplus(logits), axis=(-3, -2, -1))
