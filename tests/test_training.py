"""zoo.training: a recipe's jit_compile and batch_slices settings, resolved for the machine it runs on."""

import glob
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from zoo.cluster import usable_cores
from zoo.training import RECIPES_DIR, load_recipe, resolve_batch_slices, resolve_jit_compile, use_one_thread_per_op

ACCELERATED = bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))


def test_auto_is_xla_only_with_an_accelerator():
    accelerator = bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))
    assert resolve_jit_compile("auto") is accelerator
    assert resolve_jit_compile(True) is True and resolve_jit_compile(False) is False


@pytest.mark.parametrize("bad", ["yes", 1, None, "AUTO"])
def test_a_bad_setting_is_named(bad):
    with pytest.raises(ValueError, match="jit_compile must be true, false or \"auto\""):
        resolve_jit_compile(bad)


def test_every_recipe_has_a_valid_setting():
    paths = glob.glob(os.path.join(RECIPES_DIR, "*.json")) + glob.glob(os.path.join(RECIPES_DIR, "*", "*.json"))
    assert len(paths) > 10
    for path in paths:
        with open(path) as f:
            training = json.load(f).get("training", {})
        resolve_jit_compile(training.get("jit_compile", False))  # raises on a bad one


def _table_settings(table_name: str) -> dict:
    """{recipe: the setting in the last column} of a committed per-recipe benchmark table."""
    table = os.path.join(os.path.dirname(RECIPES_DIR), os.pardir, "benchmarks", table_name)
    with open(table) as f:
        rows = [line.strip("|\n").split("|") for line in f if line.startswith("| `")]
    assert rows, table
    return {cells[0].strip().strip("`"): json.loads(cells[-1].strip().strip("`")) for cells in rows}


def test_recipes_follow_the_committed_xla_measurement():
    """Each recipe's jit_compile is what benchmarks/xla_choice.md's measurement gives it."""
    for name, setting in _table_settings("xla_choice.md").items():
        assert load_recipe(name)["training"].get("jit_compile", False) == setting, name


def test_recipes_follow_the_committed_slices_measurement():
    """Each measured recipe's batch_slices is what benchmarks/batch_slices.md gives it (absent: "auto")."""
    for name, setting in _table_settings("batch_slices.md").items():
        assert load_recipe(name)["training"].get("batch_slices", "auto") == setting, name


def test_auto_slices_one_per_core_only_where_they_apply():
    vae, wae = load_recipe("vae_mnist"), load_recipe("wae_mnist")
    cores = 1 if ACCELERATED else usable_cores()
    assert resolve_batch_slices("auto", vae, False, "one_device") == cores
    assert resolve_batch_slices("auto", vae, True, "one_device") == 1  # XLA runs the step's ops one by one
    assert resolve_batch_slices("auto", vae, False, "mirrored") == 1
    assert resolve_batch_slices("auto", wae, False, "one_device") == 1  # its MMD reads the whole batch
    pixel_vae = load_recipe("pending/pixel_vae_mnist")
    assert resolve_batch_slices("auto", pixel_vae, False, "one_device") == 1  # free bits: a batch quantity
    assert resolve_batch_slices(3, wae, False, "one_device") == 3  # as given (compile refuses it for WAE)


@pytest.mark.parametrize("bad", [0, "all", 1.0, True, None])
def test_a_bad_slice_setting_is_named(bad):
    with pytest.raises(ValueError, match="batch_slices must be a positive int or \"auto\""):
        resolve_batch_slices(bad, load_recipe("vae_mnist"), False, "one_device")


def test_threads_already_fixed_mean_no_slices():
    tf.constant(1.0) + 1.0  # this process's TensorFlow has started with its default threads
    assert use_one_thread_per_op(1) == 1
    assert use_one_thread_per_op(2) == 1


def test_zoo_train_slices_each_batch_per_core_in_a_fresh_process(tmp_path):
    """The CLI sets TensorFlow's threads before it starts; the card records the slices."""
    out = tmp_path / "vae"
    proc = subprocess.run([sys.executable, "-m", "zoo.cli", "train", "--preset", "vae_mnist", "--epochs", "1",
                           "--take", "384", "--out", str(out), "--progress", "none"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((out / "metadata.json").read_text())
    assert card["batch_slices"] == (1 if ACCELERATED else usable_cores())
    assert card["jit_compile"] is ACCELERATED


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(RECIPES_DIR, "pending", "*.json"))),
                         ids=os.path.basename)
def test_every_pending_recipe_builds_and_scores_its_data(path):
    """A recipe waiting for its training builds its model, whose loss on two real images is finite."""
    import numpy as np

    from zoo import data
    from zoo.training import build_model

    recipe = load_recipe(path)
    model = build_model(recipe)
    x, _ = data.load_numpy(recipe["dataset"], "test", recipe["preprocessing"], take=2)
    terms = model.loss_terms(tf.constant(x), None, training=False)
    assert np.isfinite(terms["loss"].numpy()).all() and terms["loss"].shape == (2,)
