"""The tutorials run end to end in fast mode, and each notebook matches its script.

Every `tutorials/<name>.py` is a jupytext percent script paired with
`tutorials/<name>.ipynb`. Each script runs here as a user would run it
(`FAST=1 OUT_DIR=... python tutorials/<name>.py`, in a subprocess on real data),
must exit 0, print its measured numbers (finite), and write its pictures (PNG
files that are not blank). The notebooks must hold the same cells as the scripts,
so that neither drifts from the other: after editing a script, regenerate its
notebook with `jupytext --to ipynb tutorials/<name>.py`.
"""

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS_DIR = os.path.join(ROOT, "tutorials")

# name -> (pictures it writes to OUT_DIR, regexes that must match its output, each with
# one number group that must be finite).
NUMBER = r"(-?\d+(?:\.\d+)?)"
TUTORIALS = {
    "quickstart": (
        ["samples.png", "reconstructions.png", "interpolation.png", "traversal.png"],
        [rf"-ELBO\s+{NUMBER} nats", rf"-IWAE \(k=\s*50\)\s+{NUMBER} nats"],
    ),
    "ae_vs_vae": (
        ["reconstructions_compared.png", "samples_compared.png"],
        [rf"AE, z ~ N\(0, I\)\s+FD\s+{NUMBER}", rf"VAE, z ~ N\(0, I\)\s+FD\s+{NUMBER}",
         rf"real train digits \(floor\)\s+FD\s+{NUMBER}", rf"reconstruction AE {NUMBER}"],
    ),
    "fine_tuning": (
        ["finetune_reconstructions.png", "finetune_samples.png"],
        [rf"fine-tuned\s+{NUMBER}\s+-?\d", rf"from scratch\s+{NUMBER}\s+-?\d"],
    ),
    "conditional_generation": (
        ["cvae_samples.png", "cvae_analogies.png"],
        [rf"label accuracy of \d+ samples: {NUMBER}", rf"judge: test accuracy on real digits {NUMBER}"],
    ),
    "anomaly_detection": (
        ["anomaly_inputs.png", "anomaly_scores.png", "anomaly_extremes.png"],
        [rf"threshold at 5% FPR on \d+ calibration digits: {NUMBER}",
         rf"clothes\s+detection rate {NUMBER}", rf"noisy digits detection rate [\d.]+\s+AUROC {NUMBER}"],
    ),
    "disentanglement_dsprites": (
        ["dsprites_examples.png", "traversal_beta_vae_tiny.png"],
        [rf"beta_vae_tiny\s+{NUMBER}", rf"untrained \(chance reference\)\s+{NUMBER}"],
    ),
    "deploy_tflite": (
        ["litert_samples.png"],
        [rf"reconstruction BCE per image, float32: {NUMBER} nats"],
    ),
    "augmentation": (
        ["augmentation_samples.png"],
        [rf"600 real\s+{NUMBER}", rf"600 real \+ 6000 CVAE \(1% labels\)\s+{NUMBER}",
         rf"6600 real \(reference, 11% labels\)\s+{NUMBER}"],
    ),
}


def scripts():
    return sorted(f[:-3] for f in os.listdir(TUTORIALS_DIR) if f.endswith(".py"))


def test_every_tutorial_is_run_here():
    assert scripts() == sorted(TUTORIALS), "a tutorial was added or removed: update TUTORIALS in this file"


@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_notebook_matches_its_script(name):
    import jupytext  # the test extra; nbformat comes with it
    import nbformat

    script = jupytext.read(os.path.join(TUTORIALS_DIR, f"{name}.py"))
    notebook_path = os.path.join(TUTORIALS_DIR, f"{name}.ipynb")
    assert os.path.isfile(notebook_path), f"{notebook_path} is missing: jupytext --to ipynb tutorials/{name}.py"
    notebook = nbformat.read(notebook_path, as_version=4)
    nbformat.validate(notebook)
    cells = lambda nb: [(c.cell_type, c.source) for c in nb.cells]  # noqa: E731
    assert cells(notebook) == cells(script), (
        f"tutorials/{name}.ipynb differs from tutorials/{name}.py; regenerate it with "
        f"`jupytext --to ipynb tutorials/{name}.py`")
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") for c in code_cells), "commit notebooks without outputs"


def test_no_notebook_without_a_script():
    notebooks = sorted(f[:-6] for f in os.listdir(TUTORIALS_DIR) if f.endswith(".ipynb"))
    assert notebooks == scripts()


def _check_png(path):
    assert os.path.isfile(path), f"{os.path.basename(path)} was not written"
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    assert min(pixels.shape) >= 28, f"{path}: only {pixels.shape} pixels"
    assert pixels.std() > 0, f"{path} is blank (every pixel {pixels.flat[0]:.0f})"


@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_tutorial_runs_in_fast_mode(name, tmp_path):
    pictures, patterns = TUTORIALS[name]
    out = tmp_path / "out"
    env = dict(os.environ, FAST="1", OUT_DIR=str(out), MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3",
               ZOO_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, os.path.join("tutorials", f"{name}.py")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    output = result.stdout
    assert result.returncode == 0, f"{name} failed:\n{output[-3000:]}\n{result.stderr[-5000:]}"
    assert re.search(r"done in \d+ s", output), f"{name} did not reach its end:\n{output[-2000:]}"
    for pattern in patterns:
        match = re.search(pattern, output)
        assert match, f"{name}: no line matching {pattern!r} in:\n{output}"
        assert math.isfinite(float(match.group(1))), f"{name}: {match.group(0)!r}"
    assert not re.search(r"\bnan\b", output, re.IGNORECASE), f"{name} printed NaN:\n{output}"
    for picture in pictures:
        _check_png(str(out / picture))
