"""Disentanglement metrics on dSprites: a code of the true factors scores near 1, a
code that ignores the image scores at chance."""

import numpy as np
import pytest

from zoo.data import dsprites as ds
from zoo.evaluate import disentanglement as dis


@pytest.fixture(scope="module")
def ground_truth():
    return ds.DSpritesGroundTruth()


@pytest.fixture(scope="module")
def true_factors_fn():
    """Image -> its five factor classes, looked up among all 737,280 rendered images.

    An image shared by several factor combinations (orientations 0 and 2π, symmetric
    sprites: 664,576 distinct images) returns the first, so this code is exact up to
    what the pixels determine.
    """
    packed = ds.generate_packed()
    classes = ds.dsprites_factors()[1]
    index = {}
    for i, row in enumerate(packed):
        index.setdefault(hash(row.tobytes()), i)

    def representation_fn(images):
        bits = np.packbits((np.asarray(images) > 0.5).reshape(len(images), -1), axis=-1)
        return classes[[index[hash(r.tobytes())] for r in bits], 1:].astype(np.float64)

    return representation_fn


def random_code_fn(images):
    """A 10-dimensional code that ignores the image."""
    seed = int(np.asarray(images).sum()) + len(images)
    return np.random.default_rng(seed).normal(size=(len(images), 10))


def test_beta_vae_score(ground_truth, true_factors_fn):
    kw = dict(batch_size=16, num_train=300, num_eval=150)
    good = dis.beta_vae_score(ground_truth, true_factors_fn, 0, **kw)
    bad = dis.beta_vae_score(ground_truth, random_code_fn, 0, **kw)
    assert good["eval_accuracy"] > 0.95, good
    assert bad["eval_accuracy"] < 0.35, bad  # chance: 1/5


def test_factor_vae_score(ground_truth, true_factors_fn):
    kw = dict(batch_size=32, num_train=200, num_eval=100, num_variance_estimate=1000)
    good = dis.factor_vae_score(ground_truth, true_factors_fn, 0, **kw)
    bad = dis.factor_vae_score(ground_truth, random_code_fn, 0, **kw)
    assert good["eval_accuracy"] > 0.95 and good["num_active_dims"] == 5, good
    assert bad["eval_accuracy"] < 0.4, bad
    # A constant dimension is inactive and never votes.
    padded = dis.factor_vae_score(
        ground_truth, lambda x: np.hstack([true_factors_fn(x), np.zeros((len(x), 1))]), 0, **kw)
    assert padded["num_active_dims"] == 5 and padded["eval_accuracy"] > 0.95


def test_mig(ground_truth, true_factors_fn):
    good = dis.mig(ground_truth, true_factors_fn, 0, num_train=2000)
    bad = dis.mig(ground_truth, random_code_fn, 0, num_train=2000)
    # 20 bins merge some of the 40 orientations and 32 positions: ~0.85, not 1.
    assert good["discrete_mig"] > 0.75, good
    assert bad["discrete_mig"] < 0.05, bad
    # A code that copies one factor into two dimensions has no gap for that factor.
    doubled = dis.mig(ground_truth, lambda x: true_factors_fn(x)[:, [0, 0, 1, 2, 3, 4]], 0, num_train=2000)
    assert doubled["discrete_mig"] < good["discrete_mig"] - 0.15


def test_dci(ground_truth, true_factors_fn):
    kw = dict(num_train=800, num_test=400, model="random_forest")
    good = dis.dci(ground_truth, true_factors_fn, 0, **kw)
    bad = dis.dci(ground_truth, random_code_fn, 0, **kw)
    assert good["disentanglement"] > 0.85 and good["completeness"] > 0.85, good
    assert good["informativeness_test"] > 0.9, good
    assert bad["disentanglement"] < 0.1 and bad["completeness"] < 0.1, bad
    assert bad["informativeness_test"] < 0.3, bad


def test_dci_from_importance_extremes():
    assert dis.dci_from_importance(np.eye(4)) == pytest.approx((1.0, 1.0))
    assert dis.dci_from_importance(np.ones((4, 4))) == pytest.approx((0.0, 0.0), abs=1e-9)
    # One dimension informing every factor: not disentangled, but complete.
    d, c = dis.dci_from_importance(np.vstack([np.ones(3), np.zeros((2, 3))]))
    assert d == pytest.approx(0.0, abs=1e-9) and c == pytest.approx(1.0)


def test_sap(ground_truth, true_factors_fn):
    kw = dict(num_train=800, num_test=400)
    continuous = dis.sap(ground_truth, true_factors_fn, 0, continuous_factors=True, **kw)
    assert continuous["sap_score"] > 0.8, continuous
    bad = dis.sap(ground_truth, random_code_fn, 0, continuous_factors=True, **kw)
    assert bad["sap_score"] < 0.05, bad
    # Discrete factors (the default): one linear SVM on one dimension separates only
    # the end classes of a many-valued factor, so the true code scores well below 1,
    # but far above a random code.
    discrete = dis.sap(ground_truth, true_factors_fn, 0, **kw)
    bad_discrete = dis.sap(ground_truth, random_code_fn, 0, **kw)
    assert discrete["sap_score"] > bad_discrete["sap_score"] + 0.2, (discrete, bad_discrete)
    assert bad_discrete["sap_score"] < 0.05


def test_bad_representation_is_rejected(ground_truth):
    with pytest.raises(ValueError, match=r"codes \[n, d\]"):
        dis.mig(ground_truth, lambda x: np.zeros(len(x)), 0, num_train=32)
    with pytest.raises(ValueError, match="NaN"):
        dis.mig(ground_truth, lambda x: np.full((len(x), 3), np.nan), 0, num_train=32)
    with pytest.raises(ValueError, match="num_train"):
        dis.sap(ground_truth, random_code_fn, 0, num_train=0)
