"""`tf.data` pipelines with the preprocessing a VAE needs.

Preprocessing modes (all return float32 images in [0, 1]):

- ``"dynamic_binarize"``: each pixel is a fresh Bernoulli draw with p = intensity,
  redrawn every epoch on the training split (the standard protocol for binarized
  MNIST likelihoods). The test split is drawn once with a fixed seed so that
  evaluations are reproducible.
- ``"binarize"``: static threshold at 0.5.
- ``"float"``: intensity / 255.
- ``"dequantize"``: (intensity + u) / 256 with u ~ U[0, 1): uniform dequantization of
  8-bit data, so that a continuous density's NLL bounds the discrete one
  (bits/dim then adds log 256 per dimension; see `zoo.data.bits_per_dim`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo.data.sources import get_spec, load_arrays

PREPROCESSING = ("dynamic_binarize", "binarize", "float", "dequantize")


def _check_mode(preprocessing: str):
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {preprocessing!r}; choose one of {PREPROCESSING}")


def preprocess_batch(images_uint8, seed, preprocessing: str):
    x = tf.cast(images_uint8, tf.float32)
    if preprocessing == "float":
        return x / 255.0
    if preprocessing == "binarize":
        return tf.cast(x > 127.5, tf.float32)
    noise = tf.random.stateless_uniform(tf.shape(x), seed=seed)
    if preprocessing == "dynamic_binarize":
        return tf.cast(noise < x / 255.0, tf.float32)
    return (x + noise) / 256.0  # dequantize


def preprocess(images_uint8: np.ndarray, preprocessing: str = "float", seed: int = 0) -> np.ndarray:
    """Applies a preprocessing mode to a uint8 array once (deterministic for a seed)."""
    _check_mode(preprocessing)
    return preprocess_batch(images_uint8, tf.constant([seed, 0], tf.int64), preprocessing).numpy()


def load_numpy(
    name: str,
    split: str = "test",
    preprocessing: str = "float",
    seed: int = 0,
    take: int | None = None,
    data_dir=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (float32 images [N,H,W,C] in [0,1], int64 labels) for a split, preprocessed once."""
    images, labels = load_arrays(name, split, data_dir)
    if take is not None:
        images, labels = images[:take], labels[:take]
    return preprocess(images, preprocessing, seed), labels


def load(
    name: str,
    split: str = "train",
    batch_size: int = 128,
    preprocessing: str = "float",
    shuffle: bool | None = None,
    seed: int = 0,
    with_labels: bool = False,
    take: int | None = None,
    drop_remainder: bool = False,
    data_dir=None,
) -> tf.data.Dataset:
    """Builds a batched, prefetched `tf.data.Dataset` of one split.

    Args:
        name: dataset name (see `zoo.data.list_datasets()`).
        split: "train" or "test".
        batch_size: images per batch.
        preprocessing: one of `PREPROCESSING`.
        shuffle: shuffle each epoch; defaults to True for "train", False otherwise.
        seed: seeds the shuffle and the random preprocessing. On the training split
            the noise is redrawn every epoch; on other splits it is fixed.
        with_labels: yield `(images, labels)` instead of images.
        take: keep only the first `take` examples (for quick runs and tests).
        drop_remainder: drop the last incomplete batch.
        data_dir: a directory to search before the default sources.

    Returns:
        A dataset of float32 images [B,H,W,C] in [0,1] (and int64 labels [B]).
    """
    _check_mode(preprocessing)
    get_spec(name)
    images, labels = load_arrays(name, split, data_dir)
    if take is not None:
        images, labels = images[:take], labels[:take]
    training = split == "train"
    shuffle = training if shuffle is None else shuffle

    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    # One stateless seed per batch; a fresh stream each epoch only when training.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=training).batch(2)
    ds = tf.data.Dataset.zip(ds, seeds)

    def _map(batch, batch_seed):
        x = preprocess_batch(batch[0], batch_seed, preprocessing)
        return (x, batch[1]) if with_labels else x

    return ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def bits_per_dim(nll_nats: float, num_dims: int, dequantized: bool = False) -> float:
    """Converts a per-image NLL in nats to bits per dimension.

    For a continuous density fit to data dequantized to [0,1] as (x + u)/256, the
    density on the 0..255 scale is 256^-D times the one on [0,1]; the discrete NLL
    bound is therefore nll + D log 256 (set `dequantized=True`). For a discrete
    likelihood (Bernoulli, discretized logistic) no correction applies.
    """
    total = nll_nats + (num_dims * np.log(256.0) if dequantized else 0.0)
    return float(total / (num_dims * np.log(2.0)))
