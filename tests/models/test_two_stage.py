"""The two-stage VAE (zoo.models.two_stage): the second stage learns a trained first
stage's codes while the first stays frozen, its density is a bound (IWAE above the
ELBO), and its samples come through u. Real MNIST, the shipped vae_mnist as first stage.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import keras
import numpy as np
import pytest

import zoo
from zoo.models import TwoStageVAE

from conftest import fit_steps


@pytest.fixture(scope="module")
def first_stage():
    return zoo.load("vae_mnist")


def two_stage_from(first, **kwargs):
    model = TwoStageVAE(latent_dim=first.latent_dim, widths=first.widths, hidden_dim=first.hidden_dim,
                        second_latent_dim=16, second_hidden_dim=128, **kwargs)
    for part in ("encoder", "decoder"):
        getattr(model, part).set_weights(getattr(first, part).get_weights())
    return model


def test_second_stage_learns_the_codes_of_a_frozen_first_stage(first_stage, mnist_binary):
    xtr, _, xte, _ = mnist_binary
    keras.utils.set_random_seed(0)
    model = two_stage_from(first_stage)
    frozen = [w.copy() for w in model.encoder.get_weights() + model.decoder.get_weights()]
    before = float(np.mean(model.loss_terms(xte[:500], None, False)["second_stage"]))
    fit_steps(model, xtr, steps=192, lr=1e-3)
    after = float(np.mean(model.loss_terms(xte[:500], None, False)["second_stage"]))
    for a, b in zip(frozen, model.encoder.get_weights() + model.decoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert after < before - 5.0, (before, after)  # nats per code
    # The density: the IWAE bound lies above the ELBO; samples decode from second-stage codes.
    elbo = np.mean([model.elbo(xte[:200], seed=s) for s in range(3)])
    assert np.mean(model.iwae_bound(xte[:200], k=20)) > elbo
    samples = model.sample(16, seed=0)
    assert samples.shape == (16, 28, 28, 1) and np.all(np.isfinite(samples))
    np.testing.assert_array_equal(samples, model.sample(16, seed=0))


def test_two_stage_keeps_the_first_stage_prior_standard_normal():
    with pytest.raises(ValueError, match="N\\(0, I\\)"):
        TwoStageVAE(prior={"name": "vamp", "num_components": 4})


def test_mean_code_sampling_takes_each_codes_conditional_mean(first_stage):
    # Same seed, same u: "mean" codes are E[z|u], "draw" codes add sigma(u) * eps. So the
    # draws spread more (Var z = Var E[z|u] + E Var[z|u]) and the means repeat exactly.
    keras.utils.set_random_seed(0)
    model = two_stage_from(first_stage)
    draws = model.prior_sample(2000, seed=3).numpy()
    model.code_sampling = "mean"
    means = model.prior_sample(2000, seed=3).numpy()
    np.testing.assert_array_equal(means, model.prior_sample(2000, seed=3).numpy())
    assert np.all(draws.var(axis=0) > means.var(axis=0))
    assert model.sample(4, seed=0).shape == (4, 28, 28, 1)


def test_two_stage_refuses_an_unknown_code_sampling():
    with pytest.raises(ValueError, match="code_sampling must be one of \\('draw', 'mean'\\)"):
        TwoStageVAE(code_sampling="mode")
