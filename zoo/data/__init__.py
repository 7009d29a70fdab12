"""Datasets: sources (local files first, then TFDS), IDX reading and `tf.data` pipelines.

The pipelines (`load`, `load_numpy`, `preprocess`, ...) import TensorFlow, so they
load on first use (PEP 562): `zoo data` can say where the files are in a blink.
"""

import importlib

from zoo.data import dsprites  # noqa: F401 - importing it registers "dsprites"
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
)

_PIPELINE_NAMES = ("PREPROCESSING", "bits_per_dim", "load", "load_numpy", "preprocess")


def __getattr__(name):
    if name in _PIPELINE_NAMES:
        value = getattr(importlib.import_module("zoo.data.pipelines"), name)
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
    "PREPROCESSING",
    "bits_per_dim",
    "describe_sources",
    "dsprites_factors",
    "get_spec",
    "list_datasets",
    "load",
    "load_arrays",
    "load_numpy",
    "preprocess",
    "read_idx",
    "register_dataset",
]
