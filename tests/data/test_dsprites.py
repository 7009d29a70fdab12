"""The dSprites generator: spec, order, geometry, determinism and the cache.

Full generation takes about a second (packed bits), so the full set is generated
here; only the registry path unpacks all 737,280 images (3 GB of uint8), once.
"""

import os
import shutil

import numpy as np
import pytest

import zoo
from zoo.data import dsprites as ds


@pytest.fixture(scope="module")
def packed():
    return ds.generate_packed()


def _centroid(image):
    rows, cols = np.nonzero(image[..., 0])
    return rows.mean(), cols.mean()


def test_factor_values_and_count_match_the_original_metadata():
    values, classes = ds.dsprites_factors()
    assert values.shape == classes.shape == (737280, 6) and ds.NUM_IMAGES == 737280
    possible = ds.latents_possible_values()
    assert [len(possible[n]) for n in ds.FACTOR_NAMES] == [1, 3, 6, 40, 32, 32]
    np.testing.assert_allclose(possible["scale"], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    # Orientation is linspace(0, 2π, 40) with both ends, as in the original file.
    assert possible["orientation"][1] == pytest.approx(0.16110732, abs=1e-8)
    assert possible["orientation"][-1] == pytest.approx(2 * np.pi)
    np.testing.assert_allclose(possible["posX"][[0, 1, -1]], [0.0, 0.03225806, 1.0], atol=1e-8)


@pytest.mark.parametrize(
    "index, expected",
    [
        (0, [0, 0, 0, 0, 0, 0]),
        (1, [0, 0, 0, 0, 0, 1]),  # posY varies fastest
        (32, [0, 0, 0, 0, 1, 0]),
        (1024, [0, 0, 0, 1, 0, 0]),
        (40 * 1024, [0, 0, 1, 0, 0, 0]),
        (245760, [0, 1, 0, 0, 0, 0]),  # the first ellipse
        (737279, [0, 2, 5, 39, 31, 31]),
    ],
)
def test_factor_major_order(index, expected):
    values, classes = ds.dsprites_factors()
    np.testing.assert_array_equal(classes[index], expected)
    assert ds.factor_classes_to_index([expected])[0] == index
    possible = ds.latents_possible_values()
    np.testing.assert_allclose(values[index], [possible[n][c] for n, c in zip(ds.FACTOR_NAMES, expected)])


def test_full_set_is_binary_and_matches_direct_rendering(packed):
    assert packed.shape == (737280, 512) and packed.dtype == np.uint8
    rows = np.random.default_rng(0).choice(737280, 500, replace=False)
    images = ds.unpack(packed[rows])
    assert images.shape == (500, 64, 64, 1) and images.dtype == np.uint8
    assert set(np.unique(images)) == {0, 255}
    np.testing.assert_array_equal(images, ds.render(ds.dsprites_factors()[1][rows]))
    assert np.all(images.reshape(500, -1).max(axis=1) == 255)  # every image shows a sprite


def test_area_grows_with_scale_for_every_shape_and_orientation():
    area = ds.sprite_patches().sum(axis=(-1, -2))  # [shape, scale, orientation]
    assert np.all(np.diff(area, axis=1) > 0)
    # Roughly with scale^2: from 0.5 to 1 the area grows 3-5x.
    assert np.all((area[:, -1] / area[:, 0] > 3) & (area[:, -1] / area[:, 0] < 5))


def test_position_moves_the_centroid():
    classes = np.zeros((4, 6), np.int64)
    classes[:, 1] = 2  # heart
    classes[:, 2] = 3
    classes[:, 4:] = [[0, 0], [31, 0], [0, 31], [31, 31]]
    c = [_centroid(im) for im in ds.render(classes)]
    # posX moves right (columns) by one pixel a step, posY down (rows).
    assert c[1][1] - c[0][1] == pytest.approx(31) and c[1][0] == pytest.approx(c[0][0])
    assert c[2][0] - c[0][0] == pytest.approx(31) and c[2][1] == pytest.approx(c[0][1])
    assert c[0][1] < 32 < c[1][1] and c[0][0] < 32 < c[2][0]


def test_orientation_rotates_and_the_two_ends_coincide():
    classes = np.zeros((3, 6), np.int64)
    classes[:, 1] = 1  # ellipse, long axis horizontal at orientation 0
    classes[:, 2] = 5
    classes[:, 3] = [0, 10, 39]  # 0, ~92°, 2π
    images = ds.render(classes)[..., 0] > 0
    width = lambda im: np.ptp(np.nonzero(im)[1]) + 1  # noqa: E731
    height = lambda im: np.ptp(np.nonzero(im)[0]) + 1  # noqa: E731
    assert width(images[0]) > 1.8 * height(images[0])
    assert height(images[1]) > 1.8 * width(images[1])
    np.testing.assert_array_equal(images[0], images[2])  # as in the original: 0 and 2π
    shapes = np.zeros((3, 6), np.int64)
    shapes[:, 1] = [0, 1, 2]
    shapes[:, 2] = 5
    a, b, c = ds.render(shapes)[..., 0] > 0
    assert not (np.array_equal(a, b) or np.array_equal(b, c) or np.array_equal(a, c))


def test_generation_is_deterministic(packed):
    again = ds.generate_packed()
    assert again.tobytes() == packed.tobytes()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory, packed):
    """A cache directory populated once by `load_packed` (the first write)."""
    directory = tmp_path_factory.mktemp("zoo_cache")
    np.testing.assert_array_equal(ds.load_packed(directory), packed)
    return directory


