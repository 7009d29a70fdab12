"""The conditional VAE (zoo.models.cvae): samples follow the label, label checks, and
label dropout. Real MNIST.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import zoo
from zoo.evaluate.classifier import predict_labels
from zoo.models import CVAE
from zoo.validation import InputError

from conftest import SMALL, fit_steps


def _digit_accuracy(model, classifier, per_digit=50):
    labels = np.repeat(np.arange(10), per_digit)
    return float((predict_labels(classifier, model.sample(len(labels), seed=0, labels=labels)) == labels).mean())


def test_cvae_samples_show_the_requested_digit(mnist_binary, classifier):
    """Fast variant: 256 steps (the slow test below trains longer for the 90 % bar)."""
    xtr, ytr, _, _ = mnist_binary
    keras.utils.set_random_seed(1)
    # A 2-d code cannot hold the class as well as the shape: the decoder must use y.
    model = CVAE(**{**SMALL, "latent_dim": 2, "hidden_dim": 128})
    fit_steps(model, xtr, ytr, steps=256)
    assert _digit_accuracy(model, classifier) >= 0.75  # chance: 0.1


@pytest.mark.slow
def test_cvae_samples_show_the_requested_digit_after_longer_training(mnist_binary, classifier):
    xtr, ytr, _, _ = mnist_binary
    keras.utils.set_random_seed(1)
    model = CVAE(**{**SMALL, "latent_dim": 2, "hidden_dim": 128})
    fit_steps(model, xtr, ytr, steps=768)
    assert _digit_accuracy(model, classifier) >= 0.9


def test_class_conditional_prior_draws_each_class_where_its_codes_are(mnist_binary, classifier):
    xtr, ytr, xte, yte = mnist_binary
    keras.utils.set_random_seed(1)
    # Eight latents can hold the class: p(z|y) learns where each class's codes are.
    model = CVAE(**{**SMALL, "hidden_dim": 128}, prior="class_conditional", label_every_stage=True, label_dropout=0.1)
    fit_steps(model, xtr, ytr, steps=256)
    assert _digit_accuracy(model, classifier) >= 0.6  # chance: 0.1
    locs = model.prior.locs.numpy()
    assert np.linalg.norm(locs[:, None] - locs[None], axis=-1)[~np.eye(10, dtype=bool)].min() > 0.05  # learned apart
    # Samples for class c are drawn from p(z|c): around that class's mean.
    for c in (0, 7):
        z = model.prior_sample(4000, seed=c, condition=model.label_condition(np.full(4000, c)))
        np.testing.assert_allclose(np.mean(z, axis=0), locs[c], atol=0.1)
    # The null label's prior is N(0, I), and the KL is against the labels' own prior.
    null = model.prior_distribution(model.null_labels(2))
    np.testing.assert_allclose(null.mean().numpy(), 0.0)
    np.testing.assert_allclose(null.stddev().numpy(), 1.0)
    condition = model.label_condition(yte[:3])
    q = model.posterior_for(tf.constant(xte[:3]), condition)
    expected = tfp.distributions.kl_divergence(q, model.prior_distribution(condition)).numpy()
    np.testing.assert_allclose(model.elbo_terms(tf.constant(xte[:3]), condition)["kl"].numpy(), expected, rtol=1e-5)


def test_class_conditional_prior_needs_a_conditional_model():
    with pytest.raises(ValueError, match="not conditional"):
        zoo.VAE(**SMALL, prior="class_conditional")


def test_cvae_bad_labels_name_the_problem(mnist_binary):
    _, _, xte, yte = mnist_binary
    model = CVAE(**SMALL)
    with pytest.raises(InputError, match=r"class indices must lie in \[0, 10\)"):
        model.sample(2, labels=[3, 10])
    with pytest.raises(InputError, match="3 labels for n=5"):
        model.sample(5, labels=[1, 2, 3])
    with pytest.raises(InputError, match="trained without label dropout"):
        model.sample(2)
    with pytest.raises(InputError, match="4 labels for a batch of 5"):
        model.elbo(xte[:5], yte[:4])
    with pytest.raises(InputError, match="this model is conditional"):
        model.encode(xte[:5])
    with pytest.raises(InputError, match="one-hot floats"):
        model.reconstruct(xte[:2], np.array([0.5, 1.5]))
    model.compile(optimizer="adam")
    with pytest.raises(InputError, match="this model is conditional"):
        model.fit(xte[:64], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="num_classes >= 2"):
        CVAE(num_classes=1, **SMALL)
    with pytest.raises(ValueError, match="label_dropout"):
        CVAE(label_dropout=1.0, **SMALL)
    # Good labels: one class for all, or one per sample; one-hot rows too.
    assert model.sample(3, seed=0, labels=7).shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(model.sample(3, seed=0, labels=[7, 7, 7]), model.sample(3, seed=0, labels=7))
    np.testing.assert_array_equal(model.sample(2, seed=0, labels=np.eye(10, dtype="float32")[[4, 4]]),
                                  model.sample(2, seed=0, labels=4))


def test_cvae_label_dropout_trains_some_examples_with_the_null_label(mnist_binary):
    xtr, ytr, _, _ = mnist_binary
    model = CVAE(label_dropout=0.5, seed=2, **SMALL)
    x, onehot = tf.constant(xtr[:64]), tf.one_hot(ytr[:64], 10)
    state = model.seed_generator.state.numpy()
    terms = model.loss_terms(x, onehot, training=True)
    # Replay the model's noise: the first draw is the keep mask, the second the z sample.
    model.seed_generator.state.assign(state)
    keep = tf.random.stateless_uniform([64, 1], seed=model.draw_seed()) >= 0.5
    assert 10 < int(tf.reduce_sum(tf.cast(keep, tf.int32))) < 54
    t = model.elbo_terms(x, onehot * tf.cast(keep, tf.float32), training=True)
    np.testing.assert_allclose(terms["elbo"].numpy(), -(t["reconstruction"] + t["kl"]).numpy(), rtol=1e-6)
    # Evaluation keeps every label; null-label sampling works without labels.
    full = model.loss_terms(x, onehot, training=False)
    assert not np.allclose(full["reconstruction"].numpy(), terms["reconstruction"].numpy())
    np.testing.assert_array_equal(model.sample(3, seed=0), model.sample(3, seed=0, labels=model.null_labels(3)))
