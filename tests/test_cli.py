"""The `zoo` command line, run in-process through `zoo.cli.main` on a tiny preset
trained here: the pictures it writes (size, labels, not blank, GIF frames), anomaly
scoring (Fashion-MNIST against a model of MNIST), argument checks before any work,
quiet logs, help texts, and the exit codes."""

import argparse
import json
import os
import subprocess
import sys
import time

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


def grid_part(img, rows, cols):
    """The grid of a labelled picture (its bottom-right corner, `plots.MARGIN` from the
    edges), after checking that words were written above or left of it."""
    from zoo import plots

    width, height = grid_size(rows, cols)
    assert img.width > width and img.height > height, "no room for a title or labels"
    right, bottom = img.width - plots.MARGIN, img.height - plots.MARGIN
    words = np.asarray(img.convert("L"))[:bottom - height]
    assert words.min() < 100, "no dark text above the grid"
    return img.crop((right - width, bottom - height, right, bottom))


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
        cells = grid_part(img, 4, 16)
        check_picture(cells, grid_size(4, 16))
        array = np.asarray(cells)
    # The cells after the 4th in the last two rows are padding: white.
    assert np.all(array[3 * CELL * SCALE:, 4 * CELL * SCALE:] == 255)

    out = tmp_path / "i.png"
    assert main(["interpolate", PRESET, "--out", str(out), "--steps", "6", "--index-a", "3", "--index-b", "7"]) == 0
    with Image.open(out) as img:
        check_picture(grid_part(img, 1, 6 + 2), grid_size(1, 6 + 2))

    out = tmp_path / "t.png"
    assert main(["traverse", PRESET, "--out", str(out), "--dims", "0,1,2", "--values=-3,3,5"]) == 0
    with Image.open(out) as img:
        check_picture(grid_part(img, 3, 5), grid_size(3, 5))
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
            check_picture(grid_part(img, 2, 1), grid_size(2, 1))
            frames.append(np.asarray(img.convert("L"), dtype=np.float32))
    assert np.abs(frames[0] - frames[-1]).max() > 0  # the sweep changes the picture
    assert os.listdir(tmp_path) == ["t.gif"]


def test_demo_writes_four_pictures(tmp_path, capsys):
    assert main(["demo", PRESET, "--out-dir", str(tmp_path)]) == 0
    expected = {
        "samples": (8, 8),
        "reconstructions": (2, 16),
        "interpolation": (1, 12),
        "traversal": (SMALL["latent_dim"], 9),
    }
    assert sorted(os.listdir(tmp_path)) == sorted(f"{PRESET}_{name}.png" for name in expected)
    for name, (rows, cols) in expected.items():
        with Image.open(tmp_path / f"{PRESET}_{name}.png") as img:
            check_picture(grid_part(img, rows, cols), grid_size(rows, cols))
    assert "tiny" in capsys.readouterr().out


