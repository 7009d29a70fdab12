"""Training: `zoo train` (a preset from its recipe) and `zoo train-judge`."""

from __future__ import annotations

import json
import os

from zoo.cli.arguments import UsageError, nonnegative_int, positive_int

# --progress choice -> Keras' `verbose` for fit().
PROGRESS = {"bar": 1, "epoch": 2, "none": 0}


def run_train(args) -> int:
    """Trains a recipe (resumably) and writes the preset."""
    from zoo.training import load_recipe, train

    recipe = load_recipe(args.config or args.preset)
    out = args.out or os.path.join("runs", recipe["name"])
    train(recipe, out, work_dir=args.work_dir, epochs=args.epochs, take=args.take, verbose=PROGRESS[args.progress])
    print(f"preset written to {os.path.abspath(out)}")
    return 0


def add_train(subparsers):
    p = subparsers.add_parser(
        "train", help="train a preset from its recipe (resumable)",
        description="Trains the model of a recipe (zoo/recipes/NAME.json, or your own JSON file) on its dataset "
                    "and writes a preset: weights, config and model card. Checkpoints and TensorBoard logs go to "
                    "--work-dir; rerunning the same command after a crash resumes from the last checkpoint.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", help="recipe name, e.g. vae_mnist (see `zoo list`)")
    source.add_argument("--config", help="path to a recipe JSON file")
    p.add_argument("--out", help="preset directory to write (default: runs/<recipe name>)")
    p.add_argument("--work-dir", help="checkpoints and logs (default: <out>.work); reuse it to resume")
    p.add_argument("--epochs", type=positive_int, help="override the recipe's number of epochs")
    p.add_argument("--take", type=positive_int, help="train on the first N training examples only")
    p.add_argument("--progress", choices=tuple(PROGRESS), default="bar",
                   help="bar: Keras' per-step progress bar with ETA; epoch: one line per epoch (for log files); "
                        "none: silent")
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
    p.add_argument("--epochs", type=positive_int, default=8, help="training epochs")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the initialization and shuffling")
    p.add_argument("--take", type=positive_int, help="train on the first N training images only")
    p.add_argument("--out", help="judge directory to write (default: ~/.zoo/judges/<dataset>, or $ZOO_HOME/judges)")
    p.add_argument("--force", action="store_true",
                   help="allow writing the shipped judge (saved_models/judges/<dataset>, where it goes without "
                        "--out); for maintainers")
    return p


COMMANDS = {"train": (add_train, run_train), "train-judge": (add_train_judge, run_train_judge)}
