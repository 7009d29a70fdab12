"""The VQ-VAE (zoo.models.vq_vae): its autoregressive code prior is a normalized
distribution that samples what it scores, dead codes are restarted onto the data, and
a short training on real MNIST learns codes, a prior and a bound (the IWAE bound is
the ELBO: the posterior is a point mass). Exported codes match Keras'.

Config, `.keras`, preset and SavedModel round trips: tests/models/test_registered_models.py.
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.models import VQVAE
from zoo.models.vq_vae import CodeGridDistribution, VectorQuantizer, codebook_usage
from zoo.pixelcnn import GatedPixelCNN

from conftest import fit_steps

K = 3
GRID = (2, 2)


@pytest.fixture(scope="module")
def code_prior():
    keras.utils.set_random_seed(5)
    net = GatedPixelCNN(num_outputs=K, channels=8, num_layers=2)
    codebook = tf.random.normal([K, 2], seed=6)
    return CodeGridDistribution(net, codebook, GRID), codebook


def test_the_code_prior_sums_to_one_over_every_grid(code_prior):
    prior, _ = code_prior
    grids = np.array(list(itertools.product(range(K), repeat=4)), np.int32).reshape(-1, *GRID)
    total = np.sum(np.exp(prior.log_prob_codes(grids).numpy().astype(np.float64)))
    assert abs(total - 1.0) < 1e-5, total


def test_the_code_prior_samples_what_it_scores(code_prior):
    prior, codebook = code_prior
    grids = np.array(list(itertools.product(range(K), repeat=4)), np.int32).reshape(-1, *GRID)
    p = np.exp(prior.log_prob_codes(grids).numpy())
    draws = prior.sample_codes(20_000, seed=tf.constant([1, 2])).numpy().reshape(-1, 4)
    index = np.ravel_multi_index(draws.T, (K,) * 4)
    frequency = np.bincount(index, minlength=K ** 4) / len(index)
    assert 0.5 * np.abs(frequency - p).sum() < 0.05  # total variation; ~0.02 from sampling alone
    # z is the grid of code vectors: its log_prob is the codes'.
    z = prior.sample(5, seed=tf.constant([3, 4]))
    codes = prior.codes_of(z)
    np.testing.assert_array_equal(tf.reshape(tf.gather(codebook, codes), [5, -1]).numpy(), z.numpy())
    np.testing.assert_allclose(prior.log_prob(z).numpy(), prior.log_prob_codes(codes).numpy(), rtol=1e-6)


def test_dead_codes_move_onto_batch_vectors_and_used_codes_stay():
    quantizer = VectorQuantizer(num_codes=4, code_dim=2, usage_decay=0.5, restart_below=0.5)
    quantizer.usage.assign([0.5, 0.5, 0.0, 0.0])  # codes 2 and 3 unused
    before = quantizer.codebook.numpy().copy()
    vectors = tf.constant([[10.0, 10.0], [20.0, 20.0]])
    quantizer.restart_dead_codes(tf.constant([0, 1]), vectors, tf.constant([0, 1]))
    after = quantizer.codebook.numpy()
    np.testing.assert_array_equal(after[:2], before[:2])
    for row in after[2:]:
        assert any(np.array_equal(row, v) for v in vectors.numpy()), row
    np.testing.assert_allclose(quantizer.usage.numpy(), [0.5, 0.5, 0.25, 0.25])  # 1/K for the restarted


@pytest.fixture(scope="module")
def trained(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    keras.utils.set_random_seed(0)
    model = VQVAE(latent_dim=49 * 8, widths=(16, 32), hidden_dim=32, num_codes=32, usage_decay=0.9,
                  prior={"name": "code_pixelcnn", "channels": 16, "num_layers": 4})
    before = -float(np.mean(model.elbo(xte[:300])))
    fit_steps(model, xtr, steps=256, lr=2e-3)
    return model, before


def test_training_learns_codes_a_prior_and_a_bound(trained, mnist_binary):
    model, before = trained
    _, _, xte, _ = mnist_binary
    terms = model.loss_terms(tf.constant(xte[:300]), None, training=False)
    after = -float(np.mean(terms["elbo"]))
    assert after < before - 200.0, (before, after)  # nats an image
    # Restarts keep the codebook in use: most codes serve test images.
    usage = codebook_usage(model, xte[:300])
    assert usage["used"] >= 24 and usage["perplexity"] > 12.0, usage
    # The prior learned the codes: below the uniform code cost of 49 log 32 nats.
    assert float(np.mean(terms["kl"])) < 0.8 * 49 * np.log(32)


def test_the_bound_is_the_same_for_every_k_and_matches_the_loss_terms(trained, mnist_binary):
    model, _ = trained
    x = mnist_binary[2][:20]
    elbo = model.elbo(x)
    np.testing.assert_allclose(elbo, model.loss_terms(tf.constant(x), None, training=False)["elbo"].numpy(), rtol=1e-5)
    for k in (1, 7):
        np.testing.assert_allclose(model.iwae_bound(x, k=k), elbo, rtol=1e-5)


def test_codes_vectors_and_decoding_agree(trained, mnist_binary):
    model, _ = trained
    x = mnist_binary[2][:8]
    codes = model.codes_for(tf.constant(x)).numpy()
    assert codes.shape == (8, 7, 7) and codes.min() >= 0 and codes.max() < model.num_codes
    z = model.encode(x).mean().numpy()
    vectors = model.quantizer.codebook.numpy()[codes].reshape(8, -1)
    np.testing.assert_allclose(z, vectors, atol=1e-6)
    np.testing.assert_allclose(model.decode_codes(codes).mean().numpy(), model.decode_mean(vectors).numpy(),
                               atol=1e-6)
    samples = model.sample(6, seed=3)
    assert samples.shape == (6, 28, 28, 1) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, model.sample(6, seed=3))
    drawn = model.sample_codes(6, seed=3)
    assert drawn.shape == (6, 7, 7)


def test_exported_codes_match_keras(trained, mnist_binary, tmp_path):
    model, _ = trained
    x = mnist_binary[2][:16]
    report = zoo.export.export_tflite(model, str(tmp_path / "tflite"), ["float32"], x, ["encode", "decode"])
    assert report["files"]["encode_float32.tflite"]["agreement"]["codes"] == 1.0
    got = zoo.export.run_tflite(str(tmp_path / "tflite" / "encode_float32.tflite"), x=x[:1])
    np.testing.assert_array_equal(got["codes"], model.codes_for(tf.constant(x[:1])).numpy())


@pytest.mark.parametrize("kwargs, message", [
    (dict(latent_dim=50), "multiple of the code grid"),
    (dict(latent_dim=49, beta=2.0), "beta"),
    (dict(latent_dim=49, prior="standard_normal"), "code_pixelcnn"),
    (dict(latent_dim=49, num_classes=10), "not conditional"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VQVAE(widths=(8, 16), hidden_dim=8, num_codes=4, **kwargs)


def test_the_code_prior_needs_a_model_with_codes():
    with pytest.raises(ValueError, match="code grid"):
        zoo.VAE(latent_dim=4, widths=(8, 16), hidden_dim=8, prior="code_pixelcnn")
