"""Every variant's `train_step` under `tf.distribute`: MirroredStrategy on two logical
CPUs, and MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1.

Logical devices must be configured before TensorFlow initializes its devices, so
each check runs in a fresh subprocess and reports JSON on its last line.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

import zoo

HERE = os.path.dirname(os.path.abspath(__file__))

MIRRORED = textwrap.dedent('''
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np, zoo
    SMALL = dict(latent_dim=8, widths=(16, 32), hidden_dim=64)
    x, y = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=16)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    EXACT = ("ae", "vae", "cvae")  # single-optimizer variants checked against a 1-device step

    def make(name, scope):
        keras.utils.set_random_seed(0)
        cls = zoo.registry.get_model_class(name)
        kwargs = dict(SMALL, seed=1, **({"num_classes": 10} if cls.conditional else {}))
        with scope:
            model = cls(**kwargs)
            model.compile(optimizer=keras.optimizers.SGD(1e-3))  # SGD: a x2 gradient error shows
        return model

    def one_step(model):
        return model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0).history

    out = {}
    for name in sys.argv[1:]:
        d = make(name, strategy.scope())
        w0 = [v.numpy() for v in d.trainable_variables]
        h = one_step(d)
        r = out[name] = {
            "replicas": d.distribute_strategy.num_replicas_in_sync,
            "metrics": {k: float(v[-1]) for k, v in h.items()},
            "moved": [float(np.abs(a - v.numpy()).max()) for a, v in zip(w0, d.trainable_variables)],
            "schedule_step": int(d.schedule_step.numpy()),
        }
        if name == "factor_vae":
            r["discriminator_steps"] = int(d.discriminator_optimizer.iterations.numpy())
            r["discriminator_moved"] = float(max(np.abs(v.numpy()).max() for v in d.discriminator.trainable_variables))
        if name not in EXACT:
            continue
        s = make(name, tf.distribute.get_strategy().scope())
        # The same global batch on one device: replica i sees half i, with the seed
        # generator's state and its index folded in (base.draw_seed). With the mean
        # per replica divided by 2 and the replica gradients summed, the step equals
        # this one; a wrong reduction (no division, or a mean over replicas of
        # unscaled sums) moves the weights by 2x or 0.5x.
        state = s.seed_generator.state.numpy()
        with tf.GradientTape() as tape:
            parts = []
            for i, half in enumerate((slice(0, 8), slice(8, 16))):
                s.seed_generator.state.assign(state)
                def draw_seed(i=i):
                    seed = tf.cast(s.seed_generator.next(), tf.int32)
                    return tf.random.experimental.stateless_fold_in(seed, i)
                s.draw_seed = draw_seed
                xh, ch = s.unpack_batch((x[half], y[half]))
                parts.append(s.loss_terms(xh, ch, training=True))
            loss = (tf.reduce_mean(parts[0]["loss"]) + tf.reduce_mean(parts[1]["loss"])) / 2
        s.optimizer.apply_gradients(zip(tape.gradient(loss, s.trainable_variables), s.trainable_variables))
        r["single_metrics"] = {k: float(np.mean(np.concatenate([p[k].numpy() for p in parts]))) for k in s.metric_names}
        r["max_weight_diff"] = float(max(np.abs(a.numpy() - b.numpy()).max()
                                         for a, b in zip(d.trainable_variables, s.trainable_variables)))
    print("RESULT " + json.dumps(out))
''')


def _run(script, args, timeout=240, env=None):
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=HERE)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _check_mirrored(result):
    for name, r in result.items():
        assert r["replicas"] == 2
        assert all(map(lambda v: v == v and abs(v) != float("inf"), r["metrics"].values())), (name, r["metrics"])
        assert max(r["moved"]) > 0, f"{name}: no weight moved"
        assert r["schedule_step"] == 1, f"{name}: one global step counted {r['schedule_step']} times"
        if "max_weight_diff" in r:
            # Equal to the one-device step up to float summation order.
            assert r["max_weight_diff"] <= 1e-3 * max(r["moved"]), (name, r)
            for key, value in r["single_metrics"].items():
                assert r["metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-3), (name, key)
        if name == "factor_vae":
            assert r["discriminator_steps"] == 1 and r["discriminator_moved"] > 0


def test_mirrored_strategy_step_equals_a_single_device_step():
    """ae (deterministic), vae and cvae checked exactly; factor_vae's two optimizers both step."""
    _check_mirrored(_run(MIRRORED, ["ae", "vae", "cvae", "factor_vae"]))


@pytest.mark.slow
def test_every_variant_trains_under_mirrored_strategy():
    _check_mirrored(_run(MIRRORED, sorted(zoo.registry.registered_models()), timeout=600))


