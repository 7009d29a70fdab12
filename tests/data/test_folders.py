"""Folders of your own images: labels, resizing, the held-out split and the errors."""

import os

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.data import DataSourceError, ImageFolder
from zoo.data.folders import held_out_split


def _digits(root, per_class=12):
    """Real MNIST test digits as PNGs in root/sevens and root/threes; returns the uint8 images by class."""
    x, y = zoo.data.load_arrays("mnist", "test")
    written = {}
    for name, digit in (("sevens", 7), ("threes", 3)):
        os.makedirs(root / name, exist_ok=True)
        written[name] = x[np.flatnonzero(y == digit)[:per_class]]
        for i, image in enumerate(written[name]):
            Image.fromarray(image[..., 0]).save(root / name / f"{i:03d}.png")
    return written


def test_sub_folders_are_labels_and_same_size_images_are_exact(tmp_path):
    digits = _digits(tmp_path)
    folder = ImageFolder(tmp_path, 28, held_out_fraction=0.25, seed=3)
    assert folder.class_names == ["sevens", "threes"] and folder.channels == 1
    assert folder.spec.split_sizes == {"train": 18, "test": 6} and folder.spec.num_classes == 2
    for split in ("train", "test"):
        x, y = folder.load_numpy(split, "float")
        paths, labels = folder.files(split)
        np.testing.assert_array_equal(y, labels)
        for image, path, label in zip(x, paths, y):
            assert os.path.basename(os.path.dirname(path)) == folder.class_names[label]
            expected = digits[folder.class_names[label]][int(os.path.basename(path)[:3])] / 255.0
            np.testing.assert_array_equal(image, expected.astype(np.float32))  # 28x28: no resampling
    batch = next(iter(folder.load("train", batch_size=8, with_labels=True)))
    assert batch[0].shape == (8, 28, 28, 1) and batch[1].shape == (8,)


def test_the_shorter_side_is_scaled_and_the_centre_cropped(tmp_path):
    # 60x20 stripes red | green | blue: at S=10 the image becomes 30x10 and the crop keeps the green.
    stripes = np.zeros((20, 60, 3), np.uint8)
    for i in range(3):
        stripes[:, 20 * i:20 * (i + 1), i] = 255
    Image.fromarray(stripes).save(tmp_path / "stripes.png")
    Image.fromarray(stripes).save(tmp_path / "copy.png")
    x, _ = ImageFolder(tmp_path, 10, held_out_fraction=0.0).load_numpy("train", "float")
    assert x.shape == (2, 10, 10, 3)
    np.testing.assert_allclose(x[0, :, 1:-1], np.broadcast_to([0.0, 1.0, 0.0], (10, 8, 3)), atol=0.02)


def test_the_held_out_split_is_fixed_by_the_seed_and_fraction():
    a, b = held_out_split(100, 0.1, seed=0), held_out_split(100, 0.1, seed=0)
    np.testing.assert_array_equal(a[0], b[0])
    assert len(a[0]) == 10 and sorted(np.concatenate(a).tolist()) == list(range(100))
    assert set(held_out_split(100, 0.1, seed=1)[0]) != set(a[0])
    assert len(held_out_split(5, 0.01, seed=0)[0]) == 1  # a non-zero fraction holds one out at least


def test_a_corrupt_file_is_named(tmp_path):
    _digits(tmp_path, per_class=3)
    good = (tmp_path / "sevens" / "000.png").read_bytes()
    (tmp_path / "sevens" / "001.png").write_bytes(good[:len(good) // 2])  # header intact, pixels cut
    folder = ImageFolder(tmp_path, 28, held_out_fraction=0.0)
    with pytest.raises(DataSourceError, match=r"1 of 6 image files cannot be decoded.*sevens/001\.png"):
        folder.load_numpy("train")
    (tmp_path / "threes" / "002.png").write_bytes(b"not an image at all")
    with pytest.raises(DataSourceError, match=r"1 of 6 files are not readable images.*threes/002\.png"):
        ImageFolder(tmp_path, 28)


def test_an_empty_folder_names_itself_and_the_extensions(tmp_path):
    (tmp_path / "notes.txt").write_text("no pictures here")
    with pytest.raises(DataSourceError, match=rf"{tmp_path}: no images .*\.png, \.jpg, \.jpeg"):
        ImageFolder(tmp_path, 28)


def test_mixed_grey_and_colour_files_are_converted_and_counted(tmp_path):
    x, _ = zoo.data.load_arrays("mnist", "test")
    for i in range(3):
        Image.fromarray(x[i, ..., 0]).save(tmp_path / f"grey{i}.png")
    Image.fromarray(np.repeat(x[3], 3, axis=-1)).convert("RGB").save(tmp_path / "colour.jpg", quality=95)
    with pytest.warns(UserWarning, match=r"1 of 4 images converted to grey \(3 grey, 1 colour files\)"):
        folder = ImageFolder(tmp_path, 28, held_out_fraction=0.0)
    assert folder.channels == 1
    with pytest.warns(UserWarning, match=r"3 of 4 images converted to RGB"):
        images, _ = ImageFolder(tmp_path, 28, channels=3, held_out_fraction=0.0).load_numpy("train")
    assert images.shape == (4, 28, 28, 3)


def test_a_card_loads_the_held_out_images_it_records(tmp_path):
    _digits(tmp_path, per_class=5)
    folder = ImageFolder(tmp_path, 28, held_out_fraction=0.2, seed=7)
    card = {"dataset": "folder", "data_source": folder.source, "preprocessing": "float"}
    x, y = zoo.data.load_numpy_for_card(card, "test")
    expected, labels = folder.load_numpy("test")
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(y, labels)
    assert zoo.data.spec_for_card(card).image_shape == (28, 28, 1)
