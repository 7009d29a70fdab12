"""The importance weighted autoencoder (Burda et al. 2015).

Same networks as the VAE; the objective is the k-sample importance weighted bound

    L_k(x) = log (1/k) sum_i p(x, z_i) / q(z_i|x),   z_i ~ q(z|x),

which is a lower bound on log p(x) at least as tight as the ELBO (L_1) and tightens
as k grows. Its gradient weights the k samples by their normalized importance
weights, so the encoder is no longer forced to cover only where one sample lands.
"""

import math

import tensorflow as tf

from zoo.models.base import LatentVariableModel
from zoo.registry import register_model


@register_model("iwae")
class IWAE(LatentVariableModel):
    """A convolutional IWAE. See `LatentVariableModel` for the shared arguments.

    Args:
        num_samples: k, the importance samples per example in the training bound
            (k = 1 is the VAE's one-sample ELBO).

    `beta` and KL warm-up scale log p(z) - log q(z|x) inside each importance
    weight of the loss (at weight 1 the loss is exactly -L_k); `free_bits` has no
    meaning for this bound and is rejected.

    Metrics: `loss`; `iwae_bound` (L_k); `elbo`, the ELBO estimated with the same k
    samples (the mean of their log weights); `reconstruction` and `kl`, its two
    parts averaged over the k samples (the KL is the Monte Carlo estimate).
    """

    metric_names = ("loss", "iwae_bound", "elbo", "reconstruction", "kl")
    free_bits_unsupported = "it is not defined for the importance weighted bound; leave it at 0"

    def __init__(self, num_samples=5, **kwargs):
        # === Config ===
        self.num_samples = int(num_samples)
        if self.num_samples < 1:
            raise ValueError(f"IWAE: num_samples must be >= 1, got {num_samples}")
        super().__init__(**kwargs)

    def loss_terms(self, x, condition, training):
        k = self.num_samples
        t = self.importance_log_terms(x, condition, k, self.draw_seed(), training)
        log_prior_ratio = t["log_pz"] - t["log_qz"]  # [k, B]
        bound = tf.reduce_logsumexp(t["log_px"] + log_prior_ratio, axis=0) - math.log(k)
        loss_bound = tf.reduce_logsumexp(t["log_px"] + self.kl_weight() * log_prior_ratio, axis=0) - math.log(k)
        reconstruction = -tf.reduce_mean(t["log_px"], axis=0)
        kl = -tf.reduce_mean(log_prior_ratio, axis=0)
        return {
            "loss": -loss_bound,
            "iwae_bound": bound,
            "elbo": -(reconstruction + kl),
            "reconstruction": reconstruction,
            "kl": kl,
        }

    def get_config(self):
        return {**super().get_config(), "num_samples": self.num_samples}
