"""CIFAR-10 (Krizhevsky 2009) from a folder of images, or from TensorFlow Datasets.

The folder layout is `<root>/{train,test}/<class>/*.jpg|png` (as in the public
JPEG mirrors of CIFAR-10), found as `cifar10-jpeg/`, `cifar10/` or `cifar-10/`
under the data directories searched for every dataset (`zoo.data.sources`). A
class's label is its folder's index in the sorted class names, which is the
standard CIFAR-10 order (airplane=0 ... truck=9: the official order is alphabetical).
The images of a split are in a fixed, seeded random order (`ORDER_SEED`), as in the
official release, so that its first N images mix the classes.

JPEG copies are lossy: their pixels differ from the official binary release, so a
bits/dim measured on them is not comparable with published CIFAR-10 figures.

Decoding 60,000 files takes minutes on a small CPU, so each split is decoded once
(`tf.io.decode_image`) and cached as uint8 arrays in `$ZOO_CACHE_DIR` (beside the
dSprites cache), in a file named by a hash of the split's file names and sizes: a
changed folder is read again, and a damaged cache file is re-read with a warning.
"""

from __future__ import annotations

import hashlib
import os
import warnings

import numpy as np

from zoo import io
from zoo.data.dsprites import cache_dir
from zoo.data.idx import DataSourceError
from zoo.data.sources import IMAGE_EXTENSIONS, DatasetSpec, register_dataset

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SIZE = 32
SPLIT_SIZES = {"train": 50000, "test": 10000}
# Seed of the permutation that orders each split (fixed: it is part of the dataset).
ORDER_SEED = 10
# Part of the cache key: changing how files are decoded or ordered must not serve old arrays.
_DECODER = f"tf.io.decode_image, 3 channels, 32x32, order seed {ORDER_SEED}"


class Cifar10Folder:
    """The `folder_reader` of the cifar10 `DatasetSpec`: finds and reads the folder layout."""

    @staticmethod
    def find(directory: str) -> str | None:
        """`directory` when it holds train/ and test/, each with the ten class folders; else None."""
        for split in SPLIT_SIZES:
            split_dir = os.path.join(directory, split)
            if not os.path.isdir(split_dir) or not set(CLASSES) <= set(os.listdir(split_dir)):
                return None
        return directory

    @staticmethod
    def caveat(folder: str) -> str:
        """What a number measured on this folder must say: JPEG files are a lossy copy
        of CIFAR-10 (empty for a lossless PNG copy)."""
        for split in SPLIT_SIZES:
            with os.scandir(os.path.join(folder, split, CLASSES[0])) as entries:
                if any(e.name.lower().endswith((".jpg", ".jpeg")) for e in entries):
                    return ("CIFAR-10 read from JPEG files (a lossy re-encoding): bits/dim are not comparable "
                            "with published CIFAR-10 figures")
        return ""

    @staticmethod
    def files(folder: str, split: str) -> tuple[list[str], np.ndarray, str]:
        """(image paths, labels int64, cache key) of a split, in the seeded order of its
        files sorted by class, then file name."""
        split_dir = os.path.join(folder, split)
        names = sorted(d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d)))
        if tuple(names) != CLASSES:
            raise DataSourceError(f"{split_dir}: class folders {names}, expected the ten CIFAR-10 classes "
                                  f"{list(CLASSES)}")
        paths, labels, digest = [], [], hashlib.sha256(_DECODER.encode())
        for label, name in enumerate(names):
            with os.scandir(os.path.join(split_dir, name)) as entries:
                found = sorted((e.name, e.stat().st_size) for e in entries
                               if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
            for file_name, size in found:
                paths.append(os.path.join(split_dir, name, file_name))
                digest.update(f"{name}/{file_name}:{size}\n".encode())
            labels += [label] * len(found)
        order = np.random.default_rng(ORDER_SEED).permutation(len(paths))
        return [paths[i] for i in order], np.array(labels, np.int64)[order], digest.hexdigest()[:16]

    @classmethod
    def read(cls, folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 images [N,32,32,3], int64 labels [N]) of a split, from the cache when it is current."""
        paths, labels, key = cls.files(folder, split)
        path = os.path.join(cache_dir(), f"cifar10_{split}_{key}.npz")
        if os.path.exists(path):
            try:
                with np.load(path, allow_pickle=False) as f:
                    images, cached_labels = f["images"], f["labels"]
                if images.shape == (len(paths), IMAGE_SIZE, IMAGE_SIZE, 3) and np.array_equal(cached_labels, labels):
                    return images, labels
                raise ValueError(f"images {images.shape}, {len(cached_labels)} labels")
            except Exception as e:  # noqa: BLE001 - zipfile/numpy raise many kinds on damage
                warnings.warn(f"CIFAR-10 cache {path} is unreadable ({type(e).__name__}: {e}); decoding the "
                              "files again", stacklevel=2)
        # Imported here: registering the dataset (every `import zoo.data`) must not load
        # TensorFlow, which only decoding needs.
        from zoo.data.folders import decode_files

        images = decode_files(paths, IMAGE_SIZE, 3)
        try:
            # Atomic: a reader never sees half a cache; uncompressed, since JPEG pixels hardly compress.
            with io.atomic_path(path, suffix=".npz") as tmp:
                np.savez(tmp, images=images, labels=labels)
        except OSError as e:  # a read-only or full disk costs the cache, not the data
            warnings.warn(f"could not write the CIFAR-10 cache {path}: {e}", stacklevel=2)
        return images, labels


register_dataset(
    DatasetSpec(
        name="cifar10",
        image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        num_classes=len(CLASSES),
        class_names=CLASSES,
        split_sizes=SPLIT_SIZES,
        dir_names=("cifar10-jpeg", "cifar10", "cifar-10"),
        tfds_name="cifar10",
        folder_reader=Cifar10Folder,
        install_hint=(
            "put the images in a folder cifar10-jpeg/{train,test}/<class>/*.jpg (e.g. a JPEG mirror of CIFAR-10; "
            "its bits/dim are then not comparable with published CIFAR-10 figures) under a folder in "
            "$ZOO_DATA_DIR, or go online so that tensorflow_datasets can download it"
        ),
    )
)
