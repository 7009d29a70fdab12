"""The base mechanics (zoo.models.base), pinned on the plain VAE (zoo.models.vae) with real data.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import zoo
from zoo.validation import InputError

from conftest import SMALL, negative_elbo

tfd = tfp.distributions


def _fit(model, x, steps, batch_size=64, lr=2e-3):
    model.compile(optimizer=keras.optimizers.Adam(lr))
    epochs = max(1, steps * batch_size // len(x))
    model.fit(x, batch_size=batch_size, epochs=epochs, verbose=0)
    return model


def test_training_on_mnist_lowers_the_test_negative_elbo(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    model = zoo.VAE(**SMALL)
    before = negative_elbo(model, xte)
    _fit(model, xtr, steps=320)
    after = negative_elbo(model, xte)
    assert before > 500 and after < 200, (before, after)  # from ~543 nats to well under 200


def test_training_on_fashion_mnist_with_a_gaussian_likelihood(fashion_dequantized):
    xtr, _, xte, _ = fashion_dequantized
    model = zoo.VAE(likelihood="gaussian", **SMALL)
    before = negative_elbo(model, xte)
    _fit(model, xtr, steps=320)
    after = negative_elbo(model, xte)
    assert after < before - 500, (before, after)
    assert after < 0  # a continuous density on [0,1]^784 beats the uniform one (0 nats)


def test_metrics_reported_by_fit_and_evaluate(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    model = _fit(zoo.VAE(**SMALL), xtr[:512], steps=8)
    result = model.evaluate(xte[:256], batch_size=128, verbose=0, return_dict=True)
    assert set(result) == {"loss", "elbo", "reconstruction", "kl"}
    assert result["elbo"] == pytest.approx(-(result["reconstruction"] + result["kl"]), rel=1e-5)
    assert result["loss"] == pytest.approx(-result["elbo"], rel=1e-5)  # beta = 1, no warm-up
    assert result["kl"] > 0


def test_analytic_kl_matches_monte_carlo():
    model = zoo.VAE(**SMALL)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    q = model.encode(x)
    z = q.sample(20000, seed=tf.constant([1, 2]))
    mc = tf.reduce_mean(q.log_prob(z) - model.prior_distribution().log_prob(z), axis=0)
    analytic = tfd.kl_divergence(q, model.prior_distribution())
    np.testing.assert_allclose(mc.numpy(), analytic.numpy(), atol=0.05)


def test_kl_warmup_ramps_the_weight():
    model = zoo.VAE(beta=2.0, kl_warmup_steps=100, **SMALL)
    model.compile(optimizer="adam")
    model.schedule_step.assign(25)
    assert float(model.kl_weight()) == pytest.approx(0.5)
    model.schedule_step.assign(1000)
    assert float(model.kl_weight()) == pytest.approx(2.0)


def test_free_bits_clamps_only_small_dimensions():
    model = zoo.VAE(free_bits=0.5, **SMALL)
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")
    t = model.elbo_terms(tf.constant(x))
    clamped = model.free_bits_kl(t["posterior"], t["z"], t["kl"])
    # An untrained encoder's posterior is near the prior: every dimension is clamped.
    assert float(tf.reduce_mean(clamped)) == pytest.approx(0.5 * SMALL["latent_dim"], rel=1e-5)


def test_public_methods_shapes_and_determinism(mnist_binary):
    _, _, xte, _ = mnist_binary
    model = zoo.VAE(**SMALL)
    q = model.encode(xte[:5])
    assert q.batch_shape == [5] and q.event_shape == [8]
    p = model.decode(q.mean())
    assert p.batch_shape == [5] and p.event_shape == [28, 28, 1]
    s1, s2 = model.sample(6, seed=3), model.sample(6, seed=3)
    np.testing.assert_array_equal(s1, s2)
    assert s1.shape == (6, 28, 28, 1) and 0 <= s1.min() and s1.max() <= 1
    assert not np.array_equal(s1, model.sample(6, seed=4))
    assert model.reconstruct(xte[:3]).shape == (3, 28, 28, 1)
    assert model.elbo(xte[:3]).shape == (3,)


def test_iwae_bound_is_above_the_elbo(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    model = _fit(zoo.VAE(**SMALL), xtr[:1024], steps=32)
    elbo = np.mean([model.iwae_bound(xte[:200], k=1, seed=s).mean() for s in range(5)])
    iwae = np.mean([model.iwae_bound(xte[:200], k=50, seed=s).mean() for s in range(5)])
    assert iwae > elbo + 0.5, (elbo, iwae)


def test_training_continues_identically_from_a_keras_file(tmp_path, mnist_binary):
    """The optimizer's state and the noise state come back: the model and its reloaded
    copy take the same steps. (The round trip itself, for every variant:
    tests/models/test_registered_models.py.)"""
    xtr, _, _, _ = mnist_binary
    model = _fit(zoo.VAE(kl_warmup_steps=50, **SMALL), xtr[:512], steps=16)
    path = str(tmp_path / "vae.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    keras.utils.set_random_seed(1)
    model.fit(xtr[:256], batch_size=64, epochs=1, verbose=0, shuffle=False)
    keras.utils.set_random_seed(1)
    loaded.fit(xtr[:256], batch_size=64, epochs=1, verbose=0, shuffle=False)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 20
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


@pytest.mark.parametrize("shape", [(28, 28, 1), (64, 64, 1), (32, 32, 3)])
def test_networks_for_several_image_shapes(shape):
    widths = {28: (16, 32), 64: (16, 16, 32, 32), 32: (16, 32, 32)}[shape[0]]
    model = zoo.VAE(image_shape=shape, widths=widths, latent_dim=4, hidden_dim=32, likelihood="gaussian")
    x = np.random.default_rng(0).random((2, *shape)).astype("float32")
    assert model.reconstruct(x).shape == (2, *shape)
    assert np.all(np.isfinite(model.elbo(x)))


def test_indivisible_image_size_is_rejected():
    with pytest.raises(ValueError, match="not divisible"):
        zoo.VAE(image_shape=(28, 28, 1), widths=(16, 32, 64))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 28, 28), "float32"), "rank 4"),
        (np.zeros((2, 32, 32, 1), "float32"), "spatial size 28x28"),
        (np.zeros((2, 28, 28, 3), "float32"), "1 channel"),
        (np.zeros((2, 28, 28, 1), "uint8"), "dtype uint8"),
        (np.full((2, 28, 28, 1), 2.0, "float32"), r"\[0, 1\]"),
        (np.full((2, 28, 28, 1), np.nan, "float32"), "NaN"),
        (np.zeros((0, 28, 28, 1), "float32"), "empty"),
    ],
)
def test_bad_inputs_name_the_problem(bad, message):
    model = zoo.VAE(**SMALL)
    for method in (model.encode, model.reconstruct, model.elbo):
        with pytest.raises(InputError, match=message):
            method(bad)


def test_bad_training_batch_is_rejected_at_trace_time():
    model = zoo.VAE(**SMALL)
    model.compile(optimizer="adam")
    with pytest.raises(InputError, match="spatial size"):
        model.fit(np.zeros((8, 32, 32, 1), "float32"), epochs=1, verbose=0)


def test_decode_checks_latent_shape():
    with pytest.raises(ValueError, match=r"\[batch, 8\]"):
        zoo.VAE(**SMALL).decode(np.zeros((2, 5), "float32"))
