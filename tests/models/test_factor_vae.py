"""β-TCVAE, FactorVAE and DIP-VAE: their objectives on constructed cases with known
answers, training on real data, and exact `.keras` round trips."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import zoo
from zoo.data import dsprites as ds
from zoo.models.beta_tcvae import BetaTCVAE, tc_decomposition
from zoo.models.dip_vae import DIPVAE, dip_penalty
from zoo.models.factor_vae import FactorVAE, permute_dims

from conftest import SMALL

tfd = tfp.distributions

SPRITES = dict(image_shape=(64, 64, 1), latent_dim=6, widths=(8, 8, 16, 16), hidden_dim=32)
SMALL_DISCRIMINATOR = dict(discriminator_units=(64, 64), discriminator_learning_rate=3e-3)


@pytest.fixture(scope="module")
def sprites():
    """512 random dSprites images, float32 in {0, 1}."""
    classes = ds.dsprites_factors()[1]
    rows = np.random.default_rng(0).choice(ds.NUM_IMAGES, 512, replace=False)
    return (ds.render(classes[rows]) / 255.0).astype("float32")


def _decompose(loc, scale, dataset_size, estimator, seed=0):
    loc, scale = tf.constant(loc, tf.float32), tf.constant(scale, tf.float32)
    q = tfd.MultivariateNormalDiag(loc, scale)
    p = tfd.MultivariateNormalDiag(tf.zeros(loc.shape[-1]), tf.ones(loc.shape[-1]))
    z = q.sample(seed=tf.constant([seed, 1]))
    parts = tc_decomposition(z, loc, scale, q.log_prob(z), p.log_prob(z), dataset_size, estimator)
    return {k: v.numpy() for k, v in parts.items()}, (q.log_prob(z) - p.log_prob(z)).numpy()


# --------------------------------------------------------------------------- β-TCVAE


def test_tc_decomposition_of_a_posterior_that_ignores_x():
    # Every q(z|x) is the same factorized Gaussian: q(z) = q(z|x) is factorized, so
    # MI = TC = 0 and dimKL = KL. The stratified estimator gets exactly that; MWS
    # has its known bias: MI = log N, TC = (D - 1) log N.
    batch, dim, n = 64, 4, 1000
    loc = np.tile([[0.5, -1.0, 0.2, 2.0]], (batch, 1))
    scale = np.tile([[0.3, 1.2, 0.8, 0.5]], (batch, 1))
    mss, kl = _decompose(loc, scale, n, "mss")
    np.testing.assert_allclose(mss["mi"], 0.0, atol=1e-4)
    np.testing.assert_allclose(mss["tc"], 0.0, atol=1e-4)
    np.testing.assert_allclose(mss["dim_kl"], kl, atol=1e-4)
    mws, _ = _decompose(loc, scale, n, "mws")
    np.testing.assert_allclose(mws["mi"], math.log(n), atol=1e-4)
    np.testing.assert_allclose(mws["tc"], (dim - 1) * math.log(n), atol=1e-3)
    np.testing.assert_allclose(mws["dim_kl"], kl - dim * math.log(n), atol=1e-3)


def test_total_correlation_of_correlated_and_independent_codes():
    # 1000 posteriors with means (a, a) (correlated) or (a, b) (independent), a, b
    # uniform on [-2, 2], σ = 0.3, the whole dataset as the batch (M = N): q(z) is then
    # the exact mixture. Correlated: z1, z2 have correlation ~0.94, TC = I(z1; z2)
    # ~ -0.5 log(1 - 0.94²) ~ 1 nat. Independent: TC ~ 0.
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-2, 2, 1000), rng.uniform(-2, 2, 1000)
    scale = np.full((1000, 2), 0.3)
    correlated, _ = _decompose(np.stack([a, a], 1), scale, None, "mss")
    independent, _ = _decompose(np.stack([a, b], 1), scale, None, "mss")
    assert 0.7 < correlated["tc"].mean() < 1.4, correlated["tc"].mean()
    assert abs(independent["tc"].mean()) < 0.1, independent["tc"].mean()


def test_beta_tcvae_terms_sum_to_the_kl(sprites):
    model = BetaTCVAE(dataset_size=737280, **SPRITES)
    x = tf.constant(sprites)
    terms = model.loss_terms(x, None, training=False)
    total = (terms["mi"] + terms["tc"] + terms["dim_kl"]).numpy()
    # Per example the three terms telescope to log q(z|x) - log p(z), whose mean over
    # 512 examples is the analytic KL up to Monte Carlo error.
    kl = terms["kl"].numpy()
    assert abs(total.mean() - kl.mean()) < 4 * total.std() / math.sqrt(len(total)) + 1e-3
    assert np.all(np.isfinite(total)) and terms["mi"].shape == (512,)


def test_beta_tcvae_config_checks():
    with pytest.raises(ValueError, match="estimator"):
        BetaTCVAE(estimator="exact", **SMALL)
    with pytest.raises(ValueError, match="free_bits"):
        BetaTCVAE(free_bits=0.5, **SMALL)


# --------------------------------------------------------------------------- FactorVAE


def test_permute_dims_shuffles_each_column_independently():
    z = tf.constant(np.arange(200, dtype="float32").reshape(100, 2) * [1, 1000])
    p = permute_dims(z, tf.constant([3, 4])).numpy()
    for d in range(2):  # each column is a permutation of itself...
        np.testing.assert_array_equal(np.sort(p[:, d]), z.numpy()[:, d])
    order = p[:, 1] / 1000 - 1
    assert not np.array_equal(order, p[:, 0])  # ...with its own permutation


def test_factor_vae_trains_both_players(mnist_binary):
    xtr, _, _, _ = mnist_binary
    model = FactorVAE(gamma=0.5, **SMALL_DISCRIMINATOR, **SMALL)
    disc_ids = {id(v) for v in model.discriminator.trainable_variables}
    assert disc_ids and not disc_ids & {id(v) for v in model.vae_variables}
    assert len(model.vae_variables) + len(disc_ids) == len(model.trainable_variables)
    vae_before = [v.numpy().copy() for v in model.vae_variables]
    disc_before = [v.numpy().copy() for v in model.discriminator.trainable_variables]
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(xtr[:2048], batch_size=64, epochs=5, verbose=0).history
    assert int(model.optimizer.iterations) == int(model.discriminator_optimizer.iterations) == 160
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(vae_before, model.vae_variables))
    assert all(not np.array_equal(b, v.numpy())
               for b, v in zip(disc_before, model.discriminator.trainable_variables))
    # The posterior of an MNIST VAE is not factorized: the discriminator learns to
    # tell z from its dimension-wise shuffle, and its TC estimate turns positive.
    accuracy = history["discriminator_accuracy"]
    assert accuracy[0] < 0.56 and accuracy[-1] > 0.6, accuracy
    assert history["discriminator_loss"][-1] < math.log(2) - 0.02
    assert history["tc"][-1] > 0.1


def test_a_factor_vae_preset_ships_without_its_discriminator(tmp_path, mnist_binary):
    import h5py

    xtr, _, xte, _ = mnist_binary
    model = FactorVAE(gamma=0.5, **SMALL_DISCRIMINATOR, **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(xtr[:256], batch_size=64, epochs=1, verbose=0)
    path = zoo.save_preset(model, str(tmp_path / "factor"), {"dataset": "mnist"})
    with h5py.File(f"{path}/model.weights.h5", "r") as f:
        arrays = {}
        f.visititems(lambda name, item: arrays.update({name: item.size}) if isinstance(item, h5py.Dataset) else None)
    # Neither by attribute name nor under the tracked-layers group ("layers/").
    assert arrays and not [name for name in arrays if "discriminator" in name or name.startswith("layers/")]
    # The model itself is untouched, and the card counts the shipped weights only.
    assert model.discriminator in model.layers and "discriminator" in model.__dict__
    card = zoo.presets.read_metadata(path)
    assert card["parameters"] == model.count_params() - model.discriminator.count_params()
    assert "discriminator" in card["not_shipped"]
    loaded = zoo.load(path)
    np.testing.assert_array_equal(loaded.reconstruct(xte[:8]), model.reconstruct(xte[:8]))
    np.testing.assert_array_equal(loaded.elbo(xte[:8], seed=1), model.elbo(xte[:8], seed=1))
    # Fine-tuning starts a fresh discriminator and trains both players.
    before = [v.numpy().copy() for v in loaded.discriminator.trainable_variables]
    loaded.compile(optimizer=keras.optimizers.Adam(1e-3))
    loaded.fit(xtr[:128], batch_size=64, epochs=1, verbose=0)
    assert int(loaded.discriminator_optimizer.iterations) == 2
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, loaded.discriminator.trainable_variables))


# --------------------------------------------------------------------------- DIP-VAE


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


# --------------------------------------------------------------------------- all three


@pytest.mark.parametrize(
    "cls, options",
    [
        (BetaTCVAE, dict(dataset_size=737280, estimator="mss")),
        (FactorVAE, dict(gamma=6.0, **SMALL_DISCRIMINATOR)),
        (DIPVAE, dict(dip_type="i", lambda_od=2.0)),
    ],
)
def test_fit_on_dsprites_and_keras_round_trip_is_exact(cls, options, sprites, tmp_path):
    model = cls(**options, **SPRITES)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(sprites[:256], batch_size=64, epochs=1, verbose=0).history
    assert set(history) == set(cls.metric_names)
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert zoo.models.get_model_class({BetaTCVAE: "beta_tcvae", FactorVAE: "factor_vae",
                                       DIPVAE: "dip_vae"}[cls]) is cls

    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded) is cls and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(model.elbo(sprites[:16], seed=5), loaded.elbo(sprites[:16], seed=5))
    optimizers = [("optimizer", model.optimizer, loaded.optimizer)]
    if cls is FactorVAE:
        optimizers.append(("discriminator", model.discriminator_optimizer, loaded.discriminator_optimizer))
        x = tf.constant(sprites[:16])
        z = model.encode(x).mean()
        np.testing.assert_array_equal(model.discriminator(z).numpy(), loaded.discriminator(z).numpy())
    for name, a, b in optimizers:
        assert int(b.iterations) == int(a.iterations) == 4, name
        assert len(a.variables) == len(b.variables), name
        for va, vb in zip(a.variables, b.variables):
            np.testing.assert_array_equal(np.asarray(va), np.asarray(vb), err_msg=name)
    if cls is not FactorVAE:
        return  # one optimizer: continuation is the base's, pinned in test_vae.py
    # Both continue identically from the same state (both optimizers' states).
    for m in (model, loaded):
        keras.utils.set_random_seed(1)
        m.fit(sprites[256:384], batch_size=64, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
