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
# # Quickstart: load a pretrained VAE, sample, reconstruct, measure
#
# The zoo ships trained models as **presets**: a directory with the model's
# configuration, its weights (checked against a sha256 at load) and a model card.
# This notebook loads `vae_mnist`, draws new digits from it, encodes and
# reconstructs test digits, and measures how well it explains them with the ELBO
# and the tighter importance-weighted (IWAE) bound.
#
# Environment: `FAST=1` uses few images and small importance-sample counts;
# `OUT_DIR` is where the pictures go (a temporary directory by default).

# %%
import os
import tempfile
import time

import numpy as np

FAST = os.environ.get("FAST") == "1"
OUT = os.environ.get("OUT_DIR") or tempfile.mkdtemp(prefix="zoo-quickstart-")
os.makedirs(OUT, exist_ok=True)
start = time.time()

# %% [markdown]
# ## 1. Load a preset
#
# `zoo.list_models()` lists the shipped presets; `zoo.load(name)` returns a built
# Keras model with its weights. The model card travels with it as
# `model.preset_metadata`. (Should `vae_mnist` be missing from your checkout, a
# small VAE is trained for a few seconds instead, so the rest still runs.)

# %%
import keras  # noqa: E402

import zoo  # noqa: E402
from zoo import plots  # noqa: E402

print("shipped presets:", zoo.list_models())
if "vae_mnist" in zoo.list_models():
    model = zoo.load("vae_mnist")
    card = model.preset_metadata
    print(f"{card['name']}: {card['dataset']}, {card['preprocessing']}, {card['parameters']:,} parameters")
    metrics = card.get("metrics", {})
    if "nll_nats" in metrics:
        print(f"model card: test NLL {metrics['nll_nats']:.2f} nats (k={metrics['nll_k']}, "
              f"{metrics['num_examples']} images), -ELBO {metrics['negative_elbo_nats']:.2f} nats")
else:
    keras.utils.set_random_seed(0)
    x_fallback, _ = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=4096)
    model = zoo.VAE(name="quickstart_vae", latent_dim=8, widths=(16, 32), hidden_dim=64)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(x_fallback, batch_size=64, epochs=2, verbose=0)
    print("vae_mnist is not in saved_models/: trained a small VAE instead")
print(f"latent dimensions: {model.latent_dim}, image shape: {model.image_shape}")

# %% [markdown]
# ## 2. Sample
#
# `model.sample(n, seed=...)` draws z from the prior N(0, I) and decodes it; the
# images are E[x | z], the pixel probabilities of the Bernoulli likelihood, in
# [0, 1]. The same seed gives the same images.

# %%
samples = model.sample(64, seed=0)
assert np.array_equal(samples, model.sample(64, seed=0))
print("samples:", samples.shape, samples.dtype, f"in [{samples.min():.2f}, {samples.max():.2f}]")
plots.save_grid(samples, os.path.join(OUT, "samples.png"), cols=8)

# %% [markdown]
# ## 3. Encode and reconstruct
#
# The data loader applies the preprocessing the preset was trained with (here
# dynamic binarization: each pixel is on with probability = its intensity).
# `model.encode(x)` returns the posterior q(z|x) as a `tfd` distribution;
# `model.reconstruct(x)` decodes its mean.

# %%
n_eval = 200 if FAST else 500
x_test, y_test = zoo.data.load_numpy("mnist", "test", "dynamic_binarize", take=n_eval)
q = model.encode(x_test[:16])
print("q(z|x):", type(q).__name__, "batch", q.batch_shape, "event", q.event_shape)
print(f"average posterior stddev: {float(np.mean(q.stddev())):.3f} (the prior's is 1)")
recon = model.reconstruct(x_test[:16])
plots.save_grid(np.concatenate([x_test[:16], recon]), os.path.join(OUT, "reconstructions.png"), cols=16)
print("top row: test digits, bottom row: their reconstructions")

# %% [markdown]
# ## 4. Measure: ELBO and IWAE bounds
#
# `model.elbo(x)` is the evidence lower bound per image, in nats; its negative is
# an upper bound on the negative log-likelihood. `model.iwae_bound(x, k)` averages
# k importance weights and tightens the bound as k grows (Burda et al. 2015). The
# preset's card reports the k=5000 value on all 10,000 test images
# (`zoo eval vae_mnist --metrics likelihood --k 5000`, about 90 minutes here).

# %%
ks = (1, 10, 50) if FAST else (1, 10, 100, 1000)
print(f"on {len(x_test)} test images:")
print(f"  -ELBO            {-np.mean(model.elbo(x_test)):7.2f} nats")
for k in ks:
    bound = np.concatenate([model.iwae_bound(x_test[i:i + 100], k=k) for i in range(0, len(x_test), 100)])
    print(f"  -IWAE (k={k:4d})  {-np.mean(bound):7.2f} nats")

# %% [markdown]
# ## 5. Walk the latent space
#
# `zoo.plots.interpolation` decodes the straight line between two posterior means;
# `zoo.plots.traversal` sweeps one latent coordinate at a time from -3 to 3 while
# holding the others at an image's code. In a plain VAE single coordinates are not
# expected to mean anything in particular (that is what the disentanglement
# tutorial is about).

# %%
path = plots.interpolation(model, x_test[0], x_test[1], steps=10)
plots.save_grid(path, os.path.join(OUT, "interpolation.png"), cols=10)
walk = plots.traversal(model, x=x_test[0], dims=range(min(6, model.latent_dim)))
plots.save_grid(walk, os.path.join(OUT, "traversal.png"), cols=9)
print(f"pictures in {OUT}: {sorted(f for f in os.listdir(OUT) if f.endswith('.png'))}")
print(f"done in {time.time() - start:.0f} s")