WORKER = textwrap.dedent('''
    import json, os
    import tensorflow as tf
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras, numpy as np, zoo
    SMALL = dict(latent_dim=8, widths=(16, 32), hidden_dim=64)
    x, _ = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=64)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = zoo.VAE(**SMALL, seed=1)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = tf.data.Dataset.from_tensor_slices(x).batch(16).with_options(options)
    # A custom loop around the model's own train_step: Keras 3.15's `fit` fails under
    # MultiWorkerMirroredStrategy for any model whose logs are scalars (its "mean"
    # reduction calls strategy.reduce(..., axis=0) on them).
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    step = tf.function(lambda batch: strategy.run(model.train_step, args=(batch,)))
    history = {"loss": []}
    for epoch in range(2):
        model.reset_metrics()
        for batch in strategy.experimental_distribute_dataset(ds):
            logs = step(batch)
        history["loss"].append(float(strategy.reduce("MEAN", logs["loss"], axis=None)))
    checksum = float(sum(np.abs(v.numpy()).sum() for v in model.trainable_variables))
    print("RESULT " + json.dumps({"replicas": strategy.num_replicas_in_sync, "loss": history["loss"],
                                  "checksum": checksum}))
''')


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_with_two_local_workers():
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env, cwd=HERE))
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
            assert proc.returncode == 0 and lines, err[-3000:]
            results.append(json.loads(lines[-1][len("RESULT "):]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [r["replicas"] for r in results] == [2, 2]
    # Synchronous training: both workers end with the same weights and logs.
    assert results[0]["checksum"] == pytest.approx(results[1]["checksum"], rel=1e-6)
    assert results[0]["loss"] == pytest.approx(results[1]["loss"], rel=1e-6)
    assert results[0]["loss"][1] < results[0]["loss"][0]


# ---------------------------------------------------------------- zoo train --strategy

def test_auto_strategy_follows_tf_config():
    from zoo.cluster import is_chief_task, resolve_strategy

    def config(workers, index, chief=False):
        cluster = {"worker": [f"127.0.0.1:{2000 + i}" for i in range(workers)]}
        if chief:
            cluster["chief"] = ["127.0.0.1:1999"]
        return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}

    assert resolve_strategy("auto", {}) == "one_device"
    assert resolve_strategy("auto", config(1, 0)) == "one_device"
    assert resolve_strategy("auto", config(2, 1)) == "multi_worker"
    assert resolve_strategy("mirrored", config(2, 1)) == "mirrored"
    with pytest.raises(ValueError, match="TF_CONFIG"):
        resolve_strategy("multi_worker", {})
    with pytest.raises(ValueError, match="unknown strategy"):
        resolve_strategy("two_devices", {})
    assert is_chief_task({}) and is_chief_task(config(2, 0)) and not is_chief_task(config(2, 1))
    assert not is_chief_task(config(2, 0, chief=True))  # a "chief" task outranks worker 0


def test_replica_shards_tile_the_global_batch_in_order():
    import numpy as np

    from zoo.distributed import check_batches_divide, replica_shard

    images, labels = np.arange(7 * 2).reshape(7, 2), np.arange(7)
    shards = [replica_shard((images, labels), i, 3) for i in range(3)]
    assert [len(s[1]) for s in shards] == [2, 2, 3]
    assert np.concatenate([s[1] for s in shards]).tolist() == list(range(7))
    assert np.concatenate([s[0] for s in shards]).tolist() == images.tolist()
    check_batches_divide(320, 64, 2)
    check_batches_divide(321, 64, 1)
    with pytest.raises(ValueError, match="one example per replica"):
        check_batches_divide(321, 64, 2)  # the last batch of 1 leaves a replica empty


# The loop `zoo train --strategy multi_worker` runs, in one process under MirroredStrategy
# on two logical CPUs (the same strategy.run, sharding and reductions), against `fit` on
# one device with the same global batches: a deterministic model (ae), so that the
# replicas' sampling noise does not enter.
LOOP = textwrap.dedent('''
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np, zoo
    from zoo import distributed
    from zoo.callbacks import ResumableBackup
    x, y = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=96)
    batches = lambda first, end, skip=0: tf.data.Dataset.from_tensor_slices((x, y)).batch(32).skip(skip)

    def make(scope):
        keras.utils.set_random_seed(0)
        with scope:
            model = zoo.AE(latent_dim=8, widths=(16, 32), hidden_dim=64, seed=1)
            model.compile(optimizer=keras.optimizers.Adam(1e-3))
            model.optimizer.build(model.trainable_variables)
        return model

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    looped = make(strategy.scope())
    backup = ResumableBackup(sys.argv[1], save_freq=4)
    history = distributed.fit_in_loop(looped, strategy, batches, 0, 2, 0, [backup], backup, verbose=0)
    single = make(tf.distribute.get_strategy().scope())
    fitted = single.fit(batches(0, 2).repeat(2), epochs=2, steps_per_epoch=3, verbose=0).history
    print("RESULT " + json.dumps({
        "replicas": strategy.num_replicas_in_sync, "loss": history["loss"], "single_loss": fitted["loss"],
        "steps": int(looped.optimizer.iterations.numpy()), "schedule_step": int(looped.schedule_step.numpy()),
        "backup": backup.position(),
        "moved": float(max(np.abs(a.numpy()).max() for a in looped.trainable_variables)),
        "max_weight_diff": float(max(np.abs(a.numpy() - b.numpy()).max()
                                     for a, b in zip(looped.trainable_variables, single.trainable_variables)))}))
''')


def test_multi_worker_loop_equals_fit_on_one_device(tmp_path):
    r = _run(LOOP, [str(tmp_path / "backup")])
    assert r["replicas"] == 2 and r["steps"] == 6 and r["schedule_step"] == 6
    assert r["backup"] == [2, 0]  # written at the last epoch's end
    assert r["max_weight_diff"] < 1e-5, r
    assert r["loss"] == pytest.approx(r["single_loss"], rel=1e-5)


TINY = {
    "name": "ae_tiny", "variant": "ae", "dataset": "mnist", "preprocessing": "dynamic_binarize",
    "model": {"latent_dim": 8, "widths": [16, 32], "hidden_dim": 64},
    "training": {"epochs": 2, "batch_size": 64, "learning_rate": 0.002, "seed": 0, "deterministic": True,
                 "checkpoint_every_steps": 3},
}


def _zoo_train(recipe_file, out, strategy, extra_env=None):
    command = [sys.executable, "-m", "zoo.cli", "train", "--config", str(recipe_file), "--take", "640",
               "--strategy", strategy, "--out", str(out), "--progress", "none"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(extra_env or {})))


