"""Where the raw arrays come from.

Each dataset is described by a `DatasetSpec`. `load_arrays` tries the sources in a
fixed order and returns the first one that is complete and valid:

1. the directory passed as `data_dir`, then each directory in `$ZOO_DATA_DIR`
   (`os.pathsep`-separated), then the default folder `~/.zoo/datasets`, each
   searched for the IDX files directly and in a sub-folder named after the dataset
   (`mnist/`, `fashion-mnist/`, ...). With no set-up at all, files put in
   `~/.zoo/datasets/mnist/` are found. (The current directory is not searched: the
   same command would load different data in different folders.)
2. the Debian package path (`/usr/share/datasets/<name>`);
3. the Keras download cache (`~/.keras/datasets`, or `$KERAS_HOME/datasets`);
4. the TensorFlow Datasets cache (`~/tensorflow_datasets`, or `$TFDS_DATA_DIR`);
5. a TFDS download, attempted only when the download host answers within
   `CONNECT_TIMEOUT` seconds (through the proxy when one is configured): offline,
   the loader fails at once instead of spending minutes in TFDS' retries. A failed
   download leaves no partial files behind.

A source that exists but is damaged is an error, not a reason to fall through:
silently taking a different copy would hide the damage. When nothing is found,
the error lists every place that was tried and how to get the data.
`describe_sources()` reports, without reading or downloading anything, where each
registered dataset would be loaded from.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import os
import shutil
import socket
import threading
import urllib.parse
import urllib.request
from typing import Callable

import numpy as np

from zoo.data.idx import DataSourceError, read_idx
from zoo.io import did_you_mean

DATA_DIR_ENV = "ZOO_DATA_DIR"
# The image files a folder dataset is made of (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
# Searched after $ZOO_DATA_DIR, expanded at each search (so a changed HOME is seen).
DEFAULT_DATA_DIR = os.path.join("~", ".zoo", "datasets")
# Seconds the download host gets to accept a connection before we call the machine offline.
CONNECT_TIMEOUT = 3.0
# What TFDS names its partial output: `incomplete.*` dataset folders and files,
# `*.tmp.*` download folders.
_TFDS_PARTIAL_PATTERNS = ("incomplete.*", "*.tmp.*")


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
        download_url: where TFDS downloads the files from; its host is checked for
            reachability before a download is attempted.
        generator: for synthetic datasets, a callable (split) -> (images, labels)
            that replaces the file sources.
        generator_cache: for synthetic datasets, a callable () -> the path of the
            file the generator caches its output in.
        folder_reader: for datasets stored as a folder layout, an object with
            `find(directory)` (the dataset's folder there, or None) and
            `read(folder, split)` -> (images, labels); searched like the IDX files.
            It may have `caveat(folder)`: what numbers measured on that copy must
            say (a lossy re-encoding), or "" (see `source_caveat`).
        install_hint: how a user gets the data.
        class_names: the labels' names, in label order (empty: unnamed, or no labels).
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
    download_url: str | None = None
    generator: Callable | None = None
    generator_cache: Callable | None = None
    folder_reader: object | None = None
    install_hint: str = ""
    class_names: tuple = ()


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
        class_names=tuple(str(digit) for digit in range(10)),
        split_sizes={"train": 60000, "test": 10000},
        idx_files=_IDX_STEMS,
        dir_names=("mnist", "MNIST"),
        keras_cache="mnist.npz",
        tfds_name="mnist",
        download_url="https://storage.googleapis.com/cvdf-datasets/mnist/",
        install_hint=(
            "put the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in {DEFAULT_DATA_DIR}/mnist/ "
            f"(or in a folder named by ${DATA_DIR_ENV}), or go online so that tensorflow_datasets "
            "can download it"
        ),
    )
)
register_dataset(
    DatasetSpec(
        name="fashion_mnist",
        image_shape=(28, 28, 1),
        num_classes=10,
        class_names=("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                     "ankle boot"),
        split_sizes={"train": 60000, "test": 10000},
        idx_files=_IDX_STEMS,
        dir_names=("fashion-mnist", "fashion_mnist", "FashionMNIST"),
        debian_dir="/usr/share/datasets/fashion-mnist",
        keras_cache="fashion-mnist",
        tfds_name="fashion_mnist",
        download_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        install_hint=(
            "on Debian/Ubuntu: `apt-get install -y dataset-fashion-mnist`; otherwise put the "
            f"four IDX files in {DEFAULT_DATA_DIR}/fashion-mnist/ (or in a folder named by "
            f"${DATA_DIR_ENV}), or go online so that tensorflow_datasets can download it"
        ),
    )
)


def get_spec(name: str) -> DatasetSpec:
    """The registered spec of dataset `name`.

    Raises:
        ValueError: an unknown name, with its close matches and the known names.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}.{did_you_mean(name, DATASETS)}")
    return DATASETS[name]


