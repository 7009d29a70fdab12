"""Training from a recipe: the committed, reproducible path to every preset.

A recipe (``zoo/recipes/<preset>.json``, or any JSON file of the same form) names the
variant, dataset, preprocessing, model configuration and optimization settings.
`train` runs it with checkpoints (`zoo.callbacks.ResumableBackup`, so a killed
run resumes where it stopped when started again with the same work directory) and
writes the preset directory with its model card.

Resuming is exact: with a fixed seed and op determinism, a run killed at any step
and restarted ends with the same weights, bit for bit, as an uninterrupted run.
Three things make it so. (1) The backup holds the weights, the optimizer (slots
and step count, hence the learning rate and KL warm-up) and the model's
seed-generator state (its sampling noise). (2) The training data are a pure
function of (seed, epoch, batch): epoch e's order is a stateless shuffle seeded by
(seed, e), and batch b's binarization/dequantization noise is seeded by
(seed, e, b). A `tf.data` shuffle with `reshuffle_each_iteration` would instead
depend on how many epochs this *process* has iterated, which restarts at 0 after
a kill. (3) The backup records how many batches of the current epoch are done, and
the resumed run skips exactly those (Keras' own BackupAndRestore restarts the
interrupted epoch from its first batch, training those batches twice).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from zoo import data, distributed
from zoo.callbacks import NaNGuard, ResumableBackup
from zoo.cluster import resolve_strategy, usable_cores
from zoo.data.pipelines import preprocess_batch
from zoo.io import did_you_mean
from zoo.optimizers import FusedAdam
from zoo.presets import load as load_preset
from zoo.presets import save_preset
from zoo.registry import get_model_class

RECIPES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recipes")


def list_recipes() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(RECIPES_DIR) if f.endswith(".json"))


def load_recipe(name_or_file: str) -> dict:
    """A recipe by preset name or JSON path."""
    path = name_or_file if name_or_file.endswith(".json") else os.path.join(RECIPES_DIR, name_or_file + ".json")
    if not os.path.isfile(path):
        raise ValueError(f"no recipe {name_or_file!r}; known: {', '.join(list_recipes())}."
                         f"{did_you_mean(name_or_file, list_recipes())}")
    with open(path) as f:
        return json.load(f)


def build_model(recipe: dict):
    spec = data.spec_for_card(recipe)
    cls = get_model_class(recipe["variant"])
    config = dict(recipe["model"])
    if cls.conditional:
        config.setdefault("num_classes", spec.num_classes)
    return cls(image_shape=spec.image_shape, name=recipe["name"], **config)


def has_accelerator() -> bool:
    """Whether TensorFlow sees a GPU or TPU (without starting its runtime)."""
    return any(tf.config.list_physical_devices(kind) for kind in ("GPU", "TPU"))


def resolve_jit_compile(setting) -> bool:
    """A recipe's `training.jit_compile` as Keras' `jit_compile` flag.

    `"auto"` is XLA only where TensorFlow sees a GPU or TPU: on a CPU with oneDNN's
    kernels, most recipes trained slower with XLA (`benchmarks/xla_choice.md`).

    Raises:
        ValueError: the setting is not true, false or "auto".
    """
    if not (isinstance(setting, bool) or setting == "auto"):
        raise ValueError(f'training.jit_compile must be true, false or "auto", got {setting!r}')
    if setting == "auto":
        return has_accelerator()
    return setting


def resolve_batch_slices(setting, recipe: dict, jit_compile: bool, strategy_name: str) -> int:
    """A recipe's `training.batch_slices` as the count `LatentVariableModel.compile` takes.

    `"auto"` (the default) is one slice per usable CPU core where slices can run side by
    side: no GPU or TPU, no XLA (which runs a step's ops one after another and would be
    left one thread), one device, and a loss that is a mean of per-example losses
    (`loss_is_per_example`); 1 otherwise. A recipe whose slices measured slower says 1
    (`benchmarks/batch_slices.md`).

    Raises:
        ValueError: the setting is not a positive int or "auto".
    """
    if setting != "auto" and (isinstance(setting, bool) or not isinstance(setting, int) or setting < 1):
        raise ValueError(f'training.batch_slices must be a positive int or "auto", got {setting!r}')
    if setting != "auto":
        return setting
    per_example = get_model_class(recipe["variant"]).loss_is_per_example(recipe["model"])
    if has_accelerator() or jit_compile or strategy_name != "one_device" or not per_example:
        return 1
    return usable_cores()


def use_one_thread_per_op(slices: int) -> int:
    """Sets TensorFlow's threads for `slices` batch slices side by side: one intra-op
    thread per op, one inter-op thread per slice. Returns the slices to use: `slices`,
    or 1 when TensorFlow already started with other threads (settings fixed at start),
    since slices on ops that each spread over every core measured no faster.
    """
    if slices == 1:
        return 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(slices)
    except RuntimeError:  # the runtime started with other threads
        return 1
    return slices


def indexed_batches(num_examples: int, gather, batch_size: int, preprocessing: str, seed: int,
                    first_epoch: int, end_epoch: int, skip_batches: int = 0) -> tf.data.Dataset:
    """The (images, labels) batches of epochs [first_epoch, end_epoch), as one dataset.

    Every batch is a pure function of (seed, epoch, batch index), never of how many
    epochs were iterated before in this process, so a resumed run sees the batches
    an uninterrupted run would.

    Args:
        num_examples: the training examples are indices 0..num_examples-1.
        gather: maps an int64 index tensor [B] to (uint8 images [B,H,W,C], labels [B])
            inside the graph (a gather from arrays, or decoding files as they stream).
        batch_size, preprocessing, seed: as in the recipe.
        first_epoch, end_epoch: the epochs to yield.
        skip_batches: drops the first batches of `first_epoch` (already trained
            before an interruption).
    """
    per_epoch = math.ceil(num_examples / batch_size)
    base = tf.constant([seed, 0], tf.int64)

    def one_epoch(epoch):
        epoch_seed = tf.random.experimental.stateless_fold_in(base, epoch)
        order = tf.random.experimental.stateless_shuffle(tf.range(num_examples, dtype=tf.int64), seed=epoch_seed)
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return tf.data.Dataset.zip(batches, tf.data.Dataset.range(per_epoch)).map(
            lambda index, b: (index, tf.random.experimental.stateless_fold_in(epoch_seed, b)))

    def load_batch(index, batch_seed):
        images, labels = gather(index)
        return preprocess_batch(images, batch_seed, preprocessing), labels

    ds = tf.data.Dataset.range(first_epoch, end_epoch).flat_map(one_epoch).skip(skip_batches)
    return ds.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def machine_description() -> str:
    """The machine and library versions a model card records its training ran on."""
    description = (f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}, TF {tf.__version__}, "
                   f"Keras {keras.__version__}")
    # oneDNN kernels are ~1.3x faster here but change float rounding: the card says which ran.
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return description + (f", TF_ENABLE_ONEDNN_OPTS={onednn}" if onednn is not None else "")


def warm_start(model, training: dict, images, seed: int):
    """Applies a recipe's optional warm start, before any checkpoint is restored.

    `training["init_from"]`: a preset whose encoder and decoder weights are copied
    in (same architecture required), so a new prior or objective starts from a
    trained model instead of from scratch. `training["pseudo_inputs_from_data"]`:
    a VampPrior's pseudo-inputs start as random training images (Tomczak & Welling's
    data initialization) rather than noise.

    `images` are the uint8 training images: an array, or any sequence indexed by an
    index array (an image folder's, decoded when indexed).
    """
    source_name = training.get("init_from")
    if source_name:
        source = load_preset(source_name)
        for part in ("encoder", "decoder"):
            ours, theirs = getattr(model, part), getattr(source, part)
            shapes = [tuple(w.shape) for w in ours.weights], [tuple(w.shape) for w in theirs.weights]
            if shapes[0] != shapes[1]:
                raise ValueError(f"init_from={source_name!r}: its {part} has weight shapes {shapes[1]}, "
                                 f"this model's are {shapes[0]}")
            ours.set_weights(theirs.get_weights())
        del source
    if training.get("pseudo_inputs_from_data"):
        if not hasattr(model.prior, "initialize_from"):
            raise ValueError(f"pseudo_inputs_from_data: the prior {type(model.prior).__name__} has no pseudo-inputs")
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(images), size=model.prior.num_components, replace=False)
        # grey levels in [0, 1]: the images' intensities, not one binarization of them
        model.prior.initialize_from(images[np.sort(chosen)].astype("float32") / 255.0)


def train(
    recipe: dict,
    out_dir: str,
    work_dir: str | None = None,
    epochs: int | None = None,
    take: int | None = None,
    verbose: int = 2,
    extra_callbacks=(),
    strategy: str = "one_device",
):
    """Trains the recipe's model and writes a preset to `out_dir`.

    Args:
        recipe: a dict from `load_recipe`.
        out_dir: where the preset directory is written.
        work_dir: checkpoints and logs (default: `<out_dir>.work`); rerunning with the
            same work_dir resumes an interrupted run.
        epochs: override the recipe's epoch count (quick runs).
        take: train on the first `take` examples only (quick runs).
        strategy: one of `zoo.cluster.STRATEGIES`. Under "multi_worker" (one process
            per worker, each with its `TF_CONFIG`) only the chief writes the work
            directory and the preset; the batch size is the global batch.

    Where the recipe's `batch_slices` comes to more than 1 (`resolve_batch_slices`) and
    TensorFlow has not started yet, this sets its threads for the rest of the process:
    one per op, one inter-op thread per slice (`use_one_thread_per_op`). A resumed run
    repeats an uninterrupted one when both cut batches into the same slices.
    Returns:
        (model, history dict)
    """
    strategy_name = resolve_strategy(strategy)
    # First: a multi-worker strategy must be created before TensorFlow runs any op.
    replicas = distributed.create_strategy(strategy_name)
    work_dir = work_dir or out_dir.rstrip("/") + ".work"
    with distributed.worker_work_dir(replicas, work_dir) as own_work_dir:
        model, history, card = _train(recipe, own_work_dir, epochs, take, verbose, extra_callbacks, replicas,
                                      strategy_name)
    if distributed.is_chief(replicas):
        save_preset(model, out_dir, card)
    return model, history


def _train(recipe, work_dir, epochs, take, verbose, extra_callbacks, strategy, strategy_name):
    """`train` in `work_dir` under `strategy` (named `strategy_name`); returns (model, history, card)."""
    t = recipe["training"]
    jit_setting = resolve_jit_compile(t.get("jit_compile", False))  # a bad value stops here, before any work
    multi_worker = distributed.is_multi_worker(strategy)
    # XLA cannot compile the cross-worker gradient reduction inside our loop's step.
    jit_compile = jit_setting and not multi_worker
    # Before TensorFlow's runtime starts (below), which fixes its threads.
    batch_slices = use_one_thread_per_op(resolve_batch_slices(t.get("batch_slices", "auto"), recipe, jit_compile,
                                                              strategy_name))
    epochs = int(epochs or t["epochs"])
    seed = int(t.get("seed", 0))
    os.makedirs(work_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    if t.get("deterministic"):
        tf.config.experimental.enable_op_determinism()

    batch_size = int(t["batch_size"])
    source = data.dataset_for(recipe)
    spec = source.spec
    num_examples, gather = source.gather("train")
    if take is not None:
        num_examples = min(num_examples, take)  # the first `take`: indices below it
    per_epoch = math.ceil(num_examples / batch_size)
    distributed.check_batches_divide(num_examples, batch_size, strategy.num_replicas_in_sync)
    # dSprites has no test split (its metrics are not held-out likelihoods): no validation then.
    test_ds = None
    if "test" in spec.split_sizes:
        test_ds = source.load("test", batch_size=500, preprocessing=recipe["preprocessing"], seed=seed,
                              with_labels=True, take=None if take is None else max(500, take // 6))
    steps = epochs * per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        float(t["learning_rate"]), decay_steps=max(1, steps), alpha=float(t.get("final_learning_rate_fraction", 0.0)))

    def compiled_model(warm=False):
        """A new compiled model of the recipe, warm-started if `warm`."""
        model = build_model(recipe)
        if warm:
            warm_start(model, t, source.images("train")[:num_examples] if t.get("pseudo_inputs_from_data") else None,
                       seed)
        model.compile(optimizer=FusedAdam(schedule), jit_compile=jit_compile, batch_slices=batch_slices)
        return model

    with strategy.scope():
        model = compiled_model(warm=True)
    # A backup every `checkpoint_every_steps` optimizer steps (and at each epoch end):
    # a kill loses at most that many steps.
    backup = ResumableBackup(os.path.join(work_dir, "backup"), save_freq=int(t.get("checkpoint_every_steps", 200)))
    callbacks = [
        NaNGuard(),  # first: a broken step must stop training before it is backed up
        backup,
        keras.callbacks.CSVLogger(os.path.join(work_dir, "history.csv"), append=True),
        # Per-epoch scalars for `tensorboard --logdir <work_dir>/tensorboard` (event files
        # are written by TensorFlow itself; the tensorboard package is only for viewing).
        keras.callbacks.TensorBoard(os.path.join(work_dir, "tensorboard"), write_graph=False),
        *extra_callbacks,
    ]
    if multi_worker:
        start_epoch, start_batch = distributed.restore_from_chief(strategy, model, backup, compiled_model)
    else:
        with strategy.scope():
            start_epoch, start_batch = backup.restore(model)
    if start_epoch > 0 or start_batch > 0:
        print(f"resuming from {backup.backup_dir}: epoch {start_epoch + 1}, batch {start_batch}", file=sys.stderr)

    def batches(first, end, skip=0):
        return indexed_batches(num_examples, gather, batch_size, recipe["preprocessing"], seed, first, end, skip)

    start = time.time()
    history = {}

    def run(first, end, skip, steps_per_epoch):
        fitted = model.fit(batches(first, end, skip), validation_data=test_ds, initial_epoch=first, epochs=end,
                           steps_per_epoch=steps_per_epoch, shuffle=False, callbacks=callbacks, verbose=verbose)
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(values)

    with source.reading():  # a file that fails to decode mid-stream is named
        if multi_worker:  # Keras' fit cannot run this strategy
            history = distributed.fit_in_loop(model, strategy, batches, start_epoch, epochs, start_batch, callbacks,
                                              backup, validation_data=test_ds, verbose=verbose)
        else:
            if start_batch > 0 and start_epoch < epochs:
                # The rest of the interrupted epoch: a fit of its own, since Keras runs the
                # same number of steps in every epoch of one fit.
                backup.batch_offset = start_batch
                run(start_epoch, start_epoch + 1, start_batch, per_epoch - start_batch)
                backup.batch_offset = 0
                start_epoch += 1
            if start_epoch < epochs:
                run(start_epoch, epochs, 0, per_epoch)
    wall = time.time() - start

    final = {k: float(v[-1]) for k, v in history.items()} if history else {}
    card = {
        "name": recipe["name"],
        "description": recipe.get("description", ""),
        "dataset": recipe["dataset"],
        **({"data_source": recipe["data_source"]} if "data_source" in recipe else {}),
        "preprocessing": recipe["preprocessing"],
        "image_shape": list(model.image_shape),
        "likelihood": model.likelihood.get_config(),
        "prior": model.prior_config,
        "latent_dim": model.latent_dim,
        "recipe": recipe,
        # A recipe built by `zoo train --data` records its own command.
        "training_command": recipe.get("command", f"zoo train --preset {recipe['name']}")
        + (f" --epochs {epochs}" if epochs != t["epochs"] else ""),
        "seed": seed,
        "epochs": epochs,
        "train_examples": num_examples,
        "wall_time_seconds_last_run": round(wall, 1),
        "machine": machine_description(),
        "strategy": strategy_name,
        "replicas": strategy.num_replicas_in_sync,
        "jit_compile": jit_compile,
        "batch_slices": batch_slices,
        "final_epoch_metrics": final,
        "metrics": {},
        "zoo_version": sys.modules["zoo"].__version__,
    }
    return model, history, card
