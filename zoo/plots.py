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