def _search_roots(data_dir) -> tuple[str, ...]:
    """The folders searched for dataset files, in order: `data_dir`, each entry of
    $ZOO_DATA_DIR, then the default folder."""
    roots = [os.fspath(data_dir)] if data_dir else []
    roots += [p for p in os.environ.get(DATA_DIR_ENV, "").split(os.pathsep) if p]
    roots.append(os.path.expanduser(DEFAULT_DATA_DIR))
    return tuple(roots)


def _candidate_dirs(spec: DatasetSpec, roots) -> list[str]:
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


def _tfds_data_dir() -> str:
    """Where TFDS keeps prepared datasets and downloads (its own default, read the same way)."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


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


# --------------------------------------------------------------------------- local sources


@dataclasses.dataclass(frozen=True)
class _Source:
    """A local copy of one split: where it is, `read() -> (images, labels)`, and what
    numbers measured on it must say ("" for an exact copy)."""

    where: str
    read: Callable
    caveat: str = ""


def _read_idx_pair(pair):
    return read_idx(pair[0]), read_idx(pair[1])


def _read_keras_npz(path: str, split: str):
    try:
        with np.load(path, allow_pickle=False) as f:
            key = "train" if split == "train" else "test"
            return f[f"x_{key}"], f[f"y_{key}"]
    except (OSError, ValueError, KeyError) as e:
        raise DataSourceError(f"{path} is damaged: {e}") from e


def _from_tfds(spec: DatasetSpec, split: str, download: bool):
    import tensorflow_datasets as tfds

    ds = tfds.load(spec.tfds_name, split=split, batch_size=-1, download=download, as_supervised=True)
    return tfds.as_numpy(ds)


def _read_tfds_cache(spec: DatasetSpec, split: str, directory: str):
    try:
        return _from_tfds(spec, split, download=False)
    except Exception as e:  # noqa: BLE001 - TFDS raises many kinds on a bad cache
        raise DataSourceError(f"{directory}: the tensorflow_datasets cache is unusable ({type(e).__name__}: {e}); "
                              "remove it to download the dataset again") from e


def _tfds_cache(spec: DatasetSpec) -> tuple[str, bool]:
    """The dataset's folder in the TFDS cache, and whether a prepared version is in it.

    Checked on disk, without importing TFDS (seconds) or asking it (it may go online).
    """
    directory = os.path.join(_tfds_data_dir(), spec.tfds_name)
    prepared = os.path.isdir(directory) and any(
        not version.startswith("incomplete.") and os.path.isfile(os.path.join(directory, version, "dataset_info.json"))
        for version in os.listdir(directory)
    )
    return directory, prepared


def _locate(spec: DatasetSpec, split: str, roots) -> tuple[_Source | None, list[str]]:
    """The first local source of a split, without reading it, and every place tried
    (the one found last)."""
    tried = []
    if spec.idx_files or spec.folder_reader:
        for directory in _candidate_dirs(spec, roots):
            tried.append(directory)
            folder = spec.folder_reader.find(directory) if spec.folder_reader else None
            if folder is not None:
                caveat = getattr(spec.folder_reader, "caveat", lambda _: "")(folder)
                return _Source(folder, functools.partial(spec.folder_reader.read, folder, split), caveat), tried
            pair = _find_idx_pair(directory, spec.idx_files[split]) if spec.idx_files else None
            if pair is not None:
                return _Source(directory, functools.partial(_read_idx_pair, pair)), tried
    if spec.keras_cache and spec.keras_cache.endswith(".npz"):
        path = os.path.join(_keras_cache_dir(), spec.keras_cache)
        tried.append(path)
        if os.path.isfile(path):
            return _Source(path, functools.partial(_read_keras_npz, path, split)), tried
    if spec.tfds_name:
        directory, prepared = _tfds_cache(spec)
        tried.append(f"{directory} (tensorflow_datasets cache)")
        if prepared:
            return _Source(directory, functools.partial(_read_tfds_cache, spec, split, directory)), tried
    return None, tried


# --------------------------------------------------------------------------- download


def _reachable(url: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether the host serving `url`, or the proxy configured for its scheme, accepts
    a TCP connection within `timeout` seconds.

    The name lookup, which a socket timeout does not bound (an unreachable DNS
    server can hold it for tens of seconds), runs with the connection in a daemon
    thread that is abandoned at the deadline.
    """
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    connected, finished = [], threading.Event()

    def connect():
        try:
            socket.create_connection(address, timeout=timeout).close()
            connected.append(True)
        except (OSError, ValueError):
            pass  # refused, unreachable, unknown host: offline for our purpose
        finally:
            finished.set()  # a refusal answers at once: do not wait out the timeout

    threading.Thread(target=connect, daemon=True).start()
    finished.wait(timeout)
    return bool(connected)


def _partial_tfds_entries(places) -> set[str]:
    """The paths under `places` that TFDS names as partial output (not descending into them)."""
    found = set()
    for place in places:
        for parent, dirs, files in os.walk(place):
            for name in dirs + files:
                if any(fnmatch.fnmatch(name, pattern) for pattern in _TFDS_PARTIAL_PATTERNS):
                    found.add(os.path.join(parent, name))
            dirs[:] = [d for d in dirs if os.path.join(parent, d) not in found]
    return found


