"""Pictures of a preset: `zoo sample`, `demo`, `reconstruct`, `interpolate`, `traverse`,
`manifold` and `latents`. Each PNG says what it shows: the preset, the images or
latent dimensions used, and the values swept.
"""

from __future__ import annotations

import os

from zoo.cli.arguments import (
    ALL_CLASSES,
    add_preset_argument,
    at_least,
    class_label,
    dim_pair,
    dims,
    folder,
    nonnegative_int,
    positive_int,
    suffix,
    value_range,
)

# Test images the latent dimensions are ranked on when the model card has no KL per dimension.
RANKING_IMAGES = 200
# Latent dimensions a traversal shows by default.
TRAVERSAL_DIMS = 10


def _name(preset: str) -> str:
    """The preset's short name for titles: its name, or the folder's name for a path."""
    return os.path.basename(os.path.normpath(preset))


def test_images(card: dict, take: int, seed: int = 0, indices=None, input_dir: str | None = None):
    """(images, labels): the first `take` test images of the preset's data (the held-out
    images of a folder), or of `input_dir`, or those at `indices`, preprocessed as its
    model card says.

    Args:
        card: the preset's model card.
        take: how many images (the first of the split).
        seed: seed of the preprocessing noise.
        indices: pick these among the first `take`.
        input_dir: any folder of PNG/JPEG images instead (sub-folders are classes),
            scaled and centre-cropped to the model's size and converted to its channels.
    """
    from zoo import data

    if input_dir is None:
        x, y = data.load_numpy_for_card(card, "test", take=take, seed=seed)
    else:
        size, _, channels = card["image_shape"]
        folder = data.ImageFolder(input_dir, size, channels, held_out_fraction=0.0)
        x, y = folder.load_numpy("train", card.get("preprocessing", "float"), seed=seed, take=take)
    if indices is not None:
        for i in indices:
            if not 0 <= i < len(x):
                raise ValueError(f"image index {i} is outside the {images_name(card, input_dir)} (0..{len(x) - 1})")
        x, y = x[list(indices)], y[list(indices)]
    return x, y


def images_name(card: dict, input_dir: str | None) -> str:
    """What `test_images` shows, for titles: "mnist test images", "images of DIR"."""
    if input_dir is not None:
        return f"images of {input_dir}"
    if card.get("dataset") == "folder":
        return f"held-out images of {card['data_source']['path']}"
    return f"{card['dataset']} test images"


def add_input(parser):
    """--input DIR, for the commands that show test images."""
    parser.add_argument("--input", type=folder, metavar="DIR",
                        help="show these images instead of the preset's test images: a folder of PNG/JPEG files "
                             "(scaled and centre-cropped to the model's size, converted to its channels)")


def latent_ranking(model, card: dict):
    """How much each latent dimension is used: (scores [latent_dim], unit, source).

    The KL per dimension of the model card (metrics → latents, measured by `zoo eval`)
    when it has one; else KL(q(z_d|x) || N(0, 1)) averaged over the first
    `RANKING_IMAGES` test images; for an encoder without a spread (AE, WAE) the
    variance of the codes instead.
    """
    import numpy as np

    from zoo.evaluate.representations import gaussian_kl_per_dimension, posterior_moments

    kl = card.get("metrics", {}).get("latents", {}).get("kl_per_dimension")
    if kl is not None and len(kl) == model.latent_dim:
        return np.asarray(kl, np.float64), "KL", "the KL per dimension of the model card"
    x, y = test_images(card, RANKING_IMAGES)
    means, stds = posterior_moments(model, x, y if model.conditional else None)
    where = f"measured on {len(x)} test images"
    if np.all(stds > 0):
        return gaussian_kl_per_dimension(means, stds), "KL", f"KL from N(0, 1) per dimension, {where}"
    return means.var(axis=0), "var", f"variance of the codes per dimension, {where}"


def ranked_dims(model, card: dict, count: int):
    """The `count` most used latent dimensions, most used first: (dims, row labels, source)."""
    scores, unit, source = latent_ranking(model, card)
    order = [int(d) for d in scores.argsort()[::-1][:count]]
    return order, dim_labels(order, scores, unit), source


def tick(value: float, digits: int = 2) -> str:
    """A signed tick label, "+1.64"; never "-0.00"."""
    return f"{round(float(value), digits) + 0.0:+.{digits}f}"


