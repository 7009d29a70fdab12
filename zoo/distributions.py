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

    def num_params(self, channels: int) -> int:
        """Raw decoder outputs per pixel for images of `channels` channels."""
        return self.params_per_channel * channels

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


class LogitBernoulli(tfd.Bernoulli):
    """`tfd.Bernoulli` given finite logits s, with log p(x) = x s - softplus(s).

    The same value as TFP's (1 - x) log(1 - p) + x log p, written with one softplus
    instead of two and without its guards for infinite logits, which a decoder never
    emits: the likelihood is a tenth of the importance-sampling evaluator's time and
    this form is ~1.6x faster (`benchmarks/is_throughput.md`). Its gradient in s is x - p.
    """

    def _log_prob(self, event):
        logits = tf.convert_to_tensor(self.logits)
        return tf.cast(event, logits.dtype) * logits - tf.nn.softplus(logits)


class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli pixels: binary (or binarized) images."""

    name = "bernoulli"
    preprocessing = "dynamic_binarize"

    def distribution(self, raw):
        return tfd.Independent(LogitBernoulli(logits=raw, dtype=raw.dtype), reinterpreted_batch_ndims=3)

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


# The 256 levels of an 8-bit pixel, as the loaders give them: x = k / 255.
LEVELS = 255.0

# Upper bound on a mixture component's log-scale. A logistic with scale e^7 (over a
# thousand times the [0, 1] range) is already flat, so the bound takes nothing from
# the model; without it a decoder that blows up for one odd image (raw log-scales of
# 100+ were seen in cvae_cifar10's first epoch) makes 1/s underflow to 0, every level's
# bin width log(sigmoid(a) - sigmoid(b)) becomes log 0, and 0 * inf turns the whole
# gradient into NaN while the loss itself stays finite.
MAX_LOG_SCALE = 7.0


def _log_sigmoid_difference(a, b):
    """log(sigmoid(a) - sigmoid(b)) for a > b, stable in both tails.

    sigmoid(a) - sigmoid(b) = e^a (1 - e^(b-a)) / ((1 + e^a)(1 + e^b)), so its log is
    -softplus(-a) - softplus(b) + log(-expm1(b - a)): no difference of two nearly
    equal probabilities is ever formed, so a bin far out in a tail keeps its exact
    (tiny) mass in float32 instead of rounding to 0 (PixelCNN++ falls back to the
    density at the bin centre there; this needs no fallback).
    """
    return -tf.nn.softplus(-a) - tf.nn.softplus(b) + tf.math.log(-tf.math.expm1(b - a))


def couple_rgb(locs, coeffs, channel_value, axis):
    """PixelCNN++'s linear dependence of the channels: G moves with R, B with R and G.

    Walks R, G, B in order: a channel's location is its own plus the coefficients
    times the values the channels before it took, and `channel_value(channel,
    location)` says what value that is: the image's own pixel (log_prob), a draw
    (sampling) or the clipped location (the mean). One function for all three keeps
    the coupling written once.

    Args:
        locs, coeffs: the three channels' own locations and their coefficients (a, b, c),
            channels along `axis`; any other shape, as long as the two broadcast.
        channel_value: (channel index, location) -> that channel's value.
        axis: the channel axis.
    Returns:
        (locations, values), each stacked along `axis` and broadcast to one shape.
    """
    mu_r, mu_g, mu_b = tf.unstack(locs, axis=axis)
    a, b, c = tf.unstack(coeffs, axis=axis)
    r = channel_value(0, mu_r)
    mu_g = mu_g + a * r
    g = channel_value(1, mu_g)
    mu_b = mu_b + b * r + c * g
    blue = channel_value(2, mu_b)
    zeros = tf.zeros_like(mu_b)  # values of the data may carry more batch dimensions than the locations
    return (tf.stack([mu_r + zeros, mu_g + zeros, mu_b], axis=axis),
            tf.stack([r + zeros, g + zeros, blue + zeros], axis=axis))


class DiscretizedLogisticMixture(tfd.Distribution):
    """8-bit images as a mixture of discretized logistics per pixel (Salimans et al. 2017).

    Each pixel picks one of K components (shared by its channels); given it, channel
    c is a logistic with location mu_c and scale s_c, discretized to the 256 levels
    x = k/255 (the mass of [x - 1/510, x + 1/510]; the end levels 0 and 1 take the
    tails). For RGB the channels depend linearly on the ones before them, as in
    PixelCNN++: mu_g + a x_r and mu_b + b x_r + c x_g. `log_prob` is the exact log
    probability mass of the image, so bits/dim need no dequantization term.

    Args:
        logits: [..., H, W, K] mixture logits.
        locs: [..., H, W, C, K] locations, in the units of x ([0, 1]).
        log_scales: [..., H, W, C, K].
        coeffs: [..., H, W, 3, K] (RGB only) the coefficients a, b, c in (-1, 1).

    The event is one image [H, W, C]; values are floats k / 255.
    """

    def __init__(self, logits, locs, log_scales, coeffs=None, validate_args=False, allow_nan_stats=True,
                 name="DiscretizedLogisticMixture"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._logits = tf.convert_to_tensor(logits, tf.float32)
            self._locs = tf.convert_to_tensor(locs, tf.float32)
            self._log_scales = tf.convert_to_tensor(log_scales, tf.float32)
            self._coeffs = None if coeffs is None else tf.convert_to_tensor(coeffs, tf.float32)
            super().__init__(dtype=tf.float32, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                             validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {
            "logits": tfp.util.ParameterProperties(event_ndims=3),
            "locs": tfp.util.ParameterProperties(event_ndims=4),
            "log_scales": tfp.util.ParameterProperties(event_ndims=4),
            "coeffs": tfp.util.ParameterProperties(event_ndims=4),
        }

    def _event_shape(self):
        return self._locs.shape[-4:-1]

    def _event_shape_tensor(self):
        return tf.shape(self._locs)[-4:-1]

    def _batch_shape(self):
        return self._locs.shape[:-4]

    def _batch_shape_tensor(self):
        return tf.shape(self._locs)[:-4]

    def _channel_locs(self, x):
        """Component locations [..., H, W, C, K] given the image's own earlier channels."""
        if self._coeffs is None:
            return self._locs
        # The image's channel [..., H, W, 1] broadcasts over the K components.
        locs, _ = couple_rgb(self._locs, self._coeffs, lambda ch, loc: x[..., ch:ch + 1], axis=-2)
        return locs

    def _log_prob(self, x):
        x = tf.round(tf.convert_to_tensor(x, tf.float32) * LEVELS) / LEVELS  # exactly on the grid
        locs = self._channel_locs(x)
        xk = x[..., None]  # [..., H, W, C, 1]
        inv_scale = tf.exp(-self._log_scales)
        upper = inv_scale * (xk - locs + 0.5 / LEVELS)
        lower = inv_scale * (xk - locs - 0.5 / LEVELS)
        per_channel = tf.where(
            xk < 0.5 / LEVELS, -tf.nn.softplus(-upper),  # level 0 takes the lower tail
            tf.where(xk > 1.0 - 0.5 / LEVELS, -tf.nn.softplus(lower),  # level 255 the upper tail
                     _log_sigmoid_difference(upper, lower)))
        log_mix = tf.nn.log_softmax(self._logits, axis=-1) + tf.reduce_sum(per_channel, axis=-2)  # [..., H, W, K]
        return tf.reduce_sum(tf.reduce_logsumexp(log_mix, axis=-1), axis=[-2, -1])

    def _sample_n(self, n, seed=None):
        component_seed, noise_seed = tfp.random.split_seed(seed, n=2)
        k = tfd.Categorical(logits=self._logits).sample(n, seed=component_seed)  # [n, ..., H, W]
        one_hot = tf.one_hot(k, tf.shape(self._logits)[-1])[..., None, :]  # [n, ..., H, W, 1, K]
        shape = tf.concat([[n], tf.shape(self._locs)[:-1]], axis=0)
        u = tf.random.stateless_uniform(shape, seed=noise_seed, minval=1e-5, maxval=1.0 - 1e-5)
        noise = tf.math.log(u) - tf.math.log1p(-u)  # standard logistic draws [n, ..., H, W, C]
        scale = tf.reduce_sum(one_hot * tf.exp(self._log_scales), axis=-1)
        loc = tf.reduce_sum(one_hot * self._locs, axis=-1)

        def draw(ch, mu):
            value = tf.clip_by_value(mu + scale[..., ch] * noise[..., ch], 0.0, 1.0)
            return tf.round(value * LEVELS) / LEVELS

        if self._coeffs is None:
            return tf.stack([draw(ch, loc[..., ch]) for ch in range(self._locs.shape[-2])], axis=-1)
        # Channel by channel: G sees the drawn R, B the drawn R and G (the pixel's one component's coefficients).
        coeffs = tf.reduce_sum(one_hot * self._coeffs, axis=-1)  # [n, ..., H, W, 3]
        return couple_rgb(loc, coeffs, draw, axis=-1)[1]

    def _mean(self):
        # Per component, each channel's location clipped to [0, 1] and mixed: the exact
        # mean differs only by the tail mass that the end levels absorb. For RGB a
        # component's G and B locations move with that same component's R (and G) mean,
        # since one component draws all three channels of a pixel.
        weights = tf.nn.softmax(self._logits, axis=-1)[..., None, :]  # [..., H, W, 1, K]
        if self._coeffs is None:
            return tf.reduce_sum(weights * tf.clip_by_value(self._locs, 0.0, 1.0), axis=-1)
        _, means = couple_rgb(self._locs, self._coeffs, lambda ch, loc: tf.clip_by_value(loc, 0.0, 1.0), axis=-2)
        return tf.reduce_sum(weights * means, axis=-1)


