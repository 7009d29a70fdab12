"""Model family I: AE, β-VAE (plain and capacity-annealed), CVAE, WAE-MMD, and the
small classifier / Fréchet distance that judges their samples. Real MNIST slices."""

import itertools

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

import zoo
from zoo.evaluate.classifier import features, frechet_distance, predict_labels, train_classifier
from zoo.models import AE, CVAE, VAE, WAE, BetaVAE
from zoo.models.wae import imq_kernel, mmd_unbiased, rbf_kernel
from zoo.validation import InputError

from conftest import SMALL


def _fit(model, x, y=None, steps=64, batch_size=64, lr=2e-3):
    model.compile(optimizer=keras.optimizers.Adam(lr))
    epochs = max(1, steps * batch_size // len(x))
    args = (x,) if y is None else (x, y)
    return model.fit(*args, batch_size=batch_size, epochs=epochs, verbose=0)


@pytest.fixture(scope="module")
def mnist_float():
    """Grey-level MNIST: what the classifier learns from and the reference for
    Fréchet distances (model samples are E[x|z], grey levels too)."""
    xtr, ytr = zoo.data.load_numpy("mnist", "train", "float", take=4096)
    xte, yte = zoo.data.load_numpy("mnist", "test", "float", take=1000)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="module")
def classifier(mnist_float):
    xtr, ytr, _, _ = mnist_float
    return train_classifier(xtr, ytr, epochs=5, seed=0)


# --------------------------------------------------------------------------- classifier


def test_classifier_is_accurate_on_held_out_digits(classifier, mnist_float):
    _, _, xte, yte = mnist_float
    assert (predict_labels(classifier, xte) == yte).mean() > 0.92
    assert features(classifier, xte[:5]).shape == (5, 128)


def test_frechet_distance_matches_the_closed_form_for_an_affine_map():
    # b = 2a + 3: cov_b = 4 cov_a, (cov_a cov_b)^(1/2) = 2 cov_a, so
    # FD = ||mu_a - mu_b||² + Tr(cov_a + 4 cov_a - 4 cov_a) = ||mu_a + 3||² + Tr(cov_a).
    a = np.random.default_rng(0).normal(size=(400, 6)) @ np.random.default_rng(1).normal(size=(6, 6))
    expected = np.sum((a.mean(0) + 3.0) ** 2) + np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, 2 * a + 3) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Covariances that do not commute: against the textbook formula with scipy's sqrtm.
    b = np.random.default_rng(2).normal(size=(300, 6)) @ np.random.default_rng(3).normal(size=(6, 6)) + 1.0
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    textbook = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca) + np.trace(cb)
                - 2.0 * np.trace(np.real(scipy.linalg.sqrtm(ca @ cb))))
    assert frechet_distance(a, b) == pytest.approx(textbook, rel=1e-6)
    with pytest.raises(ValueError, match="same F"):
        frechet_distance(a, a[:, :3])


# --------------------------------------------------------------------------- AE


