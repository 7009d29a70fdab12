"""The protocol of the training-throughput benchmark: rounds, the IS-NLL timing, the sweep.

Every contender is set up once; then in each round every contender trains its
warm-up and timed steps, one after the other in the same process, so that slow
drifts of the machine hit all of them alike. A figure is the median over rounds
(`summary`), a ratio the median of the per-round ratios (`paired_ratios`). The
settings fixed when TensorFlow starts (threads, oneDNN, dtype policy) are swept in
fresh processes of the entry point (`run_explore`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.machine import ONEDNN
from benchmarks.throughput.contenders import BATCH_SIZE, RECIPE

# The sweep run in fresh processes: (label, extra arguments, environment).
# oneDNN's custom TensorFlow ops are off by default in this TensorFlow build
# (TF_ENABLE_ONEDNN_OPTS unset); the other rows set it to 0 explicitly.
EXPLORE = [
    ("defaults (TensorFlow threads intra/inter 0/0, oneDNN off)", [], {ONEDNN: "0"}),
    ("threads intra 2, inter 1", ["--tf-threads", "2,1"], {ONEDNN: "0"}),
    ("threads intra 1, inter 1", ["--tf-threads", "1,1"], {ONEDNN: "0"}),
    ("oneDNN on (TF_ENABLE_ONEDNN_OPTS=1)", [], {ONEDNN: "1"}),
    ("mixed_bfloat16", ["--bf16"], {ONEDNN: "0"}),
]
SWEEP_KEYS = ["ours_jit", "ours_nojit"]


def measure(contenders: dict, warmup: int, steps: int, runs: int, log=print, cpu=None) -> dict:
    """{key: [images/s per round]}; rounds alternate over the contenders.

    `cpu`, a dict, receives {key: [process CPU milliseconds per training step per round]}
    (all threads; it includes thread pools' spin-waiting)."""
    results = {key: [] for key in contenders}
    cpu = {} if cpu is None else cpu
    for r in range(runs):
        for key, (runner, _) in contenders.items():
            seconds, cpu_seconds = runner.run(warmup, steps)
            results[key].append(steps * BATCH_SIZE / seconds)
            cpu.setdefault(key, []).append(1000 * cpu_seconds / steps)
            log(f"round {r + 1}/{runs} {key}: {results[key][-1]:.0f} images/s, {cpu[key][-1]:.1f} CPU-ms/step")
    return results


def measure_nll(num_images: int, k: int, runs: int, log=print) -> dict | None:
    """Images/s of the k-sample importance-sampled log-likelihood on the vae_mnist preset."""
    import zoo
    from zoo.evaluate.likelihood import importance_sampled_log_likelihood

    try:
        model = zoo.load(RECIPE)
    except Exception as e:  # noqa: BLE001 - reported in the table
        log(f"IS-NLL skipped: cannot load preset {RECIPE}: {e}")
        return {"skipped": f"cannot load preset `{RECIPE}`: {e}"}
    x, _ = zoo.data.load_numpy("mnist", "test", "dynamic_binarize", take=num_images)
    importance_sampled_log_likelihood(model, x[:1], k=min(k, 100))  # kernels warm
    rates = []
    for r in range(runs):
        start = time.perf_counter()
        log_px = importance_sampled_log_likelihood(model, x, k=k)
        rates.append(num_images / (time.perf_counter() - start))
        log(f"IS-NLL round {r + 1}/{runs}: {rates[-1]:.2f} images/s, NLL {-log_px.mean():.2f}")
    return {"images": num_images, "k": k, "rates": rates}


def run_explore(args, script: str, log=print) -> dict:
    """Each EXPLORE setting in a fresh process of `script` (the entry point, with `args`'
    steps, warm-up and rounds), measuring SWEEP_KEYS alternately there.

    rows: (label, {key: images/s per round} or None, error or None, {key: CPU-ms/step per round})."""
    rows = []
    runs = max(1, min(args.runs, args.explore_runs))
    for label, extra, env in EXPLORE:
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "result.json")
            cmd = [sys.executable, script, "--only", ",".join(SWEEP_KEYS),
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--runs", str(runs),
                   "--nll-images", "0", "--no-explore", "--json", out_json, *extra]
            log(f"sweep: {label}")
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
            if proc.returncode != 0 or not os.path.exists(out_json):
                error = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
                rows.append((label, None, error, None))
                continue
            with open(out_json) as f:
                child = json.load(f)
            rows.append((label, child["results"], None, child["cpu_ms_per_step"]))
    return {"runs": runs, "rows": rows}


def summary(values):
    """(median, min, max) of per-round values: the figure and its spread."""
    return statistics.median(values), min(values), max(values)


def paired_ratios(results, a, b):
    """Per-round images/s ratios a / b (paired within a round)."""
    if a not in results or b not in results:
        return None
    return [x / y for x, y in zip(results[a], results[b])]
