import gzip
import hashlib
import os

import numpy as np
import pytest

from zoo import data
from zoo.data import DatasetSpec, DataSourceError


def test_mnist_idx_matches_the_official_checksum_and_shapes():
    images, labels = data.load_arrays("mnist", "test")
    assert images.shape == (10000, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    # The decompressed test-label file's official md5 covers the 8-byte header + labels.
    raw = b"\x00\x00\x08\x01" + (10000).to_bytes(4, "big") + labels.astype(np.uint8).tobytes()
    assert hashlib.md5(raw).hexdigest() == "27ae3e4e09519cfbb04c329615203637"


def test_fashion_mnist_from_the_debian_package_or_data_dir():
    images, labels = data.load_arrays("fashion_mnist", "train")
    assert images.shape == (60000, 28, 28, 1)
    assert labels[:5].tolist() == [9, 0, 0, 3, 0]  # the published first labels


def _write_idx(path, array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.gz"
    _write_idx(path, np.zeros((10, 28, 28)))
    with gzip.open(path, "rb") as f:
        raw = f.read()
    with gzip.open(path, "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(DataSourceError, match="truncated or corrupt"):
        data.read_idx(path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"hello world")
    with pytest.raises(DataSourceError, match="not an IDX file"):
        data.read_idx(path)


def test_missing_source_lists_where_it_looked(tmp_path, monkeypatch):
    data.register_dataset(DatasetSpec(
        name="_nowhere", image_shape=(28, 28, 1), num_classes=10, split_sizes={"train": 5},
        idx_files={"train": ("a-images", "a-labels")}, dir_names=("nowhere",), install_hint="ask a friend"))
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    try:
        with pytest.raises(DataSourceError) as err:
            data.load_arrays("_nowhere", "train")
        message = str(err.value)
        assert str(tmp_path) in message and os.path.join(str(tmp_path), "nowhere") in message
        assert "ask a friend" in message
    finally:
        data.DATASETS.pop("_nowhere")


def test_a_damaged_source_is_an_error_not_a_fallthrough(tmp_path, monkeypatch):
    d = tmp_path / "mnist"
    d.mkdir()
    _write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((7, 28, 28)))
    _write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros((7,)))
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(DataSourceError, match="should hold 10000"):
        data.load_arrays("mnist", "test")


def test_unknown_dataset_names_close_matches():
    with pytest.raises(ValueError, match="Did you mean mnist"):
        data.load("mnsit")
