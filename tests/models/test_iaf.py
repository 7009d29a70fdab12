"""The VAE with an inverse autoregressive flow posterior (zoo.models.iaf): the flow's
log-density by hand, the MADE's autoregressive masks, training on real MNIST.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from zoo.models import IAFVAE
from zoo.models.base import stateless_seed
from zoo.models.iaf import MADE

from conftest import SMALL, gaussian_log_density, sigmoid, softplus


def test_iaf_vae_trains_on_mnist(trained_small):
    model, before, after = trained_small("iaf_vae")
    assert type(model) is IAFVAE
    assert before > 500 and after < 250, (before, after)  # ~544 nats untrained, ~190 after


def test_iaf_log_prob_is_base_log_prob_minus_log_dets():
    model = IAFVAE(num_flows=3, context_dim=5, made_hidden_units=(12,), latent_dim=4, widths=(8, 8), hidden_dim=16)
    # Move the gates and shifts away from their near-identity initialization.
    for made in model.flows:
        for layer in (made.shift, made.gate):
            layer.bias.assign(np.random.default_rng(1).normal(size=4))
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    loc, raw_scale, context = np.split(np.asarray(model.encoder(x)), [4, 8], axis=-1)
    scale = softplus(raw_scale) + 1e-4
    eps = (loc + scale * np.random.default_rng(2).normal(size=(3, 4))).astype("float32")
    z, log_det = eps, np.zeros(3)
    for i, made in enumerate(model.flows):
        if i > 0:
            z = z[:, ::-1]  # the reversal between steps
        shift, gate_logits = (np.asarray(a, np.float64) for a in made(tf.constant(z), tf.constant(context)))
        gate = sigmoid(gate_logits)
        z = (gate * z + (1 - gate) * shift).astype("float32")
        log_det += np.sum(np.log(gate), axis=-1)
    by_hand = gaussian_log_density(eps, loc, scale) - log_det
    q = model.encode(x)
    np.testing.assert_allclose(q.bijector.forward(eps).numpy(), z, atol=1e-5)
    np.testing.assert_allclose(q.bijector.inverse(z).numpy(), eps, atol=1e-4)
    np.testing.assert_allclose(q.log_prob(z).numpy(), by_hand, atol=2e-3)  # via the exact inverse
    # Sampling returns log q from the forward pass; it must agree with the inverse path.
    sample, log_q = q.experimental_sample_and_log_prob(7, seed=stateless_seed(3))
    np.testing.assert_allclose(log_q.numpy(), q.log_prob(tf.identity(sample) + 0.0).numpy(), atol=2e-3)


def test_made_is_autoregressive():
    made = MADE(latent_dim=5, context_dim=3, hidden_units=(16, 16))
    for layer in (made.shift, made.gate):
        layer.bias.assign(np.zeros(5))
    z = tf.constant(np.random.default_rng(0).normal(size=(1, 5)), tf.float32)
    context = tf.constant(np.random.default_rng(1).normal(size=(1, 3)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        shift, gate = made(z, context)
    for out in (shift, gate):
        jacobian = tape.jacobian(out, z).numpy()[0, :, 0, :]  # [out_i, z_j]
        assert np.all(jacobian[np.triu_indices(5)] == 0)  # output i sees only z_<i
        assert np.all(np.abs(jacobian[np.tril_indices(5, -1)]) > 0)


def test_free_bits_is_refused():
    with pytest.raises(ValueError, match="free_bits"):
        IAFVAE(free_bits=0.5, **SMALL)
