"""Training: `zoo train` (a preset from its recipe) and `zoo train-judge`."""

from __future__ import annotations

import json
import os

from zoo.cli.arguments import UsageError, at_least, folder, fraction, nonnegative_int, positive_int, widths_list
from zoo.cluster import STRATEGIES, is_chief_task, resolve_strategy

# --progress choice -> Keras' `verbose` for fit().
PROGRESS = {"bar": 1, "epoch": 2, "none": 0}
# `zoo train --data` without --image-size.
DEFAULT_IMAGE_SIZE = 32


# Options that only make sense with --data (a recipe file states them itself).
FOLDER_OPTIONS = ("image_size", "channels", "variant", "latent_dim", "widths", "hidden_dim", "held_out", "name")


def run_train(args) -> int:
    """Trains a recipe, or a model on a folder of images (resumably), and writes the preset."""
    given = [f"--{o.replace('_', '-')}" for o in FOLDER_OPTIONS if getattr(args, o) is not None]
    if args.data is None and given:
        raise UsageError(f"{', '.join(given)} only apply with --data DIR (a recipe states its own)")
    if args.data is not None:
        return _train_folder(args)
    from zoo.training import load_recipe, train

    recipe = load_recipe(args.config or args.preset)
    out = args.out or os.path.join("runs", recipe["name"])
    train(recipe, out, work_dir=args.work_dir, epochs=args.epochs, take=args.take, verbose=PROGRESS[args.progress],
          strategy=args.strategy)
    _report(out, args.strategy)
    return 0


def _train_folder(args) -> int:
    """`zoo train --data DIR`: checks the options, builds the folder recipe, trains it."""
    from zoo.folder_training import folder_recipe, widths_for
    from zoo.io import did_you_mean
    from zoo.registry import registered_models

    image_size = args.image_size or DEFAULT_IMAGE_SIZE
    variants = sorted(registered_models())
    if args.variant is not None and args.variant not in variants:
        raise UsageError(f"--variant {args.variant}: unknown model.{did_you_mean(args.variant, variants)} "
                         f"Known: {', '.join(variants)}")
    try:
        widths = args.widths or widths_for(image_size)
    except ValueError as e:
        raise UsageError(f"--image-size: {e}") from None
    if image_size % 2 ** len(widths):
        raise UsageError(f"--image-size {image_size} must be divisible by 2 ** len(--widths) = {2 ** len(widths)}")
    from zoo.training import train

    recipe = folder_recipe(args.data, image_size, channels=args.channels, variant=args.variant,
                           latent_dim=args.latent_dim, epochs=args.epochs, widths=widths, hidden_dim=args.hidden_dim,
                           name=args.name, held_out_fraction=args.held_out,
                           command=_folder_command(args))
    out = args.out or os.path.join("runs", recipe["name"])
    source = recipe["data_source"]
    print(f"{source['path']}: {source['num_images']} images at {image_size}x{image_size}x{source['channels']}, "
          f"labels {source['labels'] or 'none'}, {source['held_out_fraction']:.0%} held out (seed {source['seed']})")
    train(recipe, out, work_dir=args.work_dir, take=args.take, verbose=PROGRESS[args.progress],
          strategy=args.strategy)
    _report(out, args.strategy)
    return 0


def _report(out: str, strategy: str) -> None:
    """Says where the preset went: only the chief of a multi-worker run writes one."""
    if resolve_strategy(strategy) == "multi_worker" and not is_chief_task():
        print(f"worker done; the chief wrote the preset (to its {out})")
    else:
        print(f"preset written to {os.path.abspath(out)}")


def _folder_command(args) -> str:
    """The `zoo train --data` command line that reproduces this training, for the card."""
    import shlex

    words = ["zoo", "train", "--data", os.path.abspath(args.data)]
    for option in ("image_size", "channels", "variant", "latent_dim", "widths", "hidden_dim", "held_out", "name",
                   "epochs", "take"):
        value = getattr(args, option)
        if value is not None:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            words += [f"--{option.replace('_', '-')}", text]
    return shlex.join(words)


