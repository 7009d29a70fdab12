"""The β-VAE, plain and capacity-annealed (zoo.models.beta_vae). Real MNIST.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.models import VAE, BetaVAE

from conftest import SMALL, fit_steps


def test_beta_vae_with_beta_one_is_the_vae(mnist_binary):
    x = tf.constant(mnist_binary[0][:32])
    vae, beta_vae = VAE(seed=5, **SMALL), BetaVAE(beta=1.0, seed=5, **SMALL)
    beta_vae.set_weights(vae.get_weights())
    a, b = vae.loss_terms(x, None, training=True), beta_vae.loss_terms(x, None, training=True)
    assert set(a) == set(b)
    for name in a:
        np.testing.assert_allclose(a[name].numpy(), b[name].numpy(), rtol=1e-6, err_msg=name)
    # A larger beta changes the loss by (beta - 1) KL and nothing else.
    heavy = BetaVAE(beta=4.0, seed=5, **SMALL)
    heavy.set_weights(vae.get_weights())
    c = heavy.loss_terms(x, None, training=True)
    np.testing.assert_allclose(c["loss"].numpy(), (a["loss"] + 3.0 * a["kl"]).numpy(), rtol=1e-5)


def test_larger_beta_gives_a_lower_kl(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    kl = {}
    for beta in (1.0, 8.0):
        keras.utils.set_random_seed(0)
        model = BetaVAE(beta=beta, **SMALL)
        fit_steps(model, xtr[:1024], steps=64)
        kl[beta] = model.evaluate(xte, batch_size=500, verbose=0, return_dict=True)["kl"]
    assert kl[8.0] < 0.5 * kl[1.0], kl  # about 1.2 vs 4.7 nats


def test_capacity_grows_linearly_and_sets_the_loss(mnist_binary):
    model = BetaVAE(gamma=50.0, capacity_max=20.0, capacity_steps=100, seed=3, **SMALL)
    model.compile(optimizer="adam")
    for step, expected in [(0, 0.0), (25, 5.0), (50, 10.0), (100, 20.0), (400, 20.0)]:
        model.schedule_step.assign(step)
        assert float(model.capacity()) == pytest.approx(expected)
    model.schedule_step.assign(25)
    x = tf.constant(mnist_binary[0][:64])
    state = model.seed_generator.state.numpy()
    terms = model.loss_terms(x, None, training=True)
    model.seed_generator.state.assign(state)  # the same posterior sample again
    t = model.elbo_terms(x, None, training=True)
    expected = tf.reduce_mean(t["reconstruction"]) + 50.0 * abs(tf.reduce_mean(t["kl"]) - 5.0)
    assert float(tf.reduce_mean(terms["loss"])) == pytest.approx(float(expected), rel=1e-6)
    np.testing.assert_allclose(terms["elbo"].numpy(), -(t["reconstruction"] + t["kl"]).numpy(), rtol=1e-6)


def test_capacity_training_holds_the_kl_near_the_target(mnist_binary):
    xtr, _, _, _ = mnist_binary
    model = BetaVAE(gamma=20.0, capacity_max=6.0, capacity_steps=32, **SMALL)
    history = fit_steps(model, xtr[:1024], steps=64)
    # The last two epochs run at full capacity C = 6 nats; the KL of an unconstrained
    # VAE is far above it after as many steps, and at the start it is near 0.
    assert 4.0 < history.history["kl"][-1] < 8.0, history.history["kl"]


def test_beta_vae_rejects_bad_capacity_settings():
    with pytest.raises(ValueError, match="capacity_steps"):
        BetaVAE(capacity_max=10.0, capacity_steps=0, **SMALL)
    with pytest.raises(ValueError, match="capacity_max"):
        BetaVAE(capacity_max=-1.0, **SMALL)