class DiscretizedLogisticMixtureLikelihood(Likelihood):
    """8-bit images (grey or RGB): a `DiscretizedLogisticMixture` of K components.

    The decoder emits per pixel K mixture logits, then per channel K locations and
    K raw log-scales, and for RGB 3K raw channel coefficients (tanh-squashed). Fit it
    to images as the loaders give them, x = pixel / 255 (preprocessing "float").

    Args:
        num_components: K.
        min_log_scale: lower bound on log s (s in units of x; e^-7 ~ a quarter of a
            level), which keeps the loss finite when a component collapses; the upper
            bound is `MAX_LOG_SCALE`.
    """

    name = "discretized_logistic_mixture"
    discrete = True
    preprocessing = "float"

    def __init__(self, num_components: int = 5, min_log_scale: float = -7.0):
        self.num_components = int(num_components)
        if self.num_components < 1:
            raise ValueError(f"num_components must be >= 1, got {num_components}")
        self.min_log_scale = float(min_log_scale)

    def num_params(self, channels: int) -> int:
        if channels not in (1, 3):
            raise ValueError(f"{self.name} models grey (1) or RGB (3) images, not {channels} channels")
        return self.num_components * (1 + 2 * channels + (3 if channels == 3 else 0))

    def _split(self, raw):
        k = self.num_components
        channels = 3 if raw.shape[-1] == self.num_params(3) else 1
        shape = tf.concat([tf.shape(raw)[:-1], [channels, k]], axis=0)
        logits = raw[..., :k]
        locs = tf.reshape(raw[..., k:k + channels * k], shape)
        log_scales = tf.clip_by_value(tf.reshape(raw[..., k + channels * k:k + 2 * channels * k], shape),
                                      self.min_log_scale, MAX_LOG_SCALE)
        coeffs = None
        if channels == 3:
            coeffs = tf.tanh(tf.reshape(raw[..., 7 * k:], tf.concat([tf.shape(raw)[:-1], [3, k]], axis=0)))
        return logits, locs, log_scales, coeffs

    def distribution(self, raw):
        return DiscretizedLogisticMixture(*self._split(raw))

    def mean(self, raw):
        return self.distribution(raw).mean()

    def parameters(self, raw):
        logits, locs, log_scales, coeffs = self._split(raw)
        out = {"logits": logits, "locs": locs, "scales": tf.exp(log_scales)}
        return out if coeffs is None else {**out, "coeffs": coeffs}

    def get_config(self):
        return {"name": self.name, "num_components": self.num_components, "min_log_scale": self.min_log_scale}


