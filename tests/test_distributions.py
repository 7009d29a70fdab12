"""zoo.distributions: likelihoods and priors as TFP distributions (the discretized logistic mixture, the
VampPrior's mixture)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import zoo
from zoo.distributions import LEVELS, DiagonalGaussianMixture, DiscretizedLogisticMixture, get_likelihood

tfd = tfp.distributions

LEVEL_VALUES = np.arange(256, dtype=np.float32) / LEVELS


def _random_params(channels, k=3, pixels=4, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(1, 1, pixels, k)).astype("float32")
    locs = rng.uniform(-0.2, 1.2, size=(1, 1, pixels, channels, k)).astype("float32")
    # Scales from a tenth of a level to the whole range: both tails of the bins.
    log_scales = rng.uniform(np.log(0.1 / LEVELS), 0.0, size=(1, 1, pixels, channels, k)).astype("float32")
    coeffs = np.tanh(rng.normal(size=(1, 1, pixels, 3, k))).astype("float32") if channels == 3 else None
    return logits, locs, log_scales, coeffs


def _one_pixel(params, pixel):
    logits, locs, log_scales, coeffs = params
    sl = (slice(None), slice(None), slice(pixel, pixel + 1))
    return DiscretizedLogisticMixture(logits[sl], locs[sl], log_scales[sl], None if coeffs is None else coeffs[sl])


def test_grey_probabilities_over_the_256_levels_sum_to_one():
    params = _random_params(channels=1)
    for pixel in range(4):
        dist = _one_pixel(params, pixel)
        x = LEVEL_VALUES.reshape(256, 1, 1, 1)  # every level as a batch of 1x1x1 images
        p = tf.exp(dist.log_prob(x)).numpy()
        assert p.shape == (256,) and np.all(p >= 0)
        np.testing.assert_allclose(p.sum(), 1.0, atol=1e-5)


def test_rgb_probabilities_over_all_colours_sum_to_one():
    # 256^3 colours of one pixel: the channel dependence must still normalize.
    params = _random_params(channels=3, pixels=1, seed=1)
    grid = np.stack(np.meshgrid(LEVEL_VALUES, LEVEL_VALUES, LEVEL_VALUES, indexing="ij"), -1).reshape(-1, 1, 1, 3)
    for pixel in range(1):
        dist = _one_pixel(params, pixel)
        total = sum(float(tf.reduce_sum(tf.exp(dist.log_prob(chunk))))
                    for chunk in np.array_split(grid, 16))
        np.testing.assert_allclose(total, 1.0, atol=1e-4)


def test_rgb_samples_and_mean_follow_the_channel_dependence():
    # One pixel whose G and B lean on R and G with distinct coefficients (a, b, c), inside
    # [0, 1] so that the end levels hold little mass: the exact mean over all 256^3
    # colours, the draws' mean and `mean()` agree channel by channel.
    rng = np.random.default_rng(4)
    k = 3
    logits = rng.normal(size=(1, 1, k)).astype("float32")
    locs = rng.uniform(0.35, 0.55, size=(1, 1, 3, k)).astype("float32")
    log_scales = np.full((1, 1, 3, k), np.log(0.03), "float32")
    coeffs = np.stack([np.full(k, 0.3), np.full(k, -0.25), np.full(k, 0.2)])[None, None].astype("float32")
    coeffs = coeffs + rng.uniform(-0.05, 0.05, size=coeffs.shape).astype("float32")
    dist = DiscretizedLogisticMixture(logits, locs, log_scales, coeffs)
    grid = np.stack(np.meshgrid(LEVEL_VALUES, LEVEL_VALUES, LEVEL_VALUES, indexing="ij"), -1).reshape(-1, 1, 1, 3)
    exact = sum(np.sum(tf.exp(dist.log_prob(chunk)).numpy()[:, None] * chunk.reshape(-1, 3), axis=0)
                for chunk in np.array_split(grid, 16))
    draws = dist.sample(100000, seed=tf.constant([3, 4])).numpy().reshape(-1, 3)
    np.testing.assert_allclose(draws.mean(axis=0), exact, atol=0.003)
    np.testing.assert_allclose(dist.mean().numpy().ravel(), exact, atol=0.003)


def test_three_channels_without_coefficients_are_independent_channels():
    # coeffs=None on an RGB event: no channel leans on another; draws stay on the levels.
    rng = np.random.default_rng(5)
    dist = DiscretizedLogisticMixture(rng.normal(size=(2, 2, 3)).astype("float32"),
                                      rng.uniform(0.2, 0.8, size=(2, 2, 3, 3)).astype("float32"),
                                      np.full((2, 2, 3, 3), np.log(0.05), "float32"))
    draws = dist.sample(20000, seed=tf.constant([1, 2])).numpy()
    assert draws.shape == (20000, 2, 2, 3)
    np.testing.assert_allclose(draws * 255, np.round(draws * 255), atol=1e-3)
    np.testing.assert_allclose(draws.mean(axis=0), dist.mean().numpy(), atol=0.01)


def test_tail_bins_keep_their_mass_in_float32():
    # A sharp component far from a level: the mass is tiny but exact, not log(0).
    dist = DiscretizedLogisticMixture(np.zeros((1, 1, 1), "float32"), np.full((1, 1, 1, 1), 0.1, "float32"),
                                      np.full((1, 1, 1, 1), np.log(0.5 / LEVELS), "float32"))
    far = dist.log_prob(np.full((1, 1, 1), 200 / LEVELS, "float32")).numpy()
    # The logistic's upper tail: log P(X > x - 1/510) ~ -(x - 1/510 - 0.1) / s.
    expected = -((200 - 0.5) / LEVELS - 0.1) / (0.5 / LEVELS)
    assert np.isfinite(far) and abs(far - expected) < 1.0


def test_log_prob_sums_pixels_and_bits_per_dim_agree():
    # An image's log-probability is the sum of its pixels' ones.
    params = _random_params(channels=1, pixels=4, seed=2)
    dist = DiscretizedLogisticMixture(*params[:3])
    x = np.array([0, 17, 128, 255], "float32").reshape(1, 4, 1) / LEVELS
    total = float(dist.log_prob(x)[0])
    parts = sum(float(_one_pixel(params, i).log_prob(x[:, i:i + 1])[0]) for i in range(4))
    assert total == pytest.approx(parts, abs=1e-4)
    # and bits/dim need no dequantization term for it
    assert zoo.data.bits_per_dim(-total, 4, dequantized=False) == pytest.approx(-total / 4 / np.log(2))


def test_samples_lie_on_the_grid_and_follow_the_probabilities():
    params = _random_params(channels=1, pixels=1, seed=3)
    dist = DiscretizedLogisticMixture(*params[:3])
    draws = dist.sample(20000, seed=tf.constant([1, 2])).numpy().ravel()
    np.testing.assert_array_equal(np.round(draws * LEVELS), draws * LEVELS)
    p = tf.exp(dist.log_prob(LEVEL_VALUES.reshape(256, 1, 1, 1))).numpy().ravel()
    # The mean of the draws agrees with the exact mean of the probabilities.
    assert draws.mean() == pytest.approx(float(np.sum(p * LEVEL_VALUES)), abs=0.01)


def test_likelihood_splits_decoder_outputs_for_grey_and_rgb():
    likelihood = get_likelihood({"name": "discretized_logistic_mixture", "num_components": 4})
    assert likelihood.num_params(1) == 12 and likelihood.num_params(3) == 40
    for channels in (1, 3):
        raw = tf.random.normal([2, 8, 8, likelihood.num_params(channels)], seed=0)
        dist = likelihood.distribution(raw)
        assert dist.event_shape == (8, 8, channels) and dist.batch_shape == (2,)
        mean = likelihood.mean(raw).numpy()
        assert mean.shape == (2, 8, 8, channels) and mean.min() >= 0 and mean.max() <= 1
        assert set(likelihood.parameters(raw)) == ({"logits", "locs", "scales"} | ({"coeffs"} if channels == 3
                                                                                   else set()))
    with pytest.raises(ValueError, match="grey .* or RGB"):
        likelihood.num_params(2)


def test_a_blown_up_decoder_output_keeps_the_gradient_finite():
    # cvae_cifar10's first epoch: raw log-scales of 100+ for one odd image made 1/s
    # underflow, and the NaN gradient of that flat component reached every weight
    # while the loss stayed finite. Scales are bounded above (MAX_LOG_SCALE) now.
    likelihood = get_likelihood({"name": "discretized_logistic_mixture", "num_components": 3})
    raw = tf.Variable(tf.random.normal([2, 4, 4, likelihood.num_params(3)], seed=1))
    k = 3
    raw[..., k + 3 * k:k + 6 * k].assign(tf.fill([2, 4, 4, 3 * k], 120.0))  # every log-scale far out
    x = LEVEL_VALUES[np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3))]
    with tf.GradientTape() as tape:
        log_p = likelihood.distribution(raw).log_prob(x)
    gradient = tape.gradient(log_p, raw).numpy()
    assert np.all(np.isfinite(log_p.numpy())) and np.all(np.isfinite(gradient))


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


def test_logit_bernoulli_is_tfp_bernoulli_in_value_and_gradient():
    """The likelihood's one-softplus log p(x) = x s - softplus(s) is TFP's Bernoulli log_prob,
    for binary pixels and for grey ones (whose pmf TFP extends the same way)."""
    from zoo.distributions import LogitBernoulli

    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(scale=8.0, size=(4, 6, 6, 1)).astype("float32"))
    for x in ((rng.random((4, 6, 6, 1)) < 0.3).astype("float32"), rng.random((4, 6, 6, 1)).astype("float32")):
        values, grads = [], []
        for cls in (tfd.Bernoulli, LogitBernoulli):
            with tf.GradientTape() as tape:
                tape.watch(logits)
                log_p = tfd.Independent(cls(logits=logits, dtype=tf.float32), 3).log_prob(x)
            values.append(log_p.numpy())
            grads.append(tape.gradient(log_p, logits).numpy())
        np.testing.assert_allclose(values[1], values[0], rtol=1e-5)
        np.testing.assert_allclose(grads[1], grads[0], atol=1e-5)
        np.testing.assert_allclose(grads[1], x - tf.sigmoid(logits).numpy(), atol=1e-5)
    assert isinstance(get_likelihood("bernoulli").distribution(logits).distribution, LogitBernoulli)