def dim_labels(chosen, scores, unit: str) -> list[str]:
    """"dim d (KL x.xx nats)" per chosen dimension (or "(var x.xx)" for a variance)."""
    return [f"dim {d} ({unit} {scores[d]:.2f}{' nats' if unit == 'KL' else ''})" for d in chosen]


def run_sample(args) -> int:
    """Draws samples from the prior and writes them as a titled grid (for `--label all`,
    one row of N per class)."""
    import numpy as np

    from zoo.data.cards import class_names_for_card
    from zoo.plots import save_grid
    from zoo.presets import load, read_metadata

    model = load(args.name)
    if args.label != ALL_CLASSES:
        images = model.sample(args.n, seed=args.seed, labels=args.label)
        of = "" if args.label is None else f" of class {args.label}"
        save_grid(images, args.out, title=f"{_name(args.name)}: {args.n} samples{of} (E[x|z], z from the prior, "
                                          f"seed {args.seed})")
        print(f"wrote {args.out}")
        return 0
    if not model.conditional:
        raise ValueError("--label all: this model is not conditional (it has no classes); leave --label out")
    names = class_names_for_card(read_metadata(args.name), int(model.num_classes))
    labels = np.repeat(np.arange(len(names)), args.n)
    save_grid(model.sample(len(labels), seed=args.seed, labels=labels), args.out, cols=args.n,
              row_labels=[f"{i} {name}" for i, name in enumerate(names)],
              title=f"{_name(args.name)}: {args.n} samples of each class, one class a row (E[x|z], z from "
                    f"p(z|y), seed {args.seed})")
    print(f"wrote {args.out} ({len(names)} classes x {args.n} samples)")
    return 0


def add_sample(subparsers):
    p = subparsers.add_parser(
        "sample", help="write a grid of samples as PNG",
        description="Draws z from the preset's prior and writes the decoded images E[x|z] as one titled PNG "
                    "grid (a conditional model needs --label: a class, or 'all' for a row of N per class).")
    add_preset_argument(p)
    p.add_argument("-n", type=positive_int, default=64, help="number of samples (per class with --label all)")
    p.add_argument("--out", default="samples.png", help="PNG file to write (folders are created)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the prior draws")
    p.add_argument("--label", type=class_label,
                   help="class to generate, or 'all' for one row per class (conditional models only)")
    return p


def best_sample_preset(dataset: str = "mnist"):
    """The unconditional preset of `dataset` whose samples are best by its card: the lowest
    Fréchet distance in the judge's features. Returns (name, {name: distance}).

    Conditional presets are left out: their samples are given the class, so their distance
    is not comparable.
    """
    from zoo.presets import list_models, read_metadata
    from zoo.registry import get_model_class

    distances = {}
    for name in list_models():
        card = read_metadata(name)
        distance = card.get("metrics", {}).get("sample_quality", {}).get("frechet_distance")
        if card.get("dataset") == dataset and distance is not None \
                and not get_model_class(card["variant"]).conditional:
            distances[name] = distance
    if not distances:
        raise ValueError(f"no shipped {dataset} preset has a measured sample quality; name a preset")
    return min(distances, key=distances.get), distances