def test_sample_label_all_draws_one_row_per_class(preset_root, tmp_path, capsys):
    conditional = zoo.models.get_model_class("cvae")(**SMALL, num_classes=10)
    zoo.save_preset(conditional, str(preset_root / "cvae_tiny"),
                    {"dataset": "fashion_mnist", "preprocessing": "float", "description": "tiny"})
    out = tmp_path / "classes.png"
    assert main(["sample", "cvae_tiny", "--label", "all", "-n", "3", "--out", str(out)]) == 0
    with Image.open(out) as img:  # (an untrained model: grey cells, so only the geometry and the words)
        assert grid_part(img, 10, 3).size == grid_size(10, 3)
        from zoo import plots

        width, height = grid_size(10, 3)
        beside_rows = np.asarray(img.convert("L"))[img.height - plots.MARGIN - height:img.height - plots.MARGIN,
                                                   :img.width - plots.MARGIN - width]
        assert beside_rows.min() < 100, "no row names left of the grid"
    assert "10 classes x 3 samples" in capsys.readouterr().out
    # The rows are named after the card's dataset, without reading its images.
    from zoo.data.cards import class_names_for_card

    names = class_names_for_card(zoo.presets.read_metadata("cvae_tiny"), 10)
    assert names[0] == "T-shirt/top" and names[9] == "ankle boot"
    assert class_names_for_card({"dataset": "mnist"}, 10) == [str(d) for d in range(10)]
    assert class_names_for_card({"dataset": "folder", "data_source": {"labels": ["cats", "dogs"]}}, 2) == [
        "cats", "dogs"]
    assert class_names_for_card({"dataset": "dsprites"}, 3) == ["class 0", "class 1", "class 2"]
    # An unconditional model has no classes to draw.
    assert main(["sample", PRESET, "--label", "all", "--out", str(tmp_path / "x.png")]) == 1
    assert "not conditional" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


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
    assert [r["index"] for r in fashion["results"][:3]] == [0, 1, 2]  # ints, not strings
    assert f"flagged {fashion['num_flagged']} of 200" in out
    # The JSON says which score produced the numbers and how the threshold was fitted.
    assert fashion["score_method"] == "elbo" and fashion["score_method_is_default"]  # binary pixels
    assert "elbo score's threshold at fpr 0.05" in fashion["threshold_source"]

    # Another score on request; one that does not apply is a clear error.
    report = tmp_path / "complexity.json"
    assert main(["anomaly", PRESET, "--input", str(fashion_path), "--score", "complexity", "--json",
                 str(report)]) == 0
    assert json.loads(report.read_text())["score_method"] == "complexity"
    assert main(["anomaly", PRESET, "--input", str(fashion_path), "--score", "likelihood_ratio"]) == 1
    assert "does not apply" in capsys.readouterr().err

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
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(images / "small.png")
    assert main(["anomaly", PRESET, "--input", str(images), "--threshold", "1e9"]) == 1
    err = capsys.readouterr().err
    assert "2 of 4 images are not 28x28" in err and "big.png (30x32)" in err and "small.png (20x20)" in err


def test_anomaly_names_nan_values(tmp_path, capsys):
    images = np.full((3, 28, 28), 0.5, np.float32)
    images[1, 0, :2] = np.nan
    np.save(tmp_path / "nan.npy", images)
    assert main(["anomaly", PRESET, "--input", str(tmp_path / "nan.npy"), "--threshold", "1"]) == 1
    assert "2 NaN/Inf values" in capsys.readouterr().err


def test_exit_codes(tmp_path, capsys):
    assert main(["reconstruct", "no_such_preset", "--out", str(tmp_path / "a.png")]) == 1
    assert "unknown preset" in capsys.readouterr().err
    for argv in (["reconstruct", PRESET],  # --out missing
                 ["traverse", PRESET, "--out", "a.png", "--values", "1,2"],
                 ["traverse", PRESET, "--out", str(tmp_path / "a.jpg")],
                 ["anomaly", PRESET, "--input", "x.npy", "--threshold", "1", "--fpr", "0.1"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    assert main(["traverse", PRESET, "--out", str(tmp_path / "a.png"), "--dims", "99"]) == 1
    assert "--dims" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["eval", "-n", "-5"], "argument -n/--num-examples: must be a positive integer, got -5"),
    (["eval", "--num-examples", "-3"], "must be a positive integer, got -3"),
    (["eval", "--k", "0"], "argument --k: must be a positive integer, got 0"),
    (["eval", "--metrics", "likelihood,likelyhood"], "unknown name 'likelyhood'. Did you mean likelihood?"),
    (["anomaly", "--input", "{tmp}/x.npy", "--fpr", "2"], "argument --fpr: must lie in [0, 1), got 2"),
    (["anomaly", "--input", "{tmp}/missing.npy"], "no such file"),
    (["anomaly", "--input", "{tmp}/x.npy", "--k", "0"], "argument --k: must be a positive integer"),
    (["sample", "-n", "-1"], "argument -n: must be a positive integer, got -1"),
    (["sample", "--label", "cats"], "argument --label: expected an integer, got 'cats' (a class index), or 'all'"),
    (["reconstruct", "--out", "r.png", "-n", "-2"], "must be a positive integer, got -2"),
    (["interpolate", "--out", "i.png", "--steps", "1"], "argument --steps: must be at least 2, got 1"),
    (["manifold", "--out", "m.png", "--dims", "0"], "expected two latent dimensions"),
    (["manifold", "--out", "m.png", "-n", "1"], "must be at least 2"),
    (["traverse", "--out", "t.png", "--dims", "1,1"], "each latent dimension once"),
    (["latents", "--out", "l.png", "-n", "0"], "must be a positive integer"),
])
def test_usage_errors_exit_2_before_any_work(argv, message, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28), np.float32))
    # An unknown preset: had the command started its work, it would fail with 1 ("unknown preset").
    argv = [argv[0], "no_such_preset", *(a.replace("{tmp}", str(tmp_path)) for a in argv[1:])]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"zoo {argv[0]}: error: " in err and message in err, err
    assert "unknown preset" not in err


