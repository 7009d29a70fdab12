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
                     widths=(32, 64), block: str = "stride") -> keras.Model:
    """Conv blocks, a dense feature layer and a softmax, from x in [0, 1].

    Args:
        image_shape: (H, W, C) of the images.
        num_classes: classes of the softmax.
        feature_dim: units of the "features" layer (the Fréchet distance's space).
        widths: channels of each block; every block halves the map. More blocks of the
            last width follow until the map is at most 8 pixels wide: with the default
            (32, 64), 28x28 images get two (7x7 maps), 64x64 dSprites three (8x8), which
            keeps the dense layer, and so the shipped judge, small.
        block: "stride", one 3x3 stride-2 ReLU conv (enough for grey digits and sprites);
            or "vgg", two 3x3 convs with batch normalization and ReLU, then 2x2 max pooling
            (colour objects: the stride-1 pair sees every pixel at full resolution first).
    """
    if block not in ("stride", "vgg"):
        raise ValueError(f"block: expected 'stride' or 'vgg', got {block!r}")

    def downsampling_block(h, width):
        if block == "stride":
            return layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(h)
        for _ in range(2):
            h = layers.Conv2D(width, 3, padding="same", use_bias=False)(h)
            h = layers.ReLU()(layers.BatchNormalization()(h))
        return layers.MaxPooling2D(2)(h)

    x_in = keras.Input(tuple(image_shape), name="x")
    h = x_in
    for width in widths:
        h = downsampling_block(h, width)
    while h.shape[1] > 8:
        h = downsampling_block(h, widths[-1])
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
    block: str = "stride",
    augment: bool = False,
    cosine_decay: bool = False,
) -> keras.Model:
    """Trains `build_classifier` on images x [N,H,W,C] in [0, 1] and integer labels y [N].

    Args:
        augment: train on random left-right flips and shifts of up to `SHIFT_PIXELS`
            (mirrored at the border), drawn afresh every epoch: natural photos keep their
            class under both, digits would not (a flipped 2 is no 2), so only for those.
        cosine_decay: the learning rate falls from `learning_rate` to 0 along a cosine
            over the training steps; else it is constant.

    Seeds the weights, the shuffling and the augmentation with `seed` (through
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
    model = build_classifier(x.shape[1:], num_classes, feature_dim, widths, block)
    steps = epochs * -(-len(x) // batch_size)
    rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps) if cosine_decay else learning_rate
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if augment:
        model.fit(augmented_batches(x, y, batch_size, seed), epochs=epochs, shuffle=False, verbose=0)
    else:
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return model


SHIFT_PIXELS = 4  # the shift CIFAR classifiers are usually trained with: 1/8 of a 32-pixel image


def augmented_batches(x, y, batch_size: int, seed: int):
    """A shuffled tf.data pipeline of (images, labels) batches, each image flipped left-right
    at random and shifted by up to `SHIFT_PIXELS` in each direction (padded with its mirror
    image, then cropped back), anew on every pass."""
    import tensorflow as tf

    height, width, channels = x.shape[1:]
    pad = [[SHIFT_PIXELS, SHIFT_PIXELS], [SHIFT_PIXELS, SHIFT_PIXELS], [0, 0]]

    def flip_and_shift(image, label):
        image = tf.image.random_flip_left_right(image)
        image = tf.image.random_crop(tf.pad(image, pad, mode="SYMMETRIC"), (height, width, channels))
        return image, label

    return (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
            .map(flip_and_shift, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
            .prefetch(tf.data.AUTOTUNE))


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


__all__ = ["SHIFT_PIXELS", "augmented_batches", "build_classifier", "features", "frechet_distance", "predict_labels",
           "train_classifier"]
