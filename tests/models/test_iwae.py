"""The importance weighted autoencoder (zoo.models.iwae): its bound and metrics on a
model trained on real MNIST, and its configuration checks.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from zoo.models import IWAE

from conftest import SMALL


def test_iwae_trains_on_mnist(trained_small):
    model, before, after = trained_small("iwae")
    assert type(model) is IWAE
    assert before > 500 and after < 250, (before, after)  # ~544 nats untrained, ~190 after


def test_iwae_bound_rises_with_k_on_a_trained_model(trained_small, mnist_binary):
    model, _, _ = trained_small("iwae")
    x = mnist_binary[2][:100]
    bounds = {k: np.mean([model.iwae_bound(x, k=k, seed=s).mean() for s in range(3)]) for k in (1, 5, 50)}
    assert bounds[5] > bounds[1] + 1.0 and bounds[50] > bounds[5] + 0.5, bounds


def test_iwae_metrics_and_loss(trained_small, mnist_binary):
    model, _, _ = trained_small("iwae")
    x = tf.constant(mnist_binary[2][:64])
    terms = {k: v.numpy() for k, v in model.loss_terms(x, None, training=False).items()}
    assert set(terms) == set(IWAE.metric_names)
    np.testing.assert_allclose(terms["loss"], -terms["iwae_bound"], rtol=1e-6)  # beta = 1
    np.testing.assert_allclose(terms["elbo"], -(terms["reconstruction"] + terms["kl"]), rtol=1e-5)
    # log-mean-exp >= mean (Jensen), per example, and strictly on average after training.
    assert np.all(terms["iwae_bound"] >= terms["elbo"] - 1e-3)
    assert terms["iwae_bound"].mean() > terms["elbo"].mean() + 1.0
    result = model.evaluate(mnist_binary[2][:256], batch_size=128, verbose=0, return_dict=True)
    assert set(result) == set(IWAE.metric_names) and result["iwae_bound"] > result["elbo"]


@pytest.mark.parametrize("make, message", [
    (lambda: IWAE(num_samples=0, **SMALL), "num_samples"),
    (lambda: IWAE(free_bits=0.5, **SMALL), "free_bits"),
])
def test_bad_configurations_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()
