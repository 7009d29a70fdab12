"""The `zoo` command line, run in-process through `zoo.cli.main` on a tiny preset
trained here: the pictures it writes (size, not blank, GIF frames), anomaly scoring
(Fashion-MNIST against a model of MNIST), and the exit codes."""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.evaluate.anomaly import anomaly_scores, auroc, threshold_at_fpr

from conftest import SMALL

PRESET = "vae_tiny"
CELL = 28 + 1  # a 28-pixel image plus the 1-pixel separator of plots.grid
SCALE = 2  # plots.save_png's default


def grid_size(rows, cols):
    """(width, height) of a saved grid of 28x28 images."""
    return ((CELL * cols - 1) * SCALE, (CELL * rows - 1) * SCALE)


@pytest.fixture(scope="module")
def preset_root(tmp_path_factory, mnist_binary):
    keras.utils.set_random_seed(0)
    model = zoo.VAE(**SMALL)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(mnist_binary[0][:2048], batch_size=128, epochs=3, verbose=0)
    root = tmp_path_factory.mktemp("presets")
    zoo.save_preset(model, str(root / PRESET),
                    {"dataset": "mnist", "preprocessing": "dynamic_binarize", "description": "tiny"})
    return root


@pytest.fixture(autouse=True)
def _presets_dir(preset_root, monkeypatch):
    monkeypatch.setenv("ZOO_PRESETS_DIR", str(preset_root))


@pytest.fixture(scope="module")
def fashion_uint8():
    images, _ = zoo.data.load_numpy("fashion_mnist", "test", "float", take=200)
    return np.round(images * 255).astype(np.uint8)


def check_picture(img, size):
    """Exact size; not blank: the whole picture and its first cell vary."""
    assert img.size == size
    array = np.asarray(img.convert("L"), dtype=np.float32)
    first_cell = array[:28 * SCALE, :28 * SCALE]
    assert array.std() > 20 and first_cell.std() > 10, "the picture is (almost) blank"
    assert len(np.unique(first_cell)) > 1


def test_picture_commands_write_pngs_of_the_expected_geometry(tmp_path, capsys):
    out = tmp_path / "r.png"
    assert main(["reconstruct", PRESET, "--out", str(out), "-n", "20"]) == 0
    with Image.open(out) as img:  # rows of 16: originals, reconstructions, 4 originals, 4 reconstructions
        check_picture(img, grid_size(4, 16))
        array = np.asarray(img)
    # The cells after the 4th in the last two rows are padding: white.
    assert np.all(array[3 * CELL * SCALE:, 4 * CELL * SCALE:] == 255)

    out = tmp_path / "i.png"
    assert main(["interpolate", PRESET, "--out", str(out), "--steps", "6", "--index-a", "3", "--index-b", "7"]) == 0
    with Image.open(out) as img:
        check_picture(img, grid_size(1, 6 + 2))

    out = tmp_path / "t.png"
    assert main(["traverse", PRESET, "--out", str(out), "--dims", "0,1,2", "--values=-3,3,5"]) == 0
    with Image.open(out) as img:
        check_picture(img, grid_size(3, 5))
    assert "wrote" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["i.png", "r.png", "t.png"]  # no temp files left


def test_traverse_gif_has_one_frame_per_value(tmp_path):
    out = tmp_path / "t.gif"
    assert main(["traverse", PRESET, "--out", str(out), "--dims", "0,3", "--values=-3,3,7"]) == 0
    with Image.open(out) as img:
        assert img.format == "GIF" and img.n_frames == 7
        frames = []
        for i in range(7):
            img.seek(i)
            check_picture(img, grid_size(2, 1))
            frames.append(np.asarray(img.convert("L"), dtype=np.float32))
    assert np.abs(frames[0] - frames[-1]).max() > 0  # the sweep changes the picture
    assert os.listdir(tmp_path) == ["t.gif"]


