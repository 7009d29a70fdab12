"""The β-TCVAE (Chen et al. 2018): the KL split into index-code MI, total correlation
and dimension-wise KL, with the total correlation weighted up.

With the aggregate posterior q(z) = (1/N) Σ_n q(z|x_n) over a dataset of N images,

    E[KL(q(z|x) || p(z))] = E[log q(z|x) - log q(z)]            index-code MI  (α)
                          + E[log q(z) - log Π_d q(z_d)]         total correlation (β)
                          + E[log Π_d q(z_d) - log p(z)]         dimension-wise KL (γ)

and the loss is reconstruction + α·MI + β·TC + γ·dimKL for one z ~ q(z|x) per
example. log q(z) and log q(z_d) are estimated from the minibatch of M posteriors:

- "mws" (minibatch-weighted sampling, the paper's default): every batch member
  weighs 1/(N·M):  log q(z_i) ≈ logsumexp_j log q(z_i|x_j) - log(N·M).
- "mss" (stratified): z_i's own posterior weighs 1/N and each of the M-1 others
  (N-1)/(N·(M-1)), the unbiased importance estimate of q(z_i) given the rest of the
  batch is a uniform sample of the rest of the data. (Same principle as the paper's
  MSS; this is the plain self/others weighting.)

The three estimated terms telescope, per example, to log q(z|x) - log p(z), the
one-sample estimate of the KL, whatever the estimator; the estimator only decides
how that KL is apportioned. MWS is biased: for a posterior that ignores x it reports
MI = log N and TC = (D-1)·log N instead of 0 (MSS reports 0). `dataset_size` is N;
None takes N = M (the batch is treated as the whole dataset, for which both
estimators coincide). The reported `elbo` and `kl` are the true bound and the
analytic KL.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from zoo.models.base import LatentVariableModel
from zoo.registry import register_model

tfd = tfp.distributions

ESTIMATORS = ("mws", "mss")


def log_density_matrix(z, loc, scale):
    """log q(z_i,d | x_j) for every pair: [M, M, D] (i: sample, j: posterior)."""
    return tfd.Normal(loc[None, :, :], scale[None, :, :]).log_prob(z[:, None, :])


def _log_weights(batch_size, dataset_size, estimator):
    """log of the weight of posterior j in the estimate of q(z_i): [M, M]."""
    m = tf.cast(batch_size, tf.float32)
    n = tf.cast(dataset_size, tf.float32)
    if estimator == "mws":
        return tf.fill([batch_size, batch_size], -tf.math.log(n * m))
    own = tf.fill([batch_size], -tf.math.log(n))
    # (N-1)/(N(M-1)); with N = M this is 1/M, the plain minibatch mixture.
    others = tf.math.log(n - 1.0) - tf.math.log(n) - tf.math.log(tf.maximum(m - 1.0, 1.0))
    return tf.linalg.set_diag(tf.fill([batch_size, batch_size], others), own)


def tc_decomposition(z, loc, scale, log_qz_x, log_pz, dataset_size=None, estimator="mws"):
    """Per-example estimates of index-code MI, total correlation and dimension-wise KL.

    Args:
        z: [M, D] samples, z_i ~ q(z|x_i).
        loc, scale: [M, D] the diagonal Gaussian posteriors q(z|x_j).
        log_qz_x: [M] log q(z_i|x_i).
        log_pz: [M] log p(z_i).
        dataset_size: N; None uses the batch size.
        estimator: "mws" or "mss".

    Returns:
        dict of [M] tensors "mi", "tc", "dim_kl" (they sum to log_qz_x - log_pz).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    batch_size = tf.shape(z)[0]
    n = batch_size if dataset_size is None else dataset_size
    log_w = _log_weights(batch_size, n, estimator)  # [M, M]
    log_q = log_density_matrix(z, loc, scale)  # [M, M, D]
    log_qz = tf.reduce_logsumexp(log_w + tf.reduce_sum(log_q, axis=-1), axis=1)  # [M]
    log_prod_qzd = tf.reduce_sum(tf.reduce_logsumexp(log_w[:, :, None] + log_q, axis=1), axis=-1)
    return {
        "mi": log_qz_x - log_qz,
        "tc": log_qz - log_prod_qzd,
        "dim_kl": log_prod_qzd - log_pz,
    }


@register_model("beta_tcvae")
class BetaTCVAE(LatentVariableModel):
    """A VAE whose KL is decomposed and reweighted (β weighs the total correlation).

    Args:
        alpha: weight of the index-code mutual information.
        beta: weight of the total correlation (the base's `beta`; the paper's β).
        gamma: weight of the dimension-wise KL.
        dataset_size: N, the number of training images, for the estimator; None
            treats each batch as the whole dataset.
        estimator: "mws" (minibatch-weighted sampling) or "mss" (stratified).
        **kwargs: the arguments of `LatentVariableModel`. `kl_warmup_steps` ramps all
            three weights together; `free_bits` does not apply (the KL is split).
    """

    metric_names = ("loss", "elbo", "reconstruction", "kl", "mi", "tc", "dim_kl")
    free_bits_unsupported = "the β-TCVAE's KL is decomposed (MI, TC, dimension-wise KL); leave it 0"

    def __init__(self, alpha=1.0, gamma=1.0, dataset_size=None, estimator="mws", beta=6.0, **kwargs):
        # === Config ===
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.dataset_size = None if dataset_size is None else int(dataset_size)
        self.estimator = estimator
        if self.dataset_size is not None and self.dataset_size < 2:
            raise ValueError(f"dataset_size must be >= 2 (or None for the batch size), got {dataset_size}")
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        super().__init__(beta=beta, **kwargs)

    @classmethod
    def loss_is_per_example(cls, config):
        return False  # log q(z) is estimated from the batch's posteriors

    def loss_terms(self, x, condition, training):
        t = self.elbo_terms(x, condition, training)
        posterior, z = t["posterior"], t["z"]
        batch_size = tf.shape(z)[0]
        dataset_size = batch_size if self.dataset_size is None else tf.maximum(self.dataset_size, batch_size)
        parts = tc_decomposition(
            z, posterior.mean(), posterior.stddev(), posterior.log_prob(z),
            self.prior_distribution().log_prob(z), dataset_size, self.estimator,
        )
        weighted = self.alpha * parts["mi"] + self.beta * parts["tc"] + self.gamma * parts["dim_kl"]
        return {
            "loss": t["reconstruction"] + self.schedule_progress(self.kl_warmup_steps) * weighted,
            "elbo": -(t["reconstruction"] + t["kl"]),
            "reconstruction": t["reconstruction"],
            "kl": t["kl"],
            **parts,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "alpha": self.alpha,
            "gamma": self.gamma,
            "dataset_size": self.dataset_size,
            "estimator": self.estimator,
        }


__all__ = ["BetaTCVAE", "tc_decomposition", "log_density_matrix"]
