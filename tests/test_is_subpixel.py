"""benchmarks/is_subpixel.py: the sub-pixel rewrite of the decoder's transposed
convolutions computes the Keras decoder (random and shipped weights, conditional
too), and the IS-NLL through it matches the Keras path under the same seed."""


import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import nets
from zoo.evaluate.likelihood import importance_sampled_log_likelihood

from conftest import load_benchmark

# The rewrite lives in a benchmark, not in the library: its checks run with -m slow.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("is_subpixel")


def _randomize(network, seed=0):
    """Weights of order one, so that errors are not hidden by tiny activations."""
    rng = np.random.default_rng(seed)
    for v in network.weights:
        fan_in = int(np.prod(v.shape[:-1])) if len(v.shape) > 1 else 1
        if len(v.shape) == 4:  # Conv2DTranspose [kh, kw, out, in]: 4 taps per output and input channel
            fan_in = 4 * v.shape[-1]
        shift = 0.1 if len(v.shape) == 1 else 0.0  # biases away from zero
        v.assign(rng.standard_normal(v.shape).astype("float32") * np.sqrt(2.0 / fan_in) + shift)


@pytest.mark.parametrize("image_shape, widths, channels", [
    ((28, 28, 1), (32, 64), 1),                # MNIST
    ((64, 64, 1), (32, 32, 64, 64), 1),        # dSprites
    ((32, 32, 3), (32, 64, 128), 6),           # colour, Gaussian (two parameters per channel)
])
def test_subpixel_decoder_equals_keras_decoder(bench, image_shape, widths, channels):
    decoder = nets.build_decoder(image_shape, widths, 64, 8, channels)
    _randomize(decoder)
    z = tf.random.stateless_normal([8, 8], seed=[1, 2])
    expected = decoder(z).numpy()
    got = bench.subpixel_decoder(decoder)(z).numpy()
    assert got.shape == expected.shape == (8, *image_shape[:2], channels)
    assert np.abs(expected).max() > 1  # the comparison is not between near-zeros
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)  # errors are ~1e-5 on logits of ~15
    if len(widths) == 2:  # without XLA it is the same computation too
        np.testing.assert_allclose(bench.subpixel_decoder(decoder, jit_compile=False)(z).numpy(), expected,
                                   rtol=0, atol=1e-4)


def test_subpixel_decoder_of_a_conditional_model(bench):
    model = zoo.models.CVAE(num_classes=10, latent_dim=8, widths=(16, 32), hidden_dim=64)
    _randomize(model.decoder, seed=1)
    z = tf.random.stateless_normal([12, 8], seed=[3, 4])
    y = tf.one_hot(np.arange(12) % 10, 10)
    expected = model.decoder([z, y]).numpy()
    np.testing.assert_allclose(bench.subpixel_decoder(model.decoder)(z, y).numpy(), expected, rtol=0, atol=1e-4)
    # A different label changes the output, so the condition really goes in.
    other = bench.subpixel_decoder(model.decoder)(z, tf.roll(y, 1, axis=0)).numpy()
    assert np.abs(other - expected).max() > 1e-2


def test_subpixel_decoder_follows_the_keras_weights(bench):
    decoder = nets.build_decoder((28, 28, 1), (16, 32), 32, 4, 1)
    fast = bench.subpixel_decoder(decoder)
    z = tf.random.stateless_normal([4, 4], seed=[5, 6])
    fast(z)
    _randomize(decoder, seed=2)  # after the first trace: the function reads the variables at call time
    np.testing.assert_allclose(fast(z).numpy(), decoder(z).numpy(), rtol=0, atol=1e-4)


def test_subpixel_decoder_with_the_shipped_vae_mnist_weights(bench):
    model = zoo.load("vae_mnist")
    z = tf.random.stateless_normal([64, model.latent_dim], seed=[7, 8])
    expected = model.decoder(z).numpy()
    got = bench.subpixel_decoder(model.decoder)(z).numpy()
    assert np.abs(expected).max() > 5
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_is_nll_through_the_subpixel_decoder_matches_keras(bench, mnist_binary):
    model = zoo.load("vae_mnist")
    x = mnist_binary[2][:4]
    old = importance_sampled_log_likelihood(model, x, k=100, k_chunk=50, seed=3)
    with bench.decoding_with(model, bench.subpixel_decoder(model.decoder)) as patched:
        new = importance_sampled_log_likelihood(patched, x, k=100, k_chunk=50, seed=3)
    np.testing.assert_allclose(new, old, rtol=0, atol=1e-3)
    # The model decodes with its Keras decoder again after the block.
    assert "decoder_params" not in vars(model)
    np.testing.assert_array_equal(importance_sampled_log_likelihood(model, x, k=100, k_chunk=50, seed=3), old)


def test_conditional_is_nll_matches(bench, mnist_binary):
    xtr, ytr, _, _ = mnist_binary
    model = zoo.models.CVAE(num_classes=10, latent_dim=8, widths=(16, 32), hidden_dim=64)
    _randomize(model.decoder, seed=3)
    old = importance_sampled_log_likelihood(model, xtr[:3], ytr[:3], k=60, k_chunk=30, seed=1)
    with bench.decoding_with(model, bench.subpixel_decoder(model.decoder)):
        new = importance_sampled_log_likelihood(model, xtr[:3], ytr[:3], k=60, k_chunk=30, seed=1)
    np.testing.assert_allclose(new, old, rtol=0, atol=1e-3)


def test_other_layers_are_refused(bench):
    z_in = keras.Input((4,))
    h = keras.layers.Dense(7 * 7 * 8)(z_in)
    h = keras.layers.Reshape((7, 7, 8))(h)
    out = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same")(h)
    with pytest.raises(ValueError, match="kernel 4, strides 2"):
        bench.subpixel_decoder(keras.Model(z_in, out))
    out = keras.layers.UpSampling2D(2)(h)
    with pytest.raises(ValueError, match="not one that"):
        bench.subpixel_decoder(keras.Model(z_in, out))


def test_script_times_both_decoders_and_writes_its_table(bench, tmp_path):
    out = tmp_path / "subpixel.md"
    result = bench.main(["--images", "2", "--k", "20", "--rounds", "2", "--k-chunks", "10", "--out", str(out)],
                        log=lambda msg: None)
    assert sorted(result["seconds"]) == [("keras", 10), ("subpixel", 10)]
    assert all(len(v) == 2 and all(t > 0 for t in v) for v in result["seconds"].values())
    assert result["agreement"][10]["max_abs_diff_nats"] < 1e-3
    assert "decoder_params" not in vars(result["model"])  # the Keras decoder is back after the runs
    text = out.read_text()
    assert text.startswith("# IS-NLL with a sub-pixel decoder") and "| sub-pixel 2x2 conv, XLA | 10 |" in text
    assert [p.name for p in tmp_path.iterdir()] == ["subpixel.md"]  # written whole, no temp file left
