"""A small CNN classifier and the Fréchet distance in its feature space.

The classifier is the judge of generated images: it checks that a conditional
model's samples show the requested class, and its penultimate layer ("features")
is the space in which `frechet_distance` compares a model's samples with real
images (the FID recipe of Heusel et al. 2017, with a small MNIST-scale network
instead of Inception).

    clf = train_classifier(x_train, y_train)
    labels = predict_labels(clf, images)
    fd = frechet_distance(features(clf, samples), features(clf, x_test))
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

FEATURES_LAYER = "features"


def build_classifier(image_shape=(28, 28, 1), num_classes: int = 10, feature_dim: int = 128,
                     widths=(32, 64)) -> keras.Model:
    """Stride-2 conv layers, a dense feature layer and a softmax, from x in [0, 1].

    One 3x3 stride-2 conv layer per entry of `widths`, then more of the last width
    until the feature map is at most 8 pixels wide: with the default (32, 64), 28x28
    images get two (7x7 maps), 64x64 dSprites three (8x8), which keeps the dense layer,
    and so the shipped judge, small. Colour images need wider layers (see
    `zoo.evaluate.judges.JUDGE_NETWORKS`).
    """
    x_in = keras.Input(tuple(image_shape), name="x")
    h = x_in
    for width in widths:
        h = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(h)
    while h.shape[1] > 8:
        h = layers.Conv2D(widths[-1], 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(feature_dim, activation="relu", name=FEATURES_LAYER)(h)
    out = layers.Dense(num_classes, activation="softmax", name="probabilities")(h)
    return keras.Model(x_in, out, name="classifier")


def train_classifier(
    x,
    y,
    num_classes: int = 10,
    epochs: int = 3,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    feature_dim: int = 128,
    seed: int = 0,
    widths=(32, 64),
) -> keras.Model:
    """Trains `build_classifier` on images x [N,H,W,C] in [0, 1] and integer labels y [N].

    Seeds the weights and the shuffling with `seed` (through
    `keras.utils.set_random_seed`, which resets the global seeds).
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.ndim != 4:
        raise ValueError(f"x: expected images [N, H, W, C], got shape {x.shape}")
    if y.shape != (len(x),):
        raise ValueError(f"y: expected {len(x)} integer labels, got shape {y.shape}")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"y: labels must lie in [0, {num_classes}), got range [{y.min()}, {y.max()}]")
    keras.utils.set_random_seed(seed)
    model = build_classifier(x.shape[1:], num_classes, feature_dim, widths)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return model


def predict_labels(classifier: keras.Model, x, batch_size: int = 256) -> np.ndarray:
    """The most probable class of each image: an int array [N]."""
    return np.argmax(classifier.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0), axis=-1)


def features(classifier: keras.Model, x, batch_size: int = 256) -> np.ndarray:
    """Penultimate-layer activations [N, feature_dim] of the classifier."""
    extractor = keras.Model(classifier.inputs, classifier.get_layer(FEATURES_LAYER).output)
    return np.asarray(extractor.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0), np.float64)


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [N, F] and [M, F]:

        ||mu_a - mu_b||² + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^(1/2))

    Tr((S_a S_b)^(1/2)) is computed as the sum of square roots of the eigenvalues of
    the symmetric PSD matrix S_a^(1/2) S_b S_a^(1/2) (the same eigenvalues), which stays
    real and finite when the covariances are singular (dead ReLU features, fewer
    samples than features), where a general matrix square root does not.
    """
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected two feature arrays [N, F] with the same F, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 feature vectors per set to fit a covariance, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    sqrt_a = _psd_sqrt(cov_a)
    eigenvalues = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt = np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)))
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)


def _psd_sqrt(matrix):
    """The symmetric square root of a PSD matrix (rounding negatives clipped to 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


__all__ = ["build_classifier", "features", "frechet_distance", "predict_labels", "train_classifier"]
