"""The two-stage VAE (Dai & Wipf 2019): a second VAE learns where the first one's codes are.

A VAE's codes, q(z) = E_x q(z|x), do not fill N(0, I): prior draws land in the holes
between them and decode to blurred hybrids. The second stage is a small VAE over z,
u ~ N(0, I), z ~ p(z|u) = N(mu(u), diag sigma(u)^2), fitted to codes z ~ q(z|x). Its
marginal p(z) = E_u p(z|u) replaces N(0, I): sampling draws u, then z, then x, and
log p(x) is bounded with q(z|x) q(u|z) as the proposal,

    ELBO(x) = E[log p(x|z) + log p(z|u) + log p(u) - log q(z|x) - log q(u|z)].

With `train_first_stage=False` (the paper's second stage, the default) only the second
stage learns, from the codes of a frozen first stage (start it from a trained preset:
a recipe's `init_from`): the loss is the second stage's negative ELBO of z. With True,
both learn at once: the first stage by its own VAE loss against N(0, I), the second on
its codes (held fixed for the second stage's gradient).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from zoo.distributions import kl_divergence
from zoo.models.base import MIN_POSTERIOR_SCALE, stateless_seed
from zoo.models.vae import VAE
from zoo.registry import register_model

tfd = tfp.distributions


def dense_gaussian_network(input_dim: int, output_dim: int, hidden_dim: int, hidden_layers: int, activation: str,
                           name: str) -> keras.Model:
    """An MLP [B, input_dim] -> raw Gaussian parameters [B, 2 * output_dim] (loc, raw scale)."""
    inputs = keras.Input((input_dim,), name="inputs")
    h = inputs
    for i in range(hidden_layers):
        h = layers.Dense(hidden_dim, activation=activation, name=f"hidden{i}")(h)
    return keras.Model(inputs, layers.Dense(2 * output_dim, name="params", dtype="float32")(h), name=name)


def diagonal_gaussian(params) -> tfd.MultivariateNormalDiag:
    loc, raw_scale = tf.split(params, 2, axis=-1)
    return tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.nn.softplus(raw_scale) + MIN_POSTERIOR_SCALE)


@register_model("two_stage_vae")
class TwoStageVAE(VAE):
    """A VAE whose codes are modelled by a second VAE. See `LatentVariableModel` for the
    first stage's arguments (its prior must stay N(0, I): the second stage replaces it).

    Args:
        second_latent_dim: size of u, the second stage's latent.
        second_hidden_dim: width of the second stage's hidden layers.
        second_hidden_layers: hidden layers of its encoder and of its decoder.
        train_first_stage: False (the default) freezes the encoder and decoder and
            trains the second stage alone; True trains both stages at once.
        code_sampling: how a sample's code comes from u: "draw" (the default) draws
            z ~ p(z|u), ancestral sampling from the model whose density is bounded;
            "mean" takes z = E[z|u], as images are E[x|z]: p(z|u)'s scale also
            covers the codes' posterior noise, and its draws leave the codes'
            manifold (sharper samples, less variety; both are measured in
            benchmarks/two_stage_sampling.md). Density and training are the same.
    """

    metric_names = ("loss", "elbo", "reconstruction", "kl", "second_stage")
    unsupported_signatures = {
        "sample": "a draw goes through two latents (u, then z given u); the exported noise input covers one",
        "score": "the importance weights draw u given z too; the exported noise input covers z only",
    }

    code_samplings = ("draw", "mean")

    def __init__(self, second_latent_dim=32, second_hidden_dim=512, second_hidden_layers=2, train_first_stage=False,
                 code_sampling="draw", **kwargs):
        # === Config ===
        if code_sampling not in self.code_samplings:
            raise ValueError(f"TwoStageVAE: code_sampling must be one of {self.code_samplings}, got {code_sampling!r}")
        self.code_sampling = code_sampling
        self.second_latent_dim = int(second_latent_dim)
        self.second_hidden_dim = int(second_hidden_dim)
        self.second_hidden_layers = int(second_hidden_layers)
        self.train_first_stage = bool(train_first_stage)
        if kwargs.get("prior", "standard_normal") != "standard_normal":
            raise ValueError("TwoStageVAE: the first stage's prior is N(0, I); the second stage learns the codes' "
                             "distribution instead of another prior")
        super().__init__(**kwargs)
        if not self.train_first_stage:
            self.encoder.trainable = False
            self.decoder.trainable = False

    def build_extra(self):
        # === Layers ===
        common = dict(hidden_dim=self.second_hidden_dim, hidden_layers=self.second_hidden_layers,
                      activation=self.activation)
        self.second_encoder = dense_gaussian_network(self.latent_dim, self.second_latent_dim,
                                                     name="second_encoder", **common)
        self.second_decoder = dense_gaussian_network(self.second_latent_dim, self.latent_dim,
                                                     name="second_decoder", **common)

    # ------------------------------------------------------------------ the second stage

    def second_stage_terms(self, z, seed=None, training=False) -> dict:
        """Per-code terms of the second stage for codes z [..., D]: its negative ELBO
        "loss" = -log p(z|u) + KL(q(u|z) || N(0, I)), and "log_pz", the one-sample
        estimate log p(z|u) + log p(u) - log q(u|z) of log p(z) (unbiased in p(z))."""
        flat = tf.reshape(z, [-1, self.latent_dim])
        q_u = diagonal_gaussian(self.second_encoder(flat, training=training))
        u, log_qu = q_u.experimental_sample_and_log_prob(seed=self.draw_seed() if seed is None else seed)
        p_u = tfd.MultivariateNormalDiag(loc=tf.zeros_like(u), scale_diag=tf.ones_like(u))
        log_pz_given_u = diagonal_gaussian(self.second_decoder(u, training=training)).log_prob(flat)
        shape = tf.shape(z)[:-1]
        return {"loss": tf.reshape(-log_pz_given_u + kl_divergence(q_u, p_u, u), shape),
                "log_pz": tf.reshape(log_pz_given_u + p_u.log_prob(u) - log_qu, shape)}

    def prior_sample(self, n: int, seed=None, condition=None):
        """n codes from the second stage: u ~ N(0, I), then z ~ p(z|u), or z = E[z|u]
        with `code_sampling="mean"`."""
        u_seed, z_seed = tfp.random.split_seed(stateless_seed(seed) if seed is not None else self.draw_seed())
        u = tf.random.stateless_normal([int(n), self.second_latent_dim], seed=u_seed)
        p_z = diagonal_gaussian(self.second_decoder(u))
        return p_z.mean() if self.code_sampling == "mean" else p_z.sample(seed=z_seed)

    # ------------------------------------------------------------------ objective and density

    def elbo_terms(self, x, condition=None, training=False, seed=None) -> dict:
        """The VAE's terms with "kl" the two-stage one, log q(z|x) - log p(z) (one u
        per z), "first_stage_kl" the KL against N(0, I) and "second_stage" its loss."""
        z_seed, u_seed = tfp.random.split_seed(seed) if seed is not None else (None, None)
        t = super().elbo_terms(x, condition, training, z_seed)
        # The second stage learns the codes as they are: no gradient into the first stage.
        second = self.second_stage_terms(tf.stop_gradient(t["z"]), u_seed, training)
        return {**t, "first_stage_kl": t["kl"], "kl": t["posterior"].log_prob(t["z"]) - second["log_pz"],
                "second_stage": second["loss"]}

    def loss_terms(self, x, condition, training):
        t = self.elbo_terms(x, condition, training)
        first_stage = t["reconstruction"] + self.kl_weight() * t["first_stage_kl"] if self.train_first_stage else 0.0
        return {
            "loss": first_stage + t["second_stage"],
            "elbo": -(t["reconstruction"] + t["kl"]),
            "reconstruction": t["reconstruction"],
            "kl": t["kl"],
            "second_stage": t["second_stage"],
        }

    def importance_log_terms(self, x, condition=None, k=1, seed=None, training=False, noise=None):
        if noise is not None:
            raise ValueError(f"{type(self).__name__}: importance weights from given noise are not supported "
                             "(u given z is drawn too); pass a seed")
        z_seed, u_seed = tfp.random.split_seed(seed) if seed is not None else (None, None)
        t = super().importance_log_terms(x, condition, k, z_seed, training)
        return {**t, "log_pz": self.second_stage_terms(t["z"], u_seed, training)["log_pz"]}

    def get_config(self):
        return {**super().get_config(), "second_latent_dim": self.second_latent_dim,
                "second_hidden_dim": self.second_hidden_dim, "second_hidden_layers": self.second_hidden_layers,
                "train_first_stage": self.train_first_stage, "code_sampling": self.code_sampling}
