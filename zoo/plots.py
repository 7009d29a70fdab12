"""Pictures: image grids written as PNG (Pillow, no display needed)."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image


def grid(images, cols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tiles images [N,H,W,C] in [0,1] into one uint8 array [rows*H, cols*W, C]."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected images [N,H,W,C], got shape {images.shape}")
    n, h, w, c = images.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    out = np.ones(((h + pad) * rows - pad, (w + pad) * cols - pad, c), dtype=np.float32)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, col * (w + pad): col * (w + pad) + w] = img
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def save_png(array_uint8: np.ndarray, path: str, scale: int = 2) -> str:
    """Writes an image array atomically (temp file, then rename)."""
    if array_uint8.shape[-1] == 1:
        array_uint8 = array_uint8[..., 0]
    img = Image.fromarray(array_uint8)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    img.save(tmp)
    os.replace(tmp, path)
    return path


def save_grid(images, path: str, cols: int | None = None, scale: int = 2) -> str:
    return save_png(grid(images, cols), path, scale)


def save_gif(frames_uint8, path: str, scale: int = 2, duration_ms: int = 200) -> str:
    """Writes frames (uint8 arrays [H,W,C] of one size) as a looping animated GIF,
    atomically (temp file, then rename)."""
    frames = [f[..., 0] if f.shape[-1] == 1 else f for f in frames_uint8]
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = [Image.fromarray(f) for f in frames]
    if scale > 1:
        images = [img.resize((img.width * scale, img.height * scale), Image.NEAREST) for img in images]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.gif"
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=int(duration_ms), loop=0)
    os.replace(tmp, path)
    return path


def interpolation(model, x_start, x_end, steps: int = 10, y=None) -> np.ndarray:
    """Decoded images along the straight line between two posterior means: [steps,H,W,C]."""
    pair = np.stack([np.asarray(x_start), np.asarray(x_end)])
    labels = None if y is None else np.array([y, y])
    z = model.encode(pair, labels).mean().numpy()
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    path = (1 - t) * z[0] + t * z[1]
    return model.decode_mean(path, None if y is None else np.full(steps, y)).numpy()


def traversal(model, x=None, dims=None, values=None, y=None) -> np.ndarray:
    """One row per latent dimension: that coordinate swept over `values` (default -3..3),
    the others held at the posterior mean of x (or 0). Returns [len(dims)*len(values),H,W,C]."""
    values = np.linspace(-3, 3, 9, dtype=np.float32) if values is None else np.asarray(values, np.float32)
    dims = list(range(model.latent_dim)) if dims is None else list(dims)
    if x is None:
        base = np.zeros(model.latent_dim, np.float32)
    else:
        base = model.encode(np.asarray(x)[None], None if y is None else np.array([y])).mean().numpy()[0]
    z = np.repeat(base[None], len(dims) * len(values), axis=0)
    for row, d in enumerate(dims):
        z[row * len(values):(row + 1) * len(values), d] = values
    labels = None if y is None else np.full(len(z), y)
    return model.decode_mean(z, labels).numpy()
