"""What the latent space holds: active units, KL per dimension, linear probes, clusters.

- Active units (Burda et al. 2015, section 5.2): dimension u is active when
  A_u = Cov_x(E_{q(z|x)}[z_u]) > 0.01, i.e. its posterior mean moves with the input.
  A collapsed dimension copies the prior for every x and has A_u ~ 0.
- KL per dimension: the test-set average of KL(q(z_u|x) || N(0, 1)) for a diagonal
  Gaussian posterior (in nats); it sums to the ELBO's KL term when the prior is N(0, I).
- Linear probe: a multinomial logistic regression on the posterior means of training
  images, scored on test images (scikit-learn).
- Clustering: k-means (k = number of classes) on the test means; purity (each
  cluster votes for its majority class) and normalized mutual information with the labels.
"""

from __future__ import annotations

import numpy as np

ACTIVE_UNIT_THRESHOLD = 0.01


def posterior_moments(model, x, y=None, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(mean, stddev) of q(z|x) per image: two float64 arrays [N, latent_dim]."""
    means, stds = [], []
    for start in range(0, len(x), batch_size):
        q = model.encode(x[start:start + batch_size], None if y is None else y[start:start + batch_size])
        means.append(q.mean().numpy())
        stds.append(q.stddev().numpy())
    return np.concatenate(means).astype(np.float64), np.concatenate(stds).astype(np.float64)


def active_units(means, threshold: float = ACTIVE_UNIT_THRESHOLD) -> dict:
    """Burda's criterion on posterior means [N, D]: count and per-dimension activity."""
    means = np.asarray(means, np.float64)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"active_units needs posterior means [N >= 2, D], got shape {means.shape}")
    activity = means.var(axis=0)
    return {"active_units": int(np.sum(activity > threshold)), "threshold": threshold,
            "activity": activity.tolist()}


def gaussian_kl_per_dimension(means, stddevs) -> np.ndarray:
    """Average over images of KL(N(mu, s²) || N(0, 1)) per latent dimension, in nats [D]."""
    mu = np.asarray(means, np.float64)
    s = np.asarray(stddevs, np.float64)
    if mu.shape != s.shape or mu.ndim != 2:
        raise ValueError(f"means and stddevs must both be [N, D], got {mu.shape} and {s.shape}")
    if np.any(s <= 0):
        raise ValueError("stddevs must be positive")
    return (0.5 * (mu**2 + s**2 - 1.0) - np.log(s)).mean(axis=0)


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, seed: int = 0) -> float:
    """Test accuracy of a logistic regression fitted on (standardized) training features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_features, test_features = np.asarray(train_features), np.asarray(test_features)
    if train_features.ndim != 2 or test_features.ndim != 2 or train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"features must be [N, D] with the same D, got {train_features.shape} and "
                         f"{test_features.shape}")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    probe.fit(train_features, np.asarray(train_labels))
    return float(probe.score(test_features, np.asarray(test_labels)))


def cluster_purity(cluster_ids, labels) -> float:
    """Fraction of points whose class is the majority class of their cluster."""
    cluster_ids, labels = np.asarray(cluster_ids), np.asarray(labels)
    if cluster_ids.shape != labels.shape or cluster_ids.ndim != 1 or len(labels) == 0:
        raise ValueError(f"cluster ids and labels must be two equal-length vectors, got {cluster_ids.shape} "
                         f"and {labels.shape}")
    majority = sum(np.bincount(labels[cluster_ids == c]).max() for c in np.unique(cluster_ids))
    return float(majority / len(labels))


def kmeans_scores(features, labels, num_clusters: int | None = None, seed: int = 0) -> dict:
    """k-means on features [N, D] (k = number of classes by default): purity and NMI."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    labels = np.asarray(labels)
    k = int(num_clusters or len(np.unique(labels)))
    ids = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(np.asarray(features, np.float64))
    return {"kmeans_purity": cluster_purity(ids, labels),
            "kmeans_nmi": float(normalized_mutual_info_score(labels, ids)), "num_clusters": k}


def project_2d(features) -> np.ndarray:
    """The first two principal components of features [N, D] (identity for D = 2)."""
    f = np.asarray(features, np.float64)
    if f.shape[1] <= 2:
        return f[:, :2]
    centred = f - f.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


__all__ = [
    "active_units",
    "cluster_purity",
    "gaussian_kl_per_dimension",
    "kmeans_scores",
    "linear_probe_accuracy",
    "posterior_moments",
    "project_2d",
]
