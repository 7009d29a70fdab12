"""Importance-sampled log-likelihood, with the posterior as the proposal.

    log p(x) ~= log (1/k) sum_i p(x, z_i) / q(z_i|x),  z_i ~ q(z|x)

This is the IWAE bound with k samples (Burda et al. 2015); it is a lower bound on
log p(x) that tightens as k grows, so the NLL reported is an upper bound. The k
samples are drawn in chunks and combined with a running log-sum-exp, so k=5000 needs
no more memory than one chunk.

A chunk is `batch_size` images x `k_chunk` samples, one decoder call. Which shape runs
fastest depends on the model and the machine (small calls stay in cache, large ones
amortize the per-call overhead), so `evaluate_likelihood` measures a few candidates
for the model once (`calibrate_chunks`, a few seconds, cached per model configuration
and machine) unless the caller fixes the shape. The shape decides which noise each
(image, sample) gets (a chunk's seed is its position), so an estimate is reproduced
with the same shape: every result records it, and the shipped cards' numbers were
measured with `DEFAULT_CHUNKS` (100 x 100, before calibration existed).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import time

import numpy as np
import tensorflow as tf

from zoo import io
from zoo.data import bits_per_dim
from zoo.data.dsprites import cache_dir
from zoo.models.base import LatentVariableModel
from zoo.validation import check_images


def _chunk_function(model):
    """A new tf.function (xb, cond, chunk_seed, kk) -> the model's log weights [kk, B].

    Every shape gets a trace of its own (no `reduce_retracing`): a trace generalized
    over the batch and sample dimensions runs the large chunks at half the speed, and
    an evaluation sees a few shapes only (its chunk and the remainders). New for each
    evaluation, so that it traces the model as it is then.
    """
    return tf.function(lambda xb, cond, chunk_seed, kk: model.log_importance_weights(xb, cond, kk, chunk_seed))


def importance_sampled_log_likelihood(
    model: LatentVariableModel,
    x,
    y=None,
    k: int = 5000,
    batch_size: int = 100,
    k_chunk: int = 100,
    seed: int = 0,
    progress=None,
) -> np.ndarray:
    """Per-example log p(x) estimates in nats (float64 array [N]); `progress`, if
    given, is called as progress(images_done, total) after each batch."""
    x = check_images(x, model.image_shape, "x").numpy()
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return _estimate(model, _chunk_function(model), x, y, k, batch_size, min(k_chunk, k), seed, progress)


def _estimate(model, chunk_log_weights, x, y, k, batch_size, k_chunk, seed, progress=None) -> np.ndarray:
    """`importance_sampled_log_likelihood` on checked images with a given chunk function."""
    out = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), batch_size):
        xb = tf.constant(x[start:start + batch_size])
        cond = None
        if model.conditional:
            cond = model.label_condition(np.asarray(y)[start:start + batch_size], len(xb))
        running = None
        done = 0
        while done < k:
            kk = min(k_chunk, k - done)
            chunk_seed = tf.constant([seed, start * 1_000_003 + done], tf.int32)
            lse = tf.reduce_logsumexp(chunk_log_weights(xb, cond, chunk_seed, kk), axis=0).numpy().astype(np.float64)
            running = lse if running is None else np.logaddexp(running, lse)
            done += kk
        out[start:start + len(xb)] = running - math.log(k)
        if progress is not None:
            progress(start + len(xb), len(x))
    return out


# (images, samples) per call of the evaluator before calibration: the shipped cards' shape.
DEFAULT_CHUNKS = (100, 100)
# The shapes `calibrate_chunks` times: the default, fewer images (the decoder's
# activations of a call fit in cache), fewer or more samples.
CHUNK_CANDIDATES = ((100, 100), (50, 100), (20, 100), (20, 200), (5, 100), (20, 25))
# Each candidate is called until this many seconds have passed (once at least), in each of
# `CALIBRATION_ROUNDS` rounds that alternate the candidates; a candidate's rate is its best
# round, so that a moment of load elsewhere on the machine does not decide the shape.
CALIBRATION_SECONDS = 0.3
CALIBRATION_ROUNDS = 3
CALIBRATION_FILE = "is_chunks.json"


def _calibration_key(model, candidates) -> str:
    """The cache key: the model's configuration, the machine (host, CPU, libraries) and
    the candidate shapes."""
    from zoo.training import machine_description

    text = json.dumps([model.get_config(), type(model).__name__, platform.node(), platform.processor(),
                       machine_description(), [list(c) for c in candidates]], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_chunks(model) -> tuple[int, int]:
    """`DEFAULT_CHUNKS`, with fewer images per call for a model whose
    `max_decodes_per_call` (images x samples; None: no limit) it would exceed."""
    images, samples = DEFAULT_CHUNKS
    limit = model.max_decodes_per_call
    return (images, samples) if limit is None else (max(1, min(images, limit // samples)), samples)


def fitting_candidates(model, candidates=CHUNK_CANDIDATES) -> tuple:
    """The candidate shapes within the model's `max_decodes_per_call`, and its default shape."""
    limit = model.max_decodes_per_call
    fitting = [c for c in candidates if limit is None or c[0] * c[1] <= limit]
    return tuple(dict.fromkeys([*fitting, default_chunks(model)]))


