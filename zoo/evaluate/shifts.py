"""Anomalies to test a detector on: images no model of the normal data has seen.

Each shift returns uint8 images [N, H, W, 1] (0..255), to be preprocessed like the
normal data (binarized, dequantized, ...) before scoring, so that anomalies and
normal images differ in content only, never in their preprocessing:

- ``other_dataset``: the test images of the partner dataset (MNIST <-> Fashion-MNIST);
- ``glyphs``: letters, punctuation and symbols drawn with Pillow's default font,
  thresholded to black and white strokes like a digit;
- ``noise``: uniform random grey levels;
- ``constant``: one grey level over the whole image (black, white and in between);
- ``inverted``: normal test images with their grey levels inverted (255 − x);
- ``flipped``: normal test images upside down.
"""

from __future__ import annotations

import string

import numpy as np

# The characters glyphs are drawn from: letters and symbols, no digits (those are MNIST).
GLYPH_CHARACTERS = string.ascii_letters + "#$%&@?!+*=<>{}[]/\\~^"
GLYPH_SIZES = (24, 34)  # font sizes in pixels, drawn uniformly
GLYPH_STROKE = 1  # pixels of outline around each stroke: MNIST strokes are ~2-3 pixels wide


def glyphs(n: int, seed: int = 0, size: int = 28) -> np.ndarray:
    """`n` random characters, each at a random font size and small offset from the
    centre, white on black, thresholded at 128."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        font = ImageFont.load_default(size=int(rng.integers(*GLYPH_SIZES, endpoint=True)))
        image = Image.new("L", (size, size), 0)
        offset = rng.integers(-2, 3, size=2)
        character = str(rng.choice(list(GLYPH_CHARACTERS)))
        ImageDraw.Draw(image).text((size / 2 + offset[0], size / 2 + offset[1]), character,
                                   fill=255, font=font, anchor="mm", stroke_width=GLYPH_STROKE, stroke_fill=255)
        out[i, ..., 0] = np.where(np.asarray(image) >= 128, 255, 0)
    return out


def uniform_noise(n: int, seed: int = 0, size: int = 28) -> np.ndarray:
    """`n` images of independent uniform grey levels."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 1), dtype=np.uint8)


def constant(n: int, seed: int = 0, size: int = 28) -> np.ndarray:
    """`n` flat images, grey levels evenly spaced from black to white."""
    levels = np.round(np.linspace(0, 255, n)).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (n, size, size, 1)).copy()


def inverted(images: np.ndarray) -> np.ndarray:
    """Grey levels inverted: white digits on black become black on white."""
    return 255 - images


def flipped(images: np.ndarray) -> np.ndarray:
    """Upside down."""
    return images[:, ::-1].copy()


def shifted_images(shift: str, n: int, dataset: str, partner: str | None = None, seed: int = 0) -> np.ndarray:
    """`n` uint8 images of a shift, for a model of `dataset`.

    Args:
        shift: a name in `SHIFTS`.
        n: images.
        dataset: the normal data (its test images are inverted or flipped).
        partner: the other dataset, for ``other_dataset``.
        seed: seed of the random shifts.
    """
    from zoo import data

    if shift == "other_dataset":
        if partner is None:
            raise ValueError(f"no partner dataset for {dataset}")
        return data.load_arrays(partner, "test")[0][:n]
    if shift in ("inverted", "flipped"):
        # Test images from the end of the split: the normal images come from its start.
        images = data.load_arrays(dataset, "test")[0][-n:]
        return inverted(images) if shift == "inverted" else flipped(images)
    return {"glyphs": glyphs, "noise": uniform_noise, "constant": constant}[shift](n, seed=seed)


SHIFTS = ("other_dataset", "glyphs", "noise", "constant", "inverted", "flipped")
