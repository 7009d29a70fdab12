"""Export: SavedModel signatures and LiteRT files match the Keras model, without `zoo`.

One small VAE is trained briefly on an MNIST slice (so that reconstruction BCE is
meaningful for the int8 check) and exported once for the whole module, with a small
CVAE for the label input. SavedModel parity for every registered variant:
tests/models/test_registered_models.py.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import export
from zoo.export import litert

from conftest import SMALL

D = SMALL["latent_dim"]
K = 3  # noise draws per example in the `score` parity check


def _fit(model, x, y=None, epochs=1, batch_size=64):
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return model


def _inputs(xte, yte, conditional, n=7, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {
        "x": xte[:n],
        "z": rng.standard_normal((n, D)).astype("float32"),
        "eps": rng.standard_normal((n, D)).astype("float32"),
        "eps_score": rng.standard_normal((n, K, D)).astype("float32"),
    }
    if conditional:
        inputs["label"] = yte[:n].astype("int32")
    return inputs


def _keras_reference(model, inputs) -> dict:
    """What every signature should return, computed with the model's public methods."""
    x, y = inputs["x"], inputs.get("label")
    q = model.encode(x, y)
    p = model.decode(inputs["z"], y)
    ref = {
        "encode/mean": q.mean().numpy(),
        "encode/stddev": q.stddev().numpy(),
        "decode/logits": p.distribution.logits.numpy(),
        "decode/mean": model.decode_mean(inputs["z"], y).numpy(),
        "sample/images": model.decode_mean(inputs["eps"], y).numpy(),  # standard normal prior: z = eps
        "reconstruct/images": model.reconstruct(x, y),
    }
    # -IWAE with the given draws z_k = mean + stddev * eps_k, term by term.
    z = q.mean().numpy()[:, None, :] + q.stddev().numpy()[:, None, :] * inputs["eps_score"]
    log_w = np.stack([
        model.decode(z[:, k], y).log_prob(x).numpy()
        + model.prior_distribution().log_prob(z[:, k]).numpy()
        - q.log_prob(z[:, k]).numpy()
        for k in range(K)
    ], axis=1)
    ref["score/score"] = -(tf.reduce_logsumexp(log_w, axis=1).numpy() - np.log(K))
    return ref


# The fresh interpreter: TensorFlow only. It runs every signature at batch 7 and 1 and
# lists the op types of every function in the graph (to find random ops).
_NO_ZOO_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf

    jobs = json.load(open(sys.argv[1]))
    for job in jobs:
        inputs = dict(np.load(job["inputs"]))
        loaded = tf.saved_model.load(job["saved_model"])
        feeds = {
            "encode": {"x": inputs["x"]},
            "decode": {"z": inputs["z"]},
            "sample": {"eps": inputs["eps"]},
            "reconstruct": {"x": inputs["x"]},
            "score": {"x": inputs["x"], "eps": inputs["eps_score"]},
        }
        outputs, ops = {}, set()
        for name, feed in feeds.items():
            if "label" in inputs:
                feed = {**feed, "label": inputs["label"]}
            fn = loaded.signatures[name]
            for n in (7, 1):
                result = fn(**{k: tf.constant(v[:n]) for k, v in feed.items()})
                for key, value in result.items():
                    outputs[f"{name}/{key}@{n}"] = value.numpy()
            graph = fn.graph.as_graph_def()
            ops |= {node.op for node in graph.node}
            ops |= {node.op for f in graph.library.function for node in f.node_def}
        np.savez(job["outputs"], **outputs)
        json.dump({"ops": sorted(ops), "zoo_imported": "zoo" in sys.modules,
                   "signatures": sorted(loaded.signatures)}, open(job["outputs"] + ".json", "w"))
    assert "zoo" not in sys.modules, "the SavedModel must load without the zoo package"
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, mnist_binary):
    """{kind: (model, saved_model_dir, tflite_dir, report, inputs)} for 'vae' and 'cvae'."""
    keras.utils.set_random_seed(0)
    xtr, ytr, xte, yte = mnist_binary
    root = tmp_path_factory.mktemp("export")
    result = {}
    model = _fit(zoo.VAE(**SMALL), xtr, epochs=2)  # 128 steps: test BCE ~175 nats
    saved = export.export_saved_model(model, str(root / "vae_sm"), {"name": "tiny_vae"})
    report = export.export_tflite(model, str(root / "vae_tflite"), representative_data=xtr[:264])
    result["vae"] = (model, saved, str(root / "vae_tflite"), report, _inputs(xte, yte, False))
    cvae = _fit(zoo.CVAE(num_classes=10, **SMALL), xtr[:1024], ytr[:1024].astype("int32"))
    saved = export.export_saved_model(cvae, str(root / "cvae_sm"), {"name": "tiny_cvae"})
    report = export.export_tflite(cvae, str(root / "cvae_tflite"), quantization=("float32",),
                                  representative_data=(xtr[:264], ytr[:264]))
    result["cvae"] = (cvae, saved, str(root / "cvae_tflite"), report, _inputs(xte, yte, True))
    return result


