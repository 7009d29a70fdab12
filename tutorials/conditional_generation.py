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
# # Conditional generation with the CVAE
#
# A conditional VAE (Sohn et al. 2015) sees the label on both sides: q(z|x, y) and
# p(x|z, y). Asking for a class is then one argument,
# `model.sample(n, labels=...)`. Because the label carries the class, z is free to
# carry the rest (slant, thickness, width): encode a digit with its label, decode the
# same z with another label, and the style carries over.
#
# Measured here: does a sample show the class that was asked for? An independent
# CNN classifier trained on real MNIST reads every sample; the share it labels as
# the requested class is the **label accuracy** (per class and overall).
#
# `FAST=1`: a tiny CVAE trained here for a few hundred steps; `OUT_DIR`: pictures.

# %%
import os
import tempfile
import time

import numpy as np

FAST = os.environ.get("FAST") == "1"
OUT = os.environ.get("OUT_DIR") or tempfile.mkdtemp(prefix="zoo-cvae-")
os.makedirs(OUT, exist_ok=True)
start = time.time()

# %% [markdown]
# ## 1. The model
#
# Full mode: the shipped `cvae_mnist` preset when it is there, else the same
# recipe (`zoo/recipes/cvae_mnist.json`) trained briefly. Fast mode: a tiny CVAE.
# Training data for a CVAE are (image, label) pairs: `fit(x, y)`.

# %%
import keras  # noqa: E402

import zoo  # noqa: E402
from zoo import plots, training  # noqa: E402
from zoo.evaluate import classifier as clf_lib  # noqa: E402

x_train, y_train = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=4096 if FAST else 16384)
if not FAST and "cvae_mnist" in zoo.list_models():
    model = zoo.load("cvae_mnist")
    print("loaded the cvae_mnist preset")
else:
    keras.utils.set_random_seed(0)
    if FAST:
        model = zoo.models.get_model_class("cvae")(name="cvae_tiny", num_classes=10, latent_dim=8,
                                                     widths=(16, 32), hidden_dim=64)
    else:
        model = training.build_model(training.load_recipe("cvae_mnist"))
    model.compile(optimizer=keras.optimizers.Adam(2e-3 if FAST else 1e-3))
    model.fit(x_train, y_train, batch_size=64, epochs=3 if FAST else 5, verbose=0)
    print(f"trained {model.name} here")
x_test, y_test = zoo.data.load_numpy("mnist", "test", "dynamic_binarize", take=1000)
print(f"{model.name}: latent {model.latent_dim}, {model.num_classes} classes; "
      f"-ELBO of test digits given their labels {-np.mean(model.elbo(x_test, y_test)):.2f} nats")

# %% [markdown]
# ## 2. Ask for each digit
#
# One row per class, the same ten z's in every row (one seed): along a column only
# the label changes.

# %%
z = np.random.default_rng(0).standard_normal((10, model.latent_dim)).astype(np.float32)
rows = [model.decode_mean(z, np.full(10, digit)).numpy() for digit in range(10)]
plots.save_grid(np.concatenate(rows), os.path.join(OUT, "cvae_samples.png"), cols=10)
print("cvae_samples.png: row d holds ten samples of digit d")

# %% [markdown]
# ## 3. Label accuracy of the samples
#
# The judge is `zoo.evaluate.classifier.train_classifier` on real training digits
# (intensities in [0, 1], the scale of the model's E[x|z, y] samples); its own test
# accuracy says how far to trust it.

# %%
x_clf, y_clf = zoo.data.load_numpy("mnist", "train", "float", take=4096 if FAST else 60000)
x_clf_test, y_clf_test = zoo.data.load_numpy("mnist", "test", "float")
judge = clf_lib.train_classifier(x_clf, y_clf, epochs=2 if FAST else 3, seed=0)
print(f"judge: test accuracy on real digits {np.mean(clf_lib.predict_labels(judge, x_clf_test) == y_clf_test):.4f}")

per_class = 100 if FAST else 1000
requested = np.repeat(np.arange(10), per_class)
samples = model.sample(len(requested), seed=1, labels=requested)
predicted = clf_lib.predict_labels(judge, samples)
accuracy = {d: float(np.mean(predicted[requested == d] == d)) for d in range(10)}
print(f"label accuracy of {len(requested)} samples: {np.mean(predicted == requested):.4f}")
print("per class:", "  ".join(f"{d}: {a:.2f}" for d, a in accuracy.items()))
confusion = np.zeros((10, 10), int)
np.add.at(confusion, (requested, predicted), 1)
print("confusion (rows: requested, columns: what the judge read):")
print(confusion)

# %% [markdown]
# ## 4. Style transfer: same z, other labels
#
# Encode a test digit with its own label, keep the posterior mean z, decode it with
# every label. The first column is the input; if z holds the style, each row keeps
# the input's slant and stroke across the ten digits.

# %%
inputs, labels = x_test[:8], y_test[:8]
codes = model.encode(inputs, labels).mean().numpy()
analogies = []
for code, image in zip(codes, inputs):
    analogies.append(image[None])
    analogies.append(model.decode_mean(np.repeat(code[None], 10, axis=0), np.arange(10)).numpy())
plots.save_grid(np.concatenate(analogies), os.path.join(OUT, "cvae_analogies.png"), cols=11)
print("cvae_analogies.png: each row is a test digit, then its code decoded as 0..9")

# %% [markdown]
# A model trained with `label_dropout > 0` has also seen the *null label* (an
# all-zero one-hot row) and can sample without a class: `model.sample(n)`. The
# `cvae_mnist` recipe does not use it, so here every call names its labels.

# %%
print(f"done in {time.time() - start:.0f} s")