def test_demo_writes_four_pictures(tmp_path, capsys):
    assert main(["demo", PRESET, "--out-dir", str(tmp_path)]) == 0
    expected = {
        "samples": grid_size(8, 8),
        "reconstructions": grid_size(2, 16),
        "interpolation": grid_size(1, 12),
        "traversal": grid_size(SMALL["latent_dim"], 9),
    }
    assert sorted(os.listdir(tmp_path)) == sorted(f"{PRESET}_{name}.png" for name in expected)
    for name, size in expected.items():
        with Image.open(tmp_path / f"{PRESET}_{name}.png") as img:
            check_picture(img, size)
    assert "tiny" in capsys.readouterr().out


def test_threshold_at_fpr_on_a_known_case():
    scores = np.random.default_rng(0).permutation(100).astype(float)
    threshold = threshold_at_fpr(scores, 0.05)
    assert threshold == 94 and np.sum(scores > threshold) == 5
    assert np.sum(scores > threshold_at_fpr(scores, 0.29)) == 29
    assert np.sum(scores > threshold_at_fpr(scores, 0.0)) == 0
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="fpr"):
            threshold_at_fpr(scores, bad)
    assert auroc([0, 1, 2], [3, 4]) == 1.0 and auroc([3, 4], [0, 1, 2]) == 0.0


def test_fashion_mnist_scores_higher_than_mnist(preset_root, mnist_binary, fashion_uint8):
    model = zoo.load(PRESET)
    mnist = mnist_binary[2][:300]
    fashion = zoo.data.preprocess(fashion_uint8, "dynamic_binarize")
    normal = anomaly_scores(model, mnist, method="elbo", batch_size=300)
    anomalous = anomaly_scores(model, fashion, method="elbo")
    np.testing.assert_allclose(normal, -model.elbo(mnist, seed=0), rtol=1e-5)
    assert auroc(normal, anomalous) > 0.8
    # The IWAE bound is tighter than the ELBO: lower scores on average.
    iwae = anomaly_scores(model, mnist[:100], method="iwae", k=8, batch_size=32)
    assert iwae.mean() < normal[:100].mean()

    ae = zoo.models.get_model_class("ae")(**SMALL)  # no ELBO: its reconstruction error
    np.testing.assert_allclose(anomaly_scores(ae, mnist[:10]), ae.reconstruction_error(mnist[:10]), rtol=1e-6)
    with pytest.raises(ValueError, match="no density"):
        anomaly_scores(ae, mnist[:10], k=4)


