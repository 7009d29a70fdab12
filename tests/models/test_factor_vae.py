"""FactorVAE (zoo.models.factor_vae): the dimension-wise shuffle, both players training
on real MNIST, fine-tuning a preset (shipped without its discriminator) and continuing
from a `.keras` file with both optimizers' state.

Config, `.keras`, preset and export round trips (including what a preset leaves out):
tests/models/test_registered_models.py.
"""

import math

import keras
import numpy as np
import tensorflow as tf

import zoo
from zoo.models.factor_vae import FactorVAE, permute_dims

from conftest import SMALL, SPRITES

SMALL_DISCRIMINATOR = dict(discriminator_units=(64, 64), discriminator_learning_rate=3e-3)


def test_permute_dims_shuffles_each_column_independently():
    z = tf.constant(np.arange(200, dtype="float32").reshape(100, 2) * [1, 1000])
    p = permute_dims(z, tf.constant([3, 4])).numpy()
    for d in range(2):  # each column is a permutation of itself...
        np.testing.assert_array_equal(np.sort(p[:, d]), z.numpy()[:, d])
    order = p[:, 1] / 1000 - 1
    assert not np.array_equal(order, p[:, 0])  # ...with its own permutation


def test_factor_vae_trains_both_players(mnist_binary):
    xtr, _, _, _ = mnist_binary
    model = FactorVAE(gamma=0.5, **SMALL_DISCRIMINATOR, **SMALL)
    disc_ids = {id(v) for v in model.discriminator.trainable_variables}
    assert disc_ids and not disc_ids & {id(v) for v in model.vae_variables}
    assert len(model.vae_variables) + len(disc_ids) == len(model.trainable_variables)
    vae_before = [v.numpy().copy() for v in model.vae_variables]
    disc_before = [v.numpy().copy() for v in model.discriminator.trainable_variables]
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(xtr[:2048], batch_size=64, epochs=5, verbose=0).history
    assert int(model.optimizer.iterations) == int(model.discriminator_optimizer.iterations) == 160
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(vae_before, model.vae_variables))
    assert all(not np.array_equal(b, v.numpy())
               for b, v in zip(disc_before, model.discriminator.trainable_variables))
    # The posterior of an MNIST VAE is not factorized: the discriminator learns to
    # tell z from its dimension-wise shuffle, and its TC estimate turns positive.
    accuracy = history["discriminator_accuracy"]
    assert accuracy[0] < 0.56 and accuracy[-1] > 0.6, accuracy
    assert history["discriminator_loss"][-1] < math.log(2) - 0.02
    assert history["tc"][-1] > 0.1


def test_a_factor_vae_preset_fine_tunes_with_a_fresh_discriminator(tmp_path, mnist_binary):
    xtr, _, _, _ = mnist_binary
    model = FactorVAE(gamma=0.5, **SMALL_DISCRIMINATOR, **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(xtr[:256], batch_size=64, epochs=1, verbose=0)
    path = zoo.save_preset(model, str(tmp_path / "factor"), {"dataset": "mnist"})
    # Saving leaves the model itself untouched.
    assert model.discriminator in model.layers and "discriminator" in model.__dict__
    loaded = zoo.load(path)
    # Fine-tuning starts a fresh discriminator and trains both players.
    before = [v.numpy().copy() for v in loaded.discriminator.trainable_variables]
    loaded.compile(optimizer=keras.optimizers.Adam(1e-3))
    loaded.fit(xtr[:128], batch_size=64, epochs=1, verbose=0)
    assert int(loaded.discriminator_optimizer.iterations) == 2
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, loaded.discriminator.trainable_variables))


def test_training_continues_identically_from_a_keras_file(sprites, tmp_path):
    """Both optimizers' state comes back: the model and its reloaded copy take the same steps."""
    model = FactorVAE(gamma=6.0, **SMALL_DISCRIMINATOR, **SPRITES)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(sprites[:256], batch_size=64, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert int(loaded.discriminator_optimizer.iterations) == int(model.discriminator_optimizer.iterations) == 4
    saved_discriminator = model.discriminator.weights[0].numpy().copy()
    for m in (model, loaded):
        keras.utils.set_random_seed(1)
        m.fit(sprites[256:384], batch_size=64, epochs=1, verbose=0, shuffle=False)
    assert int(loaded.discriminator_optimizer.iterations) == int(loaded.optimizer.iterations) == 6
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    # The continuation moved the discriminator (the comparison above is not of two frozen copies).
    assert not np.array_equal(model.discriminator.weights[0].numpy(), saved_discriminator)
