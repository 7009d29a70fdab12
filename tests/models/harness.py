"""The test harness every registered model goes through (in the spirit of keras-hub's
`run_backbone_test`): `run_model_test(cls, init_kwargs, data, directory)`.

Given a model class and small constructor arguments, it checks, on real MNIST:

(a) config round trip: `from_config(get_config())` gives an equal, JSON-able config
    that records every constructor argument given, and the same weights' shapes;
(e) a short `fit` lowers the held-out loss and reports exactly `metric_names`;
(b) `.keras` round trip with `keras.models.load_model(path, safe_mode=True)`: the same
    class, config, weights, optimizer state, noise state and outputs (the training
    objective with its noise included);
(c) preset round trip (`zoo.save_preset` + `zoo.load`): the same weights and outputs,
    without the optimizer nor the model's `training_only_state`;
(d) SavedModel export parity: every signature the model supports (SIGNATURES minus
    what the model declares or the export reports unsupported) gives what the Keras
    model gives on the same inputs and noise; the others are listed with a reason.

TFLite conversion is not run here (slow; tests/test_export.py covers it on the VAE
and the CVAE). Run order is (a), (e), (b), (c), (d): the round trips and the export
see a trained model with optimizer state, not a freshly initialized one. Last, (f):
a loss declared a mean of per-example losses is one, and trains in batch slices
(`compile(batch_slices=2)`); any other loss refuses them.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.export import SIGNATURES

# Training: a few hundred images, a handful of steps.
TRAIN_IMAGES = 512
BATCH_SIZE = 64
EPOCHS = 1
LEARNING_RATE = 5e-3
# Held-out images for the loss before/after and for the output comparisons.
EVAL_IMAGES = 256
N = 5  # batch of the output comparisons
K = 3  # noise draws per example for `score`
SEED = 7


def _json(value):
    """What a value looks like after a trip through a JSON config (tuples -> lists)."""
    return json.loads(json.dumps(value))


def _labels_for(model, y):
    return y if model.conditional else None


def _condition(model, y):
    return tf.one_hot(y, model.num_classes) if model.conditional else None


def _assert_same_arrays(a_list, b_list, what):
    assert len(a_list) == len(b_list), f"{what}: {len(a_list)} vs {len(b_list)} arrays"
    for a, b in zip(a_list, b_list):
        name = getattr(a, "path", "")
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, f"{what} {name}: shape {a.shape} vs {b.shape}"
        np.testing.assert_array_equal(a, b, err_msg=f"{what} {name}")


def _outputs(model, x, y, z):
    """The model's public outputs on fixed inputs and seeds: what a round trip must keep."""
    labels = _labels_for(model, y)
    out = {
        "reconstruct": model.reconstruct(x, labels),
        "decode_mean": model.decode_mean(z, labels).numpy(),
        "encode_mean": model.encode(x, labels).mean().numpy(),
        "sample": model.sample(len(x), seed=SEED, labels=labels),
        "call": model((x, y) if model.conditional else x).numpy(),
    }
    if model.has_density:
        out["elbo"] = model.elbo(x, labels, seed=SEED)
        out["iwae_bound"] = model.iwae_bound(x, labels, k=K, seed=SEED)
    elif hasattr(model, "reconstruction_error"):
        out["reconstruction_error"] = model.reconstruction_error(x, labels)
    return out


def _assert_same_outputs(expected, got, what):
    assert set(expected) == set(got), what
    for key, value in expected.items():
        assert np.all(np.isfinite(value)), f"{what}: {key} is not finite"
        np.testing.assert_array_equal(got[key], value, err_msg=f"{what}: {key}")


# --------------------------------------------------------------------------- (a) config


def check_config_round_trip(cls, init_kwargs):
    model = cls(**init_kwargs)
    config = model.get_config()
    assert _json(config) == config, "get_config() must be plain JSON (presets write it to config.json)"
    for key, value in init_kwargs.items():
        assert key in config, f"constructor argument {key!r} is missing from get_config()"
        assert config[key] == _json(value), f"{key}: config has {config[key]!r}, the constructor got {value!r}"
    clone = cls.from_config(config)
    assert type(clone) is cls
    assert clone.get_config() == config
    assert [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in model.weights]
    return model


