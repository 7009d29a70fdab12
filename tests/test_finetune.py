"""Fine-tuning a preset with `fit`, with and without a frozen half."""

import keras
import numpy as np
import pytest

import zoo
from zoo import presets

from conftest import SMALL, negative_elbo


@pytest.fixture()
def mnist_preset(tmp_path, mnist_binary):
    """vae_mnist when shipped, else a small VAE trained briefly on MNIST and saved as a preset."""
    if "vae_mnist" in presets.list_models():
        return "vae_mnist"
    xtr = mnist_binary[0]
    model = zoo.VAE(**SMALL)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(xtr[:2048], batch_size=64, epochs=1, verbose=0)
    return zoo.save_preset(model, str(tmp_path / "vae_small_mnist"), {"dataset": "mnist"})


def test_fit_continues_on_fashion_mnist(mnist_preset):
    x, _ = zoo.data.load_numpy("fashion_mnist", "train", "dynamic_binarize", take=1536)
    model = zoo.load(mnist_preset)
    before = negative_elbo(model, x[-512:])
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x[:1024], batch_size=64, epochs=3, verbose=0)
    after = negative_elbo(model, x[-512:])
    assert after < before - 5, (before, after)


def test_freezing_the_encoder_is_one_call(mnist_preset):
    x, _ = zoo.data.load_numpy("fashion_mnist", "train", "dynamic_binarize", take=256)
    model = zoo.load(mnist_preset)
    model.encoder.trainable = False  # the documented call; compile after it
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    enc = [w.numpy().copy() for w in model.encoder.weights]
    dec = [w.numpy().copy() for w in model.decoder.weights]
    model.fit(x, batch_size=64, epochs=1, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(enc, model.encoder.weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(dec, model.decoder.weights))