def calibrate_chunks(model, x, y=None, candidates=CHUNK_CANDIDATES, cache: bool = True) -> dict:
    """The fastest (images, samples) per call of the IS evaluator for this model here.

    Runs the evaluator on the first images of `x` with each candidate shape (one call)
    for `CALIBRATION_SECONDS` (once at least) after a first run that traces it, in
    `CALIBRATION_ROUNDS` alternating rounds: ~6 s for vae_mnist with the default
    candidates, and keeps the shape with the best round. Cached in `<cache dir>/is_chunks.json` (the dSprites
    cache: `$ZOO_CACHE_DIR` or ~/.cache/zoo) per model configuration and machine.

    Args:
        model: the model to evaluate.
        x, y: evaluation images (and labels for a conditional model); the candidates
            run on its first images. Fewer images than a candidate's shrink it, and
            such a measurement is not cached.
        candidates: (images, samples) shapes to time.
        cache: read and write the cache (False always measures, and writes nothing).
    Returns:
        {"images_per_call", "samples_per_call", "decodes_per_second" (of the chosen
        shape), "default_decodes_per_second" (of `DEFAULT_CHUNKS`, when a candidate),
        "candidates": {"IxS": decodes/s}, "cached": whether it came from the cache}.
    """
    path = os.path.join(cache_dir(), CALIBRATION_FILE)
    key = _calibration_key(model, candidates)
    cache = cache and len(x) >= max(images for images, _ in candidates)
    known = {}
    if cache and os.path.exists(path):
        with open(path) as f:
            known = json.load(f)
        if key in known:
            return {**known[key], "cached": True}
    x = check_images(x, model.image_shape, "x").numpy()
    chunk_log_weights = _chunk_function(model)
    runs = {}
    for images, samples in candidates:
        images = min(images, len(x))
        runs[f"{images}x{samples}"] = functools.partial(
            _estimate, model, chunk_log_weights, x[:images], None if y is None else y[:images],
            k=samples, batch_size=images, k_chunk=samples, seed=0)
    for run in runs.values():
        run()  # traces the shape: not timed
    rates = dict.fromkeys(runs, 0)
    for _ in range(CALIBRATION_ROUNDS):
        for shape, run in runs.items():
            calls, start = 0, time.perf_counter()
            while calls == 0 or time.perf_counter() - start < CALIBRATION_SECONDS:
                run()
                calls += 1
            images, samples = (int(v) for v in shape.split("x"))
            rates[shape] = max(rates[shape], round(calls * images * samples / (time.perf_counter() - start)))
    chosen = max(rates, key=rates.get)
    default = "x".join(map(str, DEFAULT_CHUNKS))
    images, samples = (int(v) for v in chosen.split("x"))
    result = {"images_per_call": images, "samples_per_call": samples, "decodes_per_second": rates[chosen],
              "default_decodes_per_second": rates.get(default), "candidates": rates}
    if cache:
        io.write_json(path, {**known, key: result})
    return {**result, "cached": False}


def evaluate_likelihood(model, x, y=None, k: int = 5000, seed: int = 0, chunks=DEFAULT_CHUNKS, progress=None) -> dict:
    """Test-set likelihood numbers: NLL (IS, k samples), ELBO terms, bits/dim, and the
    (images, samples) per call that produced the NLL.

    Args:
        model, x, y, k, seed: as in `importance_sampled_log_likelihood`.
        chunks: (images, samples) per evaluator call, or "auto": the shape
            `calibrate_chunks` measures fastest among those within the model's
            `max_decodes_per_call` (recorded as "chunk_calibration").
        progress: as in `importance_sampled_log_likelihood`.
    """
    calibration = None
    if chunks == "auto":
        calibration = calibrate_chunks(model, x, y, candidates=fitting_candidates(model))
        chunks = calibration["images_per_call"], calibration["samples_per_call"]
    images_per_call, samples_per_call = chunks
    start = time.time()
    log_px = importance_sampled_log_likelihood(model, x, y, k=k, seed=seed, batch_size=images_per_call,
                                               k_chunk=samples_per_call, progress=progress)
    seconds = time.time() - start
    elbo = np.concatenate([model.elbo(x[i:i + 500], None if y is None else y[i:i + 500], seed=seed)
                           for i in range(0, len(x), 500)])
    dims = int(np.prod(model.image_shape))
    nll = float(-log_px.mean())
    dequantized = not model.likelihood.discrete
    return {
        "nll_nats": nll,
        "nll_stderr": float(log_px.std(ddof=1) / math.sqrt(len(log_px))) if len(log_px) > 1 else 0.0,
        "nll_k": int(k),
        "negative_elbo_nats": float(-elbo.mean()),
        "bits_per_dim": bits_per_dim(nll, dims, dequantized=dequantized),
        "num_examples": int(len(x)),
        "seconds": seconds,
        "images_per_call": int(images_per_call),
        "samples_per_call": int(min(samples_per_call, k)),
        **({"chunk_calibration": calibration} if calibration else {}),
    }