def test_section_names_match_the_report():
    from zoo.cli.commands.evaluation import SECTION_NAMES
    from zoo.evaluate.report import SECTIONS

    assert list(SECTION_NAMES) == list(SECTIONS)


def test_score_names_match_the_anomaly_module():
    from zoo.cli.commands.evaluation import SCORE_NAMES
    from zoo.evaluate.anomaly import SCORES

    assert list(SCORE_NAMES) == list(SCORES)


def test_eval_honours_num_examples_and_records_the_command(tmp_path, capsys):
    out = tmp_path / "new" / "folder" / "m.json"
    assert main(["eval", PRESET, "--metrics", "latents", "-n", "60", "--seed", "1", "--out", str(out)]) == 0
    latents = json.loads(out.read_text())["latents"]
    assert latents["num_examples"] == 60
    assert latents["command"] == f"zoo eval {PRESET} --metrics latents --num-examples 60 --seed 1"
    assert json.loads(capsys.readouterr().out) == json.loads(out.read_text())


def test_every_command_and_argument_has_help(capsys):
    from zoo.cli import build_parser

    parser = build_parser()
    assert set(parser.commands) == {"list", "info", "data", "train", "train-judge", "eval", "anomaly", "sample",
                                    "demo", "export", "reconstruct", "interpolate", "traverse", "manifold",
                                    "latents", "compress", "decompress"}
    for name, command in parser.commands.items():
        assert command.description, f"{name} has no description"
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help and action.help.strip(), f"{name} {action.dest} has no help"
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
    shown = {}
    for name in ("reconstruct", "interpolate", "eval"):
        with pytest.raises(SystemExit):
            main([name, "--help"])
        shown[name] = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "first N) (default: 16)" in shown["reconstruct"]
    assert "endpoints included (default: 10)" in shown["interpolate"]
    assert "for the NLL (default: 5000)" in shown["eval"]


def _python(code_or_args, **kwargs):
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, **kwargs)
    return out, time.perf_counter() - start


def test_help_is_fast_and_imports_no_tensorflow():
    for args in (["-m", "zoo.cli", "--help"], ["-m", "zoo.cli", "eval", "--help"]):
        out, seconds = _python(args)
        assert out.returncode == 0 and "usage: zoo" in out.stdout
        assert seconds < 2, f"{args}: {seconds:.2f} s"  # ~0.3 s; TensorFlow alone takes several
    script = ("import sys\nfrom zoo.cli import main\n"
              "for argv in (['--help'], ['eval', '--help'], ['eval', 'x', '-n', '-5']):\n"
              "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
              "print(sorted(m for m in ('tensorflow', 'keras', 'tensorflow_probability', 'numpy')\n"
              "             if m in sys.modules))")
    out, _ = _python(["-c", script])
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_data_answers_without_tensorflow():
    # Where the files are is a question of folders: no TensorFlow, no wait.
    script = ("import sys\nfrom zoo.cli import main\nmain(['data'])\n"
              "print('tensorflow' in sys.modules)")
    out, seconds = _python(["-c", script])
    assert out.returncode == 0 and "mnist" in out.stdout, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert seconds < 5, f"zoo data took {seconds:.2f} s"


