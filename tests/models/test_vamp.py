"""The VAE with a VampPrior (zoo.models.vamp): the prior's density by hand and its
pseudo-inputs learned on real MNIST.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
The mixture's matmul log-density itself: tests/test_distributions.py.
"""

import keras
import numpy as np
import pytest
from scipy.special import logsumexp

from zoo.models import VAE, VampVAE

from conftest import LIKELIHOOD_VARIANTS, SMALL, gaussian_log_density, sigmoid, softplus


def test_vamp_vae_trains_on_mnist(trained_small):
    model, before, after = trained_small("vamp_vae")
    assert type(model) is VampVAE
    assert before > 500 and after < 250, (before, after)  # ~544 nats untrained, ~190 after


def test_vamp_pseudo_inputs_are_learned(trained_small):
    model, _, _ = trained_small("vamp_vae")
    keras.utils.set_random_seed(0)  # the pseudo-inputs' initialization before training
    fresh = VampVAE(seed=0, **SMALL, **LIKELIHOOD_VARIANTS["vamp_vae"])
    moved = np.abs(np.asarray(model.prior.pseudo_inputs_raw) - np.asarray(fresh.prior.pseudo_inputs_raw))
    assert moved.mean() > 1e-2, moved.mean()
    u = model.prior.pseudo_inputs().numpy()
    assert u.shape == (16, 28, 28, 1) and u.min() >= 0 and u.max() <= 1
    assert any("pseudo_inputs_raw" in v.path for v in model.trainable_variables)


def test_vamp_prior_log_prob_is_the_log_mean_of_component_densities():
    model = VampVAE(num_components=6, latent_dim=3, widths=(8, 8), hidden_dim=16)
    prior = model.prior_distribution()
    assert prior.batch_shape == [] and prior.event_shape == [3]
    u = sigmoid(np.asarray(model.prior.pseudo_inputs_raw))
    loc, raw_scale = np.split(np.asarray(model.encoder(u.astype("float32")), np.float64), 2, axis=-1)
    scale = softplus(raw_scale) + 1e-4
    z = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    by_hand = logsumexp(gaussian_log_density(z[:, None, :], loc[None], scale[None]), axis=1) - np.log(6)
    np.testing.assert_allclose(prior.log_prob(z).numpy(), by_hand, rtol=1e-5)
    # The same prior by configuration on the plain VAE.
    plain = VAE(prior={"name": "vamp", "num_components": 3}, **SMALL)
    assert [v.path for v in plain.trainable_variables if "pseudo" in v.path] == ["prior/pseudo_inputs_raw"]
    assert np.all(np.isfinite(plain.elbo(u[:2].astype("float32"))))


@pytest.mark.parametrize("make, message", [
    (lambda: VampVAE(num_components=0, **SMALL), "num_components"),
    (lambda: VampVAE(prior="standard_normal", **SMALL), "sets its own prior"),
])
def test_bad_configurations_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()