LIKELIHOODS = {cls.name: cls for cls in (BernoulliLikelihood, GaussianLikelihood, DiscretizedLogisticMixtureLikelihood)}


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
    encoder (VampPrior) can use it; a prior with `conditional = True` is p(z|y) and
    also receives the one-hot labels, `distribution(model, condition)`.
    """

    # p(z|y): the prior depends on the class label (only conditional models have one).
    conditional = False

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


@keras.saving.register_keras_serializable(package="zoo")
class ClassConditionalPrior(Prior):
    """p(z|y) = N(mu_y, diag(sigma_y^2)): a learned diagonal Gaussian per class.

    A conditional model with N(0, I) for every class must keep the class out of z,
    or prior samples land where another class's posteriors live and the decoder
    draws that class whatever y says. With p(z|y) learned, z may carry class-typical
    shape and a sample for class y is drawn where class y's codes are (Sohn et al.
    2015's prior network, here a table of means and scales). The all-zero null label
    (label dropout) gives N(0, I).

    Args:
        latent_dim: size of z (set by the model).
    """

    conditional = True

    def build_for(self, model):
        if not getattr(model, "conditional", False):
            raise ValueError("class_conditional prior: the model is not conditional (it has no labels)")
        shape = (model.num_classes, self.latent_dim)
        self.locs = self.add_weight(shape=shape, initializer="zeros", name="locs")
        self.log_scales = self.add_weight(shape=shape, initializer="zeros", name="log_scales")
        self.built = True

    def distribution(self, model=None, condition=None):
        if condition is None:
            raise ValueError("the class_conditional prior is p(z|y): it needs the one-hot labels")
        condition = tf.convert_to_tensor(condition, tf.float32)
        return tfd.MultivariateNormalDiag(loc=tf.matmul(condition, self.locs),
                                          scale_diag=tf.exp(tf.matmul(condition, self.log_scales)))


PRIORS = {"standard_normal": StandardNormalPrior, "class_conditional": ClassConditionalPrior}
ClassConditionalPrior.prior_name = "class_conditional"


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
