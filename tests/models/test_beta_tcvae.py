"""β-TCVAE (zoo.models.beta_tcvae): the KL decomposition on constructed cases with known
answers, and the model's terms on dSprites.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.models.beta_tcvae import BetaTCVAE, tc_decomposition

from conftest import SMALL, SPRITES

tfd = tfp.distributions

def _decompose(loc, scale, dataset_size, estimator, seed=0):
    loc, scale = tf.constant(loc, tf.float32), tf.constant(scale, tf.float32)
    q = tfd.MultivariateNormalDiag(loc, scale)
    p = tfd.MultivariateNormalDiag(tf.zeros(loc.shape[-1]), tf.ones(loc.shape[-1]))
    z = q.sample(seed=tf.constant([seed, 1]))
    parts = tc_decomposition(z, loc, scale, q.log_prob(z), p.log_prob(z), dataset_size, estimator)
    return {k: v.numpy() for k, v in parts.items()}, (q.log_prob(z) - p.log_prob(z)).numpy()


def test_tc_decomposition_of_a_posterior_that_ignores_x():
    # Every q(z|x) is the same factorized Gaussian: q(z) = q(z|x) is factorized, so
    # MI = TC = 0 and dimKL = KL. The stratified estimator gets exactly that; MWS
    # has its known bias: MI = log N, TC = (D - 1) log N.
    batch, dim, n = 64, 4, 1000
    loc = np.tile([[0.5, -1.0, 0.2, 2.0]], (batch, 1))
    scale = np.tile([[0.3, 1.2, 0.8, 0.5]], (batch, 1))
    mss, kl = _decompose(loc, scale, n, "mss")
    np.testing.assert_allclose(mss["mi"], 0.0, atol=1e-4)
    np.testing.assert_allclose(mss["tc"], 0.0, atol=1e-4)
    np.testing.assert_allclose(mss["dim_kl"], kl, atol=1e-4)
    mws, _ = _decompose(loc, scale, n, "mws")
    np.testing.assert_allclose(mws["mi"], math.log(n), atol=1e-4)
    np.testing.assert_allclose(mws["tc"], (dim - 1) * math.log(n), atol=1e-3)
    np.testing.assert_allclose(mws["dim_kl"], kl - dim * math.log(n), atol=1e-3)


def test_total_correlation_of_correlated_and_independent_codes():
    # 1000 posteriors with means (a, a) (correlated) or (a, b) (independent), a, b
    # uniform on [-2, 2], σ = 0.3, the whole dataset as the batch (M = N): q(z) is then
    # the exact mixture. Correlated: z1, z2 have correlation ~0.94, TC = I(z1; z2)
    # ~ -0.5 log(1 - 0.94²) ~ 1 nat. Independent: TC ~ 0.
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-2, 2, 1000), rng.uniform(-2, 2, 1000)
    scale = np.full((1000, 2), 0.3)
    correlated, _ = _decompose(np.stack([a, a], 1), scale, None, "mss")
    independent, _ = _decompose(np.stack([a, b], 1), scale, None, "mss")
    assert 0.7 < correlated["tc"].mean() < 1.4, correlated["tc"].mean()
    assert abs(independent["tc"].mean()) < 0.1, independent["tc"].mean()


def test_beta_tcvae_terms_sum_to_the_kl(sprites):
    model = BetaTCVAE(dataset_size=737280, **SPRITES)
    x = tf.constant(sprites)
    terms = model.loss_terms(x, None, training=False)
    total = (terms["mi"] + terms["tc"] + terms["dim_kl"]).numpy()
    # Per example the three terms telescope to log q(z|x) - log p(z), whose mean over
    # 512 examples is the analytic KL up to Monte Carlo error.
    kl = terms["kl"].numpy()
    assert abs(total.mean() - kl.mean()) < 4 * total.std() / math.sqrt(len(total)) + 1e-3
    assert np.all(np.isfinite(total)) and terms["mi"].shape == (512,)


def test_beta_tcvae_config_checks():
    with pytest.raises(ValueError, match="estimator"):
        BetaTCVAE(estimator="exact", **SMALL)
    with pytest.raises(ValueError, match="free_bits"):
        BetaTCVAE(free_bits=0.5, **SMALL)
