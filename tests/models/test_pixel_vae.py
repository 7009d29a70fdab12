"""The VAE with an autoregressive decoder (zoo.models.pixel_vae): p(x|z) is a normalized
distribution over images that samples what it scores, and a short training on real
MNIST lowers the bound while z stays in use (the IWAE bound above the ELBO).

Config, `.keras`, preset and SavedModel round trips: tests/models/test_registered_models.py.
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.distributions import get_likelihood
from zoo.models import PixelVAE
from zoo.models.pixel_vae import AutoregressiveImage
from zoo.pixelcnn import GatedPixelCNN

from conftest import fit_steps

SHAPE = (2, 3, 1)  # 64 binary images


@pytest.fixture(scope="module")
def tiny_image_distribution():
    keras.utils.set_random_seed(1)
    network = GatedPixelCNN(num_outputs=1, channels=8, num_layers=3, conditioned=True)
    conditioning = tf.random.normal([1, *SHAPE[:2], 4], seed=2)
    return AutoregressiveImage(conditioning, network, get_likelihood("bernoulli"), channels=1), network, conditioning


def test_the_decoder_distribution_sums_to_one_over_every_image(tiny_image_distribution):
    _, network, conditioning = tiny_image_distribution
    images = np.array(list(itertools.product([0.0, 1.0], repeat=6)), np.float32).reshape(-1, *SHAPE)
    batch = AutoregressiveImage(tf.repeat(conditioning, len(images), axis=0), network, get_likelihood("bernoulli"), 1)
    total = np.sum(np.exp(batch.log_prob(images).numpy().astype(np.float64)))
    assert abs(total - 1.0) < 1e-5, total


def test_the_decoder_distribution_samples_what_it_scores(tiny_image_distribution):
    _, network, conditioning = tiny_image_distribution
    images = np.array(list(itertools.product([0.0, 1.0], repeat=6)), np.float32).reshape(-1, *SHAPE)
    n = 20_000
    batch = AutoregressiveImage(tf.repeat(conditioning, n, axis=0), network, get_likelihood("bernoulli"), 1)
    drawn = batch.sample(seed=tf.constant([3, 4])).numpy().reshape(n, 6)
    index = drawn.astype(np.int64) @ (2 ** np.arange(5, -1, -1))
    frequency = np.bincount(index, minlength=64) / n
    p = np.exp(AutoregressiveImage(tf.repeat(conditioning, 64, axis=0), network, get_likelihood("bernoulli"),
                                   1).log_prob(images).numpy())
    assert 0.5 * np.abs(frequency - p).sum() < 0.05  # total variation; ~0.02 from sampling alone


@pytest.fixture(scope="module")
def trained(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    keras.utils.set_random_seed(0)
    model = PixelVAE(latent_dim=8, widths=(16, 32), hidden_dim=64, condition_channels=8, pixelcnn_channels=16,
                     pixelcnn_layers=2, free_bits=0.25)
    before = -float(np.mean(model.elbo(xte[:300])))
    fit_steps(model, xtr, steps=192, lr=2e-3)
    return model, before


def test_training_lowers_the_bound_and_keeps_z_in_use(trained, mnist_binary):
    model, before = trained
    x = mnist_binary[2][:300]
    after = -float(np.mean(model.elbo(x)))
    assert after < before - 250.0, (before, after)
    # Free bits hold the KL open: z carries information the PixelCNN does not replace.
    kl = float(np.mean(model.loss_terms(tf.constant(x), None, training=False)["kl"]))
    assert kl > 1.0, kl
    elbo = np.mean([model.elbo(x[:100], seed=s) for s in range(3)])
    assert np.mean(model.iwae_bound(x[:100], k=20)) > elbo


def test_decoding_is_a_deterministic_function_of_z(trained):
    model, _ = trained
    z = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    a, b = model.decode_mean(z).numpy(), model.decode_mean(z).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 28, 28, 1) and 0.0 <= a.min() and a.max() <= 1.0
    drawn = model.decode(z).sample(seed=tf.constant([5, 6])).numpy()
    assert set(np.unique(drawn)) <= {0.0, 1.0}
    np.testing.assert_array_equal(model.sample(2, seed=1), model.sample(2, seed=1))


def test_conditional_use_is_refused():
    with pytest.raises(ValueError, match="not conditional"):
        PixelVAE(latent_dim=4, widths=(8, 16), hidden_dim=8, num_classes=10)