def test_anomaly_cli_flags_fashion_and_spares_mnist(tmp_path, capsys, fashion_uint8):
    fashion_path = tmp_path / "fashion.npy"
    np.save(fashion_path, fashion_uint8)
    report = tmp_path / "fashion.json"
    assert main(["anomaly", PRESET, "--input", str(fashion_path), "--fpr", "0.05", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    fashion = json.loads(report.read_text())
    assert fashion["num_images"] == 200 and len(fashion["results"]) == 200
    assert fashion["num_flagged"] >= 140, out  # most of them
    assert f"flagged {fashion['num_flagged']} of 200" in out

    # MNIST test images beyond the 1000 that fitted the threshold: few flagged (float input).
    mnist, _ = zoo.data.load_numpy("mnist", "test", "float", take=1200)
    np.save(tmp_path / "mnist.npy", mnist[1000:])
    report = tmp_path / "mnist.json"
    assert main(["anomaly", PRESET, "--input", str(tmp_path / "mnist.npy"),
                 "--threshold", str(fashion["threshold"]), "--json", str(report)]) == 0
    assert json.loads(report.read_text())["num_flagged"] <= 30  # ~10 expected at fpr 0.05


def test_anomaly_png_directory_and_wrong_size(tmp_path, capsys, fashion_uint8):
    images = tmp_path / "pngs"
    images.mkdir()
    Image.fromarray(fashion_uint8[0, ..., 0]).save(images / "grey.png")
    Image.fromarray(np.repeat(fashion_uint8[1], 3, axis=-1)).save(images / "rgb.png")
    assert main(["anomaly", PRESET, "--input", str(images), "--threshold", "1e9"]) == 0
    out = capsys.readouterr().out
    assert "grey.png" in out and "rgb.png" in out and "flagged 0 of 2" in out

    Image.fromarray(np.zeros((32, 30), np.uint8)).save(images / "big.png")
    assert main(["anomaly", PRESET, "--input", str(images), "--threshold", "1e9"]) == 1
    err = capsys.readouterr().err
    assert "big.png" in err and "30x32" in err


def test_exit_codes(tmp_path, capsys):
    assert main(["reconstruct", "no_such_preset", "--out", str(tmp_path / "a.png")]) == 1
    assert "unknown preset" in capsys.readouterr().err
    for argv in (["reconstruct", PRESET],  # --out missing
                 ["traverse", PRESET, "--out", "a.png", "--values", "1,2"],
                 ["anomaly", PRESET, "--input", "x.npy", "--threshold", "1", "--fpr", "0.1"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    assert main(["traverse", PRESET, "--out", str(tmp_path / "a.jpg")]) == 1
    assert main(["traverse", PRESET, "--out", str(tmp_path / "a.png"), "--dims", "99"]) == 1
    assert "--dims" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("command", ["reconstruct", "interpolate", "traverse", "anomaly", "demo", "manifold",
                                     "latents", "eval", "train", "train-judge", "sample", "export"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0 and len(capsys.readouterr().out) > 200


def test_train_writes_a_preset_checkpoints_and_tensorboard_logs(tmp_path, capsys):
    recipe = {"name": "tiny", "variant": "vae", "dataset": "mnist", "preprocessing": "dynamic_binarize",
              "model": SMALL, "training": {"epochs": 1, "batch_size": 64, "learning_rate": 1e-3}}
    (tmp_path / "r.json").write_text(json.dumps(recipe))
    work = tmp_path / "work"
    assert main(["train", "--config", str(tmp_path / "r.json"), "--take", "512", "--out", str(tmp_path / "out"),
                 "--work-dir", str(work)]) == 0
    assert zoo.load(str(tmp_path / "out")).latent_dim == SMALL["latent_dim"]
    assert (work / "backup" / "training_metadata.json").is_file()
    assert len((work / "history.csv").read_text().splitlines()) == 2  # header + one epoch
    for run in ("train", "validation"):
        events = list((work / "tensorboard" / run).glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 0, run


def test_manifold_and_latent_projection_pngs(tmp_path, capsys):
    from zoo import plots

    out = tmp_path / "m.png"
    assert main(["manifold", PRESET, "--out", str(out), "-n", "7", "--dims", "2,5"]) == 0
    with Image.open(out) as img:
        check_picture(img, grid_size(7, 7))
    # Only the two chosen coordinates vary across the grid: row 0 is dims[1] at its highest quantile.
    model = zoo.load(PRESET)
    cells = plots.manifold(model, 3, dims=(2, 5))
    z = np.zeros((1, model.latent_dim), np.float32)
    z[0, 2], z[0, 5] = -1.6448536, 1.6448536  # the 5% and 95% normal quantiles
    np.testing.assert_allclose(cells[0], model.decode_mean(z).numpy()[0], atol=1e-5)

    out = tmp_path / "p.png"
    assert main(["latents", PRESET, "--out", str(out), "-n", "500"]) == 0
    with Image.open(out) as img:
        assert img.width > 300 and img.height > 300
        assert np.asarray(img.convert("L"), dtype=np.float32).std() > 5
    assert main(["manifold", PRESET, "--out", str(tmp_path / "x.png"), "--dims", "0"]) == 1
    assert "two latent dimensions" in capsys.readouterr().err
