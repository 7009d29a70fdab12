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

import math

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

    def build_for(self, model):
        """Called once by the owning model after its networks exist: priors with
        variables shaped by the model (VampPrior's pseudo-inputs) create them here."""

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


def gaussian_parts(posterior):
    """(kind, mean, stddev, bijector) with z = bijector(mean + stddev * eps), eps ~ N(0, I).

    kind is "gaussian" (a diagonal Gaussian), "transformed_gaussian" (a bijector of
    one: flows) or "point_mass" (a deterministic encoder, stddev 0); `bijector` is
    None except for "transformed_gaussian".

    Raises:
        ValueError: for a distribution that is none of these.
    """
    if isinstance(posterior, tfd.MultivariateNormalDiag):
        return "gaussian", posterior.mean(), posterior.stddev(), None
    if isinstance(posterior, tfd.Independent):
        inner = posterior.distribution
        if isinstance(inner, tfd.Normal):
            return "gaussian", inner.loc + tf.zeros_like(inner.scale), inner.scale + tf.zeros_like(inner.loc), None
        if isinstance(inner, tfd.Deterministic):
            return "point_mass", inner.loc, tf.zeros_like(inner.loc), None
    if isinstance(posterior, tfd.TransformedDistribution):
        kind, mean, stddev, inner_bijector = gaussian_parts(posterior.distribution)
        if kind == "gaussian" and inner_bijector is None:
            return "transformed_gaussian", mean, stddev, posterior.bijector
    raise ValueError(f"a {type(posterior).__name__} is not a diagonal Gaussian, a bijector applied to one, "
                     "or a point mass")


def sample_from_noise(posterior, noise):
    """(z, log q(z)) for z the reparameterization of `noise` [k, B, D] ~ N(0, I).

    What `experimental_sample_and_log_prob(k)` returns, with the noise given rather
    than drawn (an exported graph holds no random op). For a flow, log q comes from
    the change of variables at the base draw: exact, with no inverse of the flow.

    Raises:
        ValueError: the posterior is not a (transformed) diagonal Gaussian.
    """
    kind, mean, stddev, bijector = gaussian_parts(posterior)
    if kind == "point_mass":
        raise ValueError("a point-mass posterior has no density: there is no log q(z|x) to sample with")
    u = mean + stddev * noise  # [k, B, D]: the posterior's batch [B] broadcasts
    if bijector is None:
        return u, posterior.log_prob(u)
    base = tfd.MultivariateNormalDiag(mean, stddev)
    return bijector.forward(u), base.log_prob(u) - bijector.forward_log_det_jacobian(u, event_ndims=1)


class DiagonalGaussianMixture(tfd.MixtureSameFamily):
    """A mixture of K diagonal Gaussians whose log-density is computed by matmuls.

    `MixtureSameFamily.log_prob` broadcasts N points against K components into an
    [N, K, D] tensor. Expanding the square instead,

        sum_d (z_d - mu_kd)^2 / s_kd^2 = z^2 . (1/s_k^2) - 2 z . (mu_k/s_k^2) + mu_k^2 . (1/s_k^2),

    needs two [N, D] x [D, K] matmuls and no [N, K, D] intermediate: with a 500-component
    VampPrior and the 10,000 samples of one importance-sampling call, that intermediate
    was 640 MB per call. Sampling and everything else are MixtureSameFamily's. Expects
    `components_distribution` a `MultivariateNormalDiag` with batch shape [K] and
    unbatched mixture logits [K].
    """

    def _log_prob(self, x):
        components = self.components_distribution
        loc = components.mean()  # [K, D]
        scale = components.stddev()  # [K, D]
        precision = tf.math.reciprocal(tf.square(scale))
        depth = tf.shape(loc)[-1]
        flat = tf.reshape(x, [-1, depth])
        squared_distance = (tf.matmul(tf.square(flat), precision, transpose_b=True)
                            - 2.0 * tf.matmul(flat, loc * precision, transpose_b=True)
                            + tf.reduce_sum(tf.square(loc) * precision, axis=-1))  # [N, K]
        log_normalizer = (-0.5 * tf.cast(depth, x.dtype) * math.log(2.0 * math.pi)
                          - tf.reduce_sum(tf.math.log(scale), axis=-1))  # [K]
        log_weights = tf.math.log_softmax(self.mixture_distribution.logits_parameter(), axis=-1)
        log_density = tf.reduce_logsumexp(log_weights + log_normalizer - 0.5 * squared_distance, axis=-1)
        return tf.reshape(log_density, tf.shape(x)[:-1])


