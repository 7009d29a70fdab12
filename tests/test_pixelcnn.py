"""The gated PixelCNN (zoo.pixelcnn): output ij depends on exactly the inputs before ij
in raster order (no leak of x_ij or later, no blind spot once the receptive field
covers the grid), conditioning reaches every position, and the layer round-trips
through Keras' config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.pixelcnn import GatedPixelCNN

H = W = 6


def dependence(net, inputs, condition=None):
    """[H*W, H*W] booleans: output position p (rows) depends on input position q (columns)."""
    inputs = tf.Variable(inputs)
    with tf.GradientTape() as tape:
        out = net(inputs) if condition is None else net(inputs, condition)
    jacobian = tape.jacobian(out, inputs).numpy()[0, :, :, :, 0]  # [H, W, out, H, W, in]
    return (np.abs(jacobian).sum(axis=(2, 5)) > 0).reshape(H * W, H * W)


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_each_output_sees_exactly_the_positions_before_it(kernel_size):
    # Enough layers for the receptive field to span the 6 x 6 grid.
    net = GatedPixelCNN(num_outputs=3, channels=8, num_layers=6, kernel_size=kernel_size)
    seen = dependence(net, tf.random.normal([1, H, W, 2], seed=1))
    before = np.arange(H * W)[:, None] > np.arange(H * W)[None, :]
    assert not np.any(seen & ~before), "an output depends on its own or a later position"
    assert not np.any(before & ~seen), "blind spot: an earlier position does not reach an output"


def test_a_shallow_stack_sees_a_local_window_only():
    # The causality holds at any depth; two layers of kernel 3 cannot see the far corner.
    net = GatedPixelCNN(num_outputs=2, channels=4, num_layers=2, kernel_size=3)
    seen = dependence(net, tf.random.normal([1, H, W, 2], seed=2))
    before = np.arange(H * W)[:, None] > np.arange(H * W)[None, :]
    assert not np.any(seen & ~before)
    assert not seen[H * W - 1, 0]


def test_the_conditioning_map_reaches_every_position():
    net = GatedPixelCNN(num_outputs=2, channels=4, num_layers=2, conditioned=True)
    x = tf.random.normal([1, H, W, 2], seed=3)
    a = net(x, tf.zeros([1, H, W, 3])).numpy()
    b = net(x, tf.ones([1, H, W, 3])).numpy()
    assert np.all(np.abs(a - b).sum(-1) > 0)
    with pytest.raises(ValueError, match="conditioning map"):
        net(x)


def test_config_round_trip_gives_the_same_function():
    net = GatedPixelCNN(num_outputs=5, channels=8, num_layers=3, kernel_size=5)
    x = tf.random.normal([2, H, W, 5], seed=4)
    y = net(x).numpy()
    clone = GatedPixelCNN.from_config(net.get_config())
    clone(x)
    clone.set_weights(net.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), y)
    assert keras.saving.get_registered_object("zoo>GatedPixelCNN") is GatedPixelCNN


def test_even_kernels_are_refused():
    with pytest.raises(ValueError, match="odd"):
        GatedPixelCNN(num_outputs=2, kernel_size=4)
