"""The deterministic autoencoder (zoo.models.ae): no noise, no likelihood bound, and
prior samples worse than a VAE's. Real MNIST.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.evaluate.classifier import features, frechet_distance
from zoo.models import AE, VAE

from conftest import SMALL, fit_steps


def test_ae_is_deterministic_and_has_no_likelihood_bound(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    model = AE(**SMALL)
    history = fit_steps(model, xtr[:1024], steps=32)
    assert set(history.history) == {"loss", "reconstruction"}
    assert history.history["loss"] == history.history["reconstruction"]
    q = model.encode(xte[:4])
    assert q.event_shape == [8]
    np.testing.assert_array_equal(q.sample(seed=tf.constant([1, 2])).numpy(), q.mean().numpy())
    result = model.evaluate(xte[:256], batch_size=128, verbose=0, return_dict=True)
    assert result["reconstruction"] == pytest.approx(model.reconstruction_error(xte[:256]).mean(), rel=1e-5)
    for method in (model.elbo, model.iwae_bound):
        with pytest.raises(NotImplementedError, match="no density"):
            method(xte[:4])


def test_vae_prior_samples_are_closer_to_the_data_than_the_ae_ones(mnist_binary, mnist_float, classifier):
    xtr, _, _, _ = mnist_binary
    real = features(classifier, mnist_float[2][:500])
    distances = {}
    for cls in (AE, VAE):
        keras.utils.set_random_seed(0)
        model = cls(**SMALL)
        fit_steps(model, xtr, steps=256)
        distances[cls.__name__] = frechet_distance(features(classifier, model.sample(500, seed=0)), real)
    # The AE's codes are not pulled to N(0, I), so decoding N(0, I) misses the data.
    assert distances["VAE"] < 0.5 * distances["AE"], distances  # about 90 vs 280
