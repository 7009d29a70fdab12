"""Datasets: sources (local files first, then TFDS), IDX reading and `tf.data` pipelines.

The pipelines (`load`, `load_numpy`, `preprocess`, ...) import TensorFlow, so they
load on first use (PEP 562): `zoo data` can say where the files are in a blink.
"""

import importlib

from zoo.data import cifar10, dsprites  # noqa: F401 - importing them registers "cifar10" and "dsprites"
from zoo.data.dsprites import dsprites_factors
from zoo.data.idx import DataSourceError, read_idx
from zoo.data.sources import (
    DATA_DIR_ENV,
    DATASETS,
    DEFAULT_DATA_DIR,
    DatasetSpec,
    describe_sources,
    get_spec,
    load_arrays,
    register_dataset,
    source_caveat,
)

# Name -> the module defining it, for the names whose modules import TensorFlow.
_LAZY = {
    **dict.fromkeys(("PREPROCESSING", "bits_per_dim", "load", "load_numpy", "preprocess"), "zoo.data.pipelines"),
    **dict.fromkeys(("dataset_for", "load_numpy_for_card", "spec_for_card"), "zoo.data.cards"),
    **dict.fromkeys(("FOLDER_DATASET", "ImageFolder"), "zoo.data.folders"),
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo.data' has no attribute {name!r}")


def list_datasets() -> list[str]:
    """Names accepted by `zoo.data.load`."""
    return sorted(DATASETS)


__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "DEFAULT_DATA_DIR",
    "DataSourceError",
    "DatasetSpec",
    "FOLDER_DATASET",
    "ImageFolder",
    "PREPROCESSING",
    "bits_per_dim",
    "describe_sources",
    "source_caveat",
    "dsprites_factors",
    "dataset_for",
    "get_spec",
    "list_datasets",
    "load",
    "load_arrays",
    "load_numpy",
    "load_numpy_for_card",
    "preprocess",
    "read_idx",
    "register_dataset",
    "spec_for_card",
]
