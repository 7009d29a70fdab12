"""dSprites (Matthey et al. 2017), regenerated from its published specification.

The original is 737,280 binary 64x64 images of one white sprite on black, one image
for every combination of six factors, stored in factor-major order (color, shape,
scale, orientation, posX, posY; posY varies fastest). The factor values are those of
the original's `latents_possible_values`:

    color        1 value   (1.0)
    shape        3 values  (1, 2, 3 = square, ellipse, heart)
    scale        6 values  linspace(0.5, 1, 6)
    orientation 40 values  linspace(0, 2*pi, 40)   - both ends included, as in the
                 original file (step 2*pi/39 = 0.16110732): orientations 0 and 2*pi
                 therefore draw the same image, and we keep that duplicate so that
                 indices, factor values and the metrics' factor sizes match the
                 original exactly.
    posX        32 values  linspace(0, 1, 32)
    posY        32 values  linspace(0, 1, 32)

The original was drawn with vector graphics (Love2D) and its pixel geometry is not
published, so the rasterization here is our own, stated once in `GEOMETRY`:

- a sprite is drawn, binary (a pixel is on when its centre is inside the shape), in
  a 32x32 patch around its centre; the patch is then translated by one pixel per
  position step, so posX/posY in [0, 1] move the centre over columns/rows 16..47
  (one pixel a step is the smallest step that changes the image, the original's
  stated design rule). Rows grow downwards, as in Love2D: posY = 0 is the top.
- sizes are multiplied by `scale`: at scale 1 the square's side is 20 px, the
  ellipse's axes are 22 x 11 px, the heart (the curve (x^2 + y^2 - 1)^3 = x^2 y^3)
  is 9 px per unit, about 20 px wide;
- orientation rotates the sprite counter-clockwise on screen about its centre.

Everything is computed with numpy, deterministically. The full set is cached as
packed bits (377 MB raw, 5 MB compressed) in `$ZOO_CACHE_DIR` (default
`~/.cache/zoo`), in a file whose name holds a hash of the specification; a damaged
cache file is reported with a warning and regenerated (it is derived data).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
import zipfile

import numpy as np

from zoo import io
from zoo.data.sources import DatasetSpec, register_dataset

CACHE_DIR_ENV = "ZOO_CACHE_DIR"

FACTOR_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
IMAGE_SIZE = 64
PATCH_SIZE = 32

# The rasterization choices; their hash names the cache file, so changing any of them
# can never serve stale images.
GEOMETRY = {
    "version": 1,
    "patch_size": PATCH_SIZE,
    "square_side": 20.0,
    "ellipse_axes": [22.0, 11.0],
    "heart_pixels_per_unit": 9.0,
    "orientation": "linspace(0, 2pi, 40), counter-clockwise",
    "position": "one pixel per step, centre 16..47, rows downward",
}
SPEC_HASH = hashlib.sha256(json.dumps(GEOMETRY, sort_keys=True).encode()).hexdigest()[:12]


def latents_possible_values() -> dict:
    """The factor values of the original's metadata, by factor name."""
    return {
        "color": np.array([1.0]),
        "shape": np.array([1.0, 2.0, 3.0]),
        "scale": np.linspace(0.5, 1.0, 6),
        "orientation": np.linspace(0.0, 2 * np.pi, 40),
        "posX": np.linspace(0.0, 1.0, 32),
        "posY": np.linspace(0.0, 1.0, 32),
    }


def factor_classes_to_index(classes) -> np.ndarray:
    """Rows of factor classes [n, 6] -> indices into the dataset's factor-major order."""
    classes = np.asarray(classes, dtype=np.int64)
    if classes.ndim != 2 or classes.shape[1] != len(FACTOR_SIZES):
        raise ValueError(f"factor classes: expected shape [n, 6], got {classes.shape}")
    if np.any(classes < 0) or np.any(classes >= np.array(FACTOR_SIZES)):
        raise ValueError(f"factor classes out of range; sizes are {FACTOR_SIZES} ({FACTOR_NAMES})")
    return np.ravel_multi_index(tuple(classes.T), FACTOR_SIZES)


def dsprites_factors() -> tuple[np.ndarray, np.ndarray]:
    """(latents_values float64 [N, 6], latents_classes int64 [N, 6]) in dataset order."""
    classes = np.stack(np.unravel_index(np.arange(NUM_IMAGES), FACTOR_SIZES), axis=1).astype(np.int64)
    possible = latents_possible_values()
    values = np.stack([possible[name][classes[:, i]] for i, name in enumerate(FACTOR_NAMES)], axis=1)
    return values, classes


