"""The data a model card (or a recipe) names, whatever its kind.

A card's "dataset" is either a registered dataset ("mnist", "cifar10", ...) or
"folder", a folder of your own images that its "data_source" record describes
(`zoo.data.folders.ImageFolder.source`). Evaluation, the CLI and training reach the
data through `dataset_for(card)`, so a preset trained on a folder is measured and
shown on the same held-out images as it was trained beside:

    x, y = zoo.data.load_numpy_for_card(card, "test", take=100)
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import tensorflow as tf

from zoo.data.folders import FOLDER_DATASET, ImageFolder
from zoo.data.pipelines import load, load_numpy
from zoo.data.sources import DatasetSpec, get_spec, load_arrays


class RegisteredDataset:
    """A registered dataset behind the same interface as `ImageFolder`.

    Args:
        name: a name of `zoo.data.list_datasets()`.
    """

    def __init__(self, name: str):
        self.name = name
        self.spec: DatasetSpec = get_spec(name)

    def reading(self):
        """Nothing to watch: the arrays were validated when read."""
        return contextlib.nullcontext()

    def gather(self, split: str):
        """(number of images, fn): fn maps an int64 index tensor [B] to (uint8 images, labels)."""
        images, labels = load_arrays(self.name, split)
        images, labels = tf.convert_to_tensor(images), tf.convert_to_tensor(labels)
        return int(images.shape[0]), lambda index: (tf.gather(images, index), tf.gather(labels, index))

    def images(self, split: str) -> np.ndarray:
        """The uint8 images of a split."""
        return load_arrays(self.name, split)[0]

    def load_numpy(self, split="test", preprocessing="float", seed=0, take=None):
        return load_numpy(self.name, split, preprocessing, seed=seed, take=take)

    def load(self, split="train", **options) -> tf.data.Dataset:
        return load(self.name, split, **options)


def dataset_for(card: dict):
    """The data of a model card or recipe: an `ImageFolder` for "folder", else a
    `RegisteredDataset`.

    Raises:
        ValueError: the card names no dataset, or a folder card has no "data_source".
        zoo.data.DataSourceError: the folder is gone or no longer matches the card.
    """
    if "dataset" not in card:
        raise ValueError("the model card names no dataset, so there are no images to load")
    if card["dataset"] != FOLDER_DATASET:
        return RegisteredDataset(card["dataset"])
    if "data_source" not in card:
        raise ValueError("the card's dataset is 'folder' but it has no 'data_source' saying which folder")
    source = card["data_source"]
    return _folder(source["path"], source["image_size"], source["channels"], source["held_out_fraction"],
                   source["seed"], tuple(source.get("labels", ())))


@functools.lru_cache(maxsize=4)
def _folder(path, image_size, channels, held_out_fraction, seed, labels) -> ImageFolder:
    # One header scan per folder and process: the CLI and the report ask several times.
    return ImageFolder(path, image_size, channels, held_out_fraction, seed, labels=list(labels))


def class_names_for_card(card: dict, num_classes: int) -> list[str]:
    """The names of a model's `num_classes` classes, in label order, read from its card
    without touching any image: a folder's class folders as the card recorded them, a
    registered dataset's names, or "class 0", "class 1", ... where none are known."""
    if card.get("dataset") == FOLDER_DATASET:
        names = list(card.get("data_source", {}).get("labels", ()))
    else:
        names = list(get_spec(card["dataset"]).class_names)
    return names if len(names) == num_classes else [f"class {i}" for i in range(num_classes)]


def spec_for_card(card: dict) -> DatasetSpec:
    """The card's data as a `DatasetSpec`: image shape, classes, split sizes."""
    return dataset_for(card).spec


def load_numpy_for_card(card: dict, split: str = "test", take: int | None = None, seed: int = 0,
                        preprocessing: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(float32 images, int64 labels): the first `take` images of a split of the card's
    data, preprocessed as the card says (or as `preprocessing` says).

    For a folder, "test" is the held-out part recorded in the card.
    """
    return dataset_for(card).load_numpy(split, preprocessing or card.get("preprocessing", "float"),
                                        seed=seed, take=take)
