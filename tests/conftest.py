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


def negative_elbo(model, x, seed=0):
    return float(-np.mean(model.elbo(x, seed=seed)))
