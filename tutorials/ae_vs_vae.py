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
# # AE vs VAE: what the KL term buys, measured
#
# A deterministic autoencoder (AE) and a VAE with the same networks differ in one
# term: the VAE's encoder outputs a distribution, and the loss adds
# KL(q(z|x) || N(0, I)). The usual claim is that the AE reconstructs better but
# cannot *generate*: decoding z ~ N(0, I) gives garbage, because nothing made its
# codes look like N(0, I). This notebook measures both halves of that claim.
#
# - **Reconstruction**: -log p(x | z = the code of x), in nats per image (lower is better).
# - **Prior-sample quality**: the Fréchet distance (FD) between the decoded N(0, I)
#   samples and real test digits, in the feature space of a small CNN classifier
#   trained on MNIST (the FID recipe with an MNIST-scale network; lower is better).
#   Two references frame the number: real training digits vs real test digits (the
#   floor: what a perfect generator would score with this many images) and the AE
#   decoding codes drawn from a Gaussian fitted to its own training codes (does the
#   AE fail because of its decoder or because its codes are not N(0, I)?).
#
# `FAST=1` trains two tiny models for a few hundred steps on 4096 images (the
# numbers then say little about the full-size presets); `OUT_DIR` receives the
# pictures.

# %%
import os
import tempfile
import time

import numpy as np

FAST = os.environ.get("FAST") == "1"
OUT = os.environ.get("OUT_DIR") or tempfile.mkdtemp(prefix="zoo-ae-vs-vae-")
os.makedirs(OUT, exist_ok=True)
start = time.time()

# %% [markdown]
# ## 1. The two models
#
# Full mode uses the shipped `ae_mnist` and `vae_mnist` presets when both are
# there (same encoder/decoder, 32 latent dimensions; the AE's recipe is
# `zoo/recipes/ae_mnist.json`); otherwise both are built from their recipes and
# trained with the same budget. Fast mode trains two tiny models, same networks,
# same data, same steps.

# %%
import keras  # noqa: E402

import zoo  # noqa: E402
from zoo import plots, training  # noqa: E402
from zoo.evaluate import classifier as clf_lib  # noqa: E402

n_train = 4096 if FAST else 60000
x_train, y_train = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=n_train)
x_test, y_test = zoo.data.load_numpy("mnist", "test", "dynamic_binarize", take=1000 if FAST else 10000)


def train_pair():
    """An AE and a VAE with identical networks, trained on the same data for the same steps."""
    models = {}
    for variant in ("ae", "vae"):
        keras.utils.set_random_seed(0)
        if FAST:
            cls = zoo.models.get_model_class(variant)
            model = cls(name=f"{variant}_tiny", latent_dim=8, widths=(16, 32), hidden_dim=64)
            epochs, data = 3, x_train
        else:
            recipe = training.load_recipe(f"{variant}_mnist")
            model = training.build_model(recipe)
            epochs, data = 5, x_train[:16384]
        model.compile(optimizer=keras.optimizers.Adam(2e-3 if FAST else 1e-3))
        model.fit(data, batch_size=64, epochs=epochs, verbose=0)
        models[variant] = model
    return models["ae"], models["vae"]


if not FAST and {"ae_mnist", "vae_mnist"} <= set(zoo.list_models()):
    ae, vae = zoo.load("ae_mnist"), zoo.load("vae_mnist")
    source = "shipped presets"
else:
    ae, vae = train_pair()
    source = "trained here" + (" (fast mode: tiny networks, 192 steps each)" if FAST else "")
print(f"AE  {ae.name}: latent {ae.latent_dim}, {ae.count_params():,} parameters ({source})")
print(f"VAE {vae.name}: latent {vae.latent_dim}, {vae.count_params():,} parameters")

# %% [markdown]
# ## 2. Reconstruction
#
# Both decode the posterior mean (the AE's code is that mean). The AE's
# `reconstruction_error` and the VAE's likelihood at its posterior mean are the
# same quantity: -log p(x | z), nats per image.

# %%
ae_rec = np.mean(ae.reconstruction_error(x_test))
vae_rec = np.mean(-vae.decode(vae.encode(x_test).mean()).log_prob(x_test).numpy())
print(f"reconstruction -log p(x|z) on {len(x_test)} test digits:  AE {ae_rec:6.2f}   VAE {vae_rec:6.2f} nats")
plots.save_grid(np.concatenate([x_test[:12], ae.reconstruct(x_test[:12]), vae.reconstruct(x_test[:12])]),
                os.path.join(OUT, "reconstructions_compared.png"), cols=12)
print("reconstructions_compared.png rows: test digits, AE, VAE")

