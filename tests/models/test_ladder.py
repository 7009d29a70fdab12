"""The ladder VAE (zoo.models.ladder): its importance weights against the hierarchy's
log-densities by hand, the encoder's mean path and ancestral sampling, training on
real MNIST, and its configuration checks.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from zoo.models import LadderVAE
from zoo.models.base import stateless_seed

from conftest import SMALL, bernoulli_log_prob, gaussian_log_density, sigmoid, softplus


def test_ladder_vae_trains_on_mnist(trained_small):
    model, before, after = trained_small("ladder_vae")
    assert type(model) is LadderVAE
    assert before > 500 and after < 250, (before, after)  # ~544 nats untrained, ~190 after


def test_ladder_log_importance_weights_are_the_sum_of_layer_log_densities():
    model = LadderVAE(latent_dim=3, upper_latent_dims=(2,), ladder_hidden_dim=8, widths=(4, 8), hidden_dim=16)
    x = (np.random.default_rng(0).random((2, 28, 28, 1)) > 0.5).astype("float32")
    k, seed = 4, stateless_seed(5)
    log_w = model.log_importance_weights(tf.constant(x), None, k, seed).numpy()
    layers = model._top_down_pass(tf.constant(x), None, k, seed, False)  # the same samples
    z2, z1 = layers[0]["z"].numpy(), layers[1]["z"].numpy()
    # Bottom-up terms.
    features = np.asarray(model.encoder(x), np.float64)
    d1 = features * sigmoid(features)  # swish
    loc1, raw1 = np.split(np.asarray(model.bottom_up_heads[0](d1.astype("float32")), np.float64), 2, axis=-1)
    d2 = np.asarray(model.bottom_up[0](d1.astype("float32")))
    loc2, raw2 = np.split(np.asarray(model.bottom_up_heads[1](d2), np.float64), 2, axis=-1)
    scale1, scale2 = softplus(raw1) + 1e-4, softplus(raw2) + 1e-4
    # Top-down prior of z1 given each z2 sample, and the precision-weighted posterior.
    p_loc, p_raw = np.split(np.asarray(model.top_down[0](z2.reshape(-1, 2)), np.float64).reshape(k, 2, 6), 2, -1)
    p_scale = softplus(p_raw) + 1e-4
    precision = scale1 ** -2 + p_scale ** -2
    q_loc = (loc1 * scale1 ** -2 + p_loc * p_scale ** -2) / precision
    q_scale = precision ** -0.5
    logits = np.asarray(model.decoder(z1.reshape(-1, 3))).reshape(k, 2, 28, 28, 1)
    by_hand = (
        bernoulli_log_prob(x[None], logits)
        + gaussian_log_density(z1, p_loc, p_scale) + gaussian_log_density(z2, 0.0, 1.0)
        - gaussian_log_density(z1, q_loc, q_scale) - gaussian_log_density(z2, loc2, scale2)
    )
    assert log_w.shape == (k, 2)
    np.testing.assert_allclose(log_w, by_hand, rtol=1e-5, atol=1e-3)


def test_ladder_encode_and_sample_shapes(trained_small, mnist_binary):
    model, _, _ = trained_small("ladder_vae")
    x = mnist_binary[2][:5]
    q = model.encode(x)
    assert q.batch_shape == [5] and q.event_shape == [SMALL["latent_dim"]]
    top, bottom = model.encode_layers(x)
    assert top.event_shape == [4] and np.allclose(bottom.mean(), q.mean())
    s = model.sample(6, seed=3)
    assert s.shape == (6, 28, 28, 1) and np.array_equal(s, model.sample(6, seed=3))
    assert not np.array_equal(s, model.sample(6, seed=4))


@pytest.mark.parametrize("make, message", [
    (lambda: LadderVAE(upper_latent_dims=(), **SMALL), "upper_latent_dims"),
    (lambda: LadderVAE(prior={"name": "vamp"}, **SMALL), "standard normal"),
])
def test_bad_configurations_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()
