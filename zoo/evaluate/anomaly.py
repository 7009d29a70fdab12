"""Anomaly scores: how badly a model explains an image, and a threshold on them.

The score of an image is its negative log-likelihood bound in nats: −ELBO (k=1) or
−IWAE bound (k>1). Models without a density over x (the AE and the WAE) score by
their reconstruction error −log p(x | z = f(x)) instead. Higher means more
anomalous. A threshold is fitted on scores of normal images at a chosen
false-positive rate; an image is flagged when its score is strictly above it.
"""

from __future__ import annotations

import math

import numpy as np

# Images per forward pass; with k importance samples the decoder sees batch * k
# images, so the batch shrinks to keep that product bounded.
MAX_DECODED_PER_BATCH = 4096


def score_name(model, k: int = 1) -> str:
    """What `anomaly_scores` computes for this model, for tables and reports."""
    if not model.has_density:
        return "reconstruction error (nats)"
    return "-ELBO (nats)" if k == 1 else f"-IWAE bound, k={k} (nats)"


def anomaly_scores(model, x, y=None, k: int = 1, seed: int = 0, batch_size: int = 256, progress=None) -> np.ndarray:
    """Per-image anomaly scores [N] in nats (higher = more anomalous).

    Args:
        model: a zoo model.
        x: images [N, H, W, C] in [0, 1], preprocessed like the model's training data.
        y: labels, for conditional models.
        k: importance samples; 1 gives −ELBO, more give the tighter −IWAE bound.
            Must be 1 for models without a density (AE, WAE).
        seed: seed of the posterior samples; every batch uses it, so scores are
            deterministic for a (seed, batch_size) pair.
        batch_size: images per forward pass (reduced when k is large).
        progress: optional callable(done, total), called after each batch.
    """
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1 importance samples, got {k}")
    no_density = not model.has_density
    if no_density and k != 1:
        raise ValueError(f"{type(model).__name__} defines no density over x, so there is no importance-sampled "
                         "bound; its score is the reconstruction error (use k=1)")
    x = np.asarray(x)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"expected a non-empty image batch [N, H, W, C], got shape {x.shape}")
    step = max(1, min(int(batch_size), MAX_DECODED_PER_BATCH // k))
    scores = []
    for start in range(0, len(x), step):
        xb = x[start:start + step]
        yb = None if y is None else np.asarray(y)[start:start + step]
        if no_density:
            s = model.reconstruction_error(xb, yb)
        elif k == 1:
            s = -model.elbo(xb, yb, seed=seed)
        else:
            s = -model.iwae_bound(xb, yb, k=k, seed=seed)
        scores.append(np.asarray(s, dtype=np.float64))
        if progress is not None:
            progress(min(start + step, len(x)), len(x))
    return np.concatenate(scores)


def threshold_at_fpr(normal_scores, fpr: float) -> float:
    """The threshold that flags (score > threshold) at most a fraction `fpr` of the
    normal images: floor(fpr · N) of them when their scores are distinct.

    Raises:
        ValueError: fpr outside [0, 1), or no finite scores.
    """
    fpr = float(fpr)
    if not 0.0 <= fpr < 1.0:
        raise ValueError(f"fpr must lie in [0, 1), got {fpr}")
    scores = np.sort(np.asarray(normal_scores, dtype=np.float64).ravel())
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError("threshold_at_fpr needs a non-empty array of finite normal scores")
    # The epsilon keeps floor(0.29 * 100) at 29 despite binary rounding.
    allowed = int(math.floor(fpr * scores.size + 1e-9))
    return float(scores[scores.size - 1 - allowed])


def auroc(normal_scores, anomalous_scores) -> float:
    """Area under the ROC curve of separating anomalies (positives) by their scores:
    1 is perfect, 0.5 is chance."""
    from sklearn.metrics import roc_auc_score

    normal = np.asarray(normal_scores, dtype=np.float64).ravel()
    anomalous = np.asarray(anomalous_scores, dtype=np.float64).ravel()
    if normal.size == 0 or anomalous.size == 0:
        raise ValueError("auroc needs at least one normal and one anomalous score")
    labels = np.concatenate([np.zeros(normal.size), np.ones(anomalous.size)])
    return float(roc_auc_score(labels, np.concatenate([normal, anomalous])))
