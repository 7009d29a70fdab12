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
# # Fine-tuning a pretrained VAE on your own images with `fit`
#
# Every zoo model is a `keras.Model`: `compile` + `fit` continue training on any
# images of the model's shape. This notebook plays a user whose data is a folder
# of 28x28 grayscale PNGs (here: Fashion-MNIST clothes written to disk, standing in
# for "your" pictures). It reads the folder, builds a `tf.data` pipeline with the
# preset's preprocessing, fine-tunes an MNIST VAE on it, and measures
#
# - the -ELBO (nats per image, lower is better) on held-out images of the new data,
#   before and after fine-tuning, against the same network trained from scratch for
#   the same number of steps (does starting from MNIST help?);
# - the -ELBO on MNIST test digits (how much of the old data it forgets);
# - the variant with a frozen encoder (`model.encoder.trainable = False`).
#
# Then it saves the result as a preset of your own and loads it back.
# `FAST=1`: a tiny pretrained model and a few dozen steps; `OUT_DIR`: pictures.

# %%
import os
import tempfile
import time

import numpy as np

FAST = os.environ.get("FAST") == "1"
OUT = os.environ.get("OUT_DIR") or tempfile.mkdtemp(prefix="zoo-finetune-")
os.makedirs(OUT, exist_ok=True)
start = time.time()

# %% [markdown]
# ## 1. Your images: a folder of PNGs
#
# We write Fashion-MNIST training images to `OUT/my_images/` to have such a
# folder. Replace `folder` with yours: any PNG/JPEG files, which are converted to
# 28x28 grayscale here, white object on black (MNIST's convention; invert dark-on-light
# pictures).

# %%
from PIL import Image  # noqa: E402

import zoo  # noqa: E402

folder = os.path.join(OUT, "my_images")
n_own = 1536 if FAST else 12000
fashion, _ = zoo.data.load_arrays("fashion_mnist", "train")
os.makedirs(folder, exist_ok=True)
for i, image in enumerate(fashion[:n_own]):
    Image.fromarray(image[..., 0]).save(os.path.join(folder, f"{i:05d}.png"))


def read_folder(path, size=(28, 28)):
    """All images of a folder as uint8 [N, H, W, 1] (grayscale, resized)."""
    names = sorted(f for f in os.listdir(path) if f.lower().endswith((".png", ".jpg", ".jpeg")))
    if not names:
        raise ValueError(f"no PNG/JPEG images in {path}")
    images = []
    for name in names:
        with Image.open(os.path.join(path, name)) as img:
            images.append(np.asarray(img.convert("L").resize(size, Image.BILINEAR)))
    return np.stack(images)[..., None]


own = read_folder(folder)
print(f"read {len(own)} images from {folder}: {own.shape} {own.dtype}")

# Held-out images of the same kind, to measure on (never trained on).
own_test, _ = zoo.data.load_numpy("fashion_mnist", "test", "dynamic_binarize", take=500 if FAST else 2000)
mnist_test, _ = zoo.data.load_numpy("mnist", "test", "dynamic_binarize", take=500 if FAST else 2000)

# %% [markdown]
# ## 2. The pretrained model
#
# Full mode: the shipped `vae_mnist` preset (Bernoulli likelihood on dynamically
# binarized MNIST). Fast mode: a tiny VAE trained here on MNIST for a moment, as a
# stand-in.

# %%
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from zoo import plots  # noqa: E402


def pretrained():
    if not FAST and "vae_mnist" in zoo.list_models():
        return zoo.load("vae_mnist")
    keras.utils.set_random_seed(0)
    x, _ = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=4096)
    model = zoo.VAE(name="pretrained_tiny", latent_dim=8, widths=(16, 32), hidden_dim=64)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(x, batch_size=64, epochs=2, verbose=0)
    return model


def neg_elbo(model, x):
    return float(-np.mean(model.elbo(x)))


base = pretrained()
print(f"pretrained {base.name}: -ELBO MNIST test {neg_elbo(base, mnist_test):.2f}, "
      f"your held-out images {neg_elbo(base, own_test):.2f} nats")

