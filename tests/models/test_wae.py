"""WAE-MMD (zoo.models.wae): the kernels and the MMD estimator against a numpy double
loop, and training that pulls the codes to the prior. Real MNIST.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from zoo.models import WAE
from zoo.models.wae import imq_kernel, mmd_unbiased, rbf_kernel

from conftest import SMALL, fit_steps


def _numpy_kernel(kind, a, b, scales):
    out = np.zeros((len(a), len(b)))
    for i, j in itertools.product(range(len(a)), range(len(b))):
        d2 = float(np.sum((a[i] - b[j]) ** 2))
        for s in scales:
            c = 2.0 * a.shape[1] * s
            out[i, j] += c / (c + d2) if kind == "imq" else np.exp(-d2 / c)
    return out


@pytest.mark.parametrize("kind", ["imq", "rbf"])
def test_kernel_and_mmd_match_a_numpy_double_loop(kind):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(loc=0.5, size=(5, 3))
    scales = (0.5, 1.0, 4.0)
    kernel = {"imq": imq_kernel, "rbf": rbf_kernel}[kind]
    np.testing.assert_allclose(kernel(x, y, scales).numpy(), _numpy_kernel(kind, x, y, scales), rtol=1e-5)
    kxx, kyy, kxy = (_numpy_kernel(kind, a, b, scales) for a, b in ((x, x), (y, y), (x, y)))
    expected = (
        sum(kxx[i, j] for i in range(7) for j in range(7) if i != j) / (7 * 6)
        + sum(kyy[i, j] for i in range(5) for j in range(5) if i != j) / (5 * 4)
        - 2.0 * kxy.sum() / (7 * 5)
    )
    assert float(mmd_unbiased(x, y, kind, scales)) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_mmd_is_near_zero_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(0)
    same = float(mmd_unbiased(rng.normal(size=(400, 8)), rng.normal(size=(400, 8))))
    shifted = float(mmd_unbiased(rng.normal(size=(400, 8)), rng.normal(loc=1.0, size=(400, 8))))
    assert abs(same) < 0.02 and shifted > 0.3, (same, shifted)
    with pytest.raises(ValueError, match="unknown MMD kernel"):
        mmd_unbiased(np.zeros((2, 2)), np.zeros((2, 2)), "laplace")


def test_wae_training_pulls_the_codes_to_the_prior(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    model = WAE(**SMALL)
    prior_z = np.random.default_rng(0).standard_normal((1000, 8)).astype("float32")
    before = float(mmd_unbiased(model.encode(xte).mean(), prior_z))
    history = fit_steps(model, xtr, steps=128)
    after = float(mmd_unbiased(model.encode(xte).mean(), prior_z))
    assert after < before / 3, (before, after)
    assert set(history.history) == {"loss", "reconstruction", "mmd"}
    last = {k: v[-1] for k, v in history.history.items()}
    assert last["loss"] == pytest.approx(last["reconstruction"] + 10.0 * last["mmd"], rel=1e-4)


def test_wae_with_a_stochastic_encoder_and_rbf_kernel(mnist_binary):
    """(`fit` with these options runs in tests/models/test_registered_models.py.)"""
    xte = mnist_binary[2][:4]
    model = WAE(stochastic_encoder=True, kernel="rbf", kernel_scales=(1.0,), seed=0, **SMALL)
    q = model.encode(xte)
    assert np.all(q.stddev().numpy() > 0)
    # The penalty uses the sampled codes and the RBF kernel with the configured scale.
    state = model.seed_generator.state.numpy()
    terms = model.loss_terms(tf.constant(xte), None, training=True)
    model.seed_generator.state.assign(state)
    z = q.sample(seed=model.draw_seed())
    prior_z = model.prior_distribution().sample(4, seed=model.draw_seed())
    expected = mmd_unbiased(z, prior_z, "rbf", (1.0,))
    np.testing.assert_allclose(terms["mmd"].numpy(), np.full(4, float(expected)), rtol=1e-5)
    with pytest.raises(ValueError, match="unknown MMD kernel"):
        WAE(kernel="laplace", **SMALL)
