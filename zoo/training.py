"""Training from a recipe: the committed, reproducible path to every preset.

A recipe (``zoo/recipes/<preset>.json``, or any JSON file of the same form) names the
variant, dataset, preprocessing, model configuration and optimization settings.
`train` runs it with checkpoints (`keras.callbacks.BackupAndRestore`, so a killed
run resumes where it stopped when started again with the same work directory) and
writes the preset directory with its model card.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import keras
import tensorflow as tf

from zoo import data
from zoo.models import get_model_class
from zoo.presets import save_preset

RECIPES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recipes")


def list_recipes() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(RECIPES_DIR) if f.endswith(".json"))


def load_recipe(name_or_file: str) -> dict:
    """A recipe by preset name or JSON path."""
    path = name_or_file if name_or_file.endswith(".json") else os.path.join(RECIPES_DIR, name_or_file + ".json")
    if not os.path.isfile(path):
        import difflib

        close = difflib.get_close_matches(name_or_file, list_recipes(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"no recipe {name_or_file!r}; known: {', '.join(list_recipes())}.{hint}")
    with open(path) as f:
        return json.load(f)


def build_model(recipe: dict):
    spec = data.get_spec(recipe["dataset"])
    cls = get_model_class(recipe["variant"])
    config = dict(recipe["model"])
    if cls.conditional:
        config.setdefault("num_classes", spec.num_classes)
    return cls(image_shape=spec.image_shape, name=recipe["name"], **config)


def machine_description() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}, TF {tf.__version__}, Keras {keras.__version__}"


def train(
    recipe: dict,
    out_dir: str,
    work_dir: str | None = None,
    epochs: int | None = None,
    take: int | None = None,
    verbose: int = 2,
    extra_callbacks=(),
):
    """Trains the recipe's model and writes a preset to `out_dir`.

    Args:
        recipe: a dict from `load_recipe`.
        out_dir: where the preset directory is written.
        work_dir: checkpoints and logs (default: `<out_dir>.work`); rerunning with the
            same work_dir resumes an interrupted run.
        epochs: override the recipe's epoch count (quick runs).
        take: train on the first `take` examples only (quick runs).
    Returns:
        (model, history dict)
    """
    t = recipe["training"]
    epochs = int(epochs or t["epochs"])
    seed = int(t.get("seed", 0))
    work_dir = work_dir or out_dir.rstrip("/") + ".work"
    os.makedirs(work_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    if t.get("deterministic"):
        tf.config.experimental.enable_op_determinism()

    batch_size = int(t["batch_size"])
    train_ds = data.load(recipe["dataset"], "train", batch_size, recipe["preprocessing"], seed=seed,
                         with_labels=True, take=take)
    # dSprites has no test split (its metrics are not held-out likelihoods): no validation then.
    test_ds = None
    if "test" in data.get_spec(recipe["dataset"]).split_sizes:
        test_ds = data.load(recipe["dataset"], "test", 500, recipe["preprocessing"], seed=seed, with_labels=True,
                            take=None if take is None else max(500, take // 6))
    steps = epochs * int(train_ds.cardinality().numpy())
    schedule = keras.optimizers.schedules.CosineDecay(
        float(t["learning_rate"]), decay_steps=max(1, steps), alpha=float(t.get("final_learning_rate_fraction", 0.0)))

    model = build_model(recipe)
    model.compile(optimizer=keras.optimizers.Adam(schedule), jit_compile=bool(t.get("jit_compile", False)))
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(work_dir, "backup"), delete_checkpoint=False),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(os.path.join(work_dir, "history.csv"), append=True),
        *extra_callbacks,
    ]
    start = time.time()
    history = model.fit(train_ds, validation_data=test_ds, epochs=epochs, callbacks=callbacks, verbose=verbose)
    wall = time.time() - start

    final = {k: float(v[-1]) for k, v in history.history.items()} if history.history else {}
    card = {
        "name": recipe["name"],
        "description": recipe.get("description", ""),
        "dataset": recipe["dataset"],
        "preprocessing": recipe["preprocessing"],
        "image_shape": list(model.image_shape),
        "likelihood": model.likelihood.get_config(),
        "prior": model.prior_config,
        "latent_dim": model.latent_dim,
        "recipe": recipe,
        "training_command": f"zoo train --preset {recipe['name']}" + (f" --epochs {epochs}" if epochs != t["epochs"] else ""),
        "seed": seed,
        "epochs": epochs,
        "train_examples": int(take or data.get_spec(recipe["dataset"]).split_sizes["train"]),
        "wall_time_seconds_last_run": round(wall, 1),
        "machine": machine_description(),
        "final_epoch_metrics": final,
        "metrics": {},
        "zoo_version": sys.modules["zoo"].__version__,
    }
    save_preset(model, out_dir, card)
    return model, history.history
