"""Datasets: sources (local files first, then TFDS), IDX reading and `tf.data` pipelines."""

from zoo.data.idx import DataSourceError, read_idx
from zoo.data.pipelines import PREPROCESSING, bits_per_dim, load, load_numpy, preprocess
from zoo.data.sources import DATA_DIR_ENV, DATASETS, DatasetSpec, get_spec, load_arrays, register_dataset
from zoo.data import dsprites  # noqa: E402 - registers "dsprites"
from zoo.data.dsprites import dsprites_factors
from zoo.data import cifar10  # noqa: E402 - registers "cifar10"
from zoo.data.cards import dataset_for, load_numpy_for_card, spec_for_card
from zoo.data.folders import FOLDER_DATASET, ImageFolder


def list_datasets() -> list[str]:
    """Names accepted by `zoo.data.load`."""
    return sorted(DATASETS)


__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "DataSourceError",
    "DatasetSpec",
    "FOLDER_DATASET",
    "ImageFolder",
    "PREPROCESSING",
    "bits_per_dim",
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
