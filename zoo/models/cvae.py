"""The conditional VAE (Sohn et al. 2015): q(z|x,y) and p(x|z,y) for a label y.

The objective is the ELBO of log p(x|y),

    ELBO(x, y) = E_q(z|x,y)[log p(x|z,y)] - KL(q(z|x,y) || p(z)),

and `sample(n, labels=...)` draws z ~ p(z) and decodes it for the requested
classes. Labels are integer class indices [B] or one-hot rows [B, num_classes];
`fit` takes (x, y) pairs.

Null label: with `label_dropout` > 0, each training example's label is replaced,
with that probability, by the all-zero one-hot row, so the same networks also learn
the unconditional model (as in classifier-free guidance). `null_labels(n)` returns
those rows; `sample(n)` without labels then samples unconditionally, and
`elbo(x, model.null_labels(len(x)))` bounds log p(x).
"""

import numpy as np
import tensorflow as tf

from zoo.models.vae import VAE
from zoo.registry import register_model
from zoo.validation import InputError


@register_model("cvae")
class CVAE(VAE):
    """A VAE whose encoder and decoder see the class label.

    Args:
        num_classes: number of classes (labels lie in [0, num_classes)).
        label_dropout: probability of training an example with the null label
            (all-zero one-hot); 0 disables it.
        label_every_stage: the decoder sees the label before every transposed
            convolution too, not only beside z (see `zoo.nets.build_decoder`).
        **kwargs: the other arguments of `LatentVariableModel`.
    """

    conditional = True

    def __init__(self, num_classes=10, label_dropout=0.0, label_every_stage=False, **kwargs):
        # === Config ===
        self.label_dropout = float(label_dropout)
        self.label_every_stage = bool(label_every_stage)
        if not 0.0 <= self.label_dropout < 1.0:
            raise ValueError(f"label_dropout must lie in [0, 1), got {label_dropout}")
        super().__init__(num_classes=num_classes, **kwargs)

    def decoder_options(self) -> dict:
        return {"label_every_stage": self.label_every_stage}

    def null_labels(self, n: int) -> np.ndarray:
        """n null labels: all-zero one-hot rows, meaning "no class"."""
        return np.zeros((int(n), self.num_classes), np.float32)

    def loss_terms(self, x, condition, training):
        if training and self.label_dropout > 0:
            # One Bernoulli(1 - label_dropout) keep-flag per example, from the model's
            # seed generator so that resumed training draws the same flags.
            u = tf.random.stateless_uniform([tf.shape(condition)[0], 1], seed=self.draw_seed())
            condition = condition * tf.cast(u >= self.label_dropout, condition.dtype)
        return super().loss_terms(x, condition, training)

    def sample(self, n: int, seed=None, labels=None) -> np.ndarray:
        """n images E[x|z, y] with z ~ p(z).

        Args:
            n: number of images.
            seed: int seed of z (None: fresh randomness).
            labels: one class index for all images, n class indices, or n one-hot
                rows. None samples with the null label, which only means "any
                class" for a model trained with `label_dropout` > 0.
        """
        if int(n) < 1:
            raise ValueError(f"n must be a positive number of samples, got {n}")
        n = int(n)
        if labels is None:
            if self.label_dropout <= 0:
                raise InputError(
                    "labels: this model is conditional and was trained without label dropout; "
                    f"pass labels=[...] (one class index, or {n} of them)"
                )
            labels = self.null_labels(n)
        labels = np.asarray(labels)
        if labels.ndim == 0:
            labels = np.full((n,), labels, dtype=labels.dtype)
        if labels.shape[0] != n:
            raise InputError(f"labels: {labels.shape[0]} labels for n={n} samples (pass one label or {n})")
        z = self.prior_sample(n, seed, self.label_condition(labels, n))
        return self.decode_mean(z, labels).numpy()

    def get_config(self):
        return {**super().get_config(), "label_dropout": self.label_dropout,
                "label_every_stage": self.label_every_stage}