def run_demo(args) -> int:
    """Samples, reconstructions, an interpolation and a traversal of a preset, as PNGs."""
    import numpy as np

    from zoo import data, plots
    from zoo.presets import load, read_metadata

    name = args.name
    if name is None:
        name, distances = best_sample_preset("mnist")
        others = ", ".join(f"{n} {d:.1f}" for n, d in sorted(distances.items(), key=lambda item: item[1])[1:4])
        print(f"{name}: the MNIST preset with the best samples (Fréchet distance {distances[name]:.1f} in the "
              f"judge's features, lower is better; next: {others}). `zoo demo NAME` shows another.")
    model = load(name)
    card = read_metadata(name)
    short = _name(name)
    written = []

    def out(what):
        path = os.path.join(args.out_dir, f"{short}_{what}.png")
        written.append(path)
        return path

    labels = np.arange(64) % model.num_classes if model.conditional else None
    plots.save_grid(model.sample(64, seed=args.seed, labels=labels), out("samples"),
                    title=f"{short}: 64 samples (E[x|z], z from the prior)"
                          + (", class = column" if model.conditional else ""))
    try:
        x, y = data.load_numpy_for_card(card, "test", take=16)
    except data.DataSourceError as e:
        print(f"(no test data, so no reconstructions: {e})")
        x = y = None
    label = None
    if x is not None:
        label = int(y[0]) if model.conditional else None
        recon = model.reconstruct(x, y if model.conditional else None)
        plots.save_grid(np.concatenate([x, recon]), out("reconstructions"), cols=16,
                        title=f"{short}: 16 test images above their reconstructions",
                        row_labels=["test", "decoded"])
        plots.save_grid(plots.interpolation(model, x[0], x[1], 12, y=label), out("interpolation"), cols=12,
                        title=f"{short}: decoded straight line from test image 0 to test image 1")
    chosen, row_labels, source = ranked_dims(model, card, min(model.latent_dim, TRAVERSAL_DIMS))
    values = np.linspace(-3, 3, 9, dtype=np.float32)
    start = "test image 0" if x is not None else "z = 0"
    plots.save_grid(plots.traversal(model, None if x is None else x[0], chosen, values, y=label), out("traversal"),
                    cols=len(values), row_labels=row_labels, col_labels=[tick(v, 1) for v in values],
                    title=f"{short}: latent traversal from {start}, the {len(chosen)} dims with the highest "
                          f"{'KL' if 'KL' in row_labels[0] else 'variance'}")
    print(f"{short}: {card.get('description', '')}")
    nll = card.get("metrics", {}).get("nll_nats")
    if nll is not None:
        print(f"test NLL {nll:.2f} nats (k={card['metrics'].get('nll_k')})")
    print(f"traversal rows: {source}")
    print("wrote:")
    for path in written:
        print(f"  {os.path.abspath(path)}")
    return 0


def add_demo(subparsers):
    p = subparsers.add_parser(
        "demo", help="samples, reconstructions, an interpolation and a traversal of a preset, as PNGs",
        description="Writes four titled PNGs of a preset: 64 samples, 16 test images with their reconstructions, "
                    "an interpolation between two test images, and a traversal of the latent dimensions with "
                    "the highest KL. Without NAME it shows the MNIST preset with the best samples by the cards.")
    p.add_argument("name", nargs="?",
                   help="preset name or directory (default: the MNIST preset with the lowest sample Fréchet "
                        "distance)")
    p.add_argument("--out-dir", default="outputs", help="directory for the PNGs (created if needed)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the samples")
    return p


