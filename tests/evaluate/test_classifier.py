"""The small digit classifier and the Fréchet distance that judge model samples
(zoo.evaluate.classifier). Real MNIST."""

import numpy as np
import pytest
import scipy.linalg

from zoo.evaluate.classifier import features, frechet_distance, predict_labels


def test_classifier_is_accurate_on_held_out_digits(classifier, mnist_float):
    _, _, xte, yte = mnist_float
    assert (predict_labels(classifier, xte) == yte).mean() > 0.92
    assert features(classifier, xte[:5]).shape == (5, 128)


def test_frechet_distance_matches_the_closed_form_for_an_affine_map():
    # b = 2a + 3: cov_b = 4 cov_a, (cov_a cov_b)^(1/2) = 2 cov_a, so
    # FD = ||mu_a - mu_b||² + Tr(cov_a + 4 cov_a - 4 cov_a) = ||mu_a + 3||² + Tr(cov_a).
    a = np.random.default_rng(0).normal(size=(400, 6)) @ np.random.default_rng(1).normal(size=(6, 6))
    expected = np.sum((a.mean(0) + 3.0) ** 2) + np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, 2 * a + 3) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Covariances that do not commute: against the textbook formula with scipy's sqrtm.
    b = np.random.default_rng(2).normal(size=(300, 6)) @ np.random.default_rng(3).normal(size=(6, 6)) + 1.0
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    textbook = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca) + np.trace(cb)
                - 2.0 * np.trace(np.real(scipy.linalg.sqrtm(ca @ cb))))
    assert frechet_distance(a, b) == pytest.approx(textbook, rel=1e-6)
    with pytest.raises(ValueError, match="same F"):
        frechet_distance(a, a[:, :3])
