"""The bad-input matrix, for the cells other test files do not cover.

Already covered elsewhere (not repeated): VAE encode/reconstruct/elbo with bad images
and the trace-time check (tests/models/test_vae.py), preset checksum / missing files /
unregistered class / close names through the API (tests/test_presets.py), missing or
damaged dataset sources through the API (tests/data/test_sources.py), bad export
requests (tests/test_export.py). Here: iwae_bound, the CVAE, labels, sample(n),
decode's z, the CLI (exit code 1 and one clear line on stderr; 2 for a bad argument), and the SavedModel's
input spec.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import data
from zoo.cli import main
from zoo.data import DatasetSpec
from zoo.models import CVAE
from zoo.validation import InputError

from conftest import SMALL

BAD_IMAGES = [
    pytest.param(np.zeros((2, 28, 28), "float32"), r"rank 4 .*add a batch dimension", id="rank3"),
    pytest.param(np.zeros((2, 32, 32, 1), "float32"), "spatial size 28x28, got 32x32", id="spatial"),
    pytest.param(np.zeros((2, 28, 28, 3), "float32"), "1 channel", id="channels"),
    pytest.param(np.zeros((2, 28, 28, 1), "uint8"), r"dtype uint8 \(divide uint8 images by 255\)", id="uint8"),
    pytest.param(np.zeros((2, 28, 28, 1), "int64"), "dtype int64", id="int64"),
    pytest.param(np.full((2, 28, 28, 1), -0.5, "float32"), r"\[0, 1\], got range \[-0.5", id="negative"),
    pytest.param(np.full((2, 28, 28, 1), np.inf, "float32"), "NaN/Inf", id="inf"),
    pytest.param(np.full((2, 28, 28, 1), np.nan, "float32"), "1568 NaN/Inf", id="nan"),
    pytest.param(np.zeros((0, 28, 28, 1), "float32"), "empty", id="empty"),
]
LABELS2 = np.array([1, 2])


@pytest.fixture(scope="module")
def models():
    return {"vae": zoo.VAE(**SMALL), "cvae": CVAE(**SMALL, num_classes=10)}


def _call(model, method, x, y=None):
    kwargs = {"k": 2} if method == "iwae_bound" else {}
    return getattr(model, method)(x, y, **kwargs)


@pytest.mark.parametrize("bad, message", BAD_IMAGES)
@pytest.mark.parametrize("kind, method", [("vae", "iwae_bound"), ("cvae", "encode"), ("cvae", "reconstruct"),
                                          ("cvae", "elbo"), ("cvae", "iwae_bound")])
def test_bad_images(models, kind, method, bad, message):
    y = None if kind == "vae" else np.zeros(len(bad), "int64")
    with pytest.raises(InputError, match=message):
        _call(models[kind], method, bad, y)


@pytest.mark.parametrize("labels, message", [
    pytest.param(np.array([1, 10]), r"class indices must lie in \[0, 10\), got range \[1, 10\]", id="too_large"),
    pytest.param(np.array([-1, 0]), r"must lie in \[0, 10\)", id="negative"),
    pytest.param(np.array([1, 2, 3]), "3 labels for a batch of 2 images", id="count"),
    pytest.param(np.array([1.0, 2.0]), "expected integer class indices", id="float_indices"),
    pytest.param(np.zeros((2, 7), "float32"), r"one-hot floats \[B, 10\]", id="onehot_width"),
    pytest.param(None, "this model is conditional", id="missing"),
])
@pytest.mark.parametrize("method", ["encode", "reconstruct", "elbo", "iwae_bound", "decode"])
def test_bad_labels(models, method, labels, message):
    x = np.zeros((2, 28, 28, 1), "float32") if method != "decode" else np.zeros((2, SMALL["latent_dim"]), "float32")
    with pytest.raises(InputError, match=message):
        _call(models["cvae"], method, x, labels)


@pytest.mark.parametrize("kind, n, labels, message", [
    ("vae", 0, None, "n must be a positive number of samples, got 0"),
    ("vae", -3, None, "got -3"),
    ("cvae", 0, 1, "n must be a positive number of samples, got 0"),
    ("cvae", 3, [1, 2], "2 labels for n=3 samples"),
    ("cvae", 2, [0, 10], r"must lie in \[0, 10\)"),
    ("cvae", 2, None, "trained without label dropout; pass labels"),
])
def test_bad_sample_requests(models, kind, n, labels, message):
    with pytest.raises(ValueError, match=message):
        models[kind].sample(n, seed=0, labels=labels)


@pytest.mark.parametrize("z, message", [
    pytest.param(np.full((2, SMALL["latent_dim"]), np.nan, "float32"), "z: contains 16 NaN/Inf", id="nan"),
    pytest.param(np.array([[np.inf] + [0.0] * (SMALL["latent_dim"] - 1)], "float32"), "1 NaN/Inf", id="inf"),
    pytest.param(np.zeros((0, SMALL["latent_dim"]), "float32"), "z: the batch is empty", id="empty"),
    pytest.param(np.zeros((SMALL["latent_dim"],), "float32"), r"\[batch, 8\], got \(8,\)", id="rank1"),
])
@pytest.mark.parametrize("kind", ["vae", "cvae"])
@pytest.mark.parametrize("method", ["decode", "decode_mean"])
def test_bad_latents(models, kind, method, z, message):
    y = None if kind == "vae" else np.zeros(len(z) if z.ndim == 2 else 1, "int64")
    with pytest.raises(InputError, match=message):
        getattr(models[kind], method)(z, y)


# ---------------------------------------------------------------------- the CLI


@pytest.fixture()
def preset_dir(tmp_path, monkeypatch, models):
    monkeypatch.setenv("ZOO_PRESETS_DIR", str(tmp_path / "presets"))
    meta = {"dataset": "mnist", "preprocessing": "dynamic_binarize"}
    zoo.save_preset(models["vae"], str(tmp_path / "presets" / "vae_tiny"), meta)
    zoo.save_preset(models["cvae"], str(tmp_path / "presets" / "cvae_tiny"), meta)
    return tmp_path / "presets"


def _cli_error(capsys, argv):
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert err.startswith(f"zoo {argv[0]}: error: ") and "Traceback" not in err
    return err


def _damage(path, how):
    if how == "flip_byte":
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif how == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    elif how == "wrong_sha":
        card = json.loads((path.parent / "metadata.json").read_text())
        card["weights_sha256"] = "0" * 64
        (path.parent / "metadata.json").write_text(json.dumps(card))


@pytest.mark.parametrize("command", ["info", "sample", "export"])
def test_cli_unknown_preset_suggests_close_names(preset_dir, capsys, tmp_path, command):
    err = _cli_error(capsys, [command, "vae_tinny", *(["--out", str(tmp_path / "o")] if command != "info" else [])])
    assert "unknown preset 'vae_tinny'" in err and "Did you mean vae_tiny" in err


@pytest.mark.parametrize("how", ["flip_byte", "truncate", "wrong_sha"])
def test_cli_refuses_damaged_weights(preset_dir, capsys, tmp_path, how):
    _damage(preset_dir / "vae_tiny" / "model.weights.h5", how)
    err = _cli_error(capsys, ["sample", "vae_tiny", "--out", str(tmp_path / "s.png")])
    assert "does not match the model card" in err and "corrupt or truncated" in err
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("missing", ["config.json", "metadata.json", "model.weights.h5"])
def test_cli_names_a_missing_preset_file(preset_dir, capsys, tmp_path, missing):
    os.remove(preset_dir / "vae_tiny" / missing)
    err = _cli_error(capsys, ["sample", str(preset_dir / "vae_tiny"), "--out", str(tmp_path / "s.png")])
    assert missing in err


@pytest.mark.parametrize("argv, message", [
    (["sample", "cvae_tiny", "--label", "10"], r"class indices must lie in [0, 10)"),
    (["sample", "cvae_tiny"], "pass labels"),
])
def test_cli_bad_sample_arguments(preset_dir, capsys, tmp_path, argv, message):
    err = _cli_error(capsys, [*argv, "--out", str(tmp_path / "s.png")])
    assert message in err


def test_cli_sample_count_is_a_usage_error(preset_dir, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["sample", "vae_tiny", "-n", "0", "--out", str(tmp_path / "s.png")])
    assert e.value.code == 2 and "argument -n: must be a positive integer, got 0" in capsys.readouterr().err


def _recipe(tmp_path, **changes):
    recipe = {"name": "tiny", "variant": "vae", "dataset": "mnist", "preprocessing": "dynamic_binarize",
              "model": SMALL, "training": {"epochs": 1, "batch_size": 32, "learning_rate": 1e-3}}
    recipe.update(changes)
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    return str(path)


def test_cli_train_unknown_recipe_suggests_close_names(capsys, tmp_path):
    err = _cli_error(capsys, ["train", "--preset", "vae_mnsit", "--out", str(tmp_path / "o")])
    assert "no recipe 'vae_mnsit'" in err and "Did you mean vae_mnist" in err


def test_cli_train_unknown_variant(capsys, tmp_path):
    err = _cli_error(capsys, ["train", "--config", _recipe(tmp_path, variant="vea"), "--out", str(tmp_path / "o")])
    assert "unknown model variant 'vea'" in err and "vae" in err


def test_cli_train_with_a_missing_dataset_source_says_where_it_looked(capsys, tmp_path, monkeypatch):
    data.register_dataset(DatasetSpec(
        name="_nowhere", image_shape=(28, 28, 1), num_classes=10, split_sizes={"train": 5},
        idx_files={"train": ("a-images", "a-labels")}, dir_names=("nowhere",), install_hint="ask a friend"))
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "empty"))
    try:
        err = _cli_error(capsys, ["train", "--config", _recipe(tmp_path, dataset="_nowhere"),
                                  "--out", str(tmp_path / "o"), "--work-dir", str(tmp_path / "w")])
    finally:
        data.DATASETS.pop("_nowhere")
    assert str(tmp_path / "empty") in err and "ask a friend" in err
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------- the SavedModel


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, models):
    from zoo import export

    path = str(tmp_path_factory.mktemp("sm") / "vae")
    export.export_saved_model(models["vae"], path, signatures=["reconstruct", "decode"])
    return tf.saved_model.load(path)


@pytest.mark.parametrize("signature, bad", [
    pytest.param("reconstruct", np.zeros((2, 32, 32, 1), "float32"), id="spatial"),
    pytest.param("reconstruct", np.zeros((2, 28, 28, 3), "float32"), id="channels"),
    pytest.param("reconstruct", np.zeros((2, 28, 28), "float32"), id="rank"),
    pytest.param("reconstruct", np.zeros((2, 28, 28, 1), "uint8"), id="uint8"),
    pytest.param("decode", np.zeros((2, SMALL["latent_dim"] + 1), "float32"), id="latent_dim"),
])
def test_saved_model_signature_rejects_wrong_inputs(saved_model, signature, bad):
    fn = saved_model.signatures[signature]
    name = next(iter(fn.structured_input_signature[1]))
    good = np.zeros((2, 28, 28, 1) if signature == "reconstruct" else (2, SMALL["latent_dim"]), "float32")
    assert all(np.all(np.isfinite(v.numpy())) for v in fn(**{name: tf.constant(good)}).values())
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        fn(**{name: tf.constant(bad)})
