"""Datasets: sources (local files first, then TFDS), IDX reading and `tf.data` pipelines."""

from zoo.data.idx import DataSourceError, read_idx
from zoo.data.pipelines import PREPROCESSING, bits_per_dim, load, load_numpy, preprocess
from zoo.data.sources import (
    DATA_DIR_ENV, DATASETS, DEFAULT_DATA_DIR, DatasetSpec, describe_sources, get_spec, load_arrays, register_dataset,
)
from zoo.data import dsprites  # noqa: E402 - registers "dsprites"
from zoo.data.dsprites import dsprites_factors


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
    "get_spec",
    "list_datasets",
    "load",
    "load_arrays",
    "load_numpy",
    "preprocess",
    "read_idx",
    "register_dataset",
]
