"""The ladder VAE (Sønderby et al. 2016): a hierarchy of stochastic layers with
top-down inference.

Generative model, for layers 1..L (z_1 next to x, z_L on top):

    z_L ~ p(z_L) (the configured prior),  z_l ~ p(z_l | z_{l+1}) = N(mu_l, sigma_l),
    x ~ p(x | z_1).

Inference shares the top-down path. A bottom-up pass computes deterministic features
d_1 (the conv encoder) and d_{l+1} = f(d_l), and from each a Gaussian "likelihood
term" N(mu^_l, sigma^_l). Then, top to bottom,

    q(z_L | x) = N(mu^_L, sigma^_L),
    q(z_l | x, z_{l+1}) = the precision-weighted merge of N(mu^_l, sigma^_l) with the
                          prior p(z_l | z_{l+1}):  sigma_q^-2 = sigma^^-2 + sigma_l^-2,
                          mu_q = sigma_q^2 (mu^ sigma^^-2 + mu_l sigma_l^-2).

The ELBO's KL is the sum over layers of the analytic Gaussian KL of each layer given
the sampled layer above (Monte Carlo over the upper layers); importance weights use
the exact log densities of the whole hierarchy:

    log w = log p(x|z_1) + sum_l log p(z_l | z_{l+1}) + log p(z_L)
            - sum_l log q(z_l | x, z_{l+1}) - log q(z_L | x).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.distributions import kl_divergence
from zoo.models.base import MIN_POSTERIOR_SCALE, stateless_seed
from zoo.models.vae import VAE
from zoo.registry import register_model

tfd = tfp.distributions


def _gaussian(params):
    loc, raw_scale = tf.split(params, 2, axis=-1)
    return loc, tf.nn.softplus(raw_scale) + MIN_POSTERIOR_SCALE


def precision_weighted(loc_a, scale_a, loc_b, scale_b):
    """The normalized product of two diagonal Gaussians (LVAE's merge)."""
    precision_a, precision_b = scale_a ** -2, scale_b ** -2
    variance = 1.0 / (precision_a + precision_b)
    return variance * (loc_a * precision_a + loc_b * precision_b), tf.sqrt(variance)


@register_model("ladder_vae")
class LadderVAE(VAE):
    """A convolutional ladder VAE. See `LatentVariableModel` for the shared arguments;
    `latent_dim` is the size of z_1, the layer the decoder reads. The objective is the
    VAE's ELBO, with the KL summed over the hierarchy by `elbo_terms` below.

    Args:
        upper_latent_dims: sizes of z_2..z_L (at least one: two stochastic layers).
        ladder_hidden_dim: width of the dense layers of the bottom-up and top-down
            paths between stochastic layers.

    `encode(x)` returns q(z_1 | x, z_2 = E[z_2|x], ..., z_L = E[z_L|x]): a diagonal
    Gaussian over z_1 found by passing the means down the hierarchy (the code the
    decoder reads, with a mean and stddev for export). `encode_layers(x)` returns
    that path's Gaussian for every layer, top first. `prior` is over z_L and must be
    the standard normal; `free_bits` is not supported (use KL warm-up, as the paper).
    """

    free_bits_unsupported = "use kl_warmup_steps, as the paper does"
    unsupported_signatures = {
        "sample": "the prior is over the top layer z_L, not the z_1 the decoder reads; sampling needs the "
                  "model's ancestral top-down pass",
        "score": "the importance weights run over every layer of the hierarchy; the exported noise input "
                 "covers one latent layer",
    }

    def __init__(self, upper_latent_dims=(8,), ladder_hidden_dim=128, **kwargs):
        # === Config ===
        self.upper_latent_dims = tuple(int(d) for d in upper_latent_dims)
        if not self.upper_latent_dims or min(self.upper_latent_dims) < 1:
            raise ValueError(f"LadderVAE: upper_latent_dims must list >= 1 positive sizes, got {upper_latent_dims}")
        self.ladder_hidden_dim = int(ladder_hidden_dim)
        prior = kwargs.get("prior", "standard_normal")
        if prior not in ("standard_normal", {"name": "standard_normal"}):
            raise ValueError(f"LadderVAE: only the standard normal prior on the top layer is supported, got {prior!r}")
        super().__init__(**kwargs)

    @property
    def latent_dims(self):
        """Sizes of z_1..z_L."""
        return (self.latent_dim, *self.upper_latent_dims)

    @property
    def prior_latent_dim(self):
        return self.upper_latent_dims[-1]

    @property
    def encoder_output_dim(self):
        # The conv encoder emits the bottom-up features d_1 (pre-activation).
        return self.hidden_dim

    def build_extra(self):
        dims, width, act = self.latent_dims, self.ladder_hidden_dim, self.activation
        # === Layers ===
        # Bottom-up: d_{l+1} = f(d_l) for l = 1..L-1, and a Gaussian head on every d_l.
        self.bottom_up = [
            keras.Sequential([keras.Input((self.hidden_dim if l == 0 else width,)),
                              keras.layers.Dense(width, activation=act)], name=f"bottom_up{l + 2}")
            for l in range(len(dims) - 1)
        ]
        self.bottom_up_heads = [
            keras.Sequential([keras.Input((self.hidden_dim if l == 0 else width,)),
                              keras.layers.Dense(2 * dims[l])], name=f"q_head{l + 1}")
            for l in range(len(dims))
        ]
        # Top-down: p(z_l | z_{l+1}) for l = 1..L-1.
        self.top_down = [
            keras.Sequential([keras.Input((dims[l + 1],)), keras.layers.Dense(width, activation=act),
                              keras.layers.Dense(2 * dims[l])], name=f"p_z{l + 1}")
            for l in range(len(dims) - 1)
        ]

    # ------------------------------------------------------------------ the hierarchy

    def _bottom_up(self, x, condition=None, training=False):
        """Bottom-up Gaussian terms (loc, scale) for layers 1..L, each [B, D_l]."""
        inputs = x if condition is None else [x, condition]
        d = keras.activations.get(self.activation)(self.encoder(inputs, training=training))
        terms = []
        for l, head in enumerate(self.bottom_up_heads):
            if l > 0:
                d = self.bottom_up[l - 1](d, training=training)
            terms.append(_gaussian(head(d, training=training)))
        return terms

    def _conditional_prior(self, l, z_above, training=False):
        """p(z_l | z_{l+1}) for 0-based l < L-1."""
        return _gaussian(self.top_down[l](z_above, training=training))

    def _flat(self, z):
        # Keras layers take [N, D]; samples may carry a leading k axis.
        return tf.reshape(z, [-1, z.shape[-1]])

    def _top_down_pass(self, x, condition, k, seed, training):
        """Samples the hierarchy top-down: per layer (top first) the sample z [k, B, D_l],
        q and p as distributions with batch [k, B]."""
        terms = self._bottom_up(x, condition, training)
        seeds = tfp.random.split_seed(seed, n=len(terms)) if seed is not None else [None] * len(terms)
        batch = tf.shape(x)[0]
        layers = []
        loc, scale = terms[-1]
        q = tfd.MultivariateNormalDiag(loc=tf.broadcast_to(loc, [k, batch, loc.shape[-1]]),
                                       scale_diag=tf.broadcast_to(scale, [k, batch, loc.shape[-1]]))
        z = q.sample(seed=seeds[-1])
        layers.append({"z": z, "q": q, "p": self.prior_distribution()})
        for l in range(len(terms) - 2, -1, -1):
            p_loc, p_scale = self._conditional_prior(l, self._flat(z), training)
            shape = [k, batch, self.latent_dims[l]]
            p_loc, p_scale = tf.reshape(p_loc, shape), tf.reshape(p_scale, shape)
            q_loc, q_scale = precision_weighted(terms[l][0], terms[l][1], p_loc, p_scale)
            q = tfd.MultivariateNormalDiag(loc=q_loc, scale_diag=q_scale)
            z = q.sample(seed=seeds[l])
            layers.append({"z": z, "q": q, "p": tfd.MultivariateNormalDiag(loc=p_loc, scale_diag=p_scale)})
        return layers

    def _log_px(self, x, z1, condition, training):
        k = tf.shape(z1)[0]
        raw = self.decoder_params(self._flat(z1), None, training)
        log_px = self.likelihood.distribution(raw).log_prob(tf.tile(x, [k, 1, 1, 1]))
        return tf.reshape(log_px, [k, -1])

    def importance_log_terms(self, x, condition=None, k=1, seed=None, training=False, noise=None):
        if noise is not None:
            # Given noise covers one latent layer; the hierarchy draws one per layer.
            raise ValueError(f"{type(self).__name__}: importance weights from given noise are not supported "
                             f"({self.unsupported_signatures['score']})")
        layers = self._top_down_pass(x, condition, k, seed, training)
        return {
            "log_px": self._log_px(x, layers[-1]["z"], condition, training),
            "log_pz": tf.add_n([layer["p"].log_prob(layer["z"]) for layer in layers]),
            "log_qz": tf.add_n([layer["q"].log_prob(layer["z"]) for layer in layers]),
        }

    def elbo_terms(self, x, condition=None, training=False, seed=None):
        layers = self._top_down_pass(x, condition, 1, self.draw_seed() if seed is None else seed, training)
        # Per layer, the KL given the sampled layer above: analytic for Gaussians.
        kls = [kl_divergence(layer["q"], layer["p"], layer["z"])[0] for layer in layers]
        bottom = layers[-1]
        return {
            "reconstruction": -self._log_px(x, bottom["z"], condition, training)[0],
            "kl": tf.add_n(kls),
            "kl_layers": kls[::-1],  # z_1 first
            "z": bottom["z"][0],
            # q(z_1 | x, z_2) at the sampled z_2, without the leading sample axis.
            "posterior": tfd.MultivariateNormalDiag(loc=bottom["q"].mean()[0], scale_diag=bottom["q"].stddev()[0]),
        }

    # ------------------------------------------------------------------ public pieces that differ

    def _mean_path(self, x, condition=None, training=False):
        """Per layer (top first) q with every upper layer at its mean: [B, D_l] Gaussians."""
        terms = self._bottom_up(x, condition, training)
        loc, scale = terms[-1]
        path = [tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale)]
        for l in range(len(terms) - 2, -1, -1):
            p_loc, p_scale = self._conditional_prior(l, path[-1].mean(), training)
            q_loc, q_scale = precision_weighted(terms[l][0], terms[l][1], p_loc, p_scale)
            path.append(tfd.MultivariateNormalDiag(loc=q_loc, scale_diag=q_scale))
        return path

    def posterior_for(self, x, condition=None, training=False):
        return self._mean_path(x, condition, training)[-1]

    def encode_layers(self, x, y=None):
        """q(z_l | x, upper layers at their means) for l = L..1 (top first)."""
        x, condition = self.checked_inputs(x, y)
        return self._mean_path(x, condition)

    def sample(self, n, seed=None, labels=None):
        """n images E[x|z_1], with z_L ~ p(z_L) and z_l ~ p(z_l|z_{l+1}) sampled ancestrally."""
        if int(n) < 1:
            raise ValueError(f"n must be a positive number of samples, got {n}")
        seed = stateless_seed(seed)
        num_layers = len(self.latent_dims)
        seeds = tfp.random.split_seed(seed, n=num_layers) if seed is not None else [None] * num_layers
        z = self.prior_distribution().sample(int(n), seed=seeds[0])
        for i, l in enumerate(range(len(self.latent_dims) - 2, -1, -1)):
            loc, scale = self._conditional_prior(l, z)
            z = tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale).sample(seed=seeds[i + 1])
        return self.decode_mean(z).numpy()

    def get_config(self):
        return {**super().get_config(), "upper_latent_dims": list(self.upper_latent_dims),
                "ladder_hidden_dim": self.ladder_hidden_dim}
