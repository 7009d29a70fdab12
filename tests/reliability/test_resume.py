"""`zoo train` survives interruptions: a resumed run ends with the weights of an
uninterrupted one, bit for bit (fixed seed, op determinism on).

Every run is a subprocess: op determinism is process-wide, and a real SIGKILL is the
point of the slow test.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

RECIPE = {
    "name": "vae_tiny", "variant": "vae", "dataset": "mnist", "preprocessing": "dynamic_binarize",
    "model": {"latent_dim": 8, "widths": [16, 32], "hidden_dim": 64, "kl_warmup_steps": 10},
    "training": {"epochs": 2, "batch_size": 64, "learning_rate": 0.002, "seed": 0, "deterministic": True,
                 "checkpoint_every_steps": 3},
}
TAKE = "512"  # 8 batches per epoch


def _weights(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert sorted(wa) == sorted(wb) and len(wa) > 10
    different = [k for k in wa if not np.array_equal(wa[k], wb[k])]
    assert not different, f"weights differ: {different[:5]}"


# One process: an uninterrupted run, then runs stopped by an exception right after a
# given optimizer step, each resumed by calling `train` again. Backups are written
# after steps 3, 6 and at the epoch end (8): a crash after step 5 resumes mid-epoch
# from step 3; a crash after step 9 resumes at the start of epoch 2 (slow variant).
IN_PROCESS = textwrap.dedent('''
    import json, sys, keras
    from zoo.training import train
    recipe, tmp = json.loads(sys.argv[1]), sys.argv[2]

    class Crash(keras.callbacks.Callback):
        def __init__(self, at_step):
            super().__init__(); self.at_step = at_step
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == self.at_step:
                raise KeyboardInterrupt("simulated crash")

    train(recipe, f"{tmp}/full", take=512, verbose=0)
    for name, step in json.loads(sys.argv[3]):
        try:
            train(recipe, f"{tmp}/{name}", take=512, verbose=0, extra_callbacks=[Crash(step)])
            raise SystemExit("the crash did not happen")
        except KeyboardInterrupt:
            pass
        with open(f"{tmp}/{name}.work/backup/training_metadata.json") as f:
            print("POSITION", name, json.dumps(json.load(f)))  # one line: the file is indented
        train(recipe, f"{tmp}/{name}", take=512, verbose=0)
''')


def _crash_and_resume(tmp_path, crashes):
    proc = subprocess.run([sys.executable, "-c", IN_PROCESS, json.dumps(RECIPE), str(tmp_path), json.dumps(crashes)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming from" in proc.stderr
    for name, _ in crashes:
        _assert_same_weights(tmp_path / "full" / "model.weights.h5", tmp_path / name / "model.weights.h5")
    return {line.split()[1]: json.loads(line.split(" ", 2)[2])
            for line in proc.stdout.splitlines() if line.startswith("POSITION")}


def test_run_crashed_mid_epoch_resumes_to_identical_weights(tmp_path):
    positions = _crash_and_resume(tmp_path, [["mid", 5]])
    assert (positions["mid"]["epoch"], positions["mid"]["batch"]) == (0, 3)


@pytest.mark.slow
def test_run_crashed_after_an_epoch_resumes_to_identical_weights(tmp_path):
    positions = _crash_and_resume(tmp_path, [["boundary", 9]])
    assert (positions["boundary"]["epoch"], positions["boundary"]["batch"]) == (1, 0)


def _train_cmd(recipe_file, out):
    return [sys.executable, "-m", "zoo.cli", "train", "--config", str(recipe_file), "--take", TAKE,
            "--out", str(out), "--work-dir", str(out) + ".work"]


@pytest.mark.slow
def test_zoo_train_killed_mid_epoch_resumes_to_identical_weights(tmp_path):
    recipe_file = tmp_path / "tiny.json"
    recipe_file.write_text(json.dumps(dict(RECIPE, training=dict(RECIPE["training"], epochs=3))))
    ref = subprocess.run(_train_cmd(recipe_file, tmp_path / "ref"), capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-3000:]

    out = tmp_path / "killed"
    meta = tmp_path / "killed.work" / "backup" / "training_metadata.json"
    proc = subprocess.Popen(_train_cmd(recipe_file, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not meta.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    position = json.loads(meta.read_text())
    assert proc.returncode == -signal.SIGKILL and not (out / "model.weights.h5").exists()
    assert position["batch"] > 0, f"the kill was not mid-epoch: {position}"

    resumed = subprocess.run(_train_cmd(recipe_file, out), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"epoch {position['epoch'] + 1}, batch {position['batch']}" in resumed.stderr
    _assert_same_weights(tmp_path / "ref" / "model.weights.h5", out / "model.weights.h5")