def _workers(recipe_file, out, temp):
    """Two `zoo train --strategy multi_worker` processes on free local ports, both given `out`,
    with `temp` as their temporary folder."""
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    temp.mkdir(exist_ok=True)
    return [_zoo_train(recipe_file, out, "multi_worker", {"TMPDIR": str(temp), "TF_CONFIG": json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}) for index in range(2)]


def _finish(procs, timeout=240):
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.slow
def test_zoo_train_on_two_workers_equals_one_process_and_survives_a_kill(tmp_path):
    """Two workers through the CLI end with the weights of one process on the same global
    batches; after `kill -9` of a worker mid-run (and of the chief, now stuck), rerunning
    both resumes from the chief's backup to the weights of the uninterrupted run."""
    import signal
    import time

    import h5py
    import numpy as np

    def weights(path):
        out = {}
        with h5py.File(path) as f:
            f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out

    def max_diff(a, b):
        wa, wb = weights(a / "model.weights.h5"), weights(b / "model.weights.h5")
        assert sorted(wa) == sorted(wb) and len(wa) > 10
        return max(float(np.abs(wa[k].astype(np.float64) - wb[k].astype(np.float64)).max()) for k in wa)

    recipe = tmp_path / "tiny_recipe.json"
    recipe.write_text(json.dumps(TINY))
    _finish([_zoo_train(recipe, tmp_path / "single", "one_device")])
    _finish(_workers(recipe, tmp_path / "pair", tmp_path / "temp"))
    assert max_diff(tmp_path / "single", tmp_path / "pair") < 1e-5
    card = json.loads((tmp_path / "pair" / "metadata.json").read_text())
    assert (card["strategy"], card["replicas"]) == ("multi_worker", 2)
    # Only the chief keeps a work folder; the other worker's went into the temporary folder and was removed.
    assert (tmp_path / "pair.work" / "backup").is_dir() and not list((tmp_path / "temp").glob("zoo-worker-*"))

    killed = tmp_path / "killed"
    meta = tmp_path / "killed.work" / "backup" / "training_metadata.json"
    procs = _workers(recipe, killed, tmp_path / "temp")
    deadline = time.time() + 240
    while not meta.exists() and all(p.poll() is None for p in procs) and time.time() < deadline:
        time.sleep(0.01)
    os.kill(procs[1].pid, signal.SIGKILL)
    procs[0].kill()  # the chief waits on the dead worker's collectives: the whole job restarts
    for proc in procs:
        proc.communicate()
    position = json.loads(meta.read_text())
    assert not (killed / "model.weights.h5").exists(), "the run finished before the kill"
    assert position["optimizer_step"] > 0

    _finish(_workers(recipe, killed, tmp_path / "temp"))
    assert max_diff(tmp_path / "pair", killed) < 1e-6