@pytest.fixture(scope="module")
def no_zoo_outputs(exported, tmp_path_factory):
    """Runs every signature of every export in a fresh python that never imports zoo."""
    root = tmp_path_factory.mktemp("no_zoo")
    jobs = []
    for kind, (_, saved, _, _, inputs) in exported.items():
        np.savez(root / f"{kind}_in.npz", **inputs)
        jobs.append({"saved_model": saved, "inputs": str(root / f"{kind}_in.npz"),
                     "outputs": str(root / f"{kind}_out.npz")})
    (root / "jobs.json").write_text(json.dumps(jobs))
    (root / "run.py").write_text(_NO_ZOO_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    proc = subprocess.run([sys.executable, str(root / "run.py"), str(root / "jobs.json")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {kind: (dict(np.load(job["outputs"])), json.load(open(job["outputs"] + ".json")))
            for kind, job in zip(exported, jobs)}


@pytest.mark.parametrize("kind", ["vae", "cvae"])
def test_saved_model_matches_keras_in_a_process_without_zoo(kind, exported, no_zoo_outputs):
    model, _, _, _, inputs = exported[kind]
    outputs, info = no_zoo_outputs[kind]
    assert not info["zoo_imported"]
    assert {"encode", "decode", "sample", "reconstruct", "score"} <= set(info["signatures"])
    random_ops = [op for op in info["ops"] if "Random" in op or op.startswith("Stateless")]
    assert not random_ops, random_ops  # noise is an input, never drawn inside
    for key, expected in _keras_reference(model, inputs).items():
        # float32 carries ~7 significant digits: a score of ~200 nats is exact to ~2e-5.
        np.testing.assert_allclose(outputs[f"{key}@7"], expected, atol=1e-5, rtol=1e-6, err_msg=key)
        # Dynamic batch: one example gives the first row of the batch of 7.
        assert outputs[f"{key}@1"].shape == (1, *expected.shape[1:])
        np.testing.assert_allclose(outputs[f"{key}@1"], expected[:1], atol=1e-5, rtol=1e-6, err_msg=key)


def test_conditional_signatures_follow_the_label(exported, no_zoo_outputs):
    model, saved, _, _, inputs = exported["cvae"]
    loaded = tf.saved_model.load(saved)
    eps = tf.constant(np.repeat(inputs["eps"][:1], 2, axis=0))
    images = loaded.signatures["sample"](eps=eps, label=tf.constant([3, 7], tf.int32))["images"].numpy()
    # Same noise, different class: different images, each the Keras decoding of its class.
    assert np.abs(images[0] - images[1]).max() > 1e-3
    np.testing.assert_allclose(images, model.decode_mean(eps, np.array([3, 7])).numpy(), atol=1e-5)
    null = loaded.signatures["sample"](eps=eps[:1], label=tf.constant([-1], tf.int32))["images"].numpy()
    np.testing.assert_allclose(null, model.decode_mean(eps[:1], model.null_labels(1)).numpy(), atol=1e-5)


def test_score_is_minus_the_elbo_for_one_draw_and_improves_with_more(exported, mnist_binary):
    model, saved, _, _, _ = exported["vae"]
    x = mnist_binary[2][:200]
    score = tf.saved_model.load(saved).signatures["score"]
    rng = np.random.default_rng(1)
    one = np.mean([score(x=x, eps=rng.standard_normal((200, 1, D)).astype("float32"))["score"].numpy()
                   for _ in range(8)])
    many = score(x=x, eps=rng.standard_normal((200, 32, D)).astype("float32"))["score"].numpy().mean()
    elbo = np.mean([model.elbo(x, seed=s).mean() for s in range(8)])
    print(f"score K=1 {one:.2f}, -ELBO {-elbo:.2f}, score K=32 {many:.2f}")
    assert one == pytest.approx(-elbo, abs=1.5), (one, elbo)  # same estimator up to Monte Carlo noise
    assert many < one - 0.5, (many, one)  # the IWAE bound is tighter


def test_saved_model_metadata(exported):
    model, saved, _, _, _ = exported["vae"]
    meta = export.read_metadata(saved)
    assert os.path.isfile(os.path.join(saved, "assets", export.METADATA_FILE))
    assert meta["preset"] == "tiny_vae" and meta["zoo_version"] == zoo.__version__
    assert meta["input_shape"] == [28, 28, 1] and meta["latent_dim"] == D and meta["num_classes"] == 0
    assert meta["likelihood"]["name"] == "bernoulli" and meta["prior"] == "standard_normal"
    assert meta["preprocessing"] == "dynamic_binarize" and meta["posterior"] == "gaussian"
    assert meta["signatures"]["decode"] == {
        "inputs": {"z": {"shape": [-1, D], "dtype": "float32"}},
        "outputs": {"logits": {"shape": [-1, 28, 28, 1], "dtype": "float32"},
                    "mean": {"shape": [-1, 28, 28, 1], "dtype": "float32"}},
    }
    assert meta["signatures"]["score"]["inputs"]["eps"]["shape"] == [-1, -1, D]
    # The config recorded is complete: it rebuilds the same model.
    assert zoo.VAE.from_config(meta["model_config"]).get_config() == model.get_config()


@pytest.mark.parametrize("kind", ["vae", "cvae"])
def test_float32_tflite_matches_keras_at_batch_1_and_7(kind, exported):
    from ai_edge_litert.interpreter import Interpreter

    model, _, tflite_dir, _, inputs = exported[kind]
    ref = _keras_reference(model, inputs)
    feeds = {"encode": {"x": inputs["x"]}, "decode": {"z": inputs["z"]}, "sample": {"eps": inputs["eps"]}}
    for signature, feed in feeds.items():
        if "label" in inputs:
            feed = {**feed, "label": inputs["label"]}
        interpreter = Interpreter(model_path=os.path.join(tflite_dir, f"{signature}_float32.tflite"), num_threads=1)
        assert interpreter.get_signature_list() == {signature: {"inputs": sorted(feed),
                                                                "outputs": _OUTPUT_NAMES[signature]}}
        runner = interpreter.get_signature_runner(signature)
        for n in (7, 1):
            got = runner(**{k: v[:n] for k, v in feed.items()})
            for key, value in got.items():
                np.testing.assert_allclose(value, ref[f"{signature}/{key}"][:n], atol=1e-4, rtol=0,
                                           err_msg=f"{signature}/{key} batch {n}")


_OUTPUT_NAMES = {"encode": ["mean", "stddev"], "decode": ["logits", "mean"], "sample": ["images"]}


def test_quantized_variants_are_reported_and_int8_keeps_the_bce(exported, mnist_binary):
    from ai_edge_litert.interpreter import Interpreter

    model, _, tflite_dir, report, _ = exported["vae"]
    assert json.load(open(os.path.join(tflite_dir, export.REPORT_FILE))) == report
    files = report["files"]
    assert set(files) == {f"{s}_{q}.tflite" for s in ("encode", "decode", "sample")
                          for q in ("float32", "float16", "int8")}
    for name, entry in files.items():
        assert os.path.getsize(os.path.join(tflite_dir, name)) == entry["bytes"]
        worst = max(entry["max_abs_error"].values())
        bound = {"float32": 1e-4, "float16": 1e-2, "int8": 1.0}[entry["quantization"]]
        assert 0 <= worst < bound, (name, worst)
        print(f"{name:24s} {entry['bytes']:8d} B  max |error| {worst:.2e}")
    assert files["decode_float16.tflite"]["bytes"] < 0.6 * files["decode_float32.tflite"]["bytes"]
    assert files["decode_int8.tflite"]["bytes"] < 0.45 * files["decode_float32.tflite"]["bytes"]

    # int8 is full-integer: float32 only at the boundary (inputs and outputs).
    interpreter = Interpreter(model_path=os.path.join(tflite_dir, "decode_int8.tflite"), num_threads=1)
    float_tensors = [t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.float32]
    assert len(float_tensors) == 3, float_tensors  # z, logits, mean
    assert any(t["dtype"] == np.int8 for t in interpreter.get_tensor_details())

    # Reconstruction BCE on test images at their posterior means: int8 within 2% of float.
    x = mnist_binary[2][:256]
    z = model.encode(x).mean().numpy()
    logits = interpreter.get_signature_runner("decode")(z=z)["logits"]
    bce_int8 = float(np.mean(np.sum(np.logaddexp(0, logits) - x * logits, axis=(1, 2, 3))))
    bce_float = float(-np.mean(model.decode(z).log_prob(x)))
    print(f"reconstruction BCE: float {bce_float:.3f}, int8 {bce_int8:.3f} nats")
    assert abs(bce_int8 - bce_float) / bce_float < 0.02, (bce_float, bce_int8)
    assert files["decode_int8.tflite"]["reconstruction_nll_relative_change"] < 0.02


def test_failed_export_leaves_nothing_behind(tmp_path, exported, monkeypatch):
    model = exported["vae"][0]

    convert, calls = litert.convert, []

    def crashes_the_second_time(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("converter crashed")
        return convert(*args, **kwargs)

    monkeypatch.setattr(litert, "convert", crashes_the_second_time)
    with pytest.raises(RuntimeError, match="converter crashed"):  # after one file was written
        export.export_tflite(model, str(tmp_path / "out"), quantization=("float32", "float16"),
                             signatures=["decode"])
    assert os.listdir(tmp_path) == []  # neither the target nor temp directories


def test_export_replaces_an_existing_directory(tmp_path, exported):
    model = exported["vae"][0]
    target = tmp_path / "sm"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    export.export_saved_model(model, str(target), signatures=["decode"])
    assert not (target / "stale.txt").exists()
    assert sorted(export.read_metadata(str(target))["signatures"]) == ["decode"]
    assert sorted(os.listdir(tmp_path)) == ["sm"]


def test_bad_requests_name_the_problem(tmp_path, exported):
    model = exported["vae"][0]
    with pytest.raises(export.ExportError, match="unknown signature 'predict'"):
        export.export_saved_model(model, str(tmp_path / "a"), signatures=["predict"])
    with pytest.raises(export.ExportError, match="unknown quantization 'int4'"):
        export.export_tflite(model, str(tmp_path / "b"), quantization=("int4",))
    with pytest.raises(export.ExportError, match="int8 quantization needs representative_data"):
        export.export_tflite(model, str(tmp_path / "c"), quantization=("int8",))
    with pytest.raises(zoo.validation.InputError, match="spatial size"):
        export.export_tflite(model, str(tmp_path / "d"), quantization=("float32",),
                             representative_data=np.zeros((4, 32, 32, 1), "float32"))
    assert os.listdir(tmp_path) == []


def test_a_deterministic_encoder_has_no_score(tmp_path):
    model = zoo.AE(**SMALL)
    with pytest.raises(export.ExportError, match="no density"):
        export.export_saved_model(model, str(tmp_path / "ae"), signatures=["score"])
    with pytest.warns(UserWarning, match="not exporting 'score'"):
        path = export.export_saved_model(model, str(tmp_path / "ae"))
    meta = export.read_metadata(path)
    assert "score" not in meta["signatures"] and "score" in meta["unsupported_signatures"]


def test_cli_exports_a_preset_directory(tmp_path, exported, capsys):
    from zoo.cli import main

    model = exported["vae"][0]
    preset = zoo.save_preset(model, str(tmp_path / "tiny"), {"name": "tiny", "dataset": "mnist",
                                                              "preprocessing": "dynamic_binarize"})
    assert main(["export", preset, "--format", "saved_model", "--out", str(tmp_path / "sm"),
                 "--signatures", "decode,sample"]) == 0
    meta = export.read_metadata(str(tmp_path / "sm"))
    assert meta["preset"] == "tiny" and sorted(meta["signatures"]) == ["decode", "sample"]
    assert main(["export", preset, "--format", "tflite", "--out", str(tmp_path / "tfl"), "--signatures", "sample",
                 "--quantization", "float32", "--calibration-examples", "64"]) == 0
    assert sorted(os.listdir(tmp_path / "tfl")) == ["export_report.json", "sample_float32.tflite",
                                                    export.METADATA_FILE]
    assert "sample_float32.tflite" in capsys.readouterr().out
    assert main(["export", "no_such_preset", "--out", str(tmp_path / "x")]) == 1