def test_tensorflow_logs_are_hidden_unless_verbose(tmp_path):
    def stderr(*flags):
        out, _ = _python(["-m", "zoo.cli", *flags, "sample", PRESET, "-n", "4", "--out", str(tmp_path / "s.png")])
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stderr

    quiet = stderr()
    assert "oneDNN" not in quiet and "cuInit" not in quiet and "absl::InitializeLog" not in quiet, quiet
    assert "oneDNN" in stderr("--verbose")  # the lines exist, so the quiet run did hide them


def test_the_native_log_filter_keeps_everything_else():
    from zoo.cli.logs import _forward

    text = (b"I0000 00:00:1796.60 6152 port.cc:153] oneDNN custom operations are on.\n"
            b"  scoring: 1/2\r  scoring: 2/2\n"
            b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            b"E0000 00:00:1796.28 6152 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n"
            b"zoo sample: error: something\nno newline at the end")
    source_r, source_w = os.pipe()
    target_r, target_w = os.pipe()
    os.write(source_w, text)
    os.close(source_w)
    _forward(source_r, target_w)
    os.close(target_w)
    expected = b"  scoring: 1/2\r  scoring: 2/2\nzoo sample: error: something\nno newline at the end"
    assert os.read(target_r, 65536) == expected


def test_train_judge_never_targets_the_shipped_judge_by_default(tmp_path, monkeypatch, capsys):
    from zoo.cli.arguments import UsageError
    from zoo.cli.commands.training import judge_target
    from zoo.evaluate.judges import judge_path

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    shipped = os.path.abspath(judge_path("mnist"))
    assert judge_target("mnist", None, force=False) == str(tmp_path / "home" / "judges" / "mnist")
    assert judge_target("mnist", str(tmp_path / "j"), force=False) == str(tmp_path / "j")
    assert judge_target("mnist", None, force=True) == shipped
    with pytest.raises(UsageError, match="--force"):
        judge_target("mnist", shipped, force=False)
    with pytest.raises(SystemExit) as e:  # refused before any training
        main(["train-judge", "mnist", "--out", shipped, "--epochs", "1", "--take", "64"])
    assert e.value.code == 2 and "add --force to replace it" in capsys.readouterr().err


def test_list_gives_binary_data_in_nats_and_8bit_data_in_bits_per_dim():
    from zoo.cli.commands.catalog import headline_metric
    from zoo.presets import read_metadata

    shipped = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
    assert headline_metric(read_metadata(os.path.join(shipped, "vae_dsprites"))) == "NLL 71.95 nats"
    assert headline_metric(read_metadata(os.path.join(shipped, "vae_mnist"))) == "NLL 83.97 nats"
    fashion = read_metadata(os.path.join(shipped, "vae_fashion_mnist"))
    assert headline_metric(fashion) == f"{fashion['metrics']['bits_per_dim']:.3f} bits/dim"
    assert headline_metric(read_metadata(os.path.join(shipped, "ae_mnist"))).startswith("reconstruction error")


def test_demo_defaults_to_the_mnist_preset_with_the_best_samples(monkeypatch):
    from zoo.cli.commands.pictures import best_sample_preset

    shipped = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
    monkeypatch.setenv("ZOO_PRESETS_DIR", shipped)
    name, distances = best_sample_preset("mnist")
    assert name == "two_stage_vae_mnist"
    assert distances[name] < distances["vamp_mnist"] < distances["vae_mnist"]
    assert "cvae_mnist" not in distances  # conditional: given the class, not comparable


def test_traversal_rows_are_the_dims_with_the_highest_kl():
    from zoo.cli.commands.pictures import ranked_dims

    model = zoo.load(PRESET)
    kl = [0.1, 5.0, 0.2, 3.0, 0.0, 0.3, 0.05, 1.0]
    dims, labels, source = ranked_dims(model, {"metrics": {"latents": {"kl_per_dimension": kl}}}, 3)
    assert dims == [1, 3, 7] and labels[0] == "dim 1 (KL 5.00 nats)" and "model card" in source
    card = zoo.presets.read_metadata(PRESET)  # no KL in this card: measured on test images
    dims, labels, source = ranked_dims(model, card, 2)
    assert "measured on 200 test images" in source and len(dims) == 2 and dims[0] != dims[1]


