"""Likelihoods p(x|z) and priors p(z) as `tensorflow_probability` distributions.

Both are chosen by configuration: a name, or a dict ``{"name": ..., **options}``.
The configuration is what models serialize; the `tfd` objects are rebuilt from
tensors on every call (they are never stored in a config).

A likelihood turns the decoder's raw output [B,H,W,P*C] into a distribution whose
event is one image [H,W,C]. A prior is a Keras layer (so that learned priors such
as the VampPrior own their variables) whose `distribution()` returns p(z) with
event shape [latent_dim].
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def _spec(config) -> tuple[str, dict]:
    if isinstance(config, str):
        return config, {}
    if isinstance(config, dict) and "name" in config:
        options = dict(config)
        return options.pop("name"), options
    raise ValueError(f"expected a name or a dict with a 'name' key, got {config!r}")


# --------------------------------------------------------------------------- likelihoods


class Likelihood:
    """Maps raw decoder outputs to p(x|z).

    Attributes:
        params_per_channel: how many raw values the decoder emits per image channel.
        discrete: True when log_prob is a probability mass (no dequantization term in
            bits/dim).
        preprocessing: the data preprocessing this likelihood expects by default.
    """

    name = ""
    params_per_channel = 1
    discrete = True
    preprocessing = "float"

    def distribution(self, raw) -> tfd.Distribution:
        raise NotImplementedError

    def mean(self, raw):
        """The expected image E[x|z], in [0, 1]."""
        raise NotImplementedError

    def parameters(self, raw) -> dict:
        """Named parameters, as exported to other runtimes."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}


class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli pixels: binary (or binarized) images."""

    name = "bernoulli"
    preprocessing = "dynamic_binarize"

    def distribution(self, raw):
        return tfd.Independent(tfd.Bernoulli(logits=raw, dtype=raw.dtype), reinterpreted_batch_ndims=3)

    def mean(self, raw):
        return tf.sigmoid(raw)

    def parameters(self, raw):
        return {"logits": raw}


class GaussianLikelihood(Likelihood):
    """Independent Gaussian pixels with a per-pixel learned scale (heteroscedastic).

    The decoder emits a location and a raw scale per channel; the scale is
    softplus(raw) + `min_scale`, which keeps log p(x|z) finite on saturated pixels.
    Fit it to dequantized data (see `zoo.data.bits_per_dim`).

    Args:
        min_scale: lower bound on the standard deviation.
    """

    name = "gaussian"
    params_per_channel = 2
    discrete = False
    preprocessing = "dequantize"

    def __init__(self, min_scale: float = 1e-3):
        self.min_scale = float(min_scale)

    def _split(self, raw):
        loc, raw_scale = tf.split(raw, 2, axis=-1)
        return loc, tf.nn.softplus(raw_scale) + self.min_scale

    def distribution(self, raw):
        loc, scale = self._split(raw)
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=3)

    def mean(self, raw):
        return tf.clip_by_value(self._split(raw)[0], 0.0, 1.0)

    def parameters(self, raw):
        loc, scale = self._split(raw)
        return {"loc": loc, "scale": scale}

    def get_config(self):
        return {"name": self.name, "min_scale": self.min_scale}


LIKELIHOODS = {cls.name: cls for cls in (BernoulliLikelihood, GaussianLikelihood)}


def get_likelihood(config) -> Likelihood:
    name, options = _spec(config)
    if name not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {name!r}; choose one of {sorted(LIKELIHOODS)}")
    return LIKELIHOODS[name](**options)


# --------------------------------------------------------------------------- priors


@keras.saving.register_keras_serializable(package="zoo")
class Prior(keras.layers.Layer):
    """Base class of priors: a layer whose `distribution()` is p(z).

    `distribution(model)` receives the owning model, so priors defined through the
    encoder (VampPrior) can use it.
    """

    def __init__(self, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)

    def distribution(self, model=None) -> tfd.Distribution:
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}


@keras.saving.register_keras_serializable(package="zoo")
class StandardNormalPrior(Prior):
    """p(z) = N(0, I)."""

    prior_name = "standard_normal"

    def distribution(self, model=None):
        zeros = tf.zeros([self.latent_dim])
        return tfd.MultivariateNormalDiag(loc=zeros, scale_diag=tf.ones_like(zeros))


PRIORS = {"standard_normal": StandardNormalPrior}


def register_prior(name: str):
    """Class decorator that makes a prior available by name in model configs."""

    def wrap(cls):
        PRIORS[name] = cls
        cls.prior_name = name
        return cls

    return wrap


def get_prior(config, latent_dim: int) -> Prior:
    name, options = _spec(config)
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {sorted(PRIORS)}")
    return PRIORS[name](latent_dim=latent_dim, name="prior", **options)


def kl_divergence(posterior, prior, z):
    """KL(q || p): analytic when TFP knows the pair, else the one-sample estimate at z."""
    try:
        return tfd.kl_divergence(posterior, prior)
    except NotImplementedError:
        return posterior.log_prob(z) - prior.log_prob(z)
