"""Fine-tuning a preset with `fit`, with and without a frozen half."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import presets

from conftest import SMALL, negative_elbo


@pytest.fixture()
def mnist_preset(tmp_path, mnist_binary):
    """vae_mnist when shipped, else a small VAE trained briefly on MNIST and saved as a preset."""
    if "vae_mnist" in presets.list_models():
        return "vae_mnist"
    xtr = mnist_binary[0]
    model = zoo.VAE(**SMALL)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(xtr[:2048], batch_size=64, epochs=1, verbose=0)
    return zoo.save_preset(model, str(tmp_path / "vae_small_mnist"), {"dataset": "mnist"})


def test_fit_continues_on_fashion_mnist(mnist_preset):
    x, _ = zoo.data.load_numpy("fashion_mnist", "train", "dynamic_binarize", take=1536)
    model = zoo.load(mnist_preset)
    before = negative_elbo(model, x[-512:])
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x[:1024], batch_size=64, epochs=3, verbose=0)
    after = negative_elbo(model, x[-512:])
    assert after < before - 5, (before, after)


def test_freezing_the_encoder_is_one_call(mnist_preset):
    x, _ = zoo.data.load_numpy("fashion_mnist", "train", "dynamic_binarize", take=256)
    model = zoo.load(mnist_preset)
    model.encoder.trainable = False  # the documented call; compile after it
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    enc = [w.numpy().copy() for w in model.encoder.weights]
    dec = [w.numpy().copy() for w in model.decoder.weights]
    model.fit(x, batch_size=64, epochs=1, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(enc, model.encoder.weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(dec, model.decoder.weights))


def test_a_recipe_can_warm_start_a_vampprior_from_a_preset(mnist_preset, mnist_binary):
    """`init_from` copies the preset's encoder and decoder; `pseudo_inputs_from_data` starts
    the VampPrior at training images. With the same networks and noise, the reconstruction
    term equals the source's: only the prior (and so the KL) differs."""
    from zoo import training

    source = zoo.load(mnist_preset)
    config = {k: v for k, v in source.get_config().items()
              if k in ("latent_dim", "widths", "hidden_dim", "image_shape", "likelihood")}
    model = zoo.models.get_model_class("vamp_vae")(num_components=16, **config)
    images = np.random.default_rng(3).integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
    training.warm_start(model, {"init_from": mnist_preset, "pseudo_inputs_from_data": True}, images, seed=0)

    for part in ("encoder", "decoder"):
        for ours, theirs in zip(getattr(model, part).weights, getattr(source, part).weights):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    pseudo = model.prior.pseudo_inputs().numpy()
    assert pseudo.shape == (16, 28, 28, 1)
    grey = np.clip(images.astype(np.float32) / 255, 0.01, 0.99)  # initialize_from clips to finite logits
    for p in pseudo:  # each pseudo-input is one of the training images, and no two are the same
        assert np.abs(grey - p).reshape(40, -1).max(axis=1).min() < 1e-5
    assert len({p.tobytes() for p in pseudo.round(4)}) == 16
    x = mnist_binary[2][:64]
    ours, theirs = model.elbo_terms(x, seed=tf.constant([1, 2])), source.elbo_terms(x, seed=tf.constant([1, 2]))
    np.testing.assert_allclose(ours["reconstruction"].numpy(), theirs["reconstruction"].numpy(), rtol=1e-5)
    assert not np.allclose(ours["kl"].numpy(), theirs["kl"].numpy())

    small = zoo.models.get_model_class("vamp_vae")(num_components=4, **{**config, "hidden_dim": 64})
    with pytest.raises(ValueError, match="init_from=.*weight shapes"):
        training.warm_start(small, {"init_from": mnist_preset}, images, seed=0)
    with pytest.raises(ValueError, match="has no pseudo-inputs"):
        training.warm_start(zoo.VAE(**SMALL), {"pseudo_inputs_from_data": True}, images, seed=0)


def test_a_loaded_preset_fine_tunes_at_full_kl_weight_and_a_new_model_warms_up(tmp_path, mnist_binary):
    """The schedules read the model's own step counter, which the weights carry: a fresh
    optimizer (a new `compile`) does not restart them."""
    shipped = zoo.load("vae_mnist")
    assert shipped.kl_warmup_steps > 0
    shipped.compile(optimizer=keras.optimizers.Adam(1e-4))
    assert float(shipped.kl_weight()) == pytest.approx(shipped.beta)  # saved before the counter: finished

    model = zoo.VAE(beta=2.0, kl_warmup_steps=100, **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert float(model.kl_weight()) == 0.0
    model.fit(mnist_binary[0][:256], batch_size=64, epochs=1, verbose=0)
    assert int(model.schedule_step.numpy()) == 4
    for loaded in (zoo.load(zoo.save_preset(model, str(tmp_path / "preset"), {"dataset": "mnist"})),
                   keras.models.load_model(_saved(model, tmp_path / "model.keras"))):
        loaded.compile(optimizer=keras.optimizers.Adam(1e-3))
        assert float(loaded.kl_weight()) == pytest.approx(2.0 * 4 / 100), type(loaded)


def _saved(model, path):
    model.save(path)
    return path


def test_one_epoch_of_fine_tuning_does_not_make_the_preset_worse():
    """The issue's acceptance check: the README's fine-tuning call, one epoch on 5,000
    MNIST images at batch 128 (40 steps), must not lower vae_mnist's test ELBO by more
    than 1 nat. With the warm-up restarted (KL weight < 0.01) it fell by 6.4 nats."""
    x_train, _ = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=5000)
    x_test, _ = zoo.data.load_numpy("mnist", "test", "dynamic_binarize", take=2000)
    model = zoo.load("vae_mnist")
    before = negative_elbo(model, x_test)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(x_train, batch_size=128, epochs=1, verbose=0)
    after = negative_elbo(model, x_test)
    assert after < before + 1.0, (before, after)
