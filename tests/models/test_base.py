"""zoo.models.base: the training step's batch slices (`compile(batch_slices=n)`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo


def _ae(batch_slices):
    keras.utils.set_random_seed(0)
    model = zoo.models.AE(latent_dim=8, widths=(16, 32), hidden_dim=64)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False, batch_slices=batch_slices)
    return model


@pytest.mark.parametrize("batch_slices", [2, 3, 4])
def test_slices_give_the_whole_batch_terms_and_gradient(mnist_binary, batch_slices):
    """A deterministic loss (the autoencoder's) in slices: the same per-example terms and
    the same gradient as the whole batch, on a batch of 7 that no slice count divides
    (zero images complete it; their terms are dropped)."""
    x = tf.constant(mnist_binary[0][:7])
    results = []
    for slices in (1, batch_slices):
        model = _ae(slices)
        with tf.GradientTape() as tape:
            terms = model.sliced_loss_terms(x, None, training=True)
            loss = model.scaled_loss(terms["loss"])
        results.append((terms["loss"].numpy(), [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]))
    (whole, whole_grads), (sliced, sliced_grads) = results
    assert sliced.shape == (7,)
    np.testing.assert_allclose(sliced, whole, rtol=1e-5)
    for a, b in zip(whole_grads, sliced_grads):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


def test_slices_survive_a_keras_file(mnist_binary, tmp_path):
    model = _ae(2)
    model.fit(mnist_binary[0][:64], batch_size=32, epochs=1, verbose=0)
    path = str(tmp_path / "ae.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.batch_slices == 2 and loaded.optimizer.iterations.numpy() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_a_bad_slice_count_is_named(bad):
    with pytest.raises(ValueError, match="batch_slices must be a positive int"):
        zoo.models.AE(latent_dim=4, widths=(8,), hidden_dim=16).compile(optimizer="adam", batch_slices=bad)


def test_free_bits_make_the_loss_a_batch_quantity():
    """Free bits clamp the batch-mean KL per dimension: slices would change the loss."""
    assert zoo.models.VAE.loss_is_per_example({"free_bits": 0.0})
    assert not zoo.models.VAE.loss_is_per_example({"free_bits": 0.1})
    model = zoo.models.VAE(latent_dim=4, widths=(8,), hidden_dim=16, free_bits=0.1)
    with pytest.raises(ValueError, match="not a mean of per-example losses"):
        model.compile(optimizer="adam", batch_slices=2)
