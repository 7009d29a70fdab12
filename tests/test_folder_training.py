"""`zoo train --data DIR`: a preset trained on a folder of real images, then used by the CLI."""

import json
import math
import os

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.folder_training import widths_for

TINY = ["--widths", "8,16", "--hidden-dim", "32", "--latent-dim", "4"]


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    """200 real MNIST test digits as PNGs, 100 sevens and 100 threes in two class folders."""
    root = tmp_path_factory.mktemp("digits")
    x, y = zoo.data.load_arrays("mnist", "test")
    for name, digit in (("sevens", 7), ("threes", 3)):
        os.makedirs(root / name)
        for i, index in enumerate(np.flatnonzero(y == digit)[:100]):
            Image.fromarray(x[index, ..., 0]).save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def folder_preset(digit_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("presets") / "digits"
    assert main(["train", "--data", str(digit_folder), "--image-size", "28", "--epochs", "1", "--progress", "none",
                 "--out", str(out), *TINY]) == 0
    return str(out)


def test_the_card_records_the_folder_and_its_split(folder_preset, digit_folder):
    card = zoo.presets.read_metadata(folder_preset)
    assert card["dataset"] == "folder" and card["preprocessing"] == "float"
    assert card["likelihood"]["name"] == "discretized_logistic_mixture"
    assert card["data_source"] == {"path": str(digit_folder), "image_size": 28, "channels": 1,
                                   "labels": ["sevens", "threes"], "held_out_fraction": 0.1, "seed": 0,
                                   "num_images": 200}
    assert card["train_examples"] == 180 and card["training_command"].startswith(f"zoo train --data {digit_folder}")


def test_the_cli_commands_accept_a_folder_preset(folder_preset, digit_folder, tmp_path, capsys):
    assert main(["reconstruct", folder_preset, "--out", str(tmp_path / "r.png"), "-n", "8"]) == 0
    assert main(["reconstruct", folder_preset, "--out", str(tmp_path / "r2.png"), "-n", "4",
                 "--input", str(digit_folder / "threes")]) == 0
    assert main(["interpolate", folder_preset, "--out", str(tmp_path / "i.png"), "--steps", "4"]) == 0
    assert main(["anomaly", folder_preset, "--input", str(digit_folder / "sevens"), "--reference-examples", "20",
                 "--json", str(tmp_path / "a.json")]) == 0
    assert json.loads((tmp_path / "a.json").read_text())["num_images"] == 100
    capsys.readouterr()
    assert main(["eval", folder_preset, "--metrics", "likelihood", "--k", "5", "-n", "20"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_examples"] == 20 and "test split (20 images)" in metrics["protocol"]
    assert {p.name for p in tmp_path.iterdir()} == {"r.png", "r2.png", "i.png", "a.json"}


def test_bits_per_dim_are_the_per_pixel_probabilities_summed(folder_preset):
    from zoo.evaluate.likelihood import evaluate_likelihood

    model = zoo.load(folder_preset)
    card = zoo.presets.read_metadata(folder_preset)
    x, _ = zoo.data.load_numpy_for_card(card, "test", take=4)
    raw = model.decoder_params(model.encode(x).mean())
    params = {k: np.asarray(v, np.float64) for k, v in model.likelihood.parameters(raw).items()}
    # Each pixel's probability by hand: a mixture of logistics integrated over the level's bin.
    sigmoid = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731
    level = np.round(x[..., None] * 255.0) / 255.0  # [B, H, W, 1, 1] against [B, H, W, 1, K]
    upper = np.where(level > 254.5 / 255, 1.0, sigmoid((level + 0.5 / 255 - params["locs"]) / params["scales"]))
    lower = np.where(level < 0.5 / 255, 0.0, sigmoid((level - 0.5 / 255 - params["locs"]) / params["scales"]))
    weights = np.exp(params["logits"]) / np.exp(params["logits"]).sum(-1, keepdims=True)
    per_pixel = np.sum(weights[..., None, :] * (upper - lower), axis=-1)  # [B, H, W, 1]
    assert np.all((per_pixel > 0) & (per_pixel <= 1))
    by_hand = np.log(per_pixel).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(model.likelihood.distribution(raw).log_prob(x).numpy(), by_hand, rtol=1e-4)

    result = evaluate_likelihood(model, x, k=3, seed=0)
    assert result["bits_per_dim"] == pytest.approx(result["nll_nats"] / (28 * 28 * math.log(2)))  # no 8-bit offset


@pytest.mark.parametrize("argv, message", [
    (["--preset", "vae_mnist", "--image-size", "32"], "--image-size only apply with --data"),
    (["--data", "{dir}", "--variant", "vea"], "unknown model. Did you mean vae"),
    (["--data", "{dir}", "--image-size", "30"], "must be divisible by 4"),
    (["--data", "{dir}", "--channels", "2"], "invalid choice: 2"),
    (["--data", "{dir}/missing"], "no such folder"),
])
def test_bad_folder_training_options_exit_2_before_any_work(argv, message, tmp_path, capsys):
    argv = ["train", *(a.replace("{dir}", str(tmp_path)) for a in argv), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err, err
    assert not os.path.exists(tmp_path / "out")


def test_widths_come_from_the_template_table():
    assert widths_for(28) == [32, 64] and widths_for(32) == [64, 128, 128] and widths_for(48) == [64, 128, 128]
    with pytest.raises(ValueError, match="below the smallest"):
        widths_for(8)
