"""Pictures: grid geometry, PNG/GIF files, and what interpolation/traversal decode."""

import keras
import numpy as np
import pytest
from PIL import Image

import zoo
from zoo import plots

from conftest import SMALL


def test_grid_geometry_places_each_image_and_pads_white():
    images = np.stack([np.full((4, 5, 1), i / 10, np.float32) for i in range(7)])
    out = plots.grid(images, cols=3, pad=1)
    assert out.shape == (3 * 5 - 1, 3 * 6 - 1, 1) and out.dtype == np.uint8
    # Image 4 sits at row 1, column 1; the separators and the empty last cells are white.
    np.testing.assert_array_equal(out[5:9, 6:11], round(0.4 * 255))
    assert np.all(out[4, :] == 255) and np.all(out[:, 5] == 255)
    assert np.all(out[10:, 12:] == 255)
    assert plots.grid(images).shape[:2] == (3 * 5 - 1, 3 * 6 - 1)  # default: ceil(sqrt(7)) = 3 columns
    with pytest.raises(ValueError, match="expected images"):
        plots.grid(images[0])


@pytest.mark.parametrize("channels,mode", [(1, "L"), (3, "RGB")])
def test_save_png_scales_and_keeps_values(tmp_path, channels, mode):
    array = np.random.default_rng(0).integers(0, 256, (6, 9, channels), dtype=np.uint8)
    path = plots.save_png(array, str(tmp_path / "sub" / "a.png"), scale=3)
    with Image.open(path) as img:
        assert img.size == (27, 18) and img.mode == mode
        back = np.asarray(img)
    np.testing.assert_array_equal(back[::3, ::3].reshape(array.shape), array)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.png"]  # no temp file left


def test_save_gif_writes_every_frame(tmp_path):
    frames = [np.full((5, 4, 1), 40 * i, np.uint8) for i in range(6)]
    path = plots.save_gif(frames, str(tmp_path / "a.gif"), scale=2, duration_ms=50)
    with Image.open(path) as img:
        assert img.n_frames == 6 and img.size == (8, 10) and img.info.get("loop") == 0
        for i in range(6):
            img.seek(i)
            assert np.asarray(img.convert("L"))[0, 0] == 40 * i
    assert [p.name for p in tmp_path.iterdir()] == ["a.gif"]
    with pytest.raises(ValueError, match="at least one frame"):
        plots.save_gif([], str(tmp_path / "b.gif"))


def test_interpolation_and_traversal_decode_the_right_codes(mnist_binary):
    # A few steps of training, so that different codes decode to visibly different images.
    model = zoo.VAE(**SMALL)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(mnist_binary[0][:1024], batch_size=128, epochs=2, verbose=0)
    x = mnist_binary[2][:2]
    path = plots.interpolation(model, x[0], x[1], steps=5)
    assert path.shape == (5, 28, 28, 1)
    # The endpoints are the decoded posterior means, i.e. the reconstructions.
    np.testing.assert_allclose(path[[0, -1]], model.reconstruct(x), atol=1e-5)
    z = model.encode(x).mean().numpy()
    np.testing.assert_allclose(path[2], model.decode_mean(z.mean(axis=0, keepdims=True)).numpy()[0], atol=1e-5)
    assert np.abs(path[2] - path[0]).max() > 1e-3  # 100x the tolerance above

    values = [-2.0, 0.0, 2.0]
    images = plots.traversal(model, x[0], dims=[1, 4], values=values)
    assert images.shape == (6, 28, 28, 1)
    # Row r sweeps dims[r] over the values; the other coordinates stay at the posterior mean.
    mean = model.encode(x[:1]).mean().numpy()[0]
    z = np.repeat(mean[None], 6, axis=0)
    for row, d in enumerate([1, 4]):
        z[row * 3:(row + 1) * 3, d] = values
    np.testing.assert_allclose(images, model.decode_mean(z).numpy(), atol=1e-5)
    assert np.abs(images[0] - images[2]).max() > 1e-3  # 100x the tolerance above


def test_picture_with_words_keeps_the_grid_intact_in_its_corner():
    images = np.random.default_rng(0).random((6, 5, 4, 1)).astype(np.float32)
    plain = plots.picture(images, cols=3, scale=2)
    np.testing.assert_array_equal(plain, np.repeat(np.repeat(plots.grid(images, cols=3), 2, 0), 2, 1))
    labelled = plots.picture(images, cols=3, scale=2, title="a title wider than the little grid",
                             row_labels=["row 0", "row 1"], col_labels=["a", "b", "c"])
    h, w = plain.shape[:2]
    bottom, right = labelled.shape[0] - plots.MARGIN, labelled.shape[1] - plots.MARGIN
    np.testing.assert_array_equal(labelled[bottom - h:bottom, right - w:right], plain)
    # Words: dark pixels left of the grid (row labels) and above it (title, column labels).
    assert labelled[bottom - h:bottom, :right - w].min() < 100
    assert labelled[:bottom - h].min() < 100
    assert labelled.shape[1] > w + 100  # the row labels' column