# %% [markdown]
# ## 3. Where the codes live
#
# The prior is N(0, I). How far are the codes of training images from it? For
# each model, the norm of the mean code and the spread of each coordinate (the VAE's
# posterior means are a little narrower than 1 by design: the rest of the unit
# variance is the posterior's own noise).

# %%
codes_ae = ae.encode(x_train[:4096]).mean().numpy()
codes_vae = vae.encode(x_train[:4096]).mean().numpy()
for name, codes in (("AE", codes_ae), ("VAE", codes_vae)):
    stds = codes.std(axis=0)
    print(f"{name:3s} codes: |mean| {np.linalg.norm(codes.mean(axis=0)):6.2f}, "
          f"per-coordinate std from {stds.min():.2f} to {stds.max():.2f} (prior: 0 and 1)")

# %% [markdown]
# ## 4. Prior samples, judged by a classifier's features
#
# The judge: `zoo.evaluate.classifier.train_classifier`, a small CNN trained on
# real MNIST digits (intensities in [0, 1], the same scale as the models' E[x|z]
# samples). Its 128-unit penultimate layer is the feature space.

# %%
x_clf, y_clf = zoo.data.load_numpy("mnist", "train", "float", take=4096 if FAST else 60000)
x_real_test, y_real_test = zoo.data.load_numpy("mnist", "test", "float")
judge = clf_lib.train_classifier(x_clf, y_clf, epochs=2 if FAST else 3, seed=0)
judge_acc = np.mean(clf_lib.predict_labels(judge, x_real_test) == y_real_test)
print(f"judge classifier: test accuracy {judge_acc:.4f}")

n_samples = 1000 if FAST else 10000
rng = np.random.default_rng(0)
# The AE's codes fitted with a full-covariance Gaussian: samples that live where its codes do.
fitted = rng.multivariate_normal(codes_ae.mean(axis=0), np.cov(codes_ae, rowvar=False), size=n_samples)
sets = {
    "real train digits (floor)": x_clf[:n_samples],
    "AE, z ~ N(0, I)": ae.sample(n_samples, seed=1),
    "AE, z ~ Gaussian fit to its codes": ae.decode_mean(fitted.astype(np.float32)).numpy(),
    "VAE, z ~ N(0, I)": vae.sample(n_samples, seed=1),
}
# One pass of the judge over everything: the real test digits first, then each set.
everything = np.concatenate([x_real_test[:n_samples], *sets.values()])
feats = np.split(clf_lib.features(judge, everything), len(sets) + 1)
confidence = np.split(judge.predict(everything, batch_size=256, verbose=0).max(axis=1), len(sets) + 1)
results = {name: (clf_lib.frechet_distance(f, feats[0]), float(np.mean(c > 0.9)))
           for name, f, c in zip(sets, feats[1:], confidence[1:])}
print(f"Fréchet distance to {n_samples} real test digits (judge features), and the share of images the judge")
print("classifies with > 90% confidence:")
for name, (fd, confident) in results.items():
    print(f"  {name:36s} FD {fd:8.2f}   confident {confident:6.1%}")

# %%
rows = [x_real_test[:12]] + [images[:12] for name, images in sets.items() if not name.startswith("real")]
plots.save_grid(np.concatenate(rows), os.path.join(OUT, "samples_compared.png"), cols=12)
print("samples_compared.png rows: real test digits, AE N(0, I), AE fitted Gaussian, VAE N(0, I)")

# %% [markdown]
# ## 5. Reading the numbers
#
# The AE usually reconstructs better (its code carries no noise, and nothing pulls it
# towards the prior), while its N(0, I) samples are far from real digits; the VAE's
# samples come much closer. The fitted-Gaussian row tells how much of the AE's gap is
# the mismatch between its codes and the prior: when it closes most of the gap, the
# AE's decoder is fine and only the sampling distribution was wrong (the point of
# "regularized autoencoders", Ghosh et al. 2020). In fast mode the models are tiny and
# barely trained, so the gaps can be small or even reversed; the full-size presets
# make the comparison in earnest.
#
# The confidence column is there as a warning: a classifier can be confident about
# blobs that look like no digit (softmax networks are overconfident away from their
# training data), so "the classifier is sure" is a poor judge of samples. The FD,
# which compares whole feature distributions, is the measure used here.

# %%
fd_ae, fd_vae = results["AE, z ~ N(0, I)"][0], results["VAE, z ~ N(0, I)"][0]
print(f"summary: reconstruction AE {ae_rec:.2f} vs VAE {vae_rec:.2f} nats; "
      f"prior-sample FD AE {fd_ae:.2f} vs VAE {fd_vae:.2f}")
print(f"done in {time.time() - start:.0f} s")
