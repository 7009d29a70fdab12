"""CIFAR-10 from its folder of JPEGs: layout, labels, the decode cache."""

import os
import shutil

import numpy as np
import pytest

import zoo
from zoo.data import DataSourceError, folders
from zoo.data.cifar10 import CLASSES, Cifar10Folder

from conftest import CIFAR10_FOLDER, needs_cifar10


@pytest.fixture
def small_copy(tmp_path, monkeypatch):
    """A cifar10-jpeg folder of real files: two per class in test/, one in train/; a private cache."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "data" / "cifar10-jpeg"
    for split, count in (("test", 2), ("train", 1)):
        for name in CLASSES:
            os.makedirs(root / split / name)
            for i in range(count):
                shutil.copy(os.path.join(CIFAR10_FOLDER, split, name, f"{i:04d}.jpg"), root / split / name)
    return root


def test_the_standard_class_order_is_alphabetical():
    assert list(CLASSES) == sorted(CLASSES) and CLASSES[0] == "airplane" and CLASSES[9] == "truck"


@needs_cifar10
def test_a_split_is_decoded_with_labels_by_class_folder_then_cached(small_copy, monkeypatch):
    assert Cifar10Folder.find(str(small_copy)) == str(small_copy)
    assert Cifar10Folder.find(str(small_copy.parent)) is None
    images, labels = Cifar10Folder.read(str(small_copy), "test")
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [2] * 10)
    paths, _, _ = Cifar10Folder.files(str(small_copy), "test")
    assert labels[paths.index(str(small_copy / "test" / "cat" / "0001.jpg"))] == 3
    assert len(set(labels[:5].tolist())) > 1  # a seeded order, not class by class
    assert images.std() > 30  # real photographs, not blank arrays

    # The second read comes from the cache: no file is decoded.
    with monkeypatch.context() as patched:
        patched.setattr(folders, "decode_files", lambda *a, **k: pytest.fail("decoded again"))
        cached, cached_labels = Cifar10Folder.read(str(small_copy), "test")
    np.testing.assert_array_equal(cached, images)
    np.testing.assert_array_equal(cached_labels, labels)

    # A changed folder is read again.
    os.remove(small_copy / "test" / "dog" / "0000.jpg")
    assert Cifar10Folder.read(str(small_copy), "test")[0].shape == (19, 32, 32, 3)


@needs_cifar10
def test_the_loader_finds_the_folder_under_the_data_dirs_and_checks_its_size(small_copy, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(small_copy.parent))
    with pytest.raises(DataSourceError, match="should hold 10000 images"):
        zoo.data.load_arrays("cifar10", "test")


@needs_cifar10
def test_the_registered_dataset_loads_floats_for_the_discrete_likelihood():
    x, y = zoo.data.load_numpy("cifar10", "test", "float", take=50)
    assert x.shape == (50, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(np.round(x * 255) / 255, x)  # on the 8-bit grid
    assert len(np.unique(y)) >= 5 and zoo.data.get_spec("cifar10").split_sizes == {"train": 50000, "test": 10000}


@needs_cifar10
def test_a_jpeg_copy_carries_its_caveat_and_a_png_copy_none(small_copy, monkeypatch):
    # The shared folder is JPEG (lossy): every number measured on it must say so.
    monkeypatch.setenv("ZOO_DATA_DIR", str(small_copy.parent))
    caveat = zoo.data.source_caveat("cifar10", "test")
    assert "not comparable with published CIFAR-10 figures" in caveat
    assert [s.get("caveat") for s in zoo.data.describe_sources() if s["dataset"] == "cifar10"] == [caveat]
    for path in small_copy.rglob("*.jpg"):  # a lossless copy of the same layout
        path.rename(path.with_suffix(".png"))
    assert zoo.data.source_caveat("cifar10", "test") == ""
    assert zoo.data.source_caveat("mnist", "test") == ""
