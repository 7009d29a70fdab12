import gzip
import hashlib
import os
import shutil
import socket
import time

import numpy as np
import pytest

from zoo import data
from zoo.data import DatasetSpec, DataSourceError, sources

PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY")


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


def _closed_port():
    """A local port nothing listens on: a connection to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def real_mnist_dir():
    """The folder of the MNIST IDX files the other tests read (found before `no_setup` hides it)."""
    report = {entry["dataset"]: entry for entry in data.describe_sources()}["mnist"]
    if not (report["found"] and os.path.isdir(report["where"])):
        pytest.skip(f"no folder of MNIST IDX files here: {report['where']}")
    return report["where"]


@pytest.fixture()
def no_setup(tmp_path, monkeypatch):
    """A machine where nothing was set up, offline: an empty HOME, no data variables,
    and every connection sent to a proxy on a closed local port (so no test here
    depends on the real network). Returns HOME."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in (data.DATA_DIR_ENV, "KERAS_HOME", "TFDS_DATA_DIR", *PROXY_VARS):
        monkeypatch.delenv(var, raising=False)
    proxy = f"http://127.0.0.1:{_closed_port()}"
    for var in PROXY_VARS[:4]:
        monkeypatch.setenv(var, proxy)
    return home


def test_offline_without_data_fails_fast_and_names_every_place(no_setup):
    start = time.monotonic()
    with pytest.raises(DataSourceError) as err:
        data.load_arrays("mnist", "test")
    assert time.monotonic() - start < 10
    message = str(err.value)
    default = os.path.join(str(no_setup), ".zoo", "datasets")
    keras_cache = os.path.join(str(no_setup), ".keras", "datasets", "mnist.npz")
    for place in (default, os.path.join(default, "mnist"), keras_cache,
                  os.path.join(str(no_setup), "tensorflow_datasets", "mnist"), "storage.googleapis.com"):
        assert place in message
    assert "not attempted" in message and "~/.zoo/datasets/mnist/" in message  # how to add the files
    assert os.listdir(no_setup) == []  # nothing written, no TFDS folders


def test_files_in_the_default_folder_are_found_without_set_up(real_mnist_dir, no_setup):
    report = {entry["dataset"]: entry for entry in data.describe_sources()}
    assert set(report["mnist"]) == {"dataset", "found", "where", "looked", "how_to_add"}
    assert report["mnist"]["found"] is False and report["mnist"]["where"] is None
    folder = os.path.join(str(no_setup), ".zoo", "datasets", "mnist")
    assert folder in report["mnist"]["looked"] and "~/.zoo/datasets/mnist/" in report["mnist"]["how_to_add"]
    assert report["dsprites"]["found"] is True and report["dsprites"]["where"].startswith("generated")

    os.makedirs(folder)
    for name in os.listdir(real_mnist_dir):
        if name.startswith("t10k-"):
            shutil.copy(os.path.join(real_mnist_dir, name), folder)
    images, labels = data.load_arrays("mnist", "test")
    assert images.shape == (10000, 28, 28, 1) and labels.shape == (10000,)
    entry = {e["dataset"]: e for e in data.describe_sources()}["mnist"]
    assert entry["found"] is False  # the training split is still missing
    for name in os.listdir(real_mnist_dir):
        shutil.copy(os.path.join(real_mnist_dir, name), folder)
    entry = {e["dataset"]: e for e in data.describe_sources()}["mnist"]
    assert entry["found"] is True and entry["where"] == folder and entry["looked"][-1] == folder


def test_a_failed_download_leaves_no_partial_files(no_setup, monkeypatch):
    cache = no_setup / "tensorflow_datasets"
    earlier = cache / "mnist" / "incomplete.earlier_3.0.1"  # not this attempt's: left alone
    earlier.mkdir(parents=True)

    def failing_download(spec, split, download):
        (cache / "mnist" / "incomplete.a1b2_3.0.1").mkdir()
        (cache / "downloads" / "extracted" / "incomplete.c3d4").mkdir(parents=True)
        (cache / "downloads" / "cvdf-datasets_mnist_t10k.tmp.e5f6").mkdir()
        raise ConnectionResetError("connection dropped")

    monkeypatch.setattr(sources, "_reachable", lambda url: True)
    monkeypatch.setattr(sources, "_from_tfds", failing_download)
    with pytest.raises(DataSourceError, match="ConnectionResetError"):
        data.load_arrays("mnist", "test")
    assert os.listdir(cache / "mnist") == [earlier.name]
    assert os.listdir(cache / "downloads") == ["extracted"] and os.listdir(cache / "downloads" / "extracted") == []


def test_the_connectivity_check_goes_through_the_configured_proxy(monkeypatch):
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        assert sources._reachable(url)
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_closed_port()}")
        assert not sources._reachable(url)
    assert not sources._reachable(f"https://127.0.0.1:{_closed_port()}/")