# --------------------------------------------------------------------------- rendering


def _inside(shape: int, u, v):
    """Whether points (u right, v up; in sprite units at scale 1) are inside a shape."""
    if shape == 0:  # square
        half = GEOMETRY["square_side"] / 2
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if shape == 1:  # ellipse, long axis horizontal at orientation 0
        a, b = (s / 2 for s in GEOMETRY["ellipse_axes"])
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    # Heart: (x^2 + y^2 - 1)^3 <= x^2 y^3, lobes up, point down; its bounding box
    # spans y in [-1, 1.25], so it is shifted by 0.125 to centre it.
    k = GEOMETRY["heart_pixels_per_unit"]
    x, y = u / k, v / k + 0.125
    return (x * x + y * y - 1.0) ** 3 <= x * x * y**3


@functools.lru_cache(maxsize=1)
def sprite_patches() -> np.ndarray:
    """The 720 centred sprites, bool [3, 6, 40, 32, 32] (shape, scale, orientation)."""
    centres = np.arange(PATCH_SIZE) + 0.5 - PATCH_SIZE / 2
    u, v = np.meshgrid(centres, -centres)  # u: columns rightwards, v: rows upwards
    possible = latents_possible_values()
    scales = possible["scale"][:, None, None, None]
    angles = possible["orientation"][None, :, None, None]
    # Rotating the sprite by +angle = sampling it at the pixel rotated by -angle.
    cos, sin = np.cos(angles), np.sin(angles)
    su = (cos * u + sin * v) / scales  # [6, 40, 32, 32]
    sv = (-sin * u + cos * v) / scales
    return np.stack([_inside(shape, su, sv) for shape in range(3)])


def _padded_sprites() -> np.ndarray:
    """Each sprite in a 95x95 canvas, so that every 64x64 window is one position."""
    pad = PATCH_SIZE - 1
    patches = sprite_patches()
    canvas = np.zeros(patches.shape[:3] + (IMAGE_SIZE + pad,) * 2, dtype=bool)
    canvas[..., pad:pad + PATCH_SIZE, pad:pad + PATCH_SIZE] = patches
    return canvas


def render(factor_classes) -> np.ndarray:
    """Images for rows of factor classes [n, 6]: uint8 [n, 64, 64, 1] in {0, 255}.

    Row i is the image at index `factor_classes_to_index(factor_classes)[i]` of the
    dataset, drawn directly (no cache needed).
    """
    classes = np.asarray(factor_classes, dtype=np.int64)
    factor_classes_to_index(classes)  # validates the shape and the ranges
    canvas = _padded_sprites()
    sprites = canvas[classes[:, 1], classes[:, 2], classes[:, 3]]  # [n, 95, 95]
    # The sprite's patch starts at row posY (column posX): the window starting at
    # 31 - posY of the padded canvas.
    pad = PATCH_SIZE - 1
    rows = (pad - classes[:, 5])[:, None] + np.arange(IMAGE_SIZE)
    cols = (pad - classes[:, 4])[:, None] + np.arange(IMAGE_SIZE)
    n = np.arange(len(classes))[:, None, None]
    images = sprites[n, rows[:, :, None], cols[:, None, :]]
    return (images.astype(np.uint8) * 255)[..., None]