# %% [markdown]
# ## 3. The input pipeline
#
# The model expects float32 [B, 28, 28, 1] in [0, 1], preprocessed as in its
# training: for this Bernoulli model, *dynamic binarization* (each pixel on with
# probability intensity/255, redrawn every epoch, so the model never memorizes one
# binary draw). With `tf.data`:

# %%
batch_size = 64 if FAST else 128


def pipeline(images_uint8, seed=0):
    ds = tf.data.Dataset.from_tensor_slices(images_uint8)
    ds = ds.shuffle(len(images_uint8), seed=seed).batch(batch_size)
    binarize = lambda b: tf.cast(tf.random.uniform(tf.shape(b)) < tf.cast(b, tf.float32) / 255.0, tf.float32)  # noqa: E731
    return ds.map(binarize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


# %% [markdown]
# ## 4. Fine-tune, three ways, same steps
#
# `copy_of` rebuilds a model from its config and copies the weights, so each run
# starts from the same pretrained state. A small learning rate keeps the start
# useful; `model.encoder.trainable = False` before `compile` freezes the encoder.

# %%
epochs = 2 if FAST else 3
learning_rate = 1e-3 if FAST else 3e-4


def copy_of(model, weights=True):
    clone = type(model).from_config(model.get_config())
    if weights:
        clone.set_weights(model.get_weights())
    return clone


runs = {}
for name, from_pretrained, freeze_encoder in (("fine-tuned", True, False),
                                               ("fine-tuned, frozen encoder", True, True),
                                               ("from scratch", False, False)):
    keras.utils.set_random_seed(1)
    model = copy_of(base, weights=from_pretrained)
    model.encoder.trainable = not freeze_encoder
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    history = model.fit(pipeline(own), epochs=epochs, shuffle=False, verbose=0)  # the pipeline shuffles
    runs[name] = model
    print(f"{name:28s} trained {len(history.history['loss'])} epochs, last train -ELBO "
          f"{-history.history['elbo'][-1]:.2f}")

# %%
steps = epochs * int(np.ceil(len(own) / batch_size))
print(f"-ELBO in nats after {steps} steps on your {len(own)} images (lower is better):")
print(f"  {'model':28s} {'your held-out':>14s} {'MNIST test':>11s}")
print(f"  {'pretrained, before':28s} {neg_elbo(base, own_test):14.2f} {neg_elbo(base, mnist_test):11.2f}")
for name, model in runs.items():
    print(f"  {name:28s} {neg_elbo(model, own_test):14.2f} {neg_elbo(model, mnist_test):11.2f}")

# %%
tuned = runs["fine-tuned"]
plots.save_grid(np.concatenate([own_test[:12], base.reconstruct(own_test[:12]), tuned.reconstruct(own_test[:12])]),
                os.path.join(OUT, "finetune_reconstructions.png"), cols=12)
plots.save_grid(tuned.sample(36, seed=0), os.path.join(OUT, "finetune_samples.png"), cols=6)
print("finetune_reconstructions.png rows: held-out images, pretrained, fine-tuned; finetune_samples.png: samples")

# %% [markdown]
# ## 5. Save it as your own preset
#
# `zoo.save_preset` writes the config, the weights (without optimizer state) and a
# model card with their sha256; `zoo.load` takes the directory like a shipped name.

# %%
preset_dir = zoo.save_preset(tuned, os.path.join(OUT, "my_vae"), {
    "name": "my_vae", "dataset": f"folder {folder}", "preprocessing": "dynamic_binarize",
    "fine_tuned_from": base.name, "steps": steps,
})
reloaded = zoo.load(preset_dir)
assert np.allclose(reloaded.reconstruct(own_test[:8]), tuned.reconstruct(own_test[:8]), atol=1e-6)
print(f"saved and reloaded {preset_dir}: {sorted(os.listdir(preset_dir))}")
print(f"done in {time.time() - start:.0f} s")
