"""The Wasserstein autoencoder with the MMD penalty, WAE-MMD (Tolstikhin et al. 2018).

Instead of a KL per example, the WAE matches the *aggregate* posterior
q(z) = E_x q(z|x) to the prior p(z) with a maximum mean discrepancy:

    loss = E_x[-log p(x|z)] + λ · MMD²(q(z), p(z)),

estimated per batch by the unbiased U-statistic between the batch's codes and as
many prior samples. Per example, the loss carries λ·MMD² on every example, so its
batch mean is exactly the objective above. The encoder is deterministic (the paper's
MNIST setting) or, with `stochastic_encoder=True`, a diagonal Gaussian sampled once.

The kernels and the estimator are module-level functions (`imq_kernel`,
`rbf_kernel`, `mmd_unbiased`) so that evaluation code can reuse them.
"""

from __future__ import annotations

import tensorflow as tf

from zoo.models.ae import AE
from zoo.models.base import LatentVariableModel
from zoo.registry import register_model

# The paper's bandwidth multipliers for the IMQ kernel: C = 2·D·σ²·s for each s.
DEFAULT_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
KERNELS = ("imq", "rbf")


def squared_distances(a, b):
    """||a_i - b_j||² for a [N, D] and b [M, D]: an [N, M] tensor."""
    a = tf.convert_to_tensor(a, tf.float32)
    b = tf.convert_to_tensor(b, tf.float32)
    a2 = tf.reduce_sum(tf.square(a), axis=-1)[:, None]
    b2 = tf.reduce_sum(tf.square(b), axis=-1)[None, :]
    # The expanded form can dip below zero by rounding; distances cannot.
    return tf.maximum(a2 + b2 - 2.0 * tf.matmul(a, b, transpose_b=True), 0.0)


def _code_size(a) -> int:
    dim = a.shape[-1]
    if dim is None:
        raise ValueError("the MMD kernels need a static code size (last dimension)")
    return int(dim)


def _bandwidths(dim, scales, prior_variance):
    return [2.0 * float(dim) * float(prior_variance) * float(s) for s in scales]


def imq_kernel(a, b, scales=DEFAULT_SCALES, prior_variance=1.0):
    """Inverse multiquadratics summed over bandwidths: sum_s C_s / (C_s + ||a - b||²).

    C_s = 2·D·σ²·s with D the code size and σ² the prior's per-dimension variance
    (Tolstikhin et al. 2018, section 4). Returns the [N, M] kernel matrix.
    """
    a = tf.convert_to_tensor(a, tf.float32)
    d2 = squared_distances(a, b)
    return tf.add_n([c / (c + d2) for c in _bandwidths(_code_size(a), scales, prior_variance)])


def rbf_kernel(a, b, scales=DEFAULT_SCALES, prior_variance=1.0):
    """Gaussian kernels summed over the same bandwidths: sum_s exp(-||a - b||² / C_s)."""
    a = tf.convert_to_tensor(a, tf.float32)
    d2 = squared_distances(a, b)
    return tf.add_n([tf.exp(-d2 / c) for c in _bandwidths(_code_size(a), scales, prior_variance)])


def get_kernel(name):
    if name == "imq":
        return imq_kernel
    if name == "rbf":
        return rbf_kernel
    raise ValueError(f"unknown MMD kernel {name!r}; choose one of {KERNELS}")


def mmd_unbiased(x, y, kernel="imq", scales=DEFAULT_SCALES, prior_variance=1.0):
    """The unbiased U-statistic estimate of MMD²(P, Q) from x ~ P [N, D] and y ~ Q [M, D]:

        1/(N(N-1)) Σ_{i≠j} k(x_i, x_j) + 1/(M(M-1)) Σ_{i≠j} k(y_i, y_j) - 2/(NM) Σ_{i,j} k(x_i, y_j)

    It can be slightly negative when P = Q. Needs N, M >= 2.
    """
    k = get_kernel(kernel) if isinstance(kernel, str) else kernel
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.convert_to_tensor(y, tf.float32)
    n = tf.cast(tf.shape(x)[0], tf.float32)
    m = tf.cast(tf.shape(y)[0], tf.float32)
    kxx = k(x, x, scales, prior_variance)
    kyy = k(y, y, scales, prior_variance)
    kxy = k(x, y, scales, prior_variance)
    # Off-diagonal sums: the diagonal k(x_i, x_i) would bias the estimate.
    xx = (tf.reduce_sum(kxx) - tf.linalg.trace(kxx)) / (n * (n - 1.0))
    yy = (tf.reduce_sum(kyy) - tf.linalg.trace(kyy)) / (m * (m - 1.0))
    return xx + yy - 2.0 * tf.reduce_mean(kxy)


@register_model("wae")
class WAE(AE):
    """WAE-MMD: an autoencoder whose aggregate code distribution is pulled to the prior.

    Args:
        mmd_weight: λ, the weight of MMD² in the loss.
        kernel: "imq" (inverse multiquadratics, the paper's choice) or "rbf".
        kernel_scales: bandwidth multipliers s; each kernel uses C = 2·D·σ²·s with
            σ² = 1, the standard normal prior's variance.
        stochastic_encoder: encode to a diagonal Gaussian and sample it once, instead
            of a deterministic code.
        **kwargs: the arguments of `LatentVariableModel` (the KL ones are unused).
    """

    metric_names = ("loss", "reconstruction", "mmd")

    def __init__(self, mmd_weight=10.0, kernel="imq", kernel_scales=DEFAULT_SCALES, stochastic_encoder=False, **kwargs):
        # === Config ===
        self.mmd_weight = float(mmd_weight)
        get_kernel(kernel)  # fails fast on an unknown name
        self.kernel = kernel
        self.kernel_scales = tuple(float(s) for s in kernel_scales)
        if not self.kernel_scales or min(self.kernel_scales) <= 0:
            raise ValueError(f"kernel_scales must be positive numbers, got {kernel_scales}")
        self.stochastic_encoder = bool(stochastic_encoder)
        super().__init__(**kwargs)

    @property
    def encoder_output_dim(self):
        return 2 * self.latent_dim if self.stochastic_encoder else self.latent_dim

    def posterior(self, params, condition=None):
        if self.stochastic_encoder:
            return LatentVariableModel.posterior(self, params, condition)
        return super().posterior(params, condition)

    def mmd_to_prior(self, z, seed=None):
        """MMD² between codes z [B, D] and as many samples of the prior."""
        prior_z = self.prior_distribution().sample(tf.shape(z)[0], seed=self.draw_seed() if seed is None else seed)
        return mmd_unbiased(z, prior_z, self.kernel, self.kernel_scales)

    @classmethod
    def loss_is_per_example(cls, config):
        return False  # the MMD compares the batch's codes with as many prior draws

    def loss_terms(self, x, condition, training):
        posterior = self.posterior_for(x, condition, training)
        z = posterior.sample(seed=self.draw_seed()) if self.stochastic_encoder else posterior.mean()
        likelihood = self.likelihood.distribution(self.decoder_params(z, condition, training))
        reconstruction = -likelihood.log_prob(x)
        mmd = self.mmd_to_prior(z) * tf.ones_like(reconstruction)
        return {"loss": reconstruction + self.mmd_weight * mmd, "reconstruction": reconstruction, "mmd": mmd}

    def get_config(self):
        return {
            **super().get_config(),
            "mmd_weight": self.mmd_weight,
            "kernel": self.kernel,
            "kernel_scales": list(self.kernel_scales),
            "stochastic_encoder": self.stochastic_encoder,
        }