def test_data_lists_where_each_dataset_is_or_how_to_add_it(tmp_path, monkeypatch, capsys):
    from zoo import data
    from zoo.data import DatasetSpec

    data.register_dataset(DatasetSpec(
        name="_nowhere", image_shape=(28, 28, 1), num_classes=10, split_sizes={"train": 5},
        idx_files={"train": ("a-images", "a-labels")}, dir_names=("nowhere",), install_hint="ask a friend"))
    monkeypatch.setenv(data.DATA_DIR_ENV, f"{tmp_path / 'empty'}{os.pathsep}{os.environ[data.DATA_DIR_ENV]}")
    try:
        assert main(["data"]) == 0
    finally:
        data.DATASETS.pop("_nowhere")
    lines = capsys.readouterr().out.splitlines()
    mnist = next(line for line in lines if line.startswith("mnist"))
    assert "found:" in mnist and "mnist" in mnist.split("found:")[1]
    at = lines.index(next(line for line in lines if line.startswith("_nowhere")))
    assert "not found" in lines[at] and str(tmp_path / "empty" / "nowhere") in "\n".join(lines[at:])
    assert "ask a friend" in "\n".join(lines[at:])


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
    assert "━" in capsys.readouterr().out  # Keras' per-step bar, the default --progress
    for run in ("train", "validation"):
        events = list((work / "tensorboard" / run).glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 0, run


def test_manifold_and_latent_projection_pngs(tmp_path, capsys):
    from zoo import plots

    out = tmp_path / "m.png"
    assert main(["manifold", PRESET, "--out", str(out), "-n", "7", "--dims", "2,5"]) == 0
    with Image.open(out) as img:
        check_picture(grid_part(img, 7, 7), grid_size(7, 7))
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
    assert main(["manifold", PRESET, "--out", str(tmp_path / "x.png"), "--dims", "0,99"]) == 1
    assert "latent dimensions in 0..7" in capsys.readouterr().err


def test_chunks_option_takes_auto_or_images_x_samples():
    import argparse

    from zoo.cli.arguments import chunk_shape

    assert chunk_shape("auto") == "auto" and chunk_shape("20x250") == (20, 250)
    for bad in ("20", "0x10", "ax3"):
        with pytest.raises(argparse.ArgumentTypeError):
            chunk_shape(bad)


def test_commands_turn_onednn_on_unless_the_user_chose():
    script = ("import os, sys\nfrom zoo.cli import main\nmain(['list'])\n"
              "import tensorflow as tf\nfrom tensorflow.python.util import _pywrap_util_port\n"
              "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), _pywrap_util_port.IsMklEnabled())")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    for given, expected in ((None, "1 True"), ("0", "0 False")):
        out, _ = _python(["-c", script], env={**env, **({"TF_ENABLE_ONEDNN_OPTS": given} if given else {})})
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == expected


def test_write_card_files_the_likelihood_it_replaces():
    from zoo.cli.commands.evaluation import keep_earlier_likelihood

    card = {"nll_nats": 83.97, "nll_k": 5000, "seconds": 5189.0, "command": "zoo eval m --metrics likelihood",
            "quick_check": {"nll_nats": 82.9}, "latents": {"active_units": 20}}
    new = {"nll_nats": 83.95, "nll_k": 5000, "seconds": 2000.0, "command": "zoo eval m --chunks 100x100",
           "images_per_call": 100, "quick_check": {"nll_nats": 82.9}}
    keep_earlier_likelihood(card, new)
    assert card["earlier_likelihood"] == {"nll_nats": 83.97, "nll_k": 5000, "seconds": 5189.0,
                                          "command": "zoo eval m --metrics likelihood"}
    card.update(new)
    assert card["nll_nats"] == 83.95 and card["latents"] == {"active_units": 20}
    other = {"latents": {"active_units": 21}}  # no new likelihood: nothing is filed
    keep_earlier_likelihood(card, other)
    assert card["earlier_likelihood"]["nll_nats"] == 83.97