def add_train(subparsers):
    p = subparsers.add_parser(
        "train", help="train a preset from its recipe, or on a folder of your images (resumable)",
        description="Trains the model of a recipe (zoo/recipes/NAME.json, or your own JSON file) on its dataset, "
                    "or a model on your own folder of PNG/JPEG images (--data; sub-folders are classes), and "
                    "writes a preset: weights, config and model card. Checkpoints and TensorBoard logs go to "
                    "--work-dir; rerunning the same command after a crash resumes from the last checkpoint.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", help="recipe name, e.g. vae_mnist (see `zoo list`)")
    source.add_argument("--config", help="path to a recipe JSON file")
    source.add_argument("--data", type=folder, metavar="DIR",
                        help="a folder of PNG/JPEG images (searched recursively; two or more sub-folders are "
                             "classes); its held-out part is the preset's test split")
    p.add_argument("--out", help="preset directory to write (default: runs/<recipe name>)")
    p.add_argument("--work-dir", help="checkpoints and logs (default: <out>.work); reuse it to resume")
    p.add_argument("--epochs", type=positive_int, help="override the recipe's number of epochs")
    p.add_argument("--take", type=positive_int, help="train on the first N training examples only")
    p.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="auto (default): multi_worker when TF_CONFIG names more than one worker, else one_device; "
                        "mirrored: every local GPU; multi_worker: one process per host, each started with its own "
                        "TF_CONFIG (the same cluster, its own task index); the chief (index 0) writes the preset "
                        "and backups, and the recipe's batch size is the global batch")
    p.add_argument("--progress", choices=tuple(PROGRESS), default="bar",
                   help="bar: Keras' per-step progress bar with ETA; epoch: one line per epoch (for log files); "
                        "none: silent")
    data = p.add_argument_group("with --data", "the recipe zoo/recipes/templates/folder.json, changed by:")
    data.add_argument("--image-size", type=at_least(8), metavar="S",
                      help=f"scale the shorter side to S and crop the centre S x S (default: {DEFAULT_IMAGE_SIZE})")
    data.add_argument("--channels", type=int, choices=(1, 3),
                      help="1 grey or 3 RGB (default: the majority of the files; the others are converted)")
    data.add_argument("--variant", help="model variant (default: vae; see the README's model table)")
    data.add_argument("--latent-dim", type=positive_int, help="latent dimensions (default: the template's)")
    data.add_argument("--widths", type=widths_list,
                      help="conv widths, e.g. 32,64 (default: the template's entry for the image size)")
    data.add_argument("--hidden-dim", type=positive_int, help="dense layer width (default: the template's)")
    data.add_argument("--held-out", type=fraction, metavar="FRACTION",
                      help="fraction of the files held out as the test split, by a seeded draw (default: 0.1)")
    data.add_argument("--name", help="the preset's name (default: the folder's name)")
    return p


def judge_target(dataset: str, out: str | None, force: bool) -> str:
    """Where `zoo train-judge` writes: --out, else the user's judges folder; never the judge
    that `zoo eval` reads (the shipped one, saved_models/judges/<dataset>) unless `force`.

    Args:
        dataset: the dataset the judge classifies.
        out: the folder given with --out, or None.
        force: allow writing the shipped judge (for maintainers).
    Raises:
        UsageError: `out` is the shipped judge and `force` is not given.
    """
    from zoo.evaluate.judges import judge_path, user_judge_path

    shipped = os.path.abspath(judge_path(dataset))
    if force and out is None:
        return shipped
    target = os.path.abspath(os.path.expanduser(out)) if out else user_judge_path(dataset)
    if target == shipped and not force:
        raise UsageError(f"--out {out} is the judge `zoo eval` uses; add --force to replace it")
    return target


def run_train_judge(args) -> int:
    """Trains a dataset's judge classifier and says where it went and how to use it."""
    target = judge_target(args.dataset, args.out, args.force)
    from zoo.evaluate.judges import judge_path, judges_dir, train_judge

    card = train_judge(args.dataset, epochs=args.epochs, seed=args.seed, take=args.take, directory=target)
    print(json.dumps(card, indent=2))
    print(f"judge written to {target}")
    if target != os.path.abspath(judge_path(args.dataset)):
        print(f"`zoo eval` uses the judges in {judges_dir()}; to use this one: "
              f"ZOO_JUDGES_DIR={os.path.dirname(target)} zoo eval ...")
    return 0


def add_train_judge(subparsers):
    p = subparsers.add_parser(
        "train-judge", help="train the classifier that judges a dataset's samples",
        description="Trains the small CNN whose features measure sample quality (Fréchet distance, "
                    "precision/recall) and whose predictions check conditional samples, on the dataset's real "
                    "training images only. It is written to ~/.zoo/judges/<dataset> (or --out), never over the "
                    "shipped judge in saved_models/judges/ unless --force is given.")
    p.add_argument("dataset", help="dataset name, e.g. mnist, fashion_mnist, dsprites (see `zoo data`)")
    p.add_argument("--epochs", type=positive_int,
                   help="training epochs (default: the dataset's judge schedule, 8 for grey images, 15 for colour)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the initialization and shuffling")
    p.add_argument("--take", type=positive_int, help="train on the first N training images only")
    p.add_argument("--out", help="judge directory to write (default: ~/.zoo/judges/<dataset>, or $ZOO_HOME/judges)")
    p.add_argument("--force", action="store_true",
                   help="allow writing the shipped judge (saved_models/judges/<dataset>, where it goes without "
                        "--out); for maintainers")
    return p


COMMANDS = {"train": (add_train, run_train), "train-judge": (add_train_judge, run_train_judge)}
