"""Checks at the public entry points, each with an error that names the problem.

Static properties (rank, spatial size, channels, dtype, empty batch) are checked
on shapes, so they also hold inside `train_step` at trace time. Values (range,
NaN/Inf) are checked on concrete arrays; inside a traced step they are left to the
NaN guard of training, since an assert per step would cost more than the check is
worth.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class InputError(ValueError):
    """An input to a zoo model has the wrong shape, dtype or values."""


def _dtype_of(x) -> tf.DType:
    return tf.as_dtype(x.dtype)


def check_images(x, image_shape, where: str = "input", check_values: bool = True):
    """Returns x as a float32 tensor after checking it is a batch of images in [0, 1].

    Raises:
        InputError: naming the rank, shape, channel count, dtype, range or
            non-finite values that are wrong.
    """
    if not isinstance(x, (tf.Tensor, tf.Variable, np.ndarray)):
        try:
            x = np.asarray(x)
        except Exception as e:  # noqa: BLE001
            raise InputError(f"{where}: cannot convert {type(x).__name__} to an array: {e}") from e
    h, w, c = image_shape
    dtype = _dtype_of(x)
    if not dtype.is_floating:
        hint = " (divide uint8 images by 255)" if dtype in (tf.uint8, tf.int32, tf.int64) else ""
        raise InputError(f"{where}: expected float images in [0, 1], got dtype {dtype.name}{hint}")
    shape = tuple(x.shape)
    if len(shape) != 4:
        hint = " (add a batch dimension: x[None])" if len(shape) == 3 else ""
        raise InputError(f"{where}: expected rank 4 [batch, {h}, {w}, {c}], got rank {len(shape)} shape {shape}{hint}")
    if shape[1:3] != (h, w) and None not in shape[1:3]:
        raise InputError(f"{where}: expected spatial size {h}x{w}, got {shape[1]}x{shape[2]}")
    if shape[3] is not None and shape[3] != c:
        raise InputError(f"{where}: expected {c} channel(s), got {shape[3]}")
    if shape[0] == 0:
        raise InputError(f"{where}: the batch is empty")
    if check_values and tf.executing_eagerly() and not isinstance(x, tf.Variable) and _is_concrete(x):
        values = np.asarray(x, dtype=np.float32)
        if not np.all(np.isfinite(values)):
            raise InputError(f"{where}: contains {int(np.sum(~np.isfinite(values)))} NaN/Inf values")
        lo, hi = float(values.min()), float(values.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(f"{where}: values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
    return tf.cast(x, tf.float32)


def _is_concrete(x) -> bool:
    return isinstance(x, np.ndarray) or hasattr(x, "numpy")


def check_labels(y, num_classes: int, batch_size=None, where: str = "labels"):
    """Returns one-hot float32 labels [B, num_classes] from integer or one-hot labels.

    Raises:
        InputError: wrong shape/dtype, a batch size that differs from the images',
            or a class index outside [0, num_classes).
    """
    if y is None:
        raise InputError(f"{where}: this model is conditional; pass labels for {num_classes} classes")
    if not isinstance(y, (tf.Tensor, np.ndarray)):
        y = np.asarray(y)
    dtype = _dtype_of(y)
    rank = len(y.shape)
    if rank == 2 and y.shape[-1] == num_classes and dtype.is_floating:
        onehot = tf.cast(y, tf.float32)
    elif rank == 1 and dtype.is_integer:
        if _is_concrete(y) and tf.executing_eagerly():
            values = np.asarray(y)
            if values.size and (values.min() < 0 or values.max() >= num_classes):
                raise InputError(
                    f"{where}: class indices must lie in [0, {num_classes}), got range "
                    f"[{values.min()}, {values.max()}]"
                )
        onehot = tf.one_hot(tf.cast(y, tf.int32), num_classes)
    else:
        raise InputError(
            f"{where}: expected integer class indices [B] or one-hot floats [B, {num_classes}], "
            f"got dtype {dtype.name} shape {tuple(y.shape)}"
        )
    if batch_size is not None and y.shape[0] is not None and y.shape[0] != batch_size:
        raise InputError(f"{where}: {y.shape[0]} labels for a batch of {batch_size} images")
    return onehot
