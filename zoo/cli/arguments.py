"""Argument types of the CLI: each checks one value while the command line is parsed,
so a bad value exits with status 2 and a message naming it before any model or
dataset loads. Nothing here imports TensorFlow or numpy.
"""

from __future__ import annotations

import argparse
import os

from zoo.io import did_you_mean


class UsageError(Exception):
    """A usage problem only visible once several arguments are read together.

    Raised by a command before it does any work; `zoo.cli.main` reports it like an
    argparse error (the command's usage line, the message, exit status 2).
    """


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1 (a count of images, samples, epochs...)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (an index, a seed)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


# `--label all`: every class, one row each.
ALL_CLASSES = "all"


def class_label(text: str) -> int | str:
    """A class index (>= 0) or "all"."""
    if text.strip().lower() == ALL_CLASSES:
        return ALL_CLASSES
    try:
        return nonnegative_int(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e} (a class index), or 'all'") from None


def at_least(minimum: int):
    """An integer type accepting `minimum` and above (e.g. a grid needs two points per axis)."""

    def parse(text: str) -> int:
        value = _integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in its own messages
    return parse


def fraction(text: str) -> float:
    """A fraction in [0, 1): a false-positive rate, a held-out share."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {value:g}")
    return value


def dims(text: str) -> list[int]:
    """Comma-separated latent dimensions, each >= 0, no repeats: "0,3,5"."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one latent dimension")
    if min(values) < 0:
        raise argparse.ArgumentTypeError(f"latent dimensions are 0 or more, got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"each latent dimension once, got {text!r}")
    return values


def dim_pair(text: str) -> list[int]:
    """Exactly two different latent dimensions: "0,1"."""
    values = dims(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected two latent dimensions, got {text!r}")
    return values


def value_range(text: str) -> tuple[float, float, int]:
    """LOW,HIGH,COUNT of evenly spaced values, COUNT >= 2."""
    parts = text.split(",")
    try:
        lo, hi, count = float(parts[0]), float(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH,COUNT (e.g. -3,3,9), got {text!r}") from None
    if len(parts) != 3 or count < 2:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH,COUNT with COUNT >= 2, got {text!r}")
    return lo, hi, count


def choices_list(names):
    """A type for comma-separated names out of `names`; an unknown one is named, with a
    suggestion of the closest known names."""

    def parse(text: str) -> list[str]:
        chosen = [s.strip() for s in text.split(",") if s.strip()]
        if not chosen:
            raise argparse.ArgumentTypeError(f"expected one or more of {', '.join(names)}")
        for name in chosen:
            if name not in names:
                raise argparse.ArgumentTypeError(
                    f"unknown name {name!r}.{did_you_mean(name, names)} Known: {', '.join(names)}")
        return chosen

    parse.__name__ = "list of names"
    return parse


def suffix(*extensions: str):
    """A file path ending in one of `extensions` (case-insensitive), e.g. ".png", ".gif"."""

    def parse(text: str) -> str:
        if not text.lower().endswith(extensions):
            raise argparse.ArgumentTypeError(f"must end in {' or '.join(extensions)}, got {text!r}")
        return text

    parse.__name__ = "file name"
    return parse


def image_input(text: str) -> str:
    """An existing .npy file or folder (of PNGs)."""
    if os.path.isdir(text):
        return text
    if not text.lower().endswith(".npy"):
        raise argparse.ArgumentTypeError(f"expected a .npy file or a directory of PNGs, got {text!r}")
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no such file {text!r}")
    return text


def folder(text: str) -> str:
    """An existing directory (of images)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no such folder {text!r}")
    return text


def widths_list(text: str) -> list[int]:
    """Comma-separated positive conv widths: "32,64"."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected one or more positive widths, got {text!r}")
    return values


def chunk_shape(text: str):
    """--chunks: "auto", or IMAGESxSAMPLES per call of the likelihood evaluator, e.g. 100x100."""
    if text == "auto":
        return text
    images, sep, samples = text.partition("x")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected auto or IMAGESxSAMPLES, e.g. 100x100, got {text!r}")
    return positive_int(images), positive_int(samples)


def add_preset_argument(parser) -> None:
    """The positional preset every model command takes."""
    parser.add_argument("name", help="preset name or directory")