@keras.saving.register_keras_serializable(package="zoo")
@register_prior("vamp")
class VampPrior(Prior):
    """The VampPrior (Tomczak & Welling 2018): p(z) = (1/K) sum_k q(z | u_k).

    The prior is the model's own posterior averaged over K learned pseudo-inputs
    u_k, image-shaped. They are stored unconstrained and squashed into [0, 1] by a
    sigmoid, so they stay valid encoder inputs. The mixture is rebuilt from the
    current encoder on every call, so the prior follows the encoder during training.
    There is no analytic KL against a mixture: models fall back to the Monte Carlo
    estimate log q(z|x) - log p(z).

    Use it as `VAE(prior={"name": "vamp", "num_components": 500})` or `VampVAE`.

    Args:
        latent_dim: size of z (set by the model).
        num_components: K, the number of pseudo-inputs.
        init_stddev: stddev of the normal initialization of the unconstrained
            pseudo-inputs (0 gives K identical grey images: keep it > 0).
    """

    def __init__(self, latent_dim: int, num_components: int = 500, init_stddev: float = 1.0, **kwargs):
        super().__init__(latent_dim, **kwargs)
        if int(num_components) < 1:
            raise ValueError(f"VampPrior: num_components must be >= 1, got {num_components}")
        self.num_components = int(num_components)
        self.init_stddev = float(init_stddev)
        self.pseudo_inputs_raw = None

    def build_for(self, model):
        if getattr(model, "conditional", False):
            raise ValueError("VampPrior: conditional models are not supported (the pseudo-inputs carry no label)")
        self.pseudo_inputs_raw = self.add_weight(
            shape=(self.num_components, *model.image_shape),
            initializer=keras.initializers.RandomNormal(stddev=self.init_stddev),
            name="pseudo_inputs_raw",
        )
        self.built = True

    def pseudo_inputs(self):
        """The K pseudo-inputs as images in [0, 1]."""
        return tf.sigmoid(self.pseudo_inputs_raw)

    def initialize_from(self, images):
        """Sets the pseudo-inputs to K images (e.g. training examples), a common warm start."""
        images = tf.convert_to_tensor(images, tf.float32)
        if tuple(images.shape) != tuple(self.pseudo_inputs_raw.shape):
            raise ValueError(f"VampPrior.initialize_from: expected images of shape "
                             f"{tuple(self.pseudo_inputs_raw.shape)}, got {tuple(images.shape)}")
        clipped = tf.clip_by_value(images, 0.01, 0.99)  # finite logits for binary pixels
        self.pseudo_inputs_raw.assign(tf.math.log(clipped) - tf.math.log1p(-clipped))

    def distribution(self, model=None):
        if model is None or self.pseudo_inputs_raw is None:
            raise ValueError("VampPrior.distribution needs the model that owns it (its encoder defines the prior)")
        components = model.posterior_for(self.pseudo_inputs(), None)
        if not isinstance(components, tfd.MultivariateNormalDiag):
            raise ValueError(f"VampPrior needs a diagonal Gaussian posterior, got {type(components).__name__} "
                             f"from {type(model).__name__}")
        return DiagonalGaussianMixture(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([self.num_components])),
            components_distribution=tfd.MultivariateNormalDiag(
                loc=components.mean(), scale_diag=components.stddev()),
        )

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components, "init_stddev": self.init_stddev}
