# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Deploying a VAE to Android and iOS with LiteRT
#
# A phone app does not run Python: it loads a `.tflite` file with the LiteRT
# runtime (`org.tensorflow:tensorflow-lite` / `com.google.ai.edge.litert` on
# Android, `TensorFlowLiteSwift` on iOS) and calls a named **signature** with
# plain arrays. This notebook exports a zoo model, prints the contract the app
# codes against (names, shapes, dtypes, preprocessing, noise), and then plays the
# app: it runs the files with `ai_edge_litert` and numpy only.
#
# `FAST=1` uses a tiny model and a few training steps (under a minute on 2 CPU cores).

# %%
import json
import os
import tempfile
import time

import numpy as np

FAST = os.environ.get("FAST") == "1"
OUT = os.environ.get("OUT_DIR") or tempfile.mkdtemp(prefix="zoo-deploy-")
start = time.time()

# %% [markdown]
# ## 1. A model
#
# The shipped `vae_mnist` preset when it is there (and not in fast mode);
# otherwise a small VAE trained for a moment on MNIST, which is enough to show
# the mechanics.

# %%
import keras  # noqa: E402

import zoo  # noqa: E402
from zoo import export  # noqa: E402

x_train, y_train = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=2048 if FAST else 16384)
if not FAST and "vae_mnist" in zoo.list_models():
    model = zoo.load("vae_mnist")
else:
    keras.utils.set_random_seed(0)
    size = dict(latent_dim=8, widths=(16, 32), hidden_dim=64) if FAST else dict(latent_dim=16)
    model = zoo.VAE(name="tutorial_vae", **size)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(x_train, batch_size=64, epochs=1 if FAST else 5, verbose=0)
print(f"{model.name}: latent {model.latent_dim}, {model.count_params():,} parameters")

# %% [markdown]
# ## 2. Export
#
# One `.tflite` file per signature and quantization. `int8` is calibrated on
# training images; its inputs and outputs are still float32 (the quantize and
# dequantize ops are inside the file), so the app code is the same for every
# variant. The report measures each file against the SavedModel.

# %%
quantization = ("float32", "int8") if FAST else ("float32", "float16", "int8")
report = export.export_tflite(model, OUT, quantization=quantization, representative_data=x_train[:264])
for filename, entry in report["files"].items():
    worst = max(entry["max_abs_error"].values())
    print(f"{filename:24s} {entry['bytes'] / 1024:8.1f} KiB   max |error| vs SavedModel {worst:.1e}")
print(sorted(os.listdir(OUT)))

# %% [markdown]
# ## 3. The contract
#
# `zoo_metadata.json` ships beside the files; it is what the app's developer
# reads. Batch is dynamic (-1): resize the input tensor to your batch before
# allocating. Everything is float32 NHWC.

# %%
with open(os.path.join(OUT, "zoo_metadata.json")) as f:
    meta = json.load(f)
print("input:", meta["input_shape"], meta["input"])
print("preprocessing:", meta["preprocessing"], "-", meta["preprocessing_note"])
print("likelihood:", meta["likelihood"], "| prior sampling:", meta["prior_sampling"])
for signature, io in meta["signatures"].items():
    print(f"\n{signature}_<quantization>.tflite, signature '{signature}'")
    for kind in ("inputs", "outputs"):
        for name, spec in io[kind].items():
            print(f"  {kind[:-1]:6s} {name:7s} {spec['dtype']:8s} {spec['shape']}")

# %% [markdown]
# ## 4. The app's side: LiteRT and numpy only
#
# From here on nothing uses `zoo` or TensorFlow. **Preprocessing** for this
# Bernoulli model: pixels are uint8 0..255; divide by 255 and binarize (the model
# was trained on binary images; a camera image would first be converted to a
# 28x28 grayscale digit, white on black).

# %%
from ai_edge_litert.interpreter import Interpreter  # noqa: E402


def load(signature, variant="float32"):
    interpreter = Interpreter(model_path=os.path.join(OUT, f"{signature}_{variant}.tflite"), num_threads=1)
    return interpreter.get_signature_runner(signature)