def generate_packed() -> np.ndarray:
    """All 737,280 images as packed bits, uint8 [N, 512] (np.packbits of 64*64 pixels)."""
    canvas = _padded_sprites()
    packed = np.empty((NUM_IMAGES, IMAGE_SIZE * IMAGE_SIZE // 8), dtype=np.uint8)
    per_sprite = FACTOR_SIZES[4] * FACTOR_SIZES[5]
    for k, sprite in enumerate(canvas.reshape(-1, *canvas.shape[-2:])):
        windows = np.lib.stride_tricks.sliding_window_view(sprite, (IMAGE_SIZE, IMAGE_SIZE))
        # windows[a, b] puts the patch at row 31 - a, column 31 - b; the dataset order
        # within one sprite is posX-major, posY fastest.
        images = windows[::-1, ::-1].transpose(1, 0, 2, 3)
        packed[k * per_sprite:(k + 1) * per_sprite] = np.packbits(
            images.reshape(per_sprite, -1), axis=-1)
    return packed


# --------------------------------------------------------------------------- cache


def cache_dir() -> str:
    return os.environ.get(CACHE_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "zoo")


def cache_path(directory=None) -> str:
    return os.path.join(os.fspath(directory) if directory else cache_dir(), f"dsprites_{SPEC_HASH}.npz")


def _read_cache(path: str) -> np.ndarray:
    # The zip members carry CRC-32s, so truncation or flipped bytes fail here.
    with np.load(path, allow_pickle=False) as f:
        if str(f["spec_hash"]) != SPEC_HASH:
            raise ValueError(f"spec hash {f['spec_hash']} != {SPEC_HASH}")
        packed = f["packed"]
    if packed.shape != (NUM_IMAGES, IMAGE_SIZE * IMAGE_SIZE // 8) or packed.dtype != np.uint8:
        raise ValueError(f"packed images have shape {packed.shape} and dtype {packed.dtype}")
    return packed


def _write_cache(path: str, packed: np.ndarray):
    # Atomic (zoo.io): a reader never sees a half-written cache, and concurrent
    # writers each leave a complete file.
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            # A .npz written member by member at deflate level 1: 3x faster than
            # np.savez_compressed's level 6 for a 5 MB file instead of 2.5 MB.
            with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                for name, array in (("packed", packed), ("spec_hash", np.array(SPEC_HASH))):
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)


def load_packed(directory=None, use_cache: bool = True) -> np.ndarray:
    """The full set as packed bits, from the cache or generated (then cached).

    A cache file that cannot be read (damaged, truncated, wrong content) is reported
    with a warning and regenerated: it is derived data, so regenerating is always right.
    """
    path = cache_path(directory)
    if use_cache and os.path.exists(path):
        try:
            return _read_cache(path)
        except Exception as e:  # noqa: BLE001 - zipfile/numpy raise many kinds on damage
            warnings.warn(f"dSprites cache {path} is unreadable ({type(e).__name__}: {e}); regenerating it",
                          stacklevel=2)
    packed = generate_packed()
    if use_cache:
        try:
            _write_cache(path, packed)
        except OSError as e:  # a read-only or full disk costs the cache, not the data
            warnings.warn(f"could not write the dSprites cache {path}: {e}", stacklevel=2)
    return packed


def unpack(packed: np.ndarray) -> np.ndarray:
    """Packed rows [n, 512] -> uint8 images [n, 64, 64, 1] in {0, 255}."""
    images = np.unpackbits(packed, axis=-1)
    images *= 255
    return images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)


def _generate_split(split: str):
    """The registry's generator: (uint8 images [N,64,64,1] in {0,255}, shape class [N]).

    The label is the shape class (0 square, 1 ellipse, 2 heart); all six factors are
    in `dsprites_factors()`.
    """
    if split != "train":
        raise ValueError(f"dsprites has only the 'train' split, not {split!r}")
    images = unpack(load_packed())
    labels = dsprites_factors()[1][:, 1]
    return images, labels


register_dataset(
    DatasetSpec(
        name="dsprites",
        image_shape=(IMAGE_SIZE, IMAGE_SIZE, 1),
        num_classes=0,
        split_sizes={"train": NUM_IMAGES},
        generator=_generate_split,
        generator_cache=cache_path,
        install_hint="nothing to install: dSprites is generated (and cached in $ZOO_CACHE_DIR)",
    )
)


# --------------------------------------------------------------------------- ground truth for metrics


class DSpritesGroundTruth:
    """dSprites as ground-truth data for the disentanglement metrics.

    As in disentanglement_lib, the metrics see the five factors that vary (shape,
    scale, orientation, posX, posY); color has one value and is always 0.

    Args:
        factor_indices: which of the six factors the metrics see.
    """

    def __init__(self, factor_indices=(1, 2, 3, 4, 5)):
        self.factor_indices = tuple(int(i) for i in factor_indices)
        self.factor_sizes = tuple(FACTOR_SIZES[i] for i in self.factor_indices)

    @property
    def num_factors(self) -> int:
        return len(self.factor_indices)

    @property
    def observation_shape(self):
        return (IMAGE_SIZE, IMAGE_SIZE, 1)

    def sample_factors(self, num: int, random_state: np.random.Generator) -> np.ndarray:
        """Uniform factor classes, int64 [num, num_factors]."""
        return np.stack([random_state.integers(0, size, num) for size in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state=None) -> np.ndarray:
        """float32 images [n, 64, 64, 1] in {0, 1} for factor classes [n, num_factors]."""
        factors = np.asarray(factors, dtype=np.int64)
        full = np.zeros((len(factors), len(FACTOR_SIZES)), dtype=np.int64)
        full[:, self.factor_indices] = factors
        return (render(full) > 0).astype(np.float32)

    def sample(self, num: int, random_state: np.random.Generator):
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)
