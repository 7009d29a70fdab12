import numpy as np
import pytest

from zoo import data


def _first_epoch_batches(ds):
    return np.concatenate([b.numpy() for b in ds])


def test_dynamic_binarization_redraws_each_epoch_on_train_only():
    train = data.load("mnist", "train", 64, "dynamic_binarize", shuffle=False, take=256)
    a, b = _first_epoch_batches(train), _first_epoch_batches(train)
    assert set(np.unique(a)) == {0.0, 1.0}
    assert (a != b).mean() > 0.01  # fresh Bernoulli draws
    # The draws follow the intensities: mean pixel agrees with the float data.
    floats, _ = data.load_numpy("mnist", "train", "float", take=256)
    assert abs(a.mean() - floats.mean()) < 0.01
    test = data.load("mnist", "test", 64, "dynamic_binarize", take=256)
    np.testing.assert_array_equal(_first_epoch_batches(test), _first_epoch_batches(test))


def test_static_binarization_and_floats():
    x = _first_epoch_batches(data.load("mnist", "test", 100, "binarize", take=200))
    f = _first_epoch_batches(data.load("mnist", "test", 100, "float", take=200))
    np.testing.assert_array_equal(x, (f > 0.5).astype(np.float32))
    assert f.min() >= 0 and f.max() == 1.0 and f.dtype == np.float32


def test_dequantization_stays_in_the_pixel_bin():
    raw, _ = data.load_arrays("fashion_mnist", "test")
    x = _first_epoch_batches(data.load("fashion_mnist", "test", 100, "dequantize", take=300))
    k = raw[:300].astype(np.float32)
    assert np.all(x >= k / 256) and np.all(x < (k + 1) / 256)


def test_labels_shuffle_and_batching():
    ds = data.load("mnist", "train", 32, "float", with_labels=True, take=100, seed=1)
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [32, 32, 32, 4]
    labels = np.concatenate([b[1].numpy() for b in batches])
    _, reference = data.load_arrays("mnist", "train")
    assert sorted(labels) == sorted(reference[:100]) and list(labels) != list(reference[:100])


def test_bits_per_dim_correction():
    assert data.bits_per_dim(784 * np.log(2), 784) == pytest.approx(1.0)
    assert data.bits_per_dim(0.0, 10, dequantized=True) == pytest.approx(8.0)


def test_unknown_preprocessing():
    with pytest.raises(ValueError, match="unknown preprocessing"):
        data.load("mnist", preprocessing="sharpen")
