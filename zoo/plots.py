"""Pictures: image grids written as PNG or GIF (Pillow, no display needed), with
words on them: a title, and labels for the rows and columns (the latent dimension
and its KL, the value a coordinate takes...).

Every file is written atomically (`zoo.io.atomic_path`).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from zoo.io import atomic_path

# Pixels of the labels' font, and the white space around the words and the picture.
FONT_SIZE = 13
MARGIN = 6


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


def _image(array_uint8: np.ndarray, scale: int) -> Image.Image:
    if array_uint8.shape[-1] == 1:
        array_uint8 = array_uint8[..., 0]
    img = Image.fromarray(array_uint8)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_png(array_uint8: np.ndarray, path: str, scale: int = 2) -> str:
    """Writes an image array [H,W,C] (each pixel as a `scale` x `scale` block), atomically."""
    with atomic_path(path, suffix=".png") as tmp:
        _image(array_uint8, scale).save(tmp, format="PNG")
    return path


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """`text` with its lines broken between words to fit `width` pixels where they can."""
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            longer = f"{line} {word}" if line else word
            if line and _text_size(draw, longer, font)[0] > width:
                lines.append(line)
                longer = word
            line = longer
        lines.append(line)
    return "\n".join(lines)


# Narrowest a title is wrapped to: below it the picture widens instead.
MIN_TITLE_WIDTH = 240


def picture(images, cols: int | None = None, scale: int = 2, title: str | None = None,
            row_labels=None, col_labels=None) -> np.ndarray:
    """The grid of `images` scaled up, with words around it; uint8 [H, W, C].

    Without words this is `grid` with each pixel a `scale` x `scale` block. With them,
    the grid sits in the bottom-right corner, `MARGIN` pixels from the edges, under the
    title (which may hold several lines) and the column labels, right of the row labels.

    Args:
        images: [N,H,W,C] in [0, 1].
        cols: images per row (default: a square-ish grid).
        scale: pixels per image pixel.
        title: text above the grid.
        row_labels: one label per grid row, written left of it.
        col_labels: one label per grid column, written above it.
    """
    array = grid(images, cols)
    if not (title or row_labels or col_labels):
        return np.asarray(_image(array, scale)).reshape(array.shape[0] * scale, array.shape[1] * scale, -1)
    n, h, w, _ = np.asarray(images).shape
    cols = cols or math.ceil(math.sqrt(n))
    body = _image(array, scale)
    cell_h, cell_w = (h + 1) * scale, (w + 1) * scale  # one image and its separator
    font = ImageFont.load_default(size=FONT_SIZE)
    draw = ImageDraw.Draw(body)  # only to measure text
    row_w = max((_text_size(draw, str(t), font)[0] for t in row_labels or ()), default=0)
    col_h = FONT_SIZE + MARGIN if col_labels else 0
    left = row_w + MARGIN if row_labels else 0
    if title:
        title = _wrap(draw, title, font, max(left + body.width, MIN_TITLE_WIDTH))
    title_w, title_h = _text_size(draw, title, font) if title else (0, 0)
    # A title still wider than the grid widens the picture on the left, so the grid keeps its corner.
    left = max(left, title_w - body.width)
    top = (title_h + MARGIN if title else 0) + col_h
    canvas = Image.new(body.mode, (MARGIN + left + body.width + MARGIN, MARGIN + top + body.height + MARGIN),
                       255 if body.mode == "L" else (255, 255, 255))
    x0, y0 = MARGIN + left, MARGIN + top
    canvas.paste(body, (x0, y0))
    draw = ImageDraw.Draw(canvas)
    ink = 0 if body.mode == "L" else (0, 0, 0)
    if title:
        draw.multiline_text((MARGIN, MARGIN), title, fill=ink, font=font)
    for c, text in enumerate(col_labels or ()):
        draw.text((x0 + c * cell_w + (w * scale) // 2, y0 - MARGIN // 2), str(text), fill=ink, font=font,
                  anchor="md")
    for r, text in enumerate(row_labels or ()):
        draw.text((x0 - MARGIN, y0 + r * cell_h + (h * scale) // 2), str(text), fill=ink, font=font, anchor="rm")
    return np.asarray(canvas).reshape(canvas.height, canvas.width, -1)


def save_grid(images, path: str, cols: int | None = None, scale: int = 2, title: str | None = None,
              row_labels=None, col_labels=None) -> str:
    """Writes `picture(images, ...)` as a PNG, atomically."""
    return save_png(picture(images, cols, scale, title, row_labels, col_labels), path, scale=1)


def save_gif(frames_uint8, path: str, scale: int = 2, duration_ms: int = 200) -> str:
    """Writes frames (uint8 arrays [H,W,C] of one size) as a looping animated GIF,
    atomically."""
    if not len(frames_uint8):
        raise ValueError("save_gif needs at least one frame")
    images = [_image(f, scale) for f in frames_uint8]
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(duration_ms),
                       loop=0)
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


def manifold(model, n: int = 15, dims=(0, 1), y=None) -> np.ndarray:
    """The decoded 2-D latent manifold: an n x n grid of E[x|z] with z[dims] at the
    Gaussian quantiles 0.05..0.95 of the standard normal prior (rows: dims[1] from
    high to low, columns: dims[0] from low to high) and the other coordinates at 0.
    For a model with 2 latents this is its whole latent space. Returns [n*n,H,W,C]."""
    from scipy.stats import norm

    d0, d1 = (int(d) for d in dims)
    if not (0 <= d0 < model.latent_dim and 0 <= d1 < model.latent_dim) or d0 == d1:
        raise ValueError(f"dims must be two different latent dimensions in 0..{model.latent_dim - 1}, got {dims}")
    if int(n) < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    q = norm.ppf(np.linspace(0.05, 0.95, int(n))).astype(np.float32)
    z = np.zeros((int(n) * int(n), model.latent_dim), np.float32)
    rows, cols = np.meshgrid(q[::-1], q, indexing="ij")
    z[:, d0], z[:, d1] = cols.ravel(), rows.ravel()
    return model.decode_mean(z, None if y is None else np.full(len(z), y)).numpy()


def save_projection(points, labels, path: str, title: str = "", class_names=None, axis_labels=("", "")) -> str:
    """A scatter plot PNG of 2-D points [N, 2] coloured by integer label, written atomically.

    Args:
        points: [N, 2] coordinates.
        labels: N integer classes (the colours).
        path: the PNG file.
        title: text above the plot.
        class_names: names of the classes in the legend (default: the integers).
        axis_labels: (x, y) axis titles.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = np.asarray(points, np.float64)
    labels = np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"expected points [N, 2] and N labels, got {points.shape} and {labels.shape}")
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7)
    classes = np.unique(labels)
    handles = [plt.Line2D([], [], marker="o", ls="", color=scatter.cmap(scatter.norm(c))) for c in classes]
    names = [str(c) if class_names is None else class_names[int(c)] for c in classes]
    ax.legend(handles, names, loc="best", fontsize=7, markerscale=1.5)
    ax.set_title(title)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, bbox_inches="tight", format="png")
    plt.close(fig)
    return path
