"""The measured numbers of a model card, produced by one function (and `zoo eval`).

    zoo eval NAME --write-card                        # every section that applies
    zoo eval NAME --metrics sample_quality,anomaly --write-card

Sections (each a function of the model and its card; the `SECTIONS` table maps names to them):

- likelihood: importance-sampled NLL (k samples), −ELBO, bits/dim, and the cheap
  quick check the test suite recomputes; its keys sit at the top of the card's
  "metrics" (the reference numbers), the other sections under their own names.
- latents: active units, KL per latent dimension; on labelled data a linear probe
  and k-means purity/NMI on the posterior means (see `representations`).
- sample_quality: Fréchet distance, precision and recall in the dataset's judge
  classifier's features (see `sample_quality`, `judges`), and the sampling speed.
- conditional: class fidelity of a conditional model's samples, by the judge.
- anomaly: every anomaly score (see `anomaly.SCORES`) of the dataset's test images
  against several shifts (the other dataset, rendered glyphs, noise, constant,
  inverted and flipped images; see `shifts`): AUROC, AUPRC and the detection rate
  at a threshold fitted for 5% FPR; the typicality test on batches.
- disentanglement: β-VAE, FactorVAE, MIG, DCI, SAP on dSprites' ground truth.
- codebook (VQ-VAEs): codes in use on the test images, their perplexity and the
  share of the most used one; the speed of drawing code grids from the prior.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow_probability as tfp

from zoo import data
from zoo.evaluate.anomaly import reconstruction_score
from zoo.evaluate.likelihood import default_chunks, evaluate_likelihood
from zoo.presets import load, read_metadata
from zoo.training import machine_description

# A cheap subset of the card's likelihood numbers that the test suite recomputes.
QUICK_CHECK = {"k": 50, "num_examples": 500}
# The anomaly section's protocol. The partner dataset of each dataset (the
# "other_dataset" shift), the false-positive rate thresholds are fitted at, the
# normal test images the thresholds are fitted on (and as many held out to measure
# on), the images of each shift, the importance samples of the "iwae" score, and
# the batch size and level of the typicality test.
ANOMALY_PAIRS = {"mnist": "fashion_mnist", "fashion_mnist": "mnist"}
ANOMALY_FPR = 0.05
ANOMALY_IMAGES = 300
ANOMALY_IWAE_K = 16
# Images per batch when the sample_quality section times `model.sample`.
SPEED_DRAWS = 64
TYPICALITY_BATCH = 10


def _split(card):
    # A dataset without a test split (dSprites) is scored on training images.
    return "test" if "test" in data.spec_for_card(card).split_sizes else "train"


def evaluation_images(card, seed=0, take=None):
    """(images, labels) the card's numbers are measured on: the first `take` test
    images (the held-out images of a folder), or, for a dataset without a test split
    (dSprites, stored in factor order), `take` training images at seeded random
    positions (10,000 when `take` is None)."""
    preprocessing = card["preprocessing"]
    if _split(card) == "test":
        return data.load_numpy_for_card(card, "test", take=take, seed=seed)
    images, labels = data.load_arrays(card["dataset"], "train")
    index = np.sort(np.random.default_rng(seed).permutation(len(images))[: take or 10000])
    return data.preprocess(images[index], preprocessing, seed), labels[index]


def _labelled(y):
    return y is not None and np.asarray(y).ndim == 1


def applicable_sections(model, card) -> list[str]:
    dataset = card["dataset"]
    # A VQ-VAE's codes are not Gaussian latents: active units and KL per dimension do not
    # apply; its "codebook" section says how the codes are used instead.
    out = ["likelihood"] if model.discrete_codes else ["likelihood", "latents"]
    # Every registered dataset has a judge (saved_models/judges/<dataset>) for sample
    # quality; a folder of one's own images has none.
    if dataset != data.FOLDER_DATASET:
        out.append("sample_quality")
        if model.conditional:
            out.append("conditional")
    if dataset in ANOMALY_PAIRS and not model.conditional:
        out.append("anomaly")
    if dataset == "dsprites":
        out.append("disentanglement")
    if model.discrete_codes:
        out.append("codebook")
    return out


def quick_check(model, card, seed=0) -> dict:
    """The cheap number the test suite recomputes: the IS-NLL with k=50 on the first
    500 evaluation images (the reconstruction error for models without a density),
    with the evaluator's shape fixed at `DEFAULT_CHUNKS` (fewer images per call for a
    model that caps its decodes per call: `default_chunks`), as when the cards were written."""
    x, y = evaluation_images(card, seed=seed, take=QUICK_CHECK["num_examples"])
    if not model.has_density:
        return {"reconstruction_error_nats": float(reconstruction_score(model, x, batch_size=500).mean()),
                "num_examples": int(len(x))}
    result = evaluate_likelihood(model, x, y if model.conditional else None, k=QUICK_CHECK["k"], seed=seed,
                                 chunks=default_chunks(model))
    return {key: result[key] for key in ("nll_nats", "nll_k", "num_examples")}


def likelihood_section(model, card, k=5000, num_examples=None, seed=0, progress=None, chunks="auto") -> dict:
    """The NLL and its terms; `chunks` is the evaluator's (images, samples) per call or
    "auto" (see `zoo.evaluate.likelihood.evaluate_likelihood`)."""
    split = _split(card)
    x, y = evaluation_images(card, seed=seed, take=num_examples)
    if not model.has_density:
        # An AE/WAE has no log p(x) to bound: its measure of fit is the reconstruction error.
        start = time.time()
        metrics = {"reconstruction_error_nats": float(reconstruction_score(model, x, batch_size=500).mean()),
                   "num_examples": int(len(x)), "seconds": time.time() - start,
                   "protocol": f"{split} split ({len(x)} images), {card['preprocessing']} with seed {seed}; "
                               "-log p(x | z = f(x)) (no density over x, so no NLL)"}
    else:
        metrics = evaluate_likelihood(model, x, y if model.conditional else None, k=k, seed=seed, chunks=chunks,
                                      progress=progress)
        metrics["machine"] = machine_description()  # what "seconds" was measured on
        metrics["protocol"] = (
            f"{split} split ({metrics['num_examples']} images), {card['preprocessing']} with seed {seed}; log p(x) "
            f"by importance sampling with the posterior as proposal, k={k} (an upper bound on the NLL), "
            f"{metrics['images_per_call']} images x {metrics['samples_per_call']} samples per call")
        if model.discrete_codes:
            metrics["protocol"] += ("; the posterior is a point mass on the code grid, so the bound is the ELBO "
                                    "log p(x|codes) + log p(codes) for every k")
        caveat = data.source_caveat(card["dataset"], split) if card["dataset"] in data.DATASETS else ""
        if caveat:  # a lossy copy of a public dataset: its numbers must not pass for the published kind
            metrics["data_caveat"] = caveat
            metrics["protocol"] += f"; {caveat}"
    metrics["quick_check"] = quick_check(model, card, seed=seed)
    return metrics


def latents_section(model, card, seed=0, num_examples=10000, num_probe_train=10000) -> dict:
    from zoo.evaluate import representations as rep

    split = _split(card)
    x, y = evaluation_images(card, seed=seed, take=num_examples)
    cond = y if model.conditional else None
    means, stds = rep.posterior_moments(model, x, cond)
    units = rep.active_units(means)
    out = {"active_units": units["active_units"], "latent_dim": int(means.shape[1]),
           "activity": [round(a, 5) for a in units["activity"]], "num_examples": int(len(x))}
    # The per-dimension KL has a closed form for a diagonal Gaussian posterior against N(0, I).
    posterior = model.encode(x[:2], None if cond is None else cond[:2])
    if model.has_density and card.get("prior", "standard_normal") == "standard_normal" \
            and isinstance(posterior, tfp.distributions.MultivariateNormalDiag):
        kl = rep.gaussian_kl_per_dimension(means, stds)
        out["kl_per_dimension"] = [round(v, 4) for v in kl.tolist()]
        out["kl_total"] = float(kl.sum())
    # A probe needs two classes at least (an unlabelled folder has one).
    if _labelled(y) and split == "test" and data.spec_for_card(card).num_classes >= 2:
        x_train, y_train = data.load_numpy_for_card(card, "train", take=num_probe_train, seed=seed)
        train_means, _ = rep.posterior_moments(model, x_train, y_train if model.conditional else None)
        out["linear_probe_accuracy"] = rep.linear_probe_accuracy(train_means, y_train, means, y, seed=seed)
        out.update(rep.kmeans_scores(means, y, seed=seed))
    probe = f" (probe fitted on the first {num_probe_train} training images)" if "linear_probe_accuracy" in out else ""
    out["protocol"] = (f"posterior means of {len(x)} {split} images{probe}; "
                       f"active: Cov_x E[z_u] > {rep.ACTIVE_UNIT_THRESHOLD}")
    return out


def _judge_images(card, take=None):
    # The judge reads pixels in [0, 1] (grey or RGB), as samples E[x|z] are. Held-out images
    # are the test split, or the judge's own held-out draw for dSprites.
    from zoo.evaluate.judges import real_images

    (x_test, _), (x_train, _) = real_images(card["dataset"], take=take)
    return x_test, x_train


def sample_quality_section(model, card, seed=0, num_samples=10000) -> dict:
    from zoo.evaluate.judges import load_judge
    from zoo.evaluate.sample_quality import sample_quality

    judge = load_judge(card["dataset"])
    x_test, x_train = _judge_images(card, take=num_samples)
    out = sample_quality(model, judge, x_test, x_train, num_samples=num_samples, seed=seed)
    out["sampling"] = sampling_speed(model, seed=seed)
    real = (f"the first {len(x_test)} test images" if _split(card) == "test"
            else f"{len(x_test)} images held out from the judge's training")
    out["protocol"] = (f"{num_samples} prior samples E[x|z] vs {real} (pixels in [0, 1]), "
                       f"features of the {card['dataset']} judge (test accuracy "
                       f"{judge.judge_metadata['test_accuracy']:.4f}); precision/recall with k=3 on 5000 of each")
    return out


def sampling_speed(model, seed=0, draws=SPEED_DRAWS) -> dict:
    """Images drawn per second by `model.sample` in one batch of `draws`, timed after a
    first call has traced the graphs (an autoregressive decoder draws pixel by pixel)."""
    labels = np.arange(draws) % int(model.num_classes) if model.conditional else None
    model.sample(2, seed=seed, labels=None if labels is None else labels[:2])
    start = time.time()
    model.sample(draws, seed=seed, labels=labels)
    seconds = time.time() - start
    return {"images": int(draws), "seconds": round(seconds, 6), "images_per_second": round(draws / seconds, 1),
            "machine": machine_description()}


def conditional_section(model, card, seed=0, samples_per_class=1000) -> dict:
    from zoo.evaluate.classifier import predict_labels
    from zoo.evaluate.judges import load_judge
    from zoo.evaluate.sample_quality import class_fidelity

    judge = load_judge(card["dataset"])
    out = class_fidelity(model, judge, samples_per_class=samples_per_class, seed=seed)
    out["per_class"] = [round(v, 4) for v in out["per_class"]]
    out["judge_test_accuracy"] = judge.judge_metadata["test_accuracy"]
    # The same judge on real test images, class by class: what a perfect sampler would score.
    x_test, y_test = data.load_numpy_for_card(card, "test", preprocessing="float")
    predicted = predict_labels(judge, x_test)
    out["judge_test_accuracy_per_class"] = [round(float(np.mean(predicted[y_test == c] == c)), 4)
                                            for c in range(model.num_classes)]
    out["protocol"] = (f"{samples_per_class} samples E[x|z, y=c] per class c, z from the prior (p(z|y) for a "
                       "class-conditional one); the fraction "
                       f"the {card['dataset']} judge classifies as c; beside it the judge's accuracy per class on "
                       "the real test images")
    return out


def anomaly_section(model, card, seed=0, num_images=ANOMALY_IMAGES) -> dict:
    """Every applicable anomaly score on every shift.

    Per score: the threshold fitted at `ANOMALY_FPR` on the first `num_images` normal
    test images, the FPR it gives on the next `num_images`, the seconds per 1000
    images, and per shift the AUROC, AUPRC (held-out normal vs `num_images` shifted
    images) and the detection rate at that threshold. Shifted images are preprocessed
    like the normal ones. The typicality test runs on batches of `TYPICALITY_BATCH`
    with −ELBO, its typical set estimated on the threshold-fitting images.
    """
    from zoo.evaluate import anomaly, shifts

    dataset, preprocessing = card["dataset"], card["preprocessing"]
    partner = ANOMALY_PAIRS[dataset]
    normal, _ = data.load_numpy(dataset, "test", preprocessing, seed=seed, take=2 * num_images)
    fit, held_out = normal[:num_images], normal[num_images:]
    # The shift's key in the card: the partner dataset's own name instead of "other_dataset".
    shifted = {partner if shift == "other_dataset" else shift:
               data.preprocess(shifts.shifted_images(shift, num_images, dataset, partner, seed), preprocessing, seed)
               for shift in shifts.SHIFTS}
    scores_out, nll = {}, {}
    for method in anomaly.applicable_scores(model):
        def score(x):
            return anomaly.anomaly_scores(model, x, method=method, k=ANOMALY_IWAE_K if method == "iwae" else 1,
                                          seed=seed)

        start = time.time()
        s_fit, s_normal = score(fit), score(held_out)
        s_shifted = {name: score(x) for name, x in shifted.items()}
        seconds = time.time() - start
        threshold = anomaly.threshold_at_fpr(s_fit, ANOMALY_FPR)
        result = {"description": anomaly.score_name(model, ANOMALY_IWAE_K if method == "iwae" else 1, method),
                  "threshold": threshold, "held_out_fpr": float(np.mean(s_normal > threshold)),
                  "seconds_per_1000_images": round(1000 * seconds / (2 * num_images + len(shifted) * num_images), 1)}
        for name, s in s_shifted.items():
            result[name] = {"auroc": round(anomaly.auroc(s_normal, s), 4),
                            "auprc": round(anomaly.auprc(s_normal, s), 4),
                            "detection_rate": float(np.mean(s > threshold))}
        scores_out[method] = result
        if method == "elbo":
            nll = {"fit": s_fit, "held_out": s_normal, **s_shifted}
    out = {"default_score": anomaly.default_score(model), "fpr_target": ANOMALY_FPR,
           "shifts": list(shifted), "scores": scores_out}
    if nll:
        typical = anomaly.TypicalSet.from_scores(nll["fit"], TYPICALITY_BATCH, seed=seed)

        def flagged(s):
            batches = s[: len(s) // TYPICALITY_BATCH * TYPICALITY_BATCH].reshape(-1, TYPICALITY_BATCH)
            return float(np.mean([typical.test_scores(b)["anomalous"] for b in batches]))

        out["typicality"] = {"batch_size": TYPICALITY_BATCH, "alpha": typical.alpha, "entropy_nats": typical.entropy,
                             "epsilon_nats": typical.epsilon, "held_out_false_alarms": flagged(nll["held_out"]),
                             "detection_rate": {name: flagged(nll[name]) for name in shifted}}
    out["protocol"] = (
        f"thresholds fitted at {ANOMALY_FPR:.0%} FPR on the first {num_images} {dataset} test images; AUROC, AUPRC and "
        f"rates on the next {num_images} vs {num_images} images of each shift ({partner} test images, rendered "
        "glyphs, uniform noise, constant images, and inverted / upside-down "
        f"{dataset} test images from the end of the split), all preprocessed as '{preprocessing}' with seed {seed}; "
        f"iwae with k={ANOMALY_IWAE_K}; typicality: non-overlapping batches of {TYPICALITY_BATCH}, -ELBO, "
        f"alpha={anomaly.TYPICALITY_ALPHA}, typical set from the threshold-fitting images")
    return out


def disentanglement_section(model, card, seed=0, **options) -> dict:
    """Every metric with its published protocol; `options` maps a metric's function
    name to smaller sizes for quick runs, e.g. {"mig": {"num_train": 1000}}."""
    from zoo.data.dsprites import DSpritesGroundTruth
    from zoo.evaluate import disentanglement as dis

    truth = DSpritesGroundTruth()
    codes = dis.representation_fn_from_model(model)
    out = {}
    for metric in (dis.beta_vae_score, dis.factor_vae_score, dis.mig, dis.dci, dis.sap):
        start = time.time()
        result = metric(truth, codes, np.random.default_rng(seed), **options.get(metric.__name__, {}))
        out[metric.__name__] = {key: float(value) for key, value in result.items()}
        out[metric.__name__]["seconds"] = round(time.time() - start, 1)
    out["protocol"] = ("disentanglement_lib's default protocols (10,000 training / 5,000 evaluation points, "
                       "20 bins for MIG, gradient-boosted trees for DCI) on the posterior means; the five varying "
                       f"dSprites factors; seed {seed}")
    return out


def evaluate_preset(name: str, k: int = 5000, num_examples: int | None = None, seed: int = 0,
                    sections=None, section_options: dict | None = None, log=None, chunks="auto") -> dict:
    """The card's metrics for a preset: a dict with the likelihood keys at the top
    (when "likelihood" is among `sections`) and one sub-dict per other section.

    Args:
        name: preset name or directory.
        k: importance samples for the NLL.
        num_examples: the NLL on the first N test images only (all when None).
        seed: seed of every random draw (binarization, samples, metrics).
        sections: names from `SECTIONS`; None = every section that applies.
        section_options: per-section keyword arguments overriding the card protocol's
            sizes, e.g. {"anomaly": {"num_images": 400}} (for quick runs and tests).
        log: optional callable(message) for progress lines (the CLI prints them to stderr).
        chunks: the likelihood evaluator's (images, samples) per call, or "auto" (measured
            for the model here); the section's command records the shape used.
    """
    log = log or (lambda message: None)
    model = load(name)
    card = read_metadata(name)
    valid = applicable_sections(model, card)
    if sections is None:
        sections = valid
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown metric sections {unknown}; known: {', '.join(SECTIONS)}")
    skipped = [s for s in sections if s not in valid]
    if skipped:
        raise ValueError(f"{name}: sections {skipped} do not apply to this preset (applicable: {', '.join(valid)})")
    metrics = {}
    for section in sections:
        start = time.time()
        log(f"{name}: {section} ...")
        options = dict((section_options or {}).get(section, {}))
        command = f"zoo eval {name} --metrics {section}"
        if section == "likelihood":
            def progress(done, total):
                log(f"{name}: likelihood, k={k}: {done}/{total} images, {time.time() - start:.0f} s")

            options.update(k=k, num_examples=num_examples, progress=progress, chunks=chunks)
            command += f" --k {k}" + (f" --num-examples {num_examples}" if num_examples else "")
        result = SECTIONS[section](model, card, seed=seed, **options)
        if "images_per_call" in result:  # the shape decides the noise: the command pins it
            command += f" --chunks {result['images_per_call']}x{result['samples_per_call']}"
        result["command"] = command
        if section == "likelihood":  # the card's reference numbers sit at the top of "metrics"
            metrics.update(result)
        else:
            result["seconds"] = round(time.time() - start, 1)
            metrics[section] = result
    return metrics


def codebook_section(model, card, seed=0, num_examples=None, sampling_draws=64) -> dict:
    """A VQ-VAE's code usage on the evaluation images, and the prior's sampling speed."""
    from zoo.models.vq_vae import codebook_usage

    x, _ = evaluation_images(card, seed=seed, take=num_examples)
    out = codebook_usage(model, x)
    model.sample_codes(2, seed=seed)  # the first call traces the compiled sampler: time the next one
    start = time.time()
    model.sample_codes(sampling_draws, seed=seed)
    seconds = time.time() - start
    grid = model.grid[0] * model.grid[1]
    out["prior_sampling"] = {"code_grids": int(sampling_draws), "seconds": round(seconds, 3),
                             "grids_per_second": round(sampling_draws / seconds, 1), "network_passes": int(grid)}
    out["protocol"] = (f"codes of the {_split(card)} split's {len(x)} images ({card['preprocessing']}, seed {seed}): "
                       "codes used at least once, exp(entropy) of their shares, the largest share; sampling: "
                       f"{sampling_draws} code grids in one batch, {grid} PixelCNN passes (one per grid position)")
    return out


# Section name -> the function that measures it, in the order `zoo eval` runs them.
SECTIONS = {
    "likelihood": likelihood_section,
    "latents": latents_section,
    "sample_quality": sample_quality_section,
    "conditional": conditional_section,
    "anomaly": anomaly_section,
    "disentanglement": disentanglement_section,
    "codebook": codebook_section,
}


__all__ = ["SECTIONS", "applicable_sections", "evaluate_preset"]
