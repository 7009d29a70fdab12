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
# # Anomaly detection with a VAE and a threshold
#
# A VAE trained on normal data gives every image a score: how badly the model
# explains it, -ELBO in nats (or the tighter -IWAE bound with k importance samples).
# Images the model has never seen the like of score high. The recipe:
#
# 1. score a **calibration** set of normal images and pick the threshold that flags
#    a chosen share of them (the false-positive rate, FPR, here 5%);
# 2. flag any new image whose score is above it.
#
# Measured on data the threshold never saw: the FPR actually obtained on other
# normal images, the detection rate (true-positive rate) on two kinds of anomalies,
# and the AUROC (threshold-free: 1 is perfect separation, 0.5 is chance).
#
# - normal: MNIST test digits;
# - anomalies A: Fashion-MNIST clothes (another dataset, same format);
# - anomalies B: MNIST test digits with 2% of their pixels flipped (sensor noise).
#
# The same functions run behind `zoo anomaly vae_mnist --input images.npy --fpr 0.05`.
# `FAST=1`: a tiny VAE trained here and fewer images; `OUT_DIR`: pictures.

# %%
import os
import tempfile
import time

import numpy as np

FAST = os.environ.get("FAST") == "1"
OUT = os.environ.get("OUT_DIR") or tempfile.mkdtemp(prefix="zoo-anomaly-")
os.makedirs(OUT, exist_ok=True)
start = time.time()

# %% [markdown]
# ## 1. A model of normal data
#
# Full mode: the shipped `vae_mnist` preset. Fast mode: a tiny VAE trained on 4096
# MNIST digits for a few hundred steps.

# %%
import keras  # noqa: E402

import zoo  # noqa: E402
from zoo import plots  # noqa: E402
from zoo.evaluate import anomaly  # noqa: E402

if not FAST and "vae_mnist" in zoo.list_models():
    model = zoo.load("vae_mnist")
else:
    keras.utils.set_random_seed(0)
    x_train, _ = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=4096)
    model = zoo.VAE(name="vae_tiny", latent_dim=8, widths=(16, 32), hidden_dim=64)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(x_train, batch_size=64, epochs=3, verbose=0)
method, k = ("elbo", 1) if FAST else ("iwae", 100)
print(f"model {model.name}; score: {anomaly.score_name(model, k, method)}")

# %% [markdown]
# ## 2. The images
#
# Every set gets the preprocessing of the model's training data (dynamic
# binarization), anomalies included: the detector sees what the app would feed it.

# %%
n = 500 if FAST else 2000
digits, _ = zoo.data.load_numpy("mnist", "test", "dynamic_binarize", take=3 * n)
calibration, normal_eval, to_corrupt = digits[:n], digits[n:2 * n], digits[2 * n:]
clothes, _ = zoo.data.load_numpy("fashion_mnist", "test", "dynamic_binarize", take=n)
flip = np.random.default_rng(0).random(to_corrupt.shape) < 0.02
noisy = np.where(flip, 1.0 - to_corrupt, to_corrupt).astype(np.float32)
plots.save_grid(np.concatenate([calibration[:10], clothes[:10], noisy[:10]]),
                os.path.join(OUT, "anomaly_inputs.png"), cols=10)
print("anomaly_inputs.png rows: normal digits, clothes, noisy digits")

# %% [markdown]
# ## 3. Scores and the threshold
#
# `anomaly_scores` batches the images (shrinking the batch when k is large);
# `threshold_at_fpr` flags at most 5% of the calibration images.

# %%
scores = {name: anomaly.anomaly_scores(model, images, method=method, k=k)
          for name, images in (("calibration", calibration), ("normal", normal_eval),
                                ("clothes", clothes), ("noisy digits", noisy))}
threshold = anomaly.threshold_at_fpr(scores["calibration"], fpr=0.05)
print(f"threshold at 5% FPR on {n} calibration digits: {threshold:.2f} nats")
for name, s in scores.items():
    print(f"  {name:12s} median score {np.median(s):8.2f}   flagged {np.mean(s > threshold):6.1%}")

# %%
print("on held-out images:")
print(f"  false-positive rate on normal digits:  {np.mean(scores['normal'] > threshold):.3f} (target 0.05)")
for name in ("clothes", "noisy digits"):
    print(f"  {name:12s} detection rate {np.mean(scores[name] > threshold):.3f}   "
          f"AUROC {anomaly.auroc(scores['normal'], scores[name]):.4f}")

