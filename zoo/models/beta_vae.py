"""The β-VAE (Higgins et al. 2017) and its capacity-annealed form (Burgess et al. 2018).

Plain form: loss = reconstruction + β · KL, with β > 1 trading reconstruction for a
more factorized, prior-like code (the base's `beta`, warm-up and free bits).

Capacity form (when `capacity_max` > 0):

    loss = reconstruction + γ · |KL - C|,   C = capacity_max · min(1, step / capacity_steps)

The KL is held near a target capacity C (nats) that grows linearly over the
training steps (the model's `schedule_step`), so the code gains information
gradually. KL here is the batch mean, as in the paper's expectation over the
data: the per-example loss carries γ·|mean KL - C| on every example, so the batch
mean of the loss is exactly mean reconstruction + γ·|mean KL - C|. β, warm-up and free bits do not apply in
this form (C replaces them). The reported `elbo` is always the true bound.
"""

import tensorflow as tf

from zoo.models.vae import VAE
from zoo.registry import register_model


@register_model("beta_vae")
class BetaVAE(VAE):
    """A VAE with a weighted or capacity-controlled KL term.

    Args:
        gamma: weight of |KL - C| in the capacity form.
        capacity_max: final capacity C in nats; None or 0 gives the plain β form.
        capacity_steps: training steps over which C grows linearly from 0 to
            `capacity_max`.
        **kwargs: the arguments of `LatentVariableModel` (`beta`, ...).
    """

    def __init__(self, gamma=1000.0, capacity_max=None, capacity_steps=10000, **kwargs):
        # === Config ===
        # Checked before the networks are built, so a bad config fails fast.
        self.gamma = float(gamma)
        self.capacity_max = None if capacity_max is None else float(capacity_max)
        self.capacity_steps = int(capacity_steps)
        if self.gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if self.capacity_max is not None and self.capacity_max < 0:
            raise ValueError(f"capacity_max must be >= 0 nats (or None), got {capacity_max}")
        if self.capacity_enabled and self.capacity_steps < 1:
            raise ValueError(f"capacity_steps must be >= 1 when capacity_max is set, got {capacity_steps}")
        super().__init__(**kwargs)

    @property
    def capacity_enabled(self) -> bool:
        return bool(self.capacity_max)

    @classmethod
    def loss_is_per_example(cls, config):
        # The capacity form penalizes the batch-mean KL's distance from C.
        return super().loss_is_per_example(config) and not config.get("capacity_max")

    def capacity(self):
        """The current target capacity C in nats, at the model's `schedule_step`."""
        return (self.capacity_max or 0.0) * self.schedule_progress(self.capacity_steps)

    def loss_terms(self, x, condition, training):
        if not self.capacity_enabled:
            return super().loss_terms(x, condition, training)
        t = self.elbo_terms(x, condition, training)
        kl_gap = tf.abs(tf.reduce_mean(t["kl"]) - self.capacity())
        return {
            "loss": t["reconstruction"] + self.gamma * kl_gap,
            "elbo": -(t["reconstruction"] + t["kl"]),
            "reconstruction": t["reconstruction"],
            "kl": t["kl"],
        }

    def get_config(self):
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "capacity_max": self.capacity_max,
            "capacity_steps": self.capacity_steps,
        }