def test_cache_is_written_atomically_then_hit(cache_dir, monkeypatch, packed):
    path = ds.cache_path(cache_dir)
    assert os.path.basename(path) == f"dsprites_{ds.SPEC_HASH}.npz"
    assert os.listdir(cache_dir) == [os.path.basename(path)]  # no temporary file left
    assert os.path.getsize(path) < 20e6  # compressed: the packed bits are 377 MB

    def fail():
        raise AssertionError("regenerated despite a valid cache")

    monkeypatch.setattr(ds, "generate_packed", fail)
    np.testing.assert_array_equal(ds.load_packed(cache_dir), packed)
    with np.load(path, allow_pickle=False) as f:  # plain arrays, no pickle
        assert str(f["spec_hash"]) == ds.SPEC_HASH


def test_corrupt_cache_is_regenerated_with_a_warning(cache_dir, tmp_path, packed):
    path = ds.cache_path(tmp_path)
    shutil.copy(ds.cache_path(cache_dir), path)
    with open(path, "r+b") as f:  # damage the compressed payload
        f.seek(os.path.getsize(path) // 2)
        f.write(b"\x00garbage" * 64)
    with pytest.warns(UserWarning, match="unreadable"):
        regenerated = ds.load_packed(tmp_path)
    np.testing.assert_array_equal(regenerated, packed)
    with np.load(path, allow_pickle=False) as f:  # repaired on disk (a cheap member read)
        assert str(f["spec_hash"]) == ds.SPEC_HASH


def test_render_rejects_bad_factor_classes():
    with pytest.raises(ValueError, match="out of range"):
        ds.render([[0, 3, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"\[n, 6\]"):
        ds.render([[0, 1, 2]])


def test_ground_truth_sampler_keeps_a_fixed_factor():
    gt = ds.DSpritesGroundTruth()
    assert gt.num_factors == 5 and gt.factor_sizes == (3, 6, 40, 32, 32)
    rng = np.random.default_rng(0)
    factors = gt.sample_factors(64, rng)
    factors[:, 3] = 7  # posX fixed
    images = gt.sample_observations_from_factors(factors, rng)
    assert images.dtype == np.float32 and set(np.unique(images)) == {0.0, 1.0}
    cols = [_centroid(im)[1] for im in images]
    rows = [_centroid(im)[0] for im in images]
    assert np.std(cols) < 1.0 < np.std(rows)


def test_registered_loaders(cache_dir, monkeypatch):
    monkeypatch.setenv(ds.CACHE_DIR_ENV, str(cache_dir))
    from zoo.data.sources import _load_arrays_cached

    _load_arrays_cached.cache_clear()
    try:
        assert "dsprites" in zoo.data.list_datasets()
        x, y = zoo.data.load_numpy("dsprites", "train", "binarize", take=2048)
        assert x.shape == (2048, 64, 64, 1) and x.dtype == np.float32
        assert set(np.unique(x)) == {0.0, 1.0}
        np.testing.assert_array_equal(y, 0)  # the label is the shape class; all squares first
        expected = ds.render(ds.dsprites_factors()[1][:2048]) / 255.0
        np.testing.assert_array_equal(x, expected)
        batch = next(iter(zoo.data.load("dsprites", "train", batch_size=32, preprocessing="float",
                                        shuffle=False, take=64)))
        np.testing.assert_array_equal(batch.numpy(), expected[:32])
    finally:
        _load_arrays_cached.cache_clear()  # do not keep 3 GB of images for the session
