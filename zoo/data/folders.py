"""Your own images: a folder of PNG/JPEG files as a streaming dataset.

    folder = ImageFolder("photos/", image_size=32)          # channels: the majority of the files
    ds = folder.load("train", batch_size=64)                 # tf.data, decoded as it streams
    x, y = folder.load_numpy("test", take=100)               # the held-out images
    folder.source                                            # what a model card records

The folder is searched recursively for `IMAGE_EXTENSIONS`. With two or more
top-level sub-folders holding images, their sorted names are the class labels
(label i = the i-th name); otherwise the images are unlabelled (label 0).

Every image is decoded by `tf.io.decode_image` as it streams (the folder is never
held in memory), converted to the chosen number of channels, scaled so that its
shorter side is `image_size` and centre-cropped to `image_size` x `image_size`.

A fixed fraction of the files, chosen by a seeded permutation of the sorted file
list, is held out as the "test" split; the others are "train"; each split keeps the
permutation's order, so its first N images mix the classes. The split is therefore
a pure function of (file list, fraction, seed), all of which the source record
holds; adding or removing files changes it.

A file that cannot be read fails loudly: the header scan names files that are not
images at all, and a decode failure while streaming (a truncated file) triggers a
diagnosis pass that decodes the files one by one and names every bad one.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import tensorflow as tf

from zoo.data.idx import DataSourceError
from zoo.data.pipelines import PREPROCESSING, preprocess_batch
from zoo.data.sources import IMAGE_EXTENSIONS, DatasetSpec

# The dataset name a model card records for a folder; its "data_source" says which.
FOLDER_DATASET = "folder"
DEFAULT_HELD_OUT_FRACTION = 0.1
DEFAULT_SEED = 0
# Bad files named in an error, before "... and N more".
LISTED_BAD_FILES = 10
# PIL modes that hold one channel; every other mode (RGB, RGBA, P, CMYK, ...) counts as colour.
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _listed(items) -> str:
    more = len(items) - LISTED_BAD_FILES
    return ", ".join(items[:LISTED_BAD_FILES]) + (f" and {more} more" if more > 0 else "")


def list_images(path: str) -> tuple[list[str], list[str], np.ndarray]:
    """The image files under `path` and their labels, without reading any file.

    Args:
        path: a folder, searched recursively (hidden files and folders skipped).
    Returns:
        (files: paths relative to `path`, sorted; class_names: the sorted names of the
        top-level sub-folders holding images when there are two or more, else [];
        labels: int64 [len(files)], each file's index in `class_names`, or 0).
    Raises:
        DataSourceError: no such folder, no image in it, or images directly in a
            labelled folder (beside its class sub-folders, so without a class).
    """
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(path):
        raise DataSourceError(f"{path}: no such folder of images")
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [os.path.relpath(os.path.join(root, n), path) for n in names
                  if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")]
    files.sort()
    if not files:
        raise DataSourceError(f"{path}: no images in this folder or below it (accepted extensions: "
                              f"{', '.join(IMAGE_EXTENSIONS)}, in any letter case)")
    top = [f.split(os.sep, 1)[0] if os.sep in f else None for f in files]
    class_names = sorted({t for t in top if t is not None})
    if len(class_names) < 2:
        return files, [], np.zeros(len(files), np.int64)
    loose = [f for f, t in zip(files, top) if t is None]
    if loose:
        raise DataSourceError(f"{path}: images beside the class folders {class_names} have no class; move them "
                              f"into one: {_listed(loose)}")
    index = {name: i for i, name in enumerate(class_names)}
    return files, class_names, np.array([index[t] for t in top], np.int64)


def count_channels(paths) -> tuple[int, int, list[str]]:
    """(grey files, colour files, unreadable files) by reading only each file's header."""
    from PIL import Image, UnidentifiedImageError

    grey = colour = 0
    bad = []
    for p in paths:
        try:
            with Image.open(p) as img:
                mode = img.mode
        except (OSError, UnidentifiedImageError, ValueError) as e:
            bad.append(f"{p} ({type(e).__name__})")
            continue
        if mode in _GREY_MODES:
            grey += 1
        else:
            colour += 1
    return grey, colour, bad


def resize_and_crop(image, size: int):
    """Scales an image [H, W, C] so that its shorter side is `size`, then crops the centre
    `size` x `size`; uint8 in and out (bilinear with antialiasing, rounded)."""
    shape = tf.shape(image)
    h, w = shape[0], shape[1]

    def scaled():
        scale = size / tf.cast(tf.minimum(h, w), tf.float32)
        # max(): the shorter side lands on exactly `size` despite rounding of the longer.
        new_h = tf.maximum(size, tf.cast(tf.round(tf.cast(h, tf.float32) * scale), tf.int32))
        new_w = tf.maximum(size, tf.cast(tf.round(tf.cast(w, tf.float32) * scale), tf.int32))
        resized = tf.image.resize(image, tf.stack([new_h, new_w]), method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    # An image already `size` on its shorter side is only cropped: its pixels stay exact.
    image = tf.cond(tf.minimum(h, w) == size, lambda: image, scaled)
    shape = tf.shape(image)
    top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
    return image[top:top + size, left:left + size]


def decode_file(path, image_size: int, channels: int):
    """One image file -> uint8 [image_size, image_size, channels] (a graph function of a path tensor)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False, dtype=tf.uint8)
    return tf.ensure_shape(resize_and_crop(image, image_size), (image_size, image_size, channels))


def diagnose(paths, channels: int) -> list[str]:
    """The files among `paths` that TensorFlow cannot decode, each with the reason."""
    bad = []
    for p in paths:
        try:
            tf.io.decode_image(tf.io.read_file(p), channels=channels, expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.DataLossError) as e:
            bad.append(f"{p} ({e.message.splitlines()[0][:80]})")
    return bad


@contextlib.contextmanager
def decode_errors_named(paths, channels: int, where: str):
    """Turns a decode failure inside a streaming pipeline over `paths` into a
    DataSourceError naming every file that cannot be decoded.

    The stream only says that some file failed; the one-by-one pass that finds which
    runs only then, so a healthy folder pays nothing for it.
    """
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as e:
        bad = diagnose(paths, channels)
        if not bad:
            raise
        raise DataSourceError(f"{where}: {len(bad)} of {len(paths)} image files cannot be decoded; remove or "
                              f"replace them: {_listed(bad)}") from e


def decode_files(paths, image_size: int, channels: int, batch_size: int = 1000) -> np.ndarray:
    """Decodes image files in parallel into one uint8 array [N, S, S, C] (bad files named)."""
    paths = [os.fspath(p) for p in paths]
    ds = (tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string))
          .map(lambda p: decode_file(p, image_size, channels), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
          .batch(batch_size))
    with decode_errors_named(paths, channels, os.path.commonpath(paths) if paths else "no files"):
        out = [batch.numpy() for batch in ds]
    return np.concatenate(out) if out else np.zeros((0, image_size, image_size, channels), np.uint8)


def held_out_split(num_files: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(held-out indices, training indices) into the sorted file list: the first
    round(fraction * n) of a seeded permutation are held out (at least one when
    fraction > 0 and n >= 2), the rest train. Both keep the permutation's order, so
    that the first N images of a split are a random sample, not one class folder."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held_out_fraction must lie in [0, 1), got {fraction}")
    count = round(fraction * num_files)
    if fraction > 0 and num_files >= 2:
        count = min(max(count, 1), num_files - 1)
    order = np.random.default_rng(seed).permutation(num_files)
    return order[:count], order[count:]


class ImageFolder:
    """A folder of images as the zoo's "train" and "test" (held-out) splits.

    Args:
        path: the folder (searched recursively; see `list_images` for labels).
        image_size: S: images are scaled (shorter side S) and centre-cropped to S x S.
        channels: 1 (grey) or 3 (RGB); None = the majority of the files (RGB on a tie).
            Files of the other kind are converted, with a warning saying how many.
        held_out_fraction: the fraction of files in the "test" split.
        seed: seed of the held-out draw.
        labels: the class names a model was trained with (from its card); the folder's
            own sub-folders must match them.
    Raises:
        DataSourceError: no images, files that are not images, or labels that differ.
        ValueError: a bad size, channel count or fraction.
    """

    def __init__(self, path: str, image_size: int, channels: int | None = None,
                 held_out_fraction: float = DEFAULT_HELD_OUT_FRACTION, seed: int = DEFAULT_SEED, labels=None):
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self.image_size = int(image_size)
        if self.image_size < 1:
            raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
        files, self.class_names, self._labels = list_images(self.path)
        if labels is not None and list(labels) != self.class_names:
            raise DataSourceError(f"{self.path}: its class folders are {self.class_names}, the model was trained "
                                  f"with {list(labels)}")
        self._paths = np.array([os.path.join(self.path, f) for f in files])
        grey, colour, bad = count_channels(self._paths)
        if bad:
            raise DataSourceError(f"{self.path}: {len(bad)} of {len(files)} files are not readable images; remove "
                                  f"or replace them: {_listed(bad)}")
        self.channels = int(channels or (1 if grey > colour else 3))
        converted = colour if self.channels == 1 else grey
        if converted:
            warnings.warn(f"{self.path}: {converted} of {len(files)} images converted to "
                          f"{'grey' if self.channels == 1 else 'RGB'} ({grey} grey, {colour} colour files)",
                          stacklevel=2)
        self.held_out_fraction = float(held_out_fraction)
        self.seed = int(seed)
        held_out, train = held_out_split(len(files), self.held_out_fraction, self.seed)
        self._splits = {"train": train, "test": held_out}

    @classmethod
    def from_source(cls, source: dict) -> ImageFolder:
        """The folder a model card's "data_source" record describes, split as it was."""
        return cls(source["path"], source["image_size"], source["channels"], source["held_out_fraction"],
                   source["seed"], labels=source.get("labels", []))

    @property
    def source(self) -> dict:
        """The record a model card keeps, enough to rebuild the same splits."""
        return {"path": self.path, "image_size": self.image_size, "channels": self.channels,
                "labels": list(self.class_names), "held_out_fraction": self.held_out_fraction,
                "seed": self.seed, "num_images": len(self._paths)}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)

    @property
    def spec(self) -> DatasetSpec:
        """The folder described as a dataset (shape, classes, split sizes)."""
        return DatasetSpec(name=FOLDER_DATASET, image_shape=self.image_shape, num_classes=len(self.class_names),
                           split_sizes={split: len(index) for split, index in self._splits.items()},
                           class_names=tuple(self.class_names))

    def files(self, split: str, take: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(absolute paths, int64 labels) of the first `take` files of a split."""
        if split not in self._splits:
            raise ValueError(f"an image folder has the splits 'train' and 'test' (held out), not {split!r}")
        index = self._splits[split][:take]
        if len(index) == 0:
            raise DataSourceError(f"{self.path}: the {split!r} split is empty ({len(self._paths)} images, "
                                  f"held-out fraction {self.held_out_fraction})")
        return self._paths[index], self._labels[index]

    def reading(self):
        """A context in which a decode failure of this folder's stream names the bad files."""
        return decode_errors_named(list(self._paths), self.channels, self.path)

    def gather(self, split: str):
        """(number of images, fn): fn maps a batch of indices into the split, an int64
        tensor [B], to (uint8 images [B,S,S,C], labels [B]) inside a tf.data graph."""
        paths, labels = self.files(split)
        paths, labels = tf.constant(paths), tf.constant(labels)
        signature = tf.TensorSpec(self.image_shape, tf.uint8)

        def fn(index):
            images = tf.map_fn(lambda p: decode_file(p, self.image_size, self.channels), tf.gather(paths, index),
                               fn_output_signature=signature)
            return images, tf.gather(labels, index)

        return int(paths.shape[0]), fn

    def images(self, split: str) -> FolderImages:
        """The uint8 images of a split as a sequence decoded when indexed (never all at once)."""
        return FolderImages(self, split)

    def load_numpy(self, split: str = "test", preprocessing: str = "float", seed: int = 0,
                   take: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(float32 images [N,S,S,C] in [0,1], int64 labels): the first `take` images of a
        split (in its seeded order), preprocessed once. Only those files are decoded."""
        paths, labels = self.files(split, take)
        images = decode_files(paths, self.image_size, self.channels)
        return preprocess_batch(images, tf.constant([seed, 0], tf.int64), preprocessing).numpy(), labels

    def load(self, split: str = "train", batch_size: int = 128, preprocessing: str = "float",
             shuffle: bool | None = None, seed: int = 0, with_labels: bool = False, take: int | None = None,
             drop_remainder: bool = False) -> tf.data.Dataset:
        """A batched `tf.data.Dataset` of one split, decoding files as it streams; the
        arguments are those of `zoo.data.load`. Iterate it inside `reading()` to have a
        decode failure name the bad files."""
        if preprocessing not in PREPROCESSING:
            raise ValueError(f"unknown preprocessing {preprocessing!r}; choose one of {PREPROCESSING}")
        paths, labels = self.files(split, take)
        training = split == "train"
        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
        if training if shuffle is None else shuffle:
            ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda p, y: (decode_file(p, self.image_size, self.channels), y),
                    num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=drop_remainder)
        # As zoo.data.load: one stateless seed per batch, a fresh stream each epoch only when training.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=training).batch(2)

        def _map(batch, batch_seed):
            x = preprocess_batch(batch[0], batch_seed, preprocessing)
            return (x, batch[1]) if with_labels else x

        return tf.data.Dataset.zip(ds, seeds).map(_map, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


class FolderImages:
    """The images of one split of an `ImageFolder`, indexed like a uint8 array [N,S,S,C]
    (by a slice or an index array); only the files indexed are decoded."""

    def __init__(self, folder: ImageFolder, split: str):
        self.folder = folder
        self.paths, _ = folder.files(split)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index) -> np.ndarray:
        chosen = self.paths[index]
        return decode_files(np.atleast_1d(chosen), self.folder.image_size, self.folder.channels)