# --------------------------------------------------------------------------- (e) fit


def _held_out_loss(model, x, y):
    """The mean objective on a fixed held-out batch (eager: no test_step to trace)."""
    terms = model.loss_terms(tf.constant(x), _condition(model, y), training=False)
    return float(tf.reduce_mean(terms["loss"]))


def check_fit_lowers_the_loss(model, data):
    xtr, ytr, xte, yte = data
    train = (xtr[:TRAIN_IMAGES], ytr[:TRAIN_IMAGES]) if model.conditional else (xtr[:TRAIN_IMAGES],)
    x, y = xte[:EVAL_IMAGES], yte[:EVAL_IMAGES]
    # No XLA: compiling the step takes longer than the handful of steps it runs.
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile=False)
    before = _held_out_loss(model, x, y)
    history = model.fit(*train, batch_size=BATCH_SIZE, epochs=EPOCHS, verbose=0).history
    after = _held_out_loss(model, x, y)
    assert set(history) == set(model.metric_names), (sorted(history), model.metric_names)
    assert all(math.isfinite(v[-1]) for v in history.values()), history
    assert int(model.optimizer.iterations) == EPOCHS * TRAIN_IMAGES // BATCH_SIZE
    # Untrained, the loss is ~540 nats an image; a handful of steps takes off far
    # more than the 5% asked here (the sampling noise is under 1%).
    assert after < before - 0.05 * abs(before), (before, after)
    return before, after


# --------------------------------------------------------------------------- (b) .keras


def check_keras_round_trip(model, data, directory):
    _, _, xte, yte = data
    x, y = xte[:N], yte[:N].astype("int32")
    z = np.random.default_rng(0).standard_normal((N, model.latent_dim)).astype("float32")
    path = os.path.join(directory, "model.keras")
    model.save(path)
    # Outputs after saving: the outputs below draw from the noise state that was saved.
    state = model.seed_generator.state.numpy()
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    _assert_same_arrays(model.weights, loaded.weights, ".keras weights")
    np.testing.assert_array_equal(loaded.seed_generator.state.numpy(), state)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    _assert_same_arrays(model.optimizer.variables, loaded.optimizer.variables, ".keras optimizer")
    for name in model.training_only_state:  # e.g. FactorVAE's discriminator optimizer
        ours, theirs = getattr(model, name), getattr(loaded, name)
        _assert_same_arrays(ours.variables, theirs.variables, f".keras {name}")
    # The training objective with the model's own noise: the same draws, the same terms.
    terms = model.loss_terms(tf.constant(x), _condition(model, y), training=True)
    loaded_terms = loaded.loss_terms(tf.constant(x), _condition(loaded, y), training=True)
    assert set(terms) >= set(model.metric_names)
    for key in model.metric_names:
        np.testing.assert_array_equal(loaded_terms[key].numpy(), terms[key].numpy(), err_msg=f"loss_terms {key}")
    _assert_same_outputs(_outputs(model, x, y, z), _outputs(loaded, x, y, z), ".keras outputs")
    return loaded


# --------------------------------------------------------------------------- (c) preset


def _h5_sizes(path):
    sizes = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: sizes.update({name: item.size}) if isinstance(item, h5py.Dataset) else None)
    return sizes


