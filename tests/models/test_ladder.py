"""Model family II, the likelihood path: IWAE, VampPrior, IAF posterior, ladder VAE.

Densities are checked against direct computation on small cases; every variant
trains on a real MNIST slice, round-trips through `.keras`, and feeds the
importance-sampled likelihood evaluator.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp
import tensorflow_probability as tfp

from zoo.evaluate.likelihood import importance_sampled_log_likelihood
from zoo.models import MODELS, IAFVAE, IWAE, LadderVAE, VampVAE, get_model_class
from zoo.models.base import stateless_seed

from conftest import SMALL, negative_elbo

tfd = tfp.distributions

VARIANTS = {
    "iwae": dict(num_samples=3),
    "vamp_vae": dict(num_components=16),
    "iaf_vae": dict(num_flows=2, context_dim=16, made_hidden_units=(64,)),
    "ladder_vae": dict(upper_latent_dims=(4,), ladder_hidden_dim=64),
}
TRAIN_STEPS = 96
_TRAINED = {}


def _trained(name, mnist_binary):
    """A small model of each variant trained once per module: (model, test -ELBO before, after)."""
    if name not in _TRAINED:
        xtr, _, xte, _ = mnist_binary
        keras.utils.set_random_seed(0)
        model = get_model_class(name)(seed=0, **SMALL, **VARIANTS[name])
        before = negative_elbo(model, xte)
        model.compile(optimizer=keras.optimizers.Adam(2e-3))
        model.fit(xtr[:TRAIN_STEPS * 64 // 3], batch_size=64, epochs=3, verbose=0)
        _TRAINED[name] = (model, before, negative_elbo(model, xte))
    return _TRAINED[name]


def _gaussian_log_density(z, loc, scale):
    """Sum over the last axis of log N(z; loc, scale), in float64 numpy."""
    z, loc, scale = (np.asarray(a, np.float64) for a in (z, loc, scale))
    return np.sum(-0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi), axis=-1)


def _softplus(a):
    return np.logaddexp(0.0, np.asarray(a, np.float64))


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-np.asarray(a, np.float64)))


def _bernoulli_log_prob(x, logits):
    """Sum over pixels of log Bernoulli(x; logits): x * logits - softplus(logits)."""
    x, logits = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    return np.sum(x * logits - _softplus(logits), axis=(-3, -2, -1))


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_trains_on_mnist(name, mnist_binary):
    model, before, after = _trained(name, mnist_binary)
    assert type(model) is MODELS[name]
    assert before > 500 and after < 250, (before, after)  # ~544 nats untrained, ~190 after


def test_vamp_pseudo_inputs_are_learned(mnist_binary):
    model, _, _ = _trained("vamp_vae", mnist_binary)
    keras.utils.set_random_seed(0)  # the pseudo-inputs' initialization before training
    fresh = VampVAE(seed=0, **SMALL, **VARIANTS["vamp_vae"])
    moved = np.abs(np.asarray(model.prior.pseudo_inputs_raw) - np.asarray(fresh.prior.pseudo_inputs_raw))
    assert moved.mean() > 1e-2, moved.mean()
    u = model.prior.pseudo_inputs().numpy()
    assert u.shape == (16, 28, 28, 1) and u.min() >= 0 and u.max() <= 1
    assert any("pseudo_inputs_raw" in v.path for v in model.trainable_variables)


# --------------------------------------------------------------------------- IWAE


def test_iwae_bound_rises_with_k_on_a_trained_model(mnist_binary):
    model, _, _ = _trained("iwae", mnist_binary)
    x = mnist_binary[2][:100]
    bounds = {k: np.mean([model.iwae_bound(x, k=k, seed=s).mean() for s in range(3)]) for k in (1, 5, 50)}
    assert bounds[5] > bounds[1] + 1.0 and bounds[50] > bounds[5] + 0.5, bounds


def test_iwae_metrics_and_loss(mnist_binary):
    model, _, _ = _trained("iwae", mnist_binary)
    x = tf.constant(mnist_binary[2][:64])
    terms = {k: v.numpy() for k, v in model.loss_terms(x, None, training=False).items()}
    assert set(terms) == set(IWAE.metric_names)
    np.testing.assert_allclose(terms["loss"], -terms["iwae_bound"], rtol=1e-6)  # beta = 1
    np.testing.assert_allclose(terms["elbo"], -(terms["reconstruction"] + terms["kl"]), rtol=1e-5)
    # log-mean-exp >= mean (Jensen), per example, and strictly on average after training.
    assert np.all(terms["iwae_bound"] >= terms["elbo"] - 1e-3)
    assert terms["iwae_bound"].mean() > terms["elbo"].mean() + 1.0
    result = model.evaluate(mnist_binary[2][:256], batch_size=128, verbose=0, return_dict=True)
    assert set(result) == set(IWAE.metric_names) and result["iwae_bound"] > result["elbo"]


# --------------------------------------------------------------------------- densities by hand


def test_vamp_prior_log_prob_is_the_log_mean_of_component_densities():
    model = VampVAE(num_components=6, latent_dim=3, widths=(8, 8), hidden_dim=16)
    prior = model.prior_distribution()
    assert prior.batch_shape == [] and prior.event_shape == [3]
    u = _sigmoid(np.asarray(model.prior.pseudo_inputs_raw))
    loc, raw_scale = np.split(np.asarray(model.encoder(u.astype("float32")), np.float64), 2, axis=-1)
    scale = _softplus(raw_scale) + 1e-4
    z = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    by_hand = logsumexp(_gaussian_log_density(z[:, None, :], loc[None], scale[None]), axis=1) - np.log(6)
    np.testing.assert_allclose(prior.log_prob(z).numpy(), by_hand, rtol=1e-5)
    # The same prior by configuration on the plain VAE.
    plain = MODELS["vae"](prior={"name": "vamp", "num_components": 3}, **SMALL)
    assert [v.path for v in plain.trainable_variables if "pseudo" in v.path] == ["prior/pseudo_inputs_raw"]
    assert np.all(np.isfinite(plain.elbo(u[:2].astype("float32"))))


def test_diagonal_gaussian_mixture_matches_mixture_same_family_in_value_and_gradient():
    """The VampPrior's matmul log-density is MixtureSameFamily's, for any sample shape and
    weights, far from the components too, and so are its gradients (training uses them)."""
    from zoo.distributions import DiagonalGaussianMixture

    rng = np.random.default_rng(0)
    loc = tf.constant(rng.normal(size=(7, 4)), tf.float32)
    scale = tf.constant(np.exp(rng.normal(size=(7, 4)) - 1), tf.float32)
    logits = tf.constant(rng.normal(size=7), tf.float32)
    z = tf.constant(rng.normal(size=(2, 3, 4)) * 3, tf.float32)

    def log_probs(cls):
        with tf.GradientTape() as tape:
            tape.watch([loc, scale, logits, z])
            mixture = cls(mixture_distribution=tfd.Categorical(logits=logits),
                          components_distribution=tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale))
            value = mixture.log_prob(z)
            total = tf.reduce_sum(value)
        return value, tape.gradient(total, [loc, scale, logits, z])

    ours, our_grads = log_probs(DiagonalGaussianMixture)
    reference, reference_grads = log_probs(tfd.MixtureSameFamily)
    assert ours.shape == (2, 3) and float(tf.reduce_min(reference)) < -50  # some points are far out
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-4)
    for a, b in zip(our_grads, reference_grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-3)


def test_iaf_log_prob_is_base_log_prob_minus_log_dets():
    model = IAFVAE(num_flows=3, context_dim=5, made_hidden_units=(12,), latent_dim=4, widths=(8, 8), hidden_dim=16)
    # Move the gates and shifts away from their near-identity initialization.
    for made in model.flows:
        for layer in (made.shift, made.gate):
            layer.bias.assign(np.random.default_rng(1).normal(size=4))
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    loc, raw_scale, context = np.split(np.asarray(model.encoder(x)), [4, 8], axis=-1)
    scale = _softplus(raw_scale) + 1e-4
    eps = (loc + scale * np.random.default_rng(2).normal(size=(3, 4))).astype("float32")
    z, log_det = eps, np.zeros(3)
    for i, made in enumerate(model.flows):
        if i > 0:
            z = z[:, ::-1]  # the reversal between steps
        shift, gate_logits = (np.asarray(a, np.float64) for a in made(tf.constant(z), tf.constant(context)))
        gate = _sigmoid(gate_logits)
        z = (gate * z + (1 - gate) * shift).astype("float32")
        log_det += np.sum(np.log(gate), axis=-1)
    by_hand = _gaussian_log_density(eps, loc, scale) - log_det
    q = model.encode(x)
    np.testing.assert_allclose(q.bijector.forward(eps).numpy(), z, atol=1e-5)
    np.testing.assert_allclose(q.bijector.inverse(z).numpy(), eps, atol=1e-4)
    np.testing.assert_allclose(q.log_prob(z).numpy(), by_hand, atol=2e-3)  # via the exact inverse
    # Sampling returns log q from the forward pass; it must agree with the inverse path.
    sample, log_q = q.experimental_sample_and_log_prob(7, seed=stateless_seed(3))
    np.testing.assert_allclose(log_q.numpy(), q.log_prob(tf.identity(sample) + 0.0).numpy(), atol=2e-3)


def test_made_is_autoregressive():
    from zoo.models.iaf import MADE

    made = MADE(latent_dim=5, context_dim=3, hidden_units=(16, 16))
    for layer in (made.shift, made.gate):
        layer.bias.assign(np.zeros(5))
    z = tf.constant(np.random.default_rng(0).normal(size=(1, 5)), tf.float32)
    context = tf.constant(np.random.default_rng(1).normal(size=(1, 3)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        shift, gate = made(z, context)
    for out in (shift, gate):
        jacobian = tape.jacobian(out, z).numpy()[0, :, 0, :]  # [out_i, z_j]
        assert np.all(jacobian[np.triu_indices(5)] == 0)  # output i sees only z_<i
        assert np.all(np.abs(jacobian[np.tril_indices(5, -1)]) > 0)


def test_ladder_log_importance_weights_are_the_sum_of_layer_log_densities():
    model = LadderVAE(latent_dim=3, upper_latent_dims=(2,), ladder_hidden_dim=8, widths=(4, 8), hidden_dim=16)
    x = (np.random.default_rng(0).random((2, 28, 28, 1)) > 0.5).astype("float32")
    k, seed = 4, stateless_seed(5)
    log_w = model.log_importance_weights(tf.constant(x), None, k, seed).numpy()
    layers = model._top_down_pass(tf.constant(x), None, k, seed, False)  # the same samples
    z2, z1 = layers[0]["z"].numpy(), layers[1]["z"].numpy()
    # Bottom-up terms.
    features = np.asarray(model.encoder(x), np.float64)
    d1 = features * _sigmoid(features)  # swish
    loc1, raw1 = np.split(np.asarray(model.bottom_up_heads[0](d1.astype("float32")), np.float64), 2, axis=-1)
    d2 = np.asarray(model.bottom_up[0](d1.astype("float32")))
    loc2, raw2 = np.split(np.asarray(model.bottom_up_heads[1](d2), np.float64), 2, axis=-1)
    scale1, scale2 = _softplus(raw1) + 1e-4, _softplus(raw2) + 1e-4
    # Top-down prior of z1 given each z2 sample, and the precision-weighted posterior.
    p_loc, p_raw = np.split(np.asarray(model.top_down[0](z2.reshape(-1, 2)), np.float64).reshape(k, 2, 6), 2, -1)
    p_scale = _softplus(p_raw) + 1e-4
    precision = scale1 ** -2 + p_scale ** -2
    q_loc = (loc1 * scale1 ** -2 + p_loc * p_scale ** -2) / precision
    q_scale = precision ** -0.5
    logits = np.asarray(model.decoder(z1.reshape(-1, 3))).reshape(k, 2, 28, 28, 1)
    by_hand = (
        _bernoulli_log_prob(x[None], logits)
        + _gaussian_log_density(z1, p_loc, p_scale) + _gaussian_log_density(z2, 0.0, 1.0)
        - _gaussian_log_density(z1, q_loc, q_scale) - _gaussian_log_density(z2, loc2, scale2)
    )
    assert log_w.shape == (k, 2)
    np.testing.assert_allclose(log_w, by_hand, rtol=1e-5, atol=1e-3)


def test_ladder_encode_and_sample_shapes(mnist_binary):
    model, _, _ = _trained("ladder_vae", mnist_binary)
    x = mnist_binary[2][:5]
    q = model.encode(x)
    assert q.batch_shape == [5] and q.event_shape == [SMALL["latent_dim"]]
    top, bottom = model.encode_layers(x)
    assert top.event_shape == [4] and np.allclose(bottom.mean(), q.mean())
    s = model.sample(6, seed=3)
    assert s.shape == (6, 28, 28, 1) and np.array_equal(s, model.sample(6, seed=3))
    assert not np.array_equal(s, model.sample(6, seed=4))


# --------------------------------------------------------------------------- evaluation and saving


@pytest.mark.parametrize("name", list(VARIANTS))
def test_importance_sampled_likelihood_is_above_the_elbo(name, mnist_binary):
    model, _, _ = _trained(name, mnist_binary)
    x = mnist_binary[2][:40]
    log_px = importance_sampled_log_likelihood(model, x, k=20, batch_size=20, k_chunk=10)
    elbo = np.mean([model.elbo(x, seed=s).mean() for s in range(3)])
    assert np.all(np.isfinite(log_px)) and log_px.mean() > elbo + 1.0, (log_px.mean(), elbo)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_keras_round_trip_is_exact(name, tmp_path, mnist_binary):
    model, _, _ = _trained(name, mnist_binary)
    xte = mnist_binary[2]
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    assert len(loaded.weights) == len(model.weights)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(model.elbo(xte[:16], seed=7), loaded.elbo(xte[:16], seed=7))
    np.testing.assert_array_equal(model.iwae_bound(xte[:8], k=5, seed=2), loaded.iwae_bound(xte[:8], k=5, seed=2))
    np.testing.assert_array_equal(model.sample(4, seed=1), loaded.sample(4, seed=1))
    np.testing.assert_array_equal(model.predict(xte[:8], verbose=0), loaded.predict(xte[:8], verbose=0))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_config_round_trip(name):
    cls = get_model_class(name)
    model = cls(likelihood={"name": "gaussian", "min_scale": 0.01}, beta=2.0, **SMALL, **VARIANTS[name])
    clone = cls.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: IWAE(num_samples=0, **SMALL), "num_samples"),
        (lambda: IWAE(free_bits=0.5, **SMALL), "free_bits"),
        (lambda: VampVAE(num_components=0, **SMALL), "num_components"),
        (lambda: VampVAE(prior="standard_normal", **SMALL), "sets its own prior"),
        (lambda: IAFVAE(free_bits=0.5, **SMALL), "free_bits"),
        (lambda: LadderVAE(upper_latent_dims=(), **SMALL), "upper_latent_dims"),
        (lambda: LadderVAE(prior={"name": "vamp"}, **SMALL), "standard normal"),
    ],
)
def test_bad_configurations_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()
