"""Latent-space metrics against cases with known answers."""

import numpy as np
import pytest
import tensorflow_probability as tfp

from zoo.evaluate import representations as rep

tfd = tfp.distributions


def test_active_units_count_the_dimensions_whose_mean_moves_with_x():
    rng = np.random.default_rng(0)
    means = np.concatenate([rng.normal(0, 1.0, (2000, 3)), rng.normal(0, 0.01, (2000, 5))], axis=1)
    result = rep.active_units(means)
    assert result["active_units"] == 3
    assert len(result["activity"]) == 8


def test_active_units_reject_a_single_example():
    with pytest.raises(ValueError, match="N >= 2"):
        rep.active_units(np.zeros((1, 4)))


def test_kl_per_dimension_matches_tfp():
    rng = np.random.default_rng(1)
    mu, s = rng.normal(size=(50, 4)), np.exp(rng.normal(size=(50, 4)) * 0.5)
    expected = tfd.kl_divergence(tfd.Normal(mu, s), tfd.Normal(np.float64(0.0), np.float64(1.0))).numpy().mean(axis=0)
    np.testing.assert_allclose(rep.gaussian_kl_per_dimension(mu, s), expected, rtol=1e-6)
    # A posterior equal to the prior carries no information.
    np.testing.assert_allclose(rep.gaussian_kl_per_dimension(np.zeros((3, 2)), np.ones((3, 2))), 0.0, atol=1e-12)


def test_cluster_purity_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    assert rep.cluster_purity(np.array([5, 5, 5, 7, 7, 9]), labels) == 1.0
    # Cluster 0 = {0, 0, 1} votes 0 (2 right), cluster 1 = {0, 1, 2} votes any (1 right).
    assert rep.cluster_purity(np.array([0, 0, 1, 1, 0, 1]), labels) == pytest.approx(3 / 6)


def _blobs(spread, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(5), 200)
    centres = rng.normal(0, 10, (5, 6))
    return centres[labels] + rng.normal(0, spread, (1000, 6)), labels


def test_kmeans_recovers_separated_classes_and_not_noise():
    features, labels = _blobs(0.1)
    good = rep.kmeans_scores(features, labels)
    assert good["kmeans_purity"] == 1.0 and good["kmeans_nmi"] > 0.99
    noise = rep.kmeans_scores(np.random.default_rng(2).normal(size=(1000, 6)), labels)
    assert noise["kmeans_nmi"] < 0.05 and noise["kmeans_purity"] < 0.35


def test_linear_probe_separable_versus_random_features():
    features, labels = _blobs(0.5)
    assert rep.linear_probe_accuracy(features[::2], labels[::2], features[1::2], labels[1::2]) == 1.0
    noise = np.random.default_rng(3).normal(size=(1000, 6))
    assert rep.linear_probe_accuracy(noise[::2], labels[::2], noise[1::2], labels[1::2]) < 0.35


def test_project_2d_keeps_the_direction_of_largest_variance():
    rng = np.random.default_rng(4)
    f = np.zeros((500, 5))
    f[:, 3] = rng.normal(0, 10, 500)
    f[:, 1] = rng.normal(0, 1, 500)
    p = rep.project_2d(f)
    assert p.shape == (500, 2)
    assert abs(np.corrcoef(p[:, 0], f[:, 3])[0, 1]) > 0.999
