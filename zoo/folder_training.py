"""Recipes for your own folder of images (`zoo train --data DIR`).

A folder recipe is ordinary recipe data (`zoo.training`): the template
`zoo/recipes/templates/folder.json` (a VAE with the 8-bit discretized logistic
mixture likelihood, and a table of conv widths by image size), completed with the
folder's `data_source` record, so that the preset's card says exactly which images,
at which size and split, it was trained on.

    recipe = folder_recipe("photos/", image_size=32)
    zoo.training.train(recipe, "my_preset")
"""

from __future__ import annotations

import json
import os

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recipes", "templates", "folder.json")


def load_template() -> dict:
    """The folder recipe template (a fresh copy)."""
    with open(TEMPLATE) as f:
        return json.load(f)


def widths_for(image_size: int, table: dict | None = None) -> list[int]:
    """The conv widths of the template's table for an image size: the entry with the
    largest size not above `image_size`.

    Raises:
        ValueError: `image_size` is below the smallest entry, or not divisible by
            2 ** len(widths) (each conv halves the image).
    """
    table = table or load_template()["widths_by_image_size"]
    sizes = sorted(int(s) for s in table)
    fitting = [s for s in sizes if s <= image_size]
    if not fitting:
        raise ValueError(f"image size {image_size} is below the smallest the recipe template serves ({sizes[0]})")
    widths = list(table[str(fitting[-1])])
    factor = 2 ** len(widths)
    if image_size % factor:
        raise ValueError(f"image size {image_size} with {len(widths)} stride-2 convolutions {widths} must be "
                         f"divisible by {factor}; try {image_size - image_size % factor} or "
                         f"{image_size + factor - image_size % factor}")
    return widths


def folder_recipe(path: str, image_size: int, channels: int | None = None, variant: str | None = None,
                  latent_dim: int | None = None, epochs: int | None = None, widths=None,
                  hidden_dim: int | None = None, name: str | None = None, held_out_fraction: float | None = None,
                  seed: int = 0, command: str | None = None) -> dict:
    """A recipe that trains on a folder of images; None keeps the template's choice.

    Args:
        path: the folder (see `zoo.data.ImageFolder` for labels and the held-out split).
        image_size: S: images are scaled and centre-cropped to S x S.
        channels: 1 or 3 (default: the majority of the files).
        variant: a registered model name (default: the template's, "vae").
        latent_dim, hidden_dim, epochs: override the template.
        widths: conv widths (default: the template's entry for `image_size`).
        name: the preset's name (default: the folder's name).
        held_out_fraction: the fraction of files held out as the "test" split.
        seed: seed of the held-out draw and of training.
        command: the command line that built it, recorded in the card.
    Raises:
        zoo.data.DataSourceError: no images, or unreadable ones.
        ValueError: an image size the widths cannot divide.
    """
    from zoo.data.folders import DEFAULT_HELD_OUT_FRACTION, ImageFolder

    recipe = load_template()
    table = recipe.pop("widths_by_image_size")
    widths = list(widths) if widths else widths_for(image_size, table)
    folder = ImageFolder(path, image_size, channels,
                         DEFAULT_HELD_OUT_FRACTION if held_out_fraction is None else held_out_fraction, seed)
    name = name or os.path.basename(folder.path) or "folder"
    recipe.update(name=name, dataset="folder", data_source=folder.source,
                  variant=variant or recipe["variant"],
                  description=f"{variant or recipe['variant']} on the {folder.source['num_images']} images of "
                              f"{folder.path} ({image_size}x{image_size}, {folder.channels} channel"
                              f"{'s' if folder.channels > 1 else ''}, {folder.held_out_fraction:.0%} held out)")
    recipe["model"].update(widths=widths, **{k: v for k, v in (("latent_dim", latent_dim), ("hidden_dim", hidden_dim))
                                            if v is not None})
    recipe["training"]["seed"] = int(seed)
    if epochs is not None:
        recipe["training"]["epochs"] = int(epochs)
    if command:
        recipe["command"] = command
    return recipe
