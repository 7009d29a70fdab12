"""`.keras` files that would run code are refused with safe_mode=True (zoo models
themselves load with it: tests/models/test_registered_models.py; presets naming non-zoo
classes: tests/test_presets.py)."""

import json
import zipfile

import keras
import numpy as np
import pytest


def test_a_lambda_layer_is_refused(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: t * 2)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ValueError, match="(?i)lambda.*unsafe|safe_mode"):
        keras.models.load_model(path, safe_mode=True)
    # Without safe_mode it would load (the refusal is about safety, not a broken file).
    assert keras.models.load_model(path, safe_mode=False)(np.ones((1, 2))).numpy().tolist() == [[2.0, 2.0]]


def test_an_unregistered_class_is_refused(tmp_path):
    path = tmp_path / "evil.keras"
    config = {"module": "os", "class_name": "system", "config": {"command": f"touch {tmp_path}/ran"},
              "registered_name": "system"}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
    with pytest.raises((TypeError, ValueError)):
        keras.models.load_model(path, safe_mode=True)
    assert not (tmp_path / "ran").exists()