def run_reconstruct(args) -> int:
    """Test images above their reconstructions, in rows of up to 16."""
    import numpy as np

    from zoo import plots
    from zoo.presets import load, read_metadata

    model = load(args.name)
    card = read_metadata(args.name)
    x, y = test_images(card, args.n, seed=args.seed, input_dir=args.input)
    recon = model.reconstruct(x, y if model.conditional else None)
    # Rows of up to 16 originals, each followed by the row of their reconstructions.
    cols = min(len(x), 16)
    blank = np.ones((1,) + x.shape[1:], np.float32)
    rows = []
    for start in range(0, len(x), cols):
        for images in (x[start:start + cols], recon[start:start + cols]):
            rows.append(np.concatenate([images] + [blank] * (cols - len(images))))
    plots.save_grid(np.concatenate(rows), args.out, cols=cols, row_labels=["test", "decoded"] * (len(rows) // 2),
                    title=f"{_name(args.name)}: the first {len(x)} {images_name(card, args.input)}, each above its "
                          "reconstruction")
    print(f"wrote {args.out} ({len(x)} {images_name(card, args.input)}, each above its reconstruction)")
    return 0


def add_reconstruct(subparsers):
    p = subparsers.add_parser(
        "reconstruct", help="test images of the preset's dataset above their reconstructions, as PNG",
        description="Writes one PNG: rows of up to 16 test images of the preset's dataset (preprocessed as its "
                    "card says), each row followed by their reconstructions (decoded posterior means).")
    add_preset_argument(p)
    p.add_argument("--out", required=True, help="PNG file to write (folders are created)")
    p.add_argument("-n", "--n", type=positive_int, default=16, help="number of test images (the first N)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the preprocessing noise (e.g. binarization)")
    add_input(p)
    return p


def run_interpolate(args) -> int:
    """Decodes the straight line between two test images' posterior means."""
    import numpy as np

    from zoo import plots
    from zoo.presets import load, read_metadata

    model = load(args.name)
    card = read_metadata(args.name)
    a, b = args.index_a, args.index_b
    x, y = test_images(card, max(a, b) + 1, indices=[a, b], input_dir=args.input)
    label = int(y[0]) if model.conditional else None
    path = plots.interpolation(model, x[0], x[1], args.steps, y=label)
    steps = np.linspace(0, 1, args.steps)
    # The two real images frame the decoded path.
    plots.save_grid(np.concatenate([x[:1], path, x[1:]]), args.out, cols=args.steps + 2,
                    col_labels=[f"#{a}", *(f"{t:.2f}" for t in steps), f"#{b}"],
                    title=f"{_name(args.name)}: test images #{a} and #{b} (ends) and {args.steps} images decoded "
                          "along the line between their codes (t = 0..1)")
    print(f"wrote {args.out} (test images {a} and {b}, {args.steps} steps between their posterior means)")
    return 0


def add_interpolate(subparsers):
    p = subparsers.add_parser(
        "interpolate", help="decode the straight line between two test images' codes, as PNG",
        description="Writes one PNG row: test image A, STEPS images decoded along the line between the "
                    "posterior means of A and B, then test image B.")
    add_preset_argument(p)
    p.add_argument("--out", required=True, help="PNG file to write (folders are created)")
    p.add_argument("--steps", type=at_least(2), default=10, help="decoded images along the path, endpoints included")
    p.add_argument("--index-a", type=nonnegative_int, default=0, help="index of the first test image")
    p.add_argument("--index-b", type=nonnegative_int, default=1, help="index of the second test image")
    add_input(p)
    return p


def run_traverse(args) -> int:
    """Sweeps latent dimensions one at a time from a test image's code: PNG grid or GIF."""
    import numpy as np

    from zoo import plots
    from zoo.presets import load, read_metadata

    model = load(args.name)
    card = read_metadata(args.name)
    if args.dims is None:
        chosen, row_labels, source = ranked_dims(model, card, min(model.latent_dim, TRAVERSAL_DIMS))
        print(f"dims {chosen}: the {len(chosen)} most used ({source})")
    else:
        bad = [d for d in args.dims if d >= model.latent_dim]
        if bad:
            raise ValueError(f"--dims: latent dimensions must lie in 0..{model.latent_dim - 1}, got {args.dims}")
        scores, unit, _ = latent_ranking(model, card)
        chosen, row_labels = args.dims, dim_labels(args.dims, scores, unit)
    lo, hi, count = args.values
    values = np.linspace(lo, hi, count, dtype=np.float32)
    x, y = test_images(card, args.index + 1, indices=[args.index], input_dir=args.input)
    label = int(y[0]) if model.conditional else None
    images = plots.traversal(model, x[0], chosen, values, y=label)  # row d, column value
    title = f"{_name(args.name)}: traversal of test image #{args.index}"
    if args.out.lower().endswith(".gif"):
        per_value = images.reshape(len(chosen), count, *images.shape[1:]).transpose(1, 0, 2, 3, 4)
        frames = [plots.picture(column, cols=1, row_labels=row_labels, title=f"{title}\nz[dim] = {tick(v)}")
                  for column, v in zip(per_value, values)]
        plots.save_gif(frames, args.out, scale=1, duration_ms=args.frame_ms)
        print(f"wrote {args.out} ({count} frames, dims {chosen} as rows, values {lo:g}..{hi:g})")
    else:
        plots.save_grid(images, args.out, cols=count, row_labels=row_labels,
                        col_labels=[tick(v, 2 if count > 9 else 1) for v in values],
                        title=f"{title}: one latent dim swept per row, the others at its posterior mean")
        print(f"wrote {args.out} (dims {chosen} as rows, values {lo:g}..{hi:g} as columns)")
    return 0


def add_traverse(subparsers):
    p = subparsers.add_parser(
        "traverse", help="sweep latent dimensions one at a time, as PNG grid or animated GIF",
        description="Encodes one test image and sweeps each chosen latent dimension over VALUES, the others "
                    "held at the posterior mean. PNG: one row per dimension (labelled with its KL), one column "
                    "per value. GIF: one frame per value, every dimension as a row.")
    add_preset_argument(p)
    p.add_argument("--out", required=True, type=suffix(".png", ".gif"),
                   help="FILE.png (grid) or FILE.gif (animation); folders are created")
    p.add_argument("--dims", type=dims,
                   help="comma-separated latent dimensions (default: the 10 with the highest KL, from the model "
                        "card or measured on a few test images)")
    p.add_argument("--values", type=value_range, default=(-3.0, 3.0, 9),
                   help="LOW,HIGH,COUNT, evenly spaced; write --values=-3,3,9 when LOW is negative, since "
                        "argparse reads a leading '-' as an option")
    p.add_argument("--index", type=nonnegative_int, default=0, help="test image whose code is the starting point")
    p.add_argument("--frame-ms", type=positive_int, default=200, help="GIF: milliseconds per frame")
    add_input(p)
    return p


def run_manifold(args) -> int:
    """Decodes an n x n grid over two latent dimensions, with their values as tick labels."""
    import numpy as np
    from scipy.stats import norm

    from zoo import plots
    from zoo.presets import load, read_metadata

    model = load(args.name)
    if model.conditional and args.label is None:
        raise ValueError("this model is conditional: pass --label C")
    if args.dims is None:
        (d0, d1), _, source = ranked_dims(model, read_metadata(args.name), 2)
        print(f"dims {d0},{d1}: the two most used ({source})")
    else:
        d0, d1 = args.dims
    # plots.manifold's grid: columns dims[0] low to high, rows dims[1] high to low.
    q = norm.ppf(np.linspace(0.05, 0.95, args.n))
    plots.save_grid(plots.manifold(model, args.n, (d0, d1), y=args.label), args.out, cols=args.n,
                    col_labels=[tick(v, 1) for v in q], row_labels=[f"z{d1} {tick(v)}" for v in q[::-1]],
                    title=f"{_name(args.name)}: E[x|z] over latent dims {d0} (columns, z{d0} above) and {d1} (rows); "
                          "other dims 0, values at the 5%..95% quantiles of N(0, 1)")
    print(f"wrote {args.out} ({args.n}x{args.n} grid over latent dims {d0} (columns) and {d1} (rows); other dims 0)")
    return 0


def add_manifold(subparsers):
    p = subparsers.add_parser(
        "manifold", help="decode a grid over two latent dimensions (the 2-D latent manifold), as PNG",
        description="Decodes an N x N grid of codes: two latent dimensions at the 5%%..95%% quantiles of the "
                    "standard normal, the others at 0. Ticks give the values.")
    add_preset_argument(p)
    p.add_argument("--out", required=True, help="PNG file to write (folders are created)")
    p.add_argument("-n", type=at_least(2), default=15, help="grid size per axis")
    p.add_argument("--dims", type=dim_pair,
                   help="the two latent dimensions, e.g. 0,1 (default: the two with the highest KL)")
    p.add_argument("--label", type=nonnegative_int, help="class, for conditional models")
    return p


def run_latents(args) -> int:
    """Scatter plot of test images' posterior means in 2-D, coloured by label."""
    from zoo import plots
    from zoo.evaluate.representations import posterior_moments, project_2d
    from zoo.presets import load, read_metadata

    model = load(args.name)
    card = read_metadata(args.name)
    x, y = test_images(card, args.n, input_dir=args.input)
    means, _ = posterior_moments(model, x, y if model.conditional else None)
    two = model.latent_dim == 2
    how = "posterior means" if two else "first two principal components of the posterior means"
    plots.save_projection(project_2d(means), y, args.out, title=f"{_name(args.name)}: {how} of {len(x)} test images",
                          axis_labels=("z0", "z1") if two else ("PC 1", "PC 2"))
    print(f"wrote {args.out} ({how}, coloured by label)")
    return 0


def add_latents(subparsers):
    p = subparsers.add_parser(
        "latents", help="scatter plot of test images' posterior means in 2-D, coloured by label",
        description="Encodes test images and plots their posterior means (their first two principal components "
                    "when the latent space has more than two dimensions), coloured by class.")
    add_preset_argument(p)
    p.add_argument("--out", required=True, help="PNG file to write (folders are created)")
    p.add_argument("-n", type=positive_int, default=2000, help="number of test images (the first N)")
    add_input(p)
    return p


COMMANDS = {
    "sample": (add_sample, run_sample),
    "demo": (add_demo, run_demo),
    "reconstruct": (add_reconstruct, run_reconstruct),
    "interpolate": (add_interpolate, run_interpolate),
    "traverse": (add_traverse, run_traverse),
    "manifold": (add_manifold, run_manifold),
    "latents": (add_latents, run_latents),
}