def check_preset_round_trip(model, data, directory):
    _, _, xte, yte = data
    x, y = xte[:N], yte[:N].astype("int32")
    z = np.random.default_rng(1).standard_normal((N, model.latent_dim)).astype("float32")
    metadata = {"dataset": "mnist", "preprocessing": "dynamic_binarize"}
    path = zoo.save_preset(model, os.path.join(directory, "preset"), metadata)
    card = zoo.presets.read_metadata(path)
    assert card["variant"] == zoo.registry.variant_of(model) and card["class_name"] == type(model).__name__
    assert {k: card[k] for k in metadata} == metadata

    # What the weights file holds: the model's weights and noise state, and neither
    # the optimizer nor the training-only objects.
    skipped = {id(v) for obj in model.training_only_objects() for v in getattr(obj, "variables", [])}
    shipped = [v for v in model.weights if id(v) not in skipped]
    sizes = _h5_sizes(os.path.join(path, zoo.presets.WEIGHTS_FILE))
    assert not [name for name in sizes if "optimizer" in name], sorted(sizes)
    state_size = int(np.size(model.seed_generator.state.numpy()))
    assert sum(sizes.values()) == sum(int(np.size(v)) for v in shipped) + state_size, sorted(sizes)
    assert card["parameters"] == sum(int(np.size(v)) for v in shipped)
    for name in model.training_only_state:
        assert name in card["not_shipped"], card.get("not_shipped")

    loaded = zoo.load(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    assert loaded.preset_metadata == card
    loaded_skipped = {id(v) for obj in loaded.training_only_objects() for v in getattr(obj, "variables", [])}
    _assert_same_arrays(shipped, [v for v in loaded.weights if id(v) not in loaded_skipped], "preset weights")
    np.testing.assert_array_equal(loaded.seed_generator.state.numpy(), model.seed_generator.state.numpy())
    assert getattr(loaded, "optimizer", None) is None
    for obj in loaded.training_only_objects():
        if isinstance(obj, keras.optimizers.Optimizer):
            assert int(obj.iterations) == 0  # starts afresh
    _assert_same_outputs(_outputs(model, x, y, z), _outputs(loaded, x, y, z), "preset outputs")
    return loaded


# --------------------------------------------------------------------------- (d) export


def _export_reference(model, meta, inputs):
    """Every signature's outputs computed with the model's public methods."""
    x, label, z, eps, eps_score = (inputs[k] for k in ("x", "label", "z", "eps", "eps_score"))
    labels = label if model.conditional else None
    q = model.encode(x, labels)
    if meta["posterior"] == "transformed_gaussian":
        q = q.distribution  # the base Gaussian, as the metadata says
    ref = {
        "encode": {"mean": q.mean().numpy(), "stddev": q.stddev().numpy(),
                   **({"codes": model.codes_for(tf.constant(x)).numpy()} if model.discrete_codes else {})},
        "reconstruct": {"images": model.reconstruct(x, labels)},
    }
    raw = model.decoder_params(tf.constant(z), _condition(model, label))
    ref["decode"] = {**{k: v.numpy() for k, v in model.likelihood.parameters(raw).items()},
                     "mean": model.decode_mean(z, labels).numpy()}
    if "sample" in meta["signatures"]:
        if meta["prior_sampling"].startswith("z = eps "):
            prior_z = eps
        else:
            from zoo.export.signatures import prior_transform

            prior = model.prior_distribution(_condition(model, label))  # p(z|y) under a prior over labels
            prior_z = prior_transform(prior)[1](tf.constant(eps)).numpy()
        ref["sample"] = {"images": model.decode_mean(prior_z, labels).numpy()}
    if "score" in meta["signatures"]:
        noise = tf.constant(np.transpose(eps_score, (1, 0, 2)))  # [K, N, D]
        x_checked, condition = model.checked_inputs(x, labels)
        log_w = model.log_importance_weights(x_checked, condition, K, noise=noise)
        ref["score"] = {"score": -(tf.reduce_logsumexp(log_w, axis=0).numpy() - math.log(K))}
    return {name: outputs for name, outputs in ref.items() if name in meta["signatures"]}


def check_export_parity(model, data, directory):
    _, _, xte, yte = data
    rng = np.random.default_rng(2)
    d = model.latent_dim
    inputs = {
        "x": xte[:N],
        "label": yte[:N].astype("int32"),
        "z": rng.standard_normal((N, d)).astype("float32"),
        "eps": rng.standard_normal((N, d)).astype("float32"),
        "eps_score": rng.standard_normal((N, K, d)).astype("float32"),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = zoo.export.export_saved_model(model, os.path.join(directory, "saved_model"))
    meta = zoo.export.read_metadata(path)
    unsupported = meta["unsupported_signatures"]
    for name, why in model.unsupported_signatures.items():
        assert name in unsupported, f"declared unsupported {name!r} is not listed in the metadata"
    for name, why in unsupported.items():
        assert name in SIGNATURES and isinstance(why, str) and len(why) > 10, (name, why)
        assert any(f"not exporting '{name}'" in str(w.message) for w in caught), f"no warning for {name!r}"
    expected = [s for s in SIGNATURES if s not in unsupported]
    assert sorted(meta["signatures"]) == sorted(expected)
    if not model.has_density:
        assert "score" in unsupported
    assert meta["model_class"] == type(model).__name__ and meta["model_config"] == model.get_config()

    loaded = tf.saved_model.load(path)
    # (Keras' ExportArchive adds "serving_default", an alias of the first endpoint.)
    assert sorted(set(loaded.signatures) - {"serving_default"}) == sorted(expected)
    feeds = {"encode": ["x"], "decode": ["z"], "sample": ["eps"], "reconstruct": ["x"], "score": ["x", "eps_score"]}
    reference = _export_reference(model, meta, inputs)
    assert sorted(reference) == sorted(expected), "the reference covers every exported signature"
    for name in expected:
        feed = {("eps" if k == "eps_score" else k): inputs[k] for k in feeds[name]}
        if model.conditional:
            feed["label"] = inputs["label"]
        for n in (N, 1):  # dynamic batch: one example gives the first row
            got = loaded.signatures[name](**{k: tf.constant(v[:n]) for k, v in feed.items()})
            assert sorted(got) == sorted(reference[name]), (name, sorted(got))
            for key, value in reference[name].items():
                np.testing.assert_allclose(got[key].numpy(), value[:n], rtol=1e-5, atol=1e-5,
                                           err_msg=f"signature {name}/{key} at batch {n}")
    return meta


# --------------------------------------------------------------------------- all of it


# --------------------------------------------------------------------------- (f) batch slices


def check_batch_slices(model, data):
    """A loss declared a mean of per-example losses (`loss_is_per_example`) is one: an
    example's terms stay the same when another example of the batch changes (same
    noise), and a step in slices runs on a batch they do not divide. A loss that reads
    the whole batch refuses slices."""
    _, _, xte, yte = data
    if not model.loss_is_per_example(model.get_config()):
        with pytest.raises(ValueError, match="not a mean of per-example losses"):
            model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), batch_slices=2)
        return
    state = keras.ops.convert_to_numpy(model.seed_generator.state)

    def terms(rows):
        model.seed_generator.state.assign(state)  # the same noise for both batches
        return model.loss_terms(tf.constant(xte[rows]), _condition(model, yte[rows]), training=True)

    whole, other = terms([0, 1, 2, 3]), terms([0, 1, 4, 5])
    for name in whole:
        np.testing.assert_allclose(whole[name][:2], other[name][:2], rtol=1e-5, atol=1e-4, err_msg=name)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile=False, batch_slices=2)
    batch = (xte[:5], yte[:5]) if model.conditional else (xte[:5],)
    history = model.fit(*batch, batch_size=5, epochs=1, verbose=0).history
    assert all(math.isfinite(v[-1]) for v in history.values()), history


def run_model_test(cls, init_kwargs, data, directory):
    """Runs (a), (e), (b), (c), (d), (f) on `cls(**init_kwargs)`; `data` is
    (x_train, y_train, x_test, y_test) of binarized MNIST, `directory` a scratch folder.

    Returns a dict of what was measured (losses, the export metadata).
    """
    model = check_config_round_trip(cls, init_kwargs)
    before, after = check_fit_lowers_the_loss(model, data)
    check_keras_round_trip(model, data, str(directory))
    check_preset_round_trip(model, data, str(directory))
    meta = check_export_parity(model, data, str(directory))
    check_batch_slices(model, data)
    return {"loss_before": before, "loss_after": after, "export": meta}
