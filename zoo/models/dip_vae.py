"""DIP-VAE (Kumar et al. 2018): the ELBO plus a penalty that moments-matches the
aggregate posterior to the N(0, I) prior.

With the posterior q(z|x) = N(μ(x), diag σ²(x)), the covariance matched to I is

    DIP-VAE-I:   C = Cov_p(x)[μ(x)]
    DIP-VAE-II:  C = Cov_q(z) = E_p(x)[diag σ²(x)] + Cov_p(x)[μ(x)]

estimated on the batch (biased, 1/B), and the penalty is

    λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii - 1)².

The penalty is a batch quantity: every example carries it, so the batch mean of the
loss is mean reconstruction + mean KL + penalty. The reported `elbo` is the true bound.
"""

from __future__ import annotations

import tensorflow as tf

from zoo.models.base import LatentVariableModel
from zoo.registry import register_model

DIP_TYPES = ("i", "ii")


def dip_covariance(loc, scale, dip_type: str = "i"):
    """The batch covariance that DIP-VAE matches to I: [D, D]."""
    if dip_type not in DIP_TYPES:
        raise ValueError(f"dip_type must be one of {DIP_TYPES}, got {dip_type!r}")
    centred = loc - tf.reduce_mean(loc, axis=0, keepdims=True)
    batch = tf.cast(tf.shape(loc)[0], loc.dtype)
    cov = tf.matmul(centred, centred, transpose_a=True) / batch
    if dip_type == "ii":
        cov += tf.linalg.diag(tf.reduce_mean(tf.square(scale), axis=0))
    return cov


def dip_penalty(loc, scale, dip_type="i", lambda_od=10.0, lambda_d=100.0):
    """λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii - 1)² for the DIP covariance C (a scalar)."""
    cov = dip_covariance(loc, scale, dip_type)
    diag = tf.linalg.diag_part(cov)
    off_diag = cov - tf.linalg.diag(diag)
    return lambda_od * tf.reduce_sum(tf.square(off_diag)) + lambda_d * tf.reduce_sum(tf.square(diag - 1.0))


@register_model("dip_vae")
class DIPVAE(LatentVariableModel):
    """A VAE whose aggregate posterior's covariance is pushed towards I.

    Args:
        dip_type: "i" (covariance of the posterior means) or "ii" (covariance of
            q(z), adding the mean posterior variance).
        lambda_od: weight of the off-diagonal entries.
        lambda_d: weight of the diagonal entries; None uses disentanglement_lib's
            convention, 10·λ_od for DIP-VAE-I and λ_od for DIP-VAE-II.
        **kwargs: the arguments of `LatentVariableModel`.
    """

    metric_names = ("loss", "elbo", "reconstruction", "kl", "dip_penalty")

    def __init__(self, dip_type="i", lambda_od=10.0, lambda_d=None, **kwargs):
        # === Config ===
        self.dip_type = str(dip_type).lower()
        if self.dip_type not in DIP_TYPES:
            raise ValueError(f"dip_type must be one of {DIP_TYPES}, got {dip_type!r}")
        self.lambda_od = float(lambda_od)
        self.lambda_d = None if lambda_d is None else float(lambda_d)
        if self.lambda_od < 0 or (self.lambda_d is not None and self.lambda_d < 0):
            raise ValueError(f"lambda_od and lambda_d must be >= 0, got {lambda_od}, {lambda_d}")
        super().__init__(**kwargs)

    @property
    def diagonal_weight(self) -> float:
        if self.lambda_d is not None:
            return self.lambda_d
        return (10.0 if self.dip_type == "i" else 1.0) * self.lambda_od

    @classmethod
    def loss_is_per_example(cls, config):
        return False  # the penalty reads the covariance of the batch's posterior means

    def loss_terms(self, x, condition, training):
        t = self.elbo_terms(x, condition, training)
        kl_in_loss = self.free_bits_kl(t["posterior"], t["z"], t["kl"])
        posterior = t["posterior"]
        penalty = dip_penalty(posterior.mean(), posterior.stddev(), self.dip_type, self.lambda_od,
                              self.diagonal_weight)
        per_example_penalty = tf.fill(tf.shape(t["kl"]), penalty)
        return {
            "loss": t["reconstruction"] + self.kl_weight() * kl_in_loss + per_example_penalty,
            "elbo": -(t["reconstruction"] + t["kl"]),
            "reconstruction": t["reconstruction"],
            "kl": t["kl"],
            "dip_penalty": per_example_penalty,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "dip_type": self.dip_type,
            "lambda_od": self.lambda_od,
            "lambda_d": self.lambda_d,
        }