raw_pixels, _ = zoo.data.sources.load_arrays("mnist", "test")  # what the app has: uint8 [N, 28, 28, 1]
pixels = raw_pixels[:8]
x = (pixels.astype(np.float32) / 255.0 > 0.5).astype(np.float32)  # [8, 28, 28, 1] in {0, 1}

# %% [markdown]
# **Sampling**: the files contain no random op. The app draws the noise `eps`
# from N(0, 1) with its own generator (`java.util.Random.nextGaussian()`,
# `GKGaussianDistribution`, ...), shape [N, latent_dim]; for the standard normal
# prior z = eps. `images` are E[x|z] in [0, 1]: multiply by 255 for a grayscale
# bitmap.

# %%
eps = np.random.default_rng(0).standard_normal((16, meta["latent_dim"])).astype(np.float32)
images = load("sample")(eps=eps)["images"]
print("sample:", images.shape, images.dtype, f"range [{images.min():.3f}, {images.max():.3f}]")
bitmap = np.round(images[..., 0] * 255).astype(np.uint8)  # [16, 28, 28] grayscale

# What the app would show: the 16 bitmaps side by side (PIL stands in for the UI).
from PIL import Image  # noqa: E402

Image.fromarray(np.concatenate(list(bitmap), axis=1)).save(os.path.join(OUT, "litert_samples.png"))

# %% [markdown]
# **Encode and decode**: `encode` gives the posterior mean and stddev (use the
# mean as the image's code, or mean + stddev * eps for a random code);
# `decode` gives the Bernoulli `logits` and the expected image `mean`.

# %%
code = load("encode")(x=x)
decoded = load("decode")(z=code["mean"])
print("encode:", {k: v.shape for k, v in code.items()}, "decode:", {k: v.shape for k, v in decoded.items()})
bce = np.sum(np.logaddexp(0, decoded["logits"]) - x * decoded["logits"], axis=(1, 2, 3))
print(f"reconstruction BCE per image, float32: {bce.mean():.2f} nats")

# The int8 file answers the same call with the same names.
decoded_int8 = load("decode", "int8")(z=code["mean"])
bce_int8 = np.sum(np.logaddexp(0, decoded_int8["logits"]) - x * decoded_int8["logits"], axis=(1, 2, 3))
print(f"reconstruction BCE per image, int8:    {bce_int8.mean():.2f} nats "
      f"({100 * abs(bce_int8.mean() - bce.mean()) / bce.mean():.2f}% off)")
assert np.abs(decoded_int8["mean"] - decoded["mean"]).max() < 0.1

# %% [markdown]
# The same calls in the apps (sketch):
#
# ```kotlin
# // Android (LiteRT): sample_float32.tflite in assets/
# val interpreter = Interpreter(loadModelFile("sample_float32.tflite"))
# val runner = interpreter.getSignatureRunner("sample")
# val eps = Array(1) { FloatArray(latentDim) { random.nextGaussian().toFloat() } }
# val images = Array(1) { Array(28) { Array(28) { FloatArray(1) } } }
# runner.run(mapOf("eps" to eps), mapOf("images" to images))
# ```
#
# ```swift
# // iOS (TensorFlowLiteSwift): one signature per file, so input 0 / output 0 are eps / images
# let interpreter = try Interpreter(modelPath: path)
# try interpreter.resizeInput(at: 0, to: Tensor.Shape([1, latentDim]))
# try interpreter.allocateTensors()
# try interpreter.copy(epsData, toInputAt: 0)   // Float32 little-endian bytes
# try interpreter.invoke()
# let images = try interpreter.output(at: 0)    // [1, 28, 28, 1] Float32
# ```
#
# For a file with several outputs (`encode`, `decode`), look the outputs up by
# signature name (`runner.getOutputTensor("mean")` / `signatureRunner` on iOS) rather
# than by index.

# %%
print(f"files in {OUT}; done in {time.time() - start:.0f} s")
