"""The VAE with an inverse autoregressive flow posterior (Kingma et al. 2016).

The encoder emits a Gaussian (loc, scale) and a context vector h. A sample of the
Gaussian goes through `num_flows` gated IAF steps, each

    [m, s] = MADE(z; h),   g = sigmoid(s),   z <- g * z + (1 - g) * m,

where MADE is autoregressive in z (output i sees only z_<i) and sees h freely, so
each step's Jacobian is triangular with log-determinant sum_i log g_i. The gated
form (the paper's numerically stable update) starts close to the identity. The
order of z is reversed between steps so that every dimension gets to condition on
every other one.

q(z|x) is a `tfd.TransformedDistribution` of the base Gaussian through a
`tfb.Chain` of these steps and `tfb.Permute`s; it is rebuilt per call because the
steps depend on h. Sampling and log q at the sample need one forward pass; log q at
an arbitrary z inverts each step with latent_dim MADE passes (exact, slower). The
KL against the prior is estimated at the sample.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.models.base import MIN_POSTERIOR_SCALE
from zoo.models.vae import VAE
from zoo.registry import register_model

tfd = tfp.distributions
tfb = tfp.bijectors


def made_degrees(latent_dim: int, hidden_units) -> list:
    """Autoregressive degrees of the inputs, each hidden layer and the outputs.

    Input i (1-based) has degree i; hidden units cycle through 1..D-1 so that every
    output can depend on some inputs; output i has degree i and may only see
    hidden units of degree < i.
    """
    d = int(latent_dim)
    degrees = [np.arange(1, d + 1)]
    for units in hidden_units:
        degrees.append(np.arange(units) % max(1, d - 1) + 1)
    degrees.append(np.arange(1, d + 1))
    return degrees


@keras.saving.register_keras_serializable(package="zoo")
class MaskedDense(keras.layers.Layer):
    """A dense layer whose kernel is multiplied by a fixed 0/1 mask.

    Args:
        units: output size.
        mask: [input_dim, units] 0/1 array (rebuilt from the MADE's config, not saved).
        bias_initializer: initializer of the bias.
    """

    def __init__(self, units, mask, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.mask = np.asarray(mask, dtype="float32")
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=self.mask.shape, initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.kernel * self.mask) + self.bias

    def get_config(self):
        return {**super().get_config(), "units": self.units, "mask": self.mask.astype(int).tolist(),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@keras.saving.register_keras_serializable(package="zoo")
class MADE(keras.layers.Layer):
    """Masked autoencoder for distribution estimation (Germain et al. 2015), with a context.

    Maps z [..., D] and a context h [B, C] (broadcast against z's leading axes) to a
    shift m and a gate pre-activation s, both [..., D], where output i depends on
    z_<i only (and on h).

    Args:
        latent_dim: D.
        context_dim: C.
        hidden_units: sizes of the masked hidden layers.
        activation: hidden activation.
        gate_bias: initial bias of s; sigmoid(gate_bias) near 1 makes the step start
            close to the identity.
    """

    def __init__(self, latent_dim, context_dim, hidden_units=(64,), activation="elu", gate_bias=2.0, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.latent_dim = int(latent_dim)
        self.context_dim = int(context_dim)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        if not self.hidden_units:
            raise ValueError("MADE: hidden_units must list at least one layer")
        self.activation = activation
        self.gate_bias = float(gate_bias)
        degrees = made_degrees(self.latent_dim, self.hidden_units)
        # === Layers ===
        self.hidden = [
            MaskedDense(units, degrees[i + 1][None, :] >= degrees[i][:, None], name=f"masked{i}")
            for i, units in enumerate(self.hidden_units)
        ]
        self.context = keras.layers.Dense(self.hidden_units[0], use_bias=False, name="context")
        output_mask = degrees[-1][None, :] > degrees[-2][:, None]
        self.shift = MaskedDense(self.latent_dim, output_mask, name="shift")
        self.gate = MaskedDense(self.latent_dim, output_mask,
                                bias_initializer=keras.initializers.Constant(self.gate_bias), name="gate")
        self.activation_fn = keras.activations.get(activation)
        # Build eagerly so that the weights exist before a .keras file is loaded.
        shapes = (self.latent_dim, *self.hidden_units)
        for layer, fan_in in zip(self.hidden, shapes[:-1]):
            layer.build((None, fan_in))
        self.context.build((None, self.context_dim))
        self.shift.build((None, shapes[-1]))
        self.gate.build((None, shapes[-1]))
        self.built = True

    def call(self, z, context):
        h = self.hidden[0](z) + self.context(context)
        h = self.activation_fn(h)
        for layer in self.hidden[1:]:
            h = self.activation_fn(layer(h))
        return self.shift(h), self.gate(h)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "context_dim": self.context_dim,
                "hidden_units": list(self.hidden_units), "activation": self.activation,
                "gate_bias": self.gate_bias}


class GatedIAFStep(tfb.Bijector):
    """One gated IAF step z -> g * z + (1 - g) * m with [m, s] = MADE(z; h), g = sigmoid(s).

    Args:
        made: the `MADE` layer.
        context: h, [B, C].
    """

    def __init__(self, made, context, validate_args=False, name="gated_iaf_step"):
        parameters = dict(locals())
        self._made = made
        self._context = context
        super().__init__(forward_min_event_ndims=1, validate_args=validate_args, parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype):
        return {}

    def _forward(self, x):
        shift, gate_logits = self._made(x, self._context)
        gate = tf.sigmoid(gate_logits)
        return gate * x + (1.0 - gate) * shift

    def _forward_log_det_jacobian(self, x):
        _, gate_logits = self._made(x, self._context)
        return tf.reduce_sum(tf.math.log_sigmoid(gate_logits), axis=-1)

    def _inverse(self, y):
        # Output i of the MADE depends on x_<i only, so after pass i the first i
        # coordinates of x are exact; D passes recover x.
        x = tf.zeros_like(y)
        for _ in range(self._made.latent_dim):
            shift, gate_logits = self._made(x, self._context)
            gate = tf.sigmoid(gate_logits)
            x = (y - (1.0 - gate) * shift) / gate
        return x

    def _inverse_log_det_jacobian(self, y):
        return -self._forward_log_det_jacobian(self._inverse(y))


class IAFPosterior(tfd.TransformedDistribution):
    """q(z|x): a base diagonal Gaussian pushed through IAF steps.

    `mean()` has no closed form; it returns the flow applied to the base mean, a
    deterministic representative point (what `reconstruct`, `call` and the latent
    plots use). Use `sample`/`log_prob` for the distribution itself.
    """

    def _mean(self, **kwargs):
        return self.bijector.forward(self.distribution.mean())


@register_model("iaf_vae")
class IAFVAE(VAE):
    """A convolutional VAE with an IAF posterior. See `LatentVariableModel` for the
    shared arguments. The objective is the VAE's (one-sample ELBO, the KL estimated
    as log q(z|x) - log p(z) by `elbo_terms` below); only the posterior differs.

    Args:
        num_flows: number of IAF steps (0 gives the plain Gaussian posterior).
        context_dim: size of the context vector h emitted by the encoder.
        made_hidden_units: hidden layer sizes of each step's MADE.
    """

    free_bits_unsupported = "it needs a per-dimension analytic KL, which a flow posterior lacks"

    def __init__(self, num_flows=2, context_dim=16, made_hidden_units=(64,), **kwargs):
        # === Config ===
        self.num_flows = int(num_flows)
        self.context_dim = int(context_dim)
        self.made_hidden_units = tuple(int(u) for u in made_hidden_units)
        if self.num_flows < 0 or self.context_dim < 1:
            raise ValueError(f"IAFVAE: need num_flows >= 0 and context_dim >= 1, got {num_flows}, {context_dim}")
        super().__init__(**kwargs)

    @property
    def encoder_output_dim(self):
        return 2 * self.latent_dim + self.context_dim

    def build_extra(self):
        # === Layers ===
        self.flows = [MADE(self.latent_dim, self.context_dim, self.made_hidden_units, name=f"made{i}")
                      for i in range(self.num_flows)]

    def posterior(self, params, condition=None):
        loc, raw_scale, context = tf.split(params, [self.latent_dim, self.latent_dim, self.context_dim], axis=-1)
        base = tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.nn.softplus(raw_scale) + MIN_POSTERIOR_SCALE)
        reverse = tfb.Permute(permutation=list(range(self.latent_dim - 1, -1, -1)))
        steps = []  # in application order
        for i, made in enumerate(self.flows):
            if i > 0:
                steps.append(reverse)
            steps.append(GatedIAFStep(made, context, name=f"iaf_step{i}"))
        # tfb.Chain applies its list last-first.
        return IAFPosterior(distribution=base, bijector=tfb.Chain(steps[::-1]))

    def elbo_terms(self, x, condition=None, training=False, seed=None):
        posterior = self.posterior_for(x, condition, training)
        z, log_q = posterior.experimental_sample_and_log_prob(seed=self.draw_seed() if seed is None else seed)
        likelihood = self.likelihood.distribution(self.decoder_params(z, condition, training))
        reconstruction = -likelihood.log_prob(x)
        kl = log_q - self.prior_distribution().log_prob(z)  # one-sample estimate
        return {"reconstruction": reconstruction, "kl": kl, "z": z, "posterior": posterior}

    def get_config(self):
        return {**super().get_config(), "num_flows": self.num_flows, "context_dim": self.context_dim,
                "made_hidden_units": list(self.made_hidden_units)}
