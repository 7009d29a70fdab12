"""How good are a model's samples, judged in a classifier's feature space.

- Fréchet distance (`classifier.frechet_distance`) between Gaussians fitted to the
  judge's features of samples and of test images; the distance between the training
  and the test images is reported beside it as the floor a perfect model would reach
  at this sample size.
- Precision and recall of samples (Kynkäänniemi et al. 2019): each real feature vector
  owns a ball reaching to its k-th nearest real neighbour; precision is the fraction of
  samples inside some real ball (are samples realistic?), recall the fraction of real
  images inside some sample ball (do samples cover the data?).
- Class fidelity of a conditional model: the fraction of samples drawn for class c
  that the judge classifies as c.
"""

from __future__ import annotations

import numpy as np

from zoo.evaluate.classifier import features, frechet_distance, predict_labels


def _squared_distances(a, b):
    return np.maximum((a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :], 0.0)


def _kth_neighbour_radii(points, k, chunk=1000):
    """Squared distance of each point to its k-th nearest other point."""
    radii = np.empty(len(points))
    for start in range(0, len(points), chunk):
        d = _squared_distances(points[start:start + chunk], points)
        # Column k (0-based) after sorting: index 0 is the point itself at distance 0.
        radii[start:start + chunk] = np.partition(d, k, axis=1)[:, k]
    return radii


def _inside_any_ball(queries, centres, radii, chunk=1000):
    inside = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), chunk):
        d = _squared_distances(queries[start:start + chunk], centres)
        inside[start:start + chunk] = np.any(d <= radii[None, :], axis=1)
    return inside


def precision_recall(real_features, fake_features, k: int = 3) -> dict:
    """k-NN precision and recall of fake feature vectors [M, F] against real ones [N, F]."""
    real = np.asarray(real_features, np.float64)
    fake = np.asarray(fake_features, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected two feature arrays [N, F] with the same F, got {real.shape} and {fake.shape}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k={k} vectors per set, got {len(real)} and {len(fake)}")
    precision = _inside_any_ball(fake, real, _kth_neighbour_radii(real, k)).mean()
    recall = _inside_any_ball(real, fake, _kth_neighbour_radii(fake, k)).mean()
    return {"precision": float(precision), "recall": float(recall), "k": int(k)}


def class_fidelity(model, judge, samples_per_class: int = 100, seed: int = 0) -> dict:
    """Fraction of a conditional model's samples that the judge assigns to the
    requested class, overall and per class."""
    num_classes = int(model.num_classes)
    per_class = []
    for c in range(num_classes):
        images = model.sample(samples_per_class, seed=seed * 1000 + c, labels=c)
        per_class.append(float(np.mean(predict_labels(judge, images) == c)))
    return {"class_fidelity": float(np.mean(per_class)), "per_class": per_class,
            "samples_per_class": int(samples_per_class)}


def sample_quality(model, judge, real_test, real_train, num_samples: int = 10000, seed: int = 0,
                   labels=None) -> dict:
    """Fréchet distance (and its real-vs-real floor), precision and recall of
    `num_samples` prior samples against the test images, in the judge's features.

    `labels` (conditional models): the class of each sample; by default the classes
    cycle so that every class is equally represented.
    """
    if model.conditional and labels is None:
        labels = np.arange(num_samples) % int(model.num_classes)
    samples = np.concatenate([
        model.sample(min(1000, num_samples - start), seed=seed * 1_000_003 + start,
                     labels=None if labels is None else labels[start:start + 1000])
        for start in range(0, num_samples, 1000)])
    f_fake, f_test, f_train = features(judge, samples), features(judge, real_test), features(judge, real_train)
    pr = precision_recall(f_test[:5000], f_fake[:5000])
    return {
        "frechet_distance": frechet_distance(f_fake, f_test),
        "frechet_distance_train_vs_test": frechet_distance(f_train, f_test),
        "precision": pr["precision"],
        "recall": pr["recall"],
        "num_samples": int(num_samples),
    }


__all__ = ["class_fidelity", "precision_recall", "sample_quality"]
