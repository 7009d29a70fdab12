"""DIP-VAE (zoo.models.dip_vae): the penalty on constructed covariances and the model's
reported penalty on dSprites.

Config, `.keras`, preset and export round trips: tests/models/test_registered_models.py.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from zoo.models.dip_vae import DIPVAE, dip_penalty

from conftest import SMALL, SPRITES


def test_dip_penalty_is_zero_exactly_at_identity_covariance():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(256, 4))
    raw -= raw.mean(0)
    # Whiten: the batch covariance (1/B) of the means becomes exactly I.
    cov = raw.T @ raw / len(raw)
    white = raw @ np.linalg.inv(np.linalg.cholesky(cov)).T
    loc = tf.constant(white + 3.0, tf.float32)  # a shift does not matter
    small = tf.fill([256, 4], 0.1)
    assert float(dip_penalty(loc, small, "i", 10.0, 100.0)) < 1e-6
    # DIP-II adds the mean posterior variance: means with covariance 0.75 I and
    # posterior scale 0.5 make Cov_q(z) = I.
    half = tf.fill([256, 4], 0.5)
    assert float(dip_penalty(loc * math.sqrt(0.75), half, "ii", 10.0, 10.0)) < 1e-6
    # ...and DIP-I sees the means alone, so that case is penalized on the diagonal:
    expected = 100.0 * 4 * 0.25**2
    assert float(dip_penalty(loc * math.sqrt(0.75), half, "i", 10.0, 100.0)) == pytest.approx(expected, rel=1e-4)
    # Correlated means: off-diagonal penalty.
    mixed = tf.constant(white @ np.array([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]), tf.float32)
    od_only = float(dip_penalty(mixed, small, "i", 1.0, 0.0))
    assert od_only == pytest.approx(2 * 0.5**2, rel=1e-4)  # C = A^T A has C_01 = C_10 = 0.5


def test_dip_vae_reports_the_penalty_of_its_batch(sprites):
    model = DIPVAE(dip_type="ii", lambda_od=5.0, **SPRITES)
    assert model.diagonal_weight == 5.0 and DIPVAE(**SPRITES).diagonal_weight == 100.0
    model.compile(optimizer="adam")
    x = sprites[:128]
    result = model.evaluate(x, batch_size=128, verbose=0, return_dict=True)
    q = model.encode(x)
    expected = float(dip_penalty(q.mean(), q.stddev(), "ii", 5.0, 5.0))
    assert expected > 0.1 and result["dip_penalty"] == pytest.approx(expected, rel=1e-4)
    assert result["loss"] == pytest.approx(result["reconstruction"] + result["kl"] + expected, rel=1e-4)
    with pytest.raises(ValueError, match="dip_type"):
        DIPVAE(dip_type="iii", **SMALL)
