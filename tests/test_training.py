"""zoo.training: a recipe's jit_compile setting, resolved for the machine it runs on."""

import glob
import json
import os

import pytest
import tensorflow as tf

from zoo.training import RECIPES_DIR, resolve_jit_compile


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


def test_recipes_follow_the_committed_xla_measurement():
    """Each recipe's jit_compile is what benchmarks/xla_choice.md's measurement gives it."""
    table = os.path.join(os.path.dirname(RECIPES_DIR), os.pardir, "benchmarks", "xla_choice.md")
    with open(table) as f:
        rows = [line.strip("|\n").split("|") for line in f if line.startswith("| `")]
    assert rows
    for cells in rows:
        name, setting = cells[0].strip().strip("`"), json.loads(cells[-1].strip().strip("`"))
        with open(os.path.join(RECIPES_DIR, f"{name}.json")) as f:
            assert json.load(f)["training"].get("jit_compile", False) == setting, name