@contextlib.contextmanager
def _no_partial_download(spec: DatasetSpec):
    """Removes, however the block ends, the partial files that appeared in the TFDS
    cache during it: a failed or interrupted download leaves `incomplete.*` folders
    and `*.tmp.*` downloads that TFDS itself never cleans up."""
    places = [os.path.join(_tfds_data_dir(), spec.tfds_name), os.path.join(_tfds_data_dir(), "downloads")]
    before = _partial_tfds_entries(places)
    try:
        yield
    finally:
        for path in sorted(_partial_tfds_entries(places) - before):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)


def _download(spec: DatasetSpec, split: str, tried: list):
    """(images, labels) downloaded by TFDS, or None with the reason appended to `tried`."""
    place = f"tensorflow_datasets download from {spec.download_url}"
    if not _reachable(spec.download_url):
        tried.append(f"{place} (not attempted: no connection within {CONNECT_TIMEOUT:g} s; offline?)")
        return None
    try:
        with _no_partial_download(spec):
            return _from_tfds(spec, split, download=True)
    except Exception as e:  # noqa: BLE001 - TFDS raises many kinds when a download fails
        tried.append(f"{place} ({type(e).__name__}: {e})")
        return None


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=16)
def _load_arrays_cached(name: str, split: str, roots: tuple[str, ...]):
    # `roots` (data_dir, $ZOO_DATA_DIR, the default folder under HOME) is part of the
    # cache key so that changing any of them is seen.
    spec = get_spec(name)
    if split not in spec.split_sizes:
        raise ValueError(f"{name} has splits {sorted(spec.split_sizes)}, not {split!r}")
    if spec.generator is not None:
        images, labels = spec.generator(split)
        return _validate(spec, split, images, labels, f"generated {name}")

    source, tried = _locate(spec, split, roots)
    if source is not None:
        images, labels = source.read()
        return _validate(spec, split, images, labels, source.where)
    if spec.tfds_name and spec.download_url:
        downloaded = _download(spec, split, tried)
        if downloaded is not None:
            return _validate(spec, split, *downloaded, f"tfds:{spec.tfds_name}")
    raise DataSourceError(
        f"no source found for dataset {name!r} (split {split!r}). Looked in:\n  "
        + "\n  ".join(tried)
        + f"\nTo get it: {spec.install_hint}."
    )


def load_arrays(name: str, split: str = "train", data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """Returns (images uint8 [N,H,W,C], labels int64 [N]) for one split.

    Args:
        name: a registered dataset (`DATASETS`).
        split: one of the dataset's splits ("train", "test").
        data_dir: a directory to search before the default sources.

    Raises:
        ValueError: unknown dataset or split.
        DataSourceError: no source found, or a source is damaged.
    """
    return _load_arrays_cached(name, split, _search_roots(data_dir))


def source_caveat(name: str, split: str = "test", data_dir=None) -> str:
    """What a number measured on the split `load_arrays` reads must say about its source
    (CIFAR-10 from JPEG files: a lossy copy), or "" for an exact source (IDX files, TFDS,
    generated data). Finds the source without reading it."""
    spec = get_spec(name)
    if spec.generator is not None:
        return ""
    source, _ = _locate(spec, split, _search_roots(data_dir))
    return source.caveat if source is not None else ""


def describe_sources(data_dir=None) -> list[dict]:
    """Where each registered dataset would be loaded from, found without reading or
    downloading anything.

    Args:
        data_dir: a directory to search first, as for `load_arrays`.

    Returns:
        One dict per registered dataset, in name order, with the keys `dataset` (its
        name), `found` (True when every split has a local source, or the dataset is
        generated), `where` (the source found: a path, or a description for a
        generated dataset; None when not found), `looked` (every place tried, in
        order), `how_to_add` (how to get the data) and, for a lossy copy, `caveat`
        (see `source_caveat`). A TFDS download is never
        tried here, so `looked` holds local places only.
    """
    roots = _search_roots(data_dir)
    report = []
    for name, spec in sorted(DATASETS.items()):
        caveat = ""
        if spec.generator is not None:
            found, where, looked = True, _describe_generated(spec), []
            if spec.generator_cache is not None:
                looked.append(spec.generator_cache())
        else:
            looked, places, found = [], [], True
            for split in spec.split_sizes:
                source, tried = _locate(spec, split, roots)
                looked += [place for place in tried if place not in looked]
                if source is None:
                    found = False
                else:
                    caveat = caveat or source.caveat
                    if source.where not in places:
                        places.append(source.where)
            where = "; ".join(places) if found else None
        report.append({"dataset": name, "found": found, "where": where, "looked": looked,
                       "how_to_add": spec.install_hint, **({"caveat": caveat} if caveat else {})})
    return report


def _describe_generated(spec: DatasetSpec) -> str:
    if spec.generator_cache is None:
        return "generated on first use"
    path = spec.generator_cache()
    return f"generated, cached in {path}" if os.path.isfile(path) else f"generated on first use, then cached in {path}"
