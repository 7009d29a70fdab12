"""zoo.strided_conv: the decoder's last transposed convolution in matrix-product form computes
Keras' function and gradients (its own in training), loads Keras' weights, and exports."""

import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from zoo import strided_conv


def _pair(channels, filters, activation=None, size=7, batch=3, seed=0):
    """(Keras layer, ours) with the same random weights, and an input batch."""
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(batch, size, size, channels)).astype("float32"))
    keras_layer = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation=activation)
    ours = strided_conv.Conv2DTranspose(filters, 4, strides=2, padding="same", activation=activation)
    keras_layer(x), ours(x)
    weights = [rng.normal(size=w.shape).astype("float32") for w in keras_layer.get_weights()]
    keras_layer.set_weights(weights)
    ours.set_weights(weights)
    return keras_layer, ours, x


@pytest.mark.parametrize("channels,size,activation", [(32, 14, None), (5, 7, "swish"), (3, 1, None), (8, 5, None)])
def test_product_form_equals_the_keras_transposed_convolution(channels, size, activation):
    keras_layer, ours, x = _pair(channels, 1, activation, size=size)
    assert ours.uses_product_form()
    expected = keras_layer(x).numpy()
    for training in (False, True):
        got = ours(x, training=training).numpy()
        assert got.shape == expected.shape == (x.shape[0], 2 * size, 2 * size, 1)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_window_columns_hold_each_window_in_kernel_order():
    padded = np.arange(2 * 8 * 10, dtype=np.float32).reshape(2, 8, 10)  # H = 3, W = 4
    columns = strided_conv.window_columns(tf.constant(padded)).numpy().reshape(2, 3, 4, 4, 4)
    for b, m, n in np.ndindex(2, 3, 4):
        np.testing.assert_array_equal(columns[b, m, n], padded[b, 2 * m:2 * m + 4, 2 * n:2 * n + 4])


def test_each_kernel_tap_lands_where_keras_puts_it():
    """One input pixel and one nonzero kernel entry at a time: the output is that entry, at
    the one position Keras gives it (a wrong phase or offset moves it, and shows here)."""
    keras_layer, ours, _ = _pair(2, 1, size=4)
    for ki in range(4):
        for kj in range(4):
            kernel = np.zeros((4, 4, 1, 2), np.float32)
            kernel[ki, kj, 0, 1] = 1.0
            for layer in (keras_layer, ours):
                layer.set_weights([kernel, np.zeros(1, np.float32)])
            x = np.zeros((1, 4, 4, 2), np.float32)
            x[0, 1, 2, 1] = 1.0
            np.testing.assert_array_equal(ours(x, training=False).numpy(), keras_layer(x).numpy())


def test_wider_outputs_use_keras_own_call():
    assert not _pair(4, 3)[1].uses_product_form()


@pytest.mark.parametrize("channels,size", [(6, 5), (32, 14), (3, 1)])
@pytest.mark.parametrize("training", [False, True])
def test_gradients_agree_with_keras(channels, size, training):
    """Inputs' and weights' gradients: in training the layer's own product-form gradient
    (`transposed_product_for_training`), at inference autodiff through its slices."""
    keras_layer, ours, x = _pair(channels, 1, "swish", size=size)
    grads = []
    for layer, kwargs in ((keras_layer, {}), (ours, {"training": training})):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x, **kwargs)))
        grads.append(tape.gradient(loss, [x, *layer.trainable_weights]))
    for expected, got in zip(*grads):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_training_gradients_agree_under_xla():
    def grads(layer, inputs, training):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.square(layer(inputs, training=training)))
        return tape.gradient(loss, [inputs, layer.kernel])

    keras_layer, ours, x = _pair(8, 1, size=7)
    got = tf.function(lambda v: grads(ours, v, True), jit_compile=True)(x)
    for g, e in zip(got, grads(keras_layer, x, None)):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-4, atol=1e-4 * np.abs(e.numpy()).max())


def test_keras_weights_files_load_into_the_zoo_layer(tmp_path):
    """A subclass with Keras' class name: checkpoints written with the Keras layer load."""
    import keras

    keras_layer, _, x = _pair(4, 1)
    source = keras.Sequential([keras.Input(x.shape[1:]), keras_layer])
    path = str(tmp_path / "keras.weights.h5")
    source.save_weights(path)
    target = keras.Sequential([keras.Input(x.shape[1:]),
                               strided_conv.Conv2DTranspose(1, 4, strides=2, padding="same")])
    target.load_weights(path)
    for training in (False, True):
        np.testing.assert_allclose(target(x, training=training).numpy(), source(x).numpy(), rtol=1e-5, atol=1e-5)


def test_product_form_converts_to_litert_and_matches():
    import keras
    from ai_edge_litert.interpreter import Interpreter

    keras_layer, ours, x = _pair(8, 1, size=7, batch=1)
    model = keras.Sequential([keras.Input(x.shape[1:], batch_size=1), ours])
    interpreter = Interpreter(model_content=tf.lite.TFLiteConverter.from_keras_model(model).convert())
    interpreter.allocate_tensors()
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "TRANSPOSE_CONV" not in ops, ops  # the product form is what was converted
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.numpy())
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, keras_layer(x).numpy(), rtol=1e-5, atol=1e-5)