def test_ae_is_deterministic_and_has_no_likelihood_bound(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    model = AE(**SMALL)
    history = _fit(model, xtr[:1024], steps=32)
    assert set(history.history) == {"loss", "reconstruction"}
    assert history.history["loss"] == history.history["reconstruction"]
    q = model.encode(xte[:4])
    assert q.event_shape == [8]
    np.testing.assert_array_equal(q.sample(seed=tf.constant([1, 2])).numpy(), q.mean().numpy())
    result = model.evaluate(xte[:256], batch_size=128, verbose=0, return_dict=True)
    assert result["reconstruction"] == pytest.approx(model.reconstruction_error(xte[:256]).mean(), rel=1e-5)
    for method in (model.elbo, model.iwae_bound):
        with pytest.raises(NotImplementedError, match="no density"):
            method(xte[:4])


def test_vae_prior_samples_are_closer_to_the_data_than_the_ae_ones(mnist_binary, mnist_float, classifier):
    xtr, _, _, _ = mnist_binary
    real = features(classifier, mnist_float[2][:500])
    distances = {}
    for cls in (AE, VAE):
        keras.utils.set_random_seed(0)
        model = cls(**SMALL)
        _fit(model, xtr, steps=256)
        distances[cls.__name__] = frechet_distance(features(classifier, model.sample(500, seed=0)), real)
    # The AE's codes are not pulled to N(0, I), so decoding N(0, I) misses the data.
    assert distances["VAE"] < 0.5 * distances["AE"], distances  # about 90 vs 280


# --------------------------------------------------------------------------- β-VAE


def test_beta_vae_with_beta_one_is_the_vae(mnist_binary):
    x = tf.constant(mnist_binary[0][:32])
    vae, beta_vae = VAE(seed=5, **SMALL), BetaVAE(beta=1.0, seed=5, **SMALL)
    beta_vae.set_weights(vae.get_weights())
    a, b = vae.loss_terms(x, None, training=True), beta_vae.loss_terms(x, None, training=True)
    assert set(a) == set(b)
    for name in a:
        np.testing.assert_allclose(a[name].numpy(), b[name].numpy(), rtol=1e-6, err_msg=name)
    # A larger beta changes the loss by (beta - 1) KL and nothing else.
    heavy = BetaVAE(beta=4.0, seed=5, **SMALL)
    heavy.set_weights(vae.get_weights())
    c = heavy.loss_terms(x, None, training=True)
    np.testing.assert_allclose(c["loss"].numpy(), (a["loss"] + 3.0 * a["kl"]).numpy(), rtol=1e-5)


def test_larger_beta_gives_a_lower_kl(mnist_binary):
    xtr, _, xte, _ = mnist_binary
    kl = {}
    for beta in (1.0, 8.0):
        keras.utils.set_random_seed(0)
        model = BetaVAE(beta=beta, **SMALL)
        _fit(model, xtr[:1024], steps=64)
        kl[beta] = model.evaluate(xte, batch_size=500, verbose=0, return_dict=True)["kl"]
    assert kl[8.0] < 0.5 * kl[1.0], kl  # about 1.2 vs 4.7 nats


def test_capacity_grows_linearly_and_sets_the_loss(mnist_binary):
    model = BetaVAE(gamma=50.0, capacity_max=20.0, capacity_steps=100, seed=3, **SMALL)
    model.compile(optimizer="adam")
    for step, expected in [(0, 0.0), (25, 5.0), (50, 10.0), (100, 20.0), (400, 20.0)]:
        model.optimizer.iterations.assign(step)
        assert float(model.capacity()) == pytest.approx(expected)
    model.optimizer.iterations.assign(25)
    x = tf.constant(mnist_binary[0][:64])
    state = model.seed_generator.state.numpy()
    terms = model.loss_terms(x, None, training=True)
    model.seed_generator.state.assign(state)  # the same posterior sample again
    t = model.elbo_terms(x, None, training=True)
    expected = tf.reduce_mean(t["reconstruction"]) + 50.0 * abs(tf.reduce_mean(t["kl"]) - 5.0)
    assert float(tf.reduce_mean(terms["loss"])) == pytest.approx(float(expected), rel=1e-6)
    np.testing.assert_allclose(terms["elbo"].numpy(), -(t["reconstruction"] + t["kl"]).numpy(), rtol=1e-6)


def test_capacity_training_holds_the_kl_near_the_target(mnist_binary):
    xtr, _, _, _ = mnist_binary
    model = BetaVAE(gamma=20.0, capacity_max=6.0, capacity_steps=32, **SMALL)
    history = _fit(model, xtr[:1024], steps=64)
    # The last two epochs run at full capacity C = 6 nats; the KL of an unconstrained
    # VAE is far above it after as many steps, and at the start it is near 0.
    assert 4.0 < history.history["kl"][-1] < 8.0, history.history["kl"]


def test_beta_vae_rejects_bad_capacity_settings():
    with pytest.raises(ValueError, match="capacity_steps"):
        BetaVAE(capacity_max=10.0, capacity_steps=0, **SMALL)
    with pytest.raises(ValueError, match="capacity_max"):
        BetaVAE(capacity_max=-1.0, **SMALL)


# --------------------------------------------------------------------------- CVAE


def _digit_accuracy(model, classifier, per_digit=50):
    labels = np.repeat(np.arange(10), per_digit)
    return float((predict_labels(classifier, model.sample(len(labels), seed=0, labels=labels)) == labels).mean())


def test_cvae_samples_show_the_requested_digit(mnist_binary, classifier):
    """Fast variant: 256 steps (the slow test below trains longer for the 90 % bar)."""
    xtr, ytr, _, _ = mnist_binary
    keras.utils.set_random_seed(1)
    # A 2-d code cannot hold the class as well as the shape: the decoder must use y.
    model = CVAE(**{**SMALL, "latent_dim": 2, "hidden_dim": 128})
    _fit(model, xtr, ytr, steps=256)
    assert _digit_accuracy(model, classifier) >= 0.75  # chance: 0.1


@pytest.mark.slow
def test_cvae_samples_show_the_requested_digit_after_longer_training(mnist_binary, classifier):
    xtr, ytr, _, _ = mnist_binary
    keras.utils.set_random_seed(1)
    model = CVAE(**{**SMALL, "latent_dim": 2, "hidden_dim": 128})
    _fit(model, xtr, ytr, steps=768)
    assert _digit_accuracy(model, classifier) >= 0.9


def test_cvae_bad_labels_name_the_problem(mnist_binary):
    _, _, xte, yte = mnist_binary
    model = CVAE(**SMALL)
    with pytest.raises(InputError, match=r"class indices must lie in \[0, 10\)"):
        model.sample(2, labels=[3, 10])
    with pytest.raises(InputError, match="3 labels for n=5"):
        model.sample(5, labels=[1, 2, 3])
    with pytest.raises(InputError, match="trained without label dropout"):
        model.sample(2)
    with pytest.raises(InputError, match="4 labels for a batch of 5"):
        model.elbo(xte[:5], yte[:4])
    with pytest.raises(InputError, match="this model is conditional"):
        model.encode(xte[:5])
    with pytest.raises(InputError, match="one-hot floats"):
        model.reconstruct(xte[:2], np.array([0.5, 1.5]))
    model.compile(optimizer="adam")
    with pytest.raises(InputError, match="this model is conditional"):
        model.fit(xte[:64], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="num_classes >= 2"):
        CVAE(num_classes=1, **SMALL)
    with pytest.raises(ValueError, match="label_dropout"):
        CVAE(label_dropout=1.0, **SMALL)
    # Good labels: one class for all, or one per sample; one-hot rows too.
    assert model.sample(3, seed=0, labels=7).shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(model.sample(3, seed=0, labels=[7, 7, 7]), model.sample(3, seed=0, labels=7))
    np.testing.assert_array_equal(model.sample(2, seed=0, labels=np.eye(10, dtype="float32")[[4, 4]]),
                                  model.sample(2, seed=0, labels=4))


def test_cvae_label_dropout_trains_some_examples_with_the_null_label(mnist_binary):
    xtr, ytr, _, _ = mnist_binary
    model = CVAE(label_dropout=0.5, seed=2, **SMALL)
    x, onehot = tf.constant(xtr[:64]), tf.one_hot(ytr[:64], 10)
    state = model.seed_generator.state.numpy()
    terms = model.loss_terms(x, onehot, training=True)
    # Replay the model's noise: the first draw is the keep mask, the second the z sample.
    model.seed_generator.state.assign(state)
    keep = tf.random.stateless_uniform([64, 1], seed=model.draw_seed()) >= 0.5
    assert 10 < int(tf.reduce_sum(tf.cast(keep, tf.int32))) < 54
    t = model.elbo_terms(x, onehot * tf.cast(keep, tf.float32), training=True)
    np.testing.assert_allclose(terms["elbo"].numpy(), -(t["reconstruction"] + t["kl"]).numpy(), rtol=1e-6)
    # Evaluation keeps every label; null-label sampling works without labels.
    full = model.loss_terms(x, onehot, training=False)
    assert not np.allclose(full["reconstruction"].numpy(), terms["reconstruction"].numpy())
    np.testing.assert_array_equal(model.sample(3, seed=0), model.sample(3, seed=0, labels=model.null_labels(3)))


# --------------------------------------------------------------------------- WAE


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
    history = _fit(model, xtr, steps=128)
    after = float(mmd_unbiased(model.encode(xte).mean(), prior_z))
    assert after < before / 3, (before, after)
    assert set(history.history) == {"loss", "reconstruction", "mmd"}
    last = {k: v[-1] for k, v in history.history.items()}
    assert last["loss"] == pytest.approx(last["reconstruction"] + 10.0 * last["mmd"], rel=1e-4)


def test_wae_with_a_stochastic_encoder_and_rbf_kernel(mnist_binary):
    """(`fit` with these options runs in the round-trip test below.)"""
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


# --------------------------------------------------------------------------- every variant

VARIANTS = {
    "ae": dict(),
    "beta_vae": dict(beta=4.0, gamma=30.0, capacity_max=10.0, capacity_steps=20, kl_warmup_steps=5),
    "cvae": dict(label_dropout=0.1),
    "wae": dict(mmd_weight=5.0, kernel="rbf", kernel_scales=[0.5, 2.0], stochastic_encoder=True),
}


def test_variants_are_registered():
    assert {name: zoo.models.MODELS[name] for name in VARIANTS} == {
        "ae": AE, "beta_vae": BetaVAE, "cvae": CVAE, "wae": WAE}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_config_round_trip(name):
    cls = zoo.models.get_model_class(name)
    model = cls(image_shape=(32, 32, 3), widths=(16, 32, 32), latent_dim=6, hidden_dim=32,
                likelihood={"name": "gaussian", "min_scale": 0.01}, **VARIANTS[name])
    clone = cls.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()
    for key, value in VARIANTS[name].items():
        assert model.get_config()[key] == value


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_keras_round_trip_is_exact(name, tmp_path, mnist_binary):
    xtr, ytr, xte, yte = mnist_binary
    cls = zoo.models.get_model_class(name)
    model = cls(**SMALL, **VARIANTS[name])
    labels = ytr[:512] if model.conditional else None
    test_labels = yte[:8] if model.conditional else None
    _fit(model, xtr[:512], labels, steps=16)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded) is cls and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(model.reconstruct(xte[:8], test_labels), loaded.reconstruct(xte[:8], test_labels))
    sample_labels = {"labels": 3} if model.conditional else {}
    np.testing.assert_array_equal(model.sample(4, seed=1, **sample_labels), loaded.sample(4, seed=1, **sample_labels))
    np.testing.assert_array_equal(model.seed_generator.state.numpy(), loaded.seed_generator.state.numpy())
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The objective (with its noise) is the same too.
    x = tf.constant(xte[:16])
    condition = tf.one_hot(yte[:16], 10) if model.conditional else None
    a, b = model.loss_terms(x, condition, training=True), loaded.loss_terms(x, condition, training=True)
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
