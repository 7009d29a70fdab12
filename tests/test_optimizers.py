"""zoo.optimizers: FusedAdam updates as Keras' Adam does."""

import keras
import numpy as np
import tensorflow as tf

from zoo.optimizers import FusedAdam


def _apply_to(optimizer, variables):
    return lambda gradients: optimizer.apply_gradients(zip(gradients, variables))


def test_fused_adam_makes_keras_adam_updates():
    """Same slots and update as Keras' Adam, with a schedule, eagerly and under XLA."""
    rng = np.random.default_rng(0)
    initial = [rng.normal(size=shape).astype("float32") for shape in [(30, 20), (20,)]]
    gradients = [[tf.constant(rng.normal(size=w.shape).astype("float32")) for w in initial] for _ in range(10)]
    results = {}
    for optimizer_class, jit in ((keras.optimizers.Adam, False), (FusedAdam, False), (FusedAdam, True)):
        variables = [keras.Variable(w) for w in initial]
        optimizer = optimizer_class(keras.optimizers.schedules.CosineDecay(1e-2, 100))
        optimizer.build(variables)
        step = tf.function(_apply_to(optimizer, variables), jit_compile=jit)
        for g in gradients:
            step(g)
        results[(optimizer_class.__name__, jit)] = [v.numpy() for v in variables]
    expected = results.pop(("Adam", False))
    assert np.abs(expected[0] - initial[0]).max() > 0.05  # the steps moved the weights
    for got in results.values():
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=0, atol=1e-5)
