"""Importance-sampled log-likelihood, with the posterior as the proposal.

    log p(x) ~= log (1/k) sum_i p(x, z_i) / q(z_i|x),  z_i ~ q(z|x)

This is the IWAE bound with k samples (Burda et al. 2015); it is a lower bound on
log p(x) that tightens as k grows, so the NLL reported is an upper bound. The k
samples are drawn in chunks and combined with a running log-sum-exp, so k=5000 needs
no more memory than one chunk.
"""

from __future__ import annotations

import math
import time

import numpy as np
import tensorflow as tf

from zoo.data import bits_per_dim
from zoo.models.base import LatentVariableModel
from zoo.validation import check_images


def importance_sampled_log_likelihood(
    model: LatentVariableModel,
    x,
    y=None,
    k: int = 5000,
    batch_size: int = 100,
    k_chunk: int = 100,
    seed: int = 0,
    progress=None,
) -> np.ndarray:
    """Per-example log p(x) estimates in nats (float64 array [N]); `progress`, if
    given, is called as progress(images_done, total) after each batch."""
    x = check_images(x, model.image_shape, "x").numpy()
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k_chunk = min(k_chunk, k)

    @tf.function(reduce_retracing=True)
    def chunk_log_weights(xb, cond, chunk_seed, kk):
        return model.log_importance_weights(xb, cond, kk, chunk_seed)

    out = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), batch_size):
        xb = tf.constant(x[start:start + batch_size])
        cond = None
        if model.conditional:
            cond = model.label_condition(np.asarray(y)[start:start + batch_size], len(xb))
        running = None
        done = 0
        while done < k:
            kk = min(k_chunk, k - done)
            chunk_seed = tf.constant([seed, start * 1_000_003 + done], tf.int32)
            lse = tf.reduce_logsumexp(chunk_log_weights(xb, cond, chunk_seed, kk), axis=0).numpy().astype(np.float64)
            running = lse if running is None else np.logaddexp(running, lse)
            done += kk
        out[start:start + len(xb)] = running - math.log(k)
        if progress is not None:
            progress(start + len(xb), len(x))
    return out


def evaluate_likelihood(model, x, y=None, k: int = 5000, seed: int = 0, **kwargs) -> dict:
    """Test-set likelihood numbers: NLL (IS, k samples), ELBO terms, bits/dim."""

    start = time.time()
    log_px = importance_sampled_log_likelihood(model, x, y, k=k, seed=seed, **kwargs)
    seconds = time.time() - start
    elbo = np.concatenate([model.elbo(x[i:i + 500], None if y is None else y[i:i + 500], seed=seed)
                           for i in range(0, len(x), 500)])
    dims = int(np.prod(model.image_shape))
    nll = float(-log_px.mean())
    dequantized = not model.likelihood.discrete
    return {
        "nll_nats": nll,
        "nll_stderr": float(log_px.std(ddof=1) / math.sqrt(len(log_px))) if len(log_px) > 1 else 0.0,
        "nll_k": int(k),
        "negative_elbo_nats": float(-elbo.mean()),
        "bits_per_dim": bits_per_dim(nll, dims, dequantized=dequantized),
        "num_examples": int(len(x)),
        "seconds": seconds,
    }