# %% [markdown]
# ## 4. Look at the decisions
#
# A histogram of the scores with the threshold, the normal digits the detector
# flags (false alarms: often odd-looking digits), and the anomalies it scored
# lowest (the hardest to catch).

# %%
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(7, 3.5))
bins = np.linspace(min(map(np.min, scores.values())), np.percentile(np.concatenate(list(scores.values())), 99.5), 60)
for name in ("normal", "clothes", "noisy digits"):
    ax.hist(scores[name], bins=bins, alpha=0.55, label=name)
ax.axvline(threshold, color="k", linestyle="--", label="threshold (5% FPR)")
ax.set_xlabel(anomaly.score_name(model, k, method))
ax.set_ylabel("images")
ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(OUT, "anomaly_scores.png"), dpi=100)
plt.close(fig)

false_alarms = normal_eval[np.argsort(scores["normal"])[::-1][:10]]
hardest = np.concatenate([clothes[np.argsort(scores["clothes"])[:10]], noisy[np.argsort(scores["noisy digits"])[:10]]])
plots.save_grid(np.concatenate([false_alarms, hardest]), os.path.join(OUT, "anomaly_extremes.png"), cols=10)
print("anomaly_extremes.png rows: highest-scored normal digits, lowest-scored clothes, lowest-scored noisy digits")

# %% [markdown]
# ## 5. When the likelihood fails: a model of clothes meets digits
#
# Turn the roles around and -ELBO breaks: the shipped `vae_fashion_mnist` gives
# MNIST digits a *higher* likelihood than its own clothes (AUROC well below 1),
# because most of -log p(x) counts how many bits any model needs for an image, and
# a digit is mostly flat black. The other scores of `anomaly.SCORES` subtract that
# part: the image's lossless PNG code length (`complexity`, Serrà et al. 2020), the
# likelihood of a background model trained on perturbed clothes (`likelihood_ratio`,
# Ren et al. 2019), or measure how much a per-image optimized posterior improves the
# ELBO (`regret`, Xiao et al. 2020). `anomaly.default_score(model)` is the best
# measured one. Per score: AUROC, AUPRC and the detection rate at 5% FPR.

# %%
fashion_model = zoo.load("vae_fashion_mnist")
m = 100 if FAST else 500
fashion_x, _ = zoo.data.load_numpy("fashion_mnist", "test", "dequantize", take=2 * m)
digits_x, _ = zoo.data.load_numpy("mnist", "test", "dequantize", take=m)
print(f"vae_fashion_mnist, {m} held-out clothes vs {m} digits; default score: {anomaly.default_score(fashion_model)}")
print(f"  {'score':18s} {'AUROC':>6s} {'AUPRC':>6s} {'det.@5%':>8s} {'s':>5s}")
for name in anomaly.applicable_scores(fashion_model):
    t0 = time.time()
    calib, held, anomalous = (anomaly.anomaly_scores(fashion_model, x, method=name, k=16 if name == "iwae" else 1)
                              for x in (fashion_x[:m], fashion_x[m:], digits_x))
    print(f"  {name:18s} {anomaly.auroc(held, anomalous):6.3f} {anomaly.auprc(held, anomalous):6.3f} "
          f"{anomaly.detection_rate_at_fpr(calib, anomalous, 0.05):8.3f} {time.time() - t0:5.1f}")

# %% [markdown]
# For a whole *batch* of inputs, the typicality test (Nalisnick et al. 2019) asks
# whether the batch's mean -ELBO lies within the typical set of the normal data: a
# batch of digits is atypically *likely*, and flagged.

# %%
typical = anomaly.fit_typical_set(fashion_model, fashion_x[:m], batch_size=25)
for name, batch in (("clothes", fashion_x[m:m + 25]), ("digits", digits_x[:25])):
    result = anomaly.typicality_test(fashion_model, typical, batch)
    print(f"  batch of 25 {name:8s} |mean - H| = {result['statistic']:7.1f} nats (epsilon {result['epsilon']:.1f}), "
          f"p = {result['p_value']:.4f}, anomalous: {result['anomalous']}")
print(f"done in {time.time() - start:.0f} s")
