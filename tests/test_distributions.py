"""Likelihoods and priors as TFP distributions (zoo.distributions)."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.distributions import DiagonalGaussianMixture

tfd = tfp.distributions


def test_diagonal_gaussian_mixture_matches_mixture_same_family_in_value_and_gradient():
    """The VampPrior's matmul log-density is MixtureSameFamily's, for any sample shape and
    weights, far from the components too, and so are its gradients (training uses them)."""
    rng = np.random.default_rng(0)
    loc = tf.constant(rng.normal(size=(7, 4)), tf.float32)
    scale = tf.constant(np.exp(rng.normal(size=(7, 4)) - 1), tf.float32)
    logits = tf.constant(rng.normal(size=7), tf.float32)
    z = tf.constant(rng.normal(size=(2, 3, 4)) * 3, tf.float32)

    def log_probs(cls):
        with tf.GradientTape() as tape:
            tape.watch([loc, scale, logits, z])
            mixture = cls(mixture_distribution=tfd.Categorical(logits=logits),
                          components_distribution=tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale))
            value = mixture.log_prob(z)
            total = tf.reduce_sum(value)
        return value, tape.gradient(total, [loc, scale, logits, z])

    ours, our_grads = log_probs(DiagonalGaussianMixture)
    reference, reference_grads = log_probs(tfd.MixtureSameFamily)
    assert ours.shape == (2, 3) and float(tf.reduce_min(reference)) < -50  # some points are far out
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-4)
    for a, b in zip(our_grads, reference_grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-3)
