"""FactorVAE (Kim & Mnih 2018): the ELBO plus a discriminator's estimate of the total
correlation of q(z).

A discriminator D tells samples of q(z) (a batch of posterior samples) from samples
of Π_d q(z_d) (the same batch with every dimension shuffled independently across
the batch). With D(z) the probability that z came from q(z),

    TC(z) = KL(q(z) || Π_d q(z_d)) ≈ E_q(z)[log D(z) / (1 - D(z))] = E[logit D(z)],

so the VAE minimizes reconstruction + KL + γ · logit D(z), while D minimizes its
cross-entropy. One `train_step` makes both updates: the VAE's with the optimizer
given to `compile()` (over the encoder, decoder and prior variables only), then the
discriminator's with its own Adam (β1 = 0.5, β2 = 0.9 as in the paper), owned by the
model so that `.keras` files save it. The discriminator sees the z of the same batch
(gradients stopped), rather than a second batch as in the paper: one batch per step.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.models.base import LatentVariableModel
from zoo.registry import register_model


def permute_dims(z, seed):
    """Shuffles each column of z [B, D] independently: a sample of Π_d q(z_d)."""
    keys = tf.random.stateless_uniform(tf.shape(z), seed=seed)
    order = tf.argsort(keys, axis=0)  # an independent permutation per column
    return tf.experimental.numpy.take_along_axis(z, order, axis=0)


@register_model("factor_vae")
class FactorVAE(LatentVariableModel):
    """A VAE with a discriminator-estimated total-correlation penalty.

    Args:
        gamma: weight of the total-correlation estimate in the VAE loss.
        discriminator_units: widths of the discriminator's hidden layers (the paper
            uses six layers of 1000).
        discriminator_learning_rate: learning rate of the discriminator's Adam.
        **kwargs: the arguments of `LatentVariableModel` (`beta`, warm-up and free
            bits act on the KL as in the VAE).
    """

    metric_names = ("loss", "elbo", "reconstruction", "kl", "tc", "discriminator_loss",
                    "discriminator_accuracy")
    # 5 M weights and 10 M Adam moments that encoding, sampling and export never use:
    # a preset ships without them and fine-tuning starts a fresh discriminator.
    training_only_state = ("discriminator", "discriminator_optimizer")

    def __init__(self, gamma=10.0, discriminator_units=(1000,) * 6, discriminator_learning_rate=1e-4,
                 **kwargs):
        # === Config ===
        self.gamma = float(gamma)
        self.discriminator_units = tuple(int(u) for u in discriminator_units)
        self.discriminator_learning_rate = float(discriminator_learning_rate)
        if self.gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if not self.discriminator_units or min(self.discriminator_units) < 1:
            raise ValueError(f"discriminator_units must be positive widths, got {discriminator_units}")
        if self.discriminator_learning_rate <= 0:
            raise ValueError(f"discriminator_learning_rate must be > 0, got {discriminator_learning_rate}")
        super().__init__(**kwargs)

    def build_extra(self):
        # === Layers ===
        inputs = keras.Input((self.latent_dim,), name="z")
        h = inputs
        for i, units in enumerate(self.discriminator_units):
            h = keras.layers.Dense(units, name=f"hidden{i}")(h)
            h = keras.layers.LeakyReLU(0.2)(h)
        logit = keras.layers.Dense(1, name="logit")(h)
        self.discriminator = keras.Model(inputs, logit, name="discriminator")
        self.discriminator_optimizer = keras.optimizers.Adam(
            self.discriminator_learning_rate, beta_1=0.5, beta_2=0.9, name="discriminator_optimizer")
        # Built now, so that its slots exist when a .keras file's state is loaded.
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    @property
    def vae_variables(self):
        """Trainable variables of everything but the discriminator."""
        own = {id(v) for v in self.discriminator.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in own]

    def _tc_logit(self, z, training):
        return tf.squeeze(self.discriminator(z, training=training), axis=-1)

    @classmethod
    def loss_is_per_example(cls, config):
        return False  # the discriminator sees the batch's codes permuted across examples

    def loss_terms(self, x, condition, training):
        t = self.elbo_terms(x, condition, training)
        kl_in_loss = self.free_bits_kl(t["posterior"], t["z"], t["kl"])
        tc = self._tc_logit(t["z"], training)
        # The discriminator's objective on this batch. Its gradient is taken in
        # train_step with respect to the discriminator only, so `tc` serves as the
        # logit of the real samples.
        real = tc
        fake = self._tc_logit(permute_dims(tf.stop_gradient(t["z"]), self.draw_seed()), training)
        disc_loss = 0.5 * (tf.nn.softplus(-real) + tf.nn.softplus(fake))
        accuracy = 0.5 * (tf.cast(real > 0, tf.float32) + tf.cast(fake < 0, tf.float32))
        return {
            "loss": t["reconstruction"] + self.kl_weight() * kl_in_loss + self.gamma * tc,
            "elbo": -(t["reconstruction"] + t["kl"]),
            "reconstruction": t["reconstruction"],
            "kl": t["kl"],
            "tc": tc,
            "discriminator_loss": disc_loss,
            "discriminator_accuracy": accuracy,
        }

    def train_step(self, data):
        x, condition = self.unpack_batch(data)
        with tf.GradientTape(persistent=True) as tape:
            terms = self.loss_terms(x, condition, training=True)
            vae_loss = self.scaled_loss(terms["loss"])
            disc_loss = self.scaled_loss(terms["discriminator_loss"])
        # The VAE step must not move the discriminator (its TC term depends on D's
        # weights), and the discriminator step sees z with gradients stopped.
        if not self.optimizer.built:
            # Built over all trainable variables, as `compile_from_config` builds it
            # when a .keras file is loaded, so that the saved slots line up; the
            # discriminator's slots in it stay unused.
            self.optimizer.build(self.trainable_variables)
        vae_variables = self.vae_variables
        self.optimizer.apply_gradients(zip(tape.gradient(vae_loss, vae_variables), vae_variables))
        disc_variables = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply_gradients(
            zip(tape.gradient(disc_loss, disc_variables), disc_variables))
        del tape
        self.schedule_step.assign_add(1)  # one training step, as in the base's train_step
        return self.update_metrics(terms)

    def get_config(self):
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "discriminator_units": list(self.discriminator_units),
            "discriminator_learning_rate": self.discriminator_learning_rate,
        }
