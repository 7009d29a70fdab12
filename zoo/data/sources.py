"""Where the raw arrays come from.

Each dataset is described by a `DatasetSpec`. `load_arrays` tries the sources in a
fixed order and returns the first one that is complete and valid:

1. the directory passed as `data_dir`, then each directory in `$ZOO_DATA_DIR`
   (`os.pathsep`-separated), each searched for the IDX files directly and in a
   sub-folder named after the dataset (`mnist/`, `fashion-mnist/`, ...);
2. the Debian package path (`/usr/share/datasets/<name>`);
3. the Keras download cache (`~/.keras/datasets`);
4. TensorFlow Datasets: first its local cache, then a download when online.

A source that exists but is damaged is an error, not a reason to fall through:
silently taking a different copy would hide the damage. When nothing is found,
the error lists every place that was tried and how to get the data.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable

import numpy as np

from zoo.data.idx import DataSourceError, read_idx

DATA_DIR_ENV = "ZOO_DATA_DIR"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is and where its files may live.

    Args:
        name: the name users pass to the loaders.
        image_shape: (height, width, channels) of one image.
        num_classes: number of labels (0 when the dataset has none).
        split_sizes: number of examples per split, used to validate sources.
        idx_files: for IDX datasets, split -> (images file, labels file) stems.
        dir_names: sub-folder names to look for under a data directory.
        debian_dir: where the Debian package installs the files, if any.
        keras_cache: file or folder name in `~/.keras/datasets`, if any.
        tfds_name: the TFDS builder name, if any.
        generator: for synthetic datasets, a callable (split) -> (images, labels)
            that replaces the file sources.
        folder_reader: for datasets stored as a folder layout, an object with
            `find(directory)` (the dataset's folder there, or None) and
            `read(folder, split)` -> (images, labels); searched like the IDX files.
        install_hint: how a user gets the data.
    """

    name: str
    image_shape: tuple
    num_classes: int
    split_sizes: dict
    idx_files: dict = dataclasses.field(default_factory=dict)
    dir_names: tuple = ()
    debian_dir: str | None = None
    keras_cache: str | None = None
    tfds_name: str | None = None
    generator: Callable | None = None
    folder_reader: object | None = None
    install_hint: str = ""


_IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Adds a dataset to the registry (the hook for new datasets)."""
    DATASETS[spec.name] = spec
    return spec


register_dataset(
    DatasetSpec(
        name="mnist",
        image_shape=(28, 28, 1),
        num_classes=10,
        split_sizes={"train": 60000, "test": 10000},
        idx_files=_IDX_STEMS,
        dir_names=("mnist", "MNIST"),
        keras_cache="mnist.npz",
        tfds_name="mnist",
        install_hint=(
            "put the four MNIST IDX files (train-images-idx3-ubyte.gz, ...) in a folder and "
            f"set ${DATA_DIR_ENV} to it (or to its parent, holding mnist/), or go online so "
            "that tensorflow_datasets can download it"
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="fashion_mnist",
        image_shape=(28, 28, 1),
        num_classes=10,
        split_sizes={"train": 60000, "test": 10000},
        idx_files=_IDX_STEMS,
        dir_names=("fashion-mnist", "fashion_mnist", "FashionMNIST"),
        debian_dir="/usr/share/datasets/fashion-mnist",
        keras_cache="fashion-mnist",
        tfds_name="fashion_mnist",
        install_hint=(
            "on Debian/Ubuntu: `apt-get install -y dataset-fashion-mnist`; otherwise put the "
            f"four IDX files in a folder and set ${DATA_DIR_ENV} to it, or go online so that "
            "tensorflow_datasets can download it"
        ),
    )
)


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        import difflib

        close = difflib.get_close_matches(name, DATASETS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}.{hint}")
    return DATASETS[name]


def _candidate_dirs(spec: DatasetSpec, data_dir) -> list[str]:
    roots = []
    if data_dir:
        roots.append(os.fspath(data_dir))
    roots += [p for p in os.environ.get(DATA_DIR_ENV, "").split(os.pathsep) if p]
    dirs = []
    for root in roots:
        dirs.append(root)
        dirs += [os.path.join(root, d) for d in spec.dir_names]
    if spec.debian_dir:
        dirs.append(spec.debian_dir)
    if spec.keras_cache and not spec.keras_cache.endswith(".npz"):
        dirs.append(os.path.join(_keras_cache_dir(), spec.keras_cache))
    return dirs


def _keras_cache_dir() -> str:
    return os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "datasets")


def _find_idx_pair(directory: str, stems) -> tuple[str, str] | None:
    found = []
    for stem in stems:
        for candidate in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                found.append(path)
                break
        else:
            return None
    return tuple(found)


def _validate(spec: DatasetSpec, split: str, images, labels, origin: str):
    n = spec.split_sizes.get(split)
    h, w, c = spec.image_shape
    if images.ndim == 3 and c == 1:
        images = images[..., None]
    if images.shape[1:] != (h, w, c):
        raise DataSourceError(
            f"{origin}: images have shape {images.shape[1:]}, expected {(h, w, c)} for {spec.name}"
        )
    if n is not None and (images.shape[0] != n or labels.shape[0] != n):
        raise DataSourceError(
            f"{origin}: {spec.name}/{split} should hold {n} images and labels, found "
            f"{images.shape[0]} images and {labels.shape[0]} labels"
        )
    if images.dtype != np.uint8:
        raise DataSourceError(f"{origin}: images have dtype {images.dtype}, expected uint8")
    if spec.num_classes and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise DataSourceError(f"{origin}: labels outside [0, {spec.num_classes})")
    return images, labels.astype(np.int64)


def _from_tfds(spec: DatasetSpec, split: str, download: bool):
    import tensorflow_datasets as tfds

    ds = tfds.load(spec.tfds_name, split=split, batch_size=-1, download=download, as_supervised=True)
    images, labels = tfds.as_numpy(ds)
    return images, labels


@functools.lru_cache(maxsize=16)
def _load_arrays_cached(name: str, split: str, data_dir: str | None, env_dirs: str):
    # `env_dirs` is part of the cache key so that changing $ZOO_DATA_DIR is seen.
    spec = get_spec(name)
    if split not in spec.split_sizes:
        raise ValueError(f"{name} has splits {sorted(spec.split_sizes)}, not {split!r}")
    if spec.generator is not None:
        images, labels = spec.generator(split)
        return _validate(spec, split, images, labels, f"generated {name}")

    tried = []
    for directory in _candidate_dirs(spec, data_dir):
        folder = spec.folder_reader.find(directory) if spec.folder_reader else None
        if folder is not None:
            return _validate(spec, split, *spec.folder_reader.read(folder, split), folder)
        pair = _find_idx_pair(directory, spec.idx_files[split]) if spec.idx_files else None
        if pair is None:
            tried.append(directory)
            continue
        images, labels = read_idx(pair[0]), read_idx(pair[1])
        return _validate(spec, split, images, labels, directory)

    if spec.keras_cache and spec.keras_cache.endswith(".npz"):
        path = os.path.join(_keras_cache_dir(), spec.keras_cache)
        if os.path.isfile(path):
            try:
                with np.load(path, allow_pickle=False) as f:
                    key = "train" if split == "train" else "test"
                    images, labels = f[f"x_{key}"], f[f"y_{key}"]
            except (OSError, ValueError, KeyError) as e:
                raise DataSourceError(f"{path} is damaged: {e}") from e
            return _validate(spec, split, images, labels, path)
        tried.append(path)

    if spec.tfds_name:
        for download in (False, True):
            try:
                images, labels = _from_tfds(spec, split, download)
            except Exception as e:  # noqa: BLE001 - TFDS raises many kinds when offline
                tried.append(f"tensorflow_datasets ({'download' if download else 'local cache'}: "
                             f"{type(e).__name__})")
                continue
            return _validate(spec, split, images, labels, f"tfds:{spec.tfds_name}")

    raise DataSourceError(
        f"no source found for dataset {name!r} (split {split!r}). Looked in:\n  "
        + "\n  ".join(tried)
        + f"\nTo get it: {spec.install_hint}."
    )


def load_arrays(name: str, split: str = "train", data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """Returns (images uint8 [N,H,W,C], labels int64 [N]) for one split.

    Raises:
        ValueError: unknown dataset or split.
        DataSourceError: no source found, or a source is damaged.
    """
    return _load_arrays_cached(
        name, split, os.fspath(data_dir) if data_dir else None, os.environ.get(DATA_DIR_ENV, "")
    )


def describe_sources() -> list[dict]:
    """Where each registered dataset is found, without reading or downloading it.

    Checks the local sources in `load_arrays`' order (folders, the Keras cache); a
    generated dataset is always found. TensorFlow Datasets is named among the places
    looked, since whether it can provide the data shows only when it is asked.

    Returns:
        One dict per dataset, by name: `dataset`, `found` (bool), `where` (the folder
        or file, or None), `looked` (the places tried), `how_to_add` (the install hint).
    """
    out = []
    for name, spec in sorted(DATASETS.items()):
        looked, where = [], None
        if spec.generator is not None:
            where = f"generated from its specification ({name} needs no files)"
        for directory in [] if where else _candidate_dirs(spec, None):
            if (spec.idx_files and all(_find_idx_pair(directory, stems) for stems in spec.idx_files.values())) \
                    or (spec.folder_reader and spec.folder_reader.find(directory)):
                where = directory
                break
            looked.append(directory)
        if where is None and spec.keras_cache and spec.keras_cache.endswith(".npz"):
            path = os.path.join(_keras_cache_dir(), spec.keras_cache)
            if os.path.isfile(path):
                where = path
            else:
                looked.append(path)
        if where is None and spec.tfds_name:
            looked.append(f"tensorflow_datasets {spec.tfds_name!r} (its cache, or a download when online)")
        out.append({"dataset": name, "found": where is not None, "where": where, "looked": looked,
                    "how_to_add": spec.install_hint or "no files needed"})
    return out
