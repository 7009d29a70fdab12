"""Numerical safety: extreme images train without NaN; a NaN stops training with a
message naming the step and the broken term, in `fit` and through `zoo train`."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.callbacks import NaNGuard, NonFiniteLossError

from conftest import SMALL


def _extreme_images(n=64):
    zeros = np.zeros((n, 28, 28, 1), "float32")
    ones = np.ones((n, 28, 28, 1), "float32")
    checker = (np.indices((28, 28)).sum(0) % 2).astype("float32")[None, :, :, None].repeat(n, 0)  # 0/1 edges
    return np.concatenate([zeros, ones, checker])


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_extreme_images_train_without_nan(likelihood):
    x = _extreme_images()
    model = zoo.VAE(**SMALL, likelihood=likelihood)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x, batch_size=32, epochs=6, shuffle=True, verbose=0, callbacks=[NaNGuard()])
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.all(np.isfinite(model.elbo(x))) and np.all(np.isfinite(model.iwae_bound(x[::16], k=8)))


@keras.saving.register_keras_serializable(package="zoo_tests")
class KLBreaksAfter(zoo.VAE):
    """A VAE whose KL becomes NaN from optimizer step `break_at` on."""

    def __init__(self, break_at=3, **kwargs):
        super().__init__(**kwargs)
        self.break_at = break_at

    def loss_terms(self, x, condition, training):
        terms = dict(super().loss_terms(x, condition, training))
        broken = tf.cast(self.optimizer.iterations, tf.float32) >= self.break_at - 1  # counted before the update
        nan = tf.where(broken, tf.constant(np.nan, tf.float32), 0.0)
        terms["kl"] = terms["kl"] + nan
        terms["loss"] = terms["loss"] + nan
        terms["elbo"] = terms["elbo"] + nan
        return terms

    def get_config(self):
        return {**super().get_config(), "break_at": self.break_at}


def test_nan_guard_names_the_step_and_the_term(mnist_binary):
    x = mnist_binary[0][:256]
    model = KLBreaksAfter(break_at=3, **SMALL)
    model.compile(optimizer="adam")
    with pytest.raises(NonFiniteLossError, match=r"non-finite elbo, kl, loss at epoch 1, batch 3 \(optimizer step 3\)"):
        model.fit(x, batch_size=32, epochs=1, verbose=0, callbacks=[NaNGuard()])
    assert int(model.optimizer.iterations.numpy()) == 3  # stopped at once


def test_zoo_train_fails_on_nan_before_backing_it_up(tmp_path, monkeypatch, capsys):
    from zoo import cli, training

    recipe = {"name": "nan", "variant": "vae", "dataset": "mnist", "preprocessing": "dynamic_binarize",
              "model": SMALL, "training": {"epochs": 1, "batch_size": 32, "learning_rate": 1e-3,
                                           "checkpoint_every_steps": 2}}
    (tmp_path / "r.json").write_text(json.dumps(recipe))
    monkeypatch.setattr(training, "build_model", lambda r: KLBreaksAfter(break_at=4, **SMALL))
    code = cli.main(["train", "--config", str(tmp_path / "r.json"), "--take", "256", "--out", str(tmp_path / "out"),
                     "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 1
    assert "zoo train: error: non-finite elbo, kl, loss at epoch 1, batch 4 (optimizer step 4)" in err
    assert "reconstruction" not in err.split("error:")[1].split(":")[0]  # the finite term is not blamed
    backup = json.loads((tmp_path / "work" / "backup" / "training_metadata.json").read_text())
    assert backup["optimizer_step"] == 2  # the step-4 state was not saved over the good one
    assert not (tmp_path / "out").exists()
