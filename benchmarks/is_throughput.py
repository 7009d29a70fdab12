"""Importance-sampling throughput: can k=5000 on the 10k MNIST test images fit in 15 minutes?

Measures decoder passes per second of the IS estimator (`zoo.evaluate.likelihood`) on a
shipped preset under the levers TensorFlow offers on a CPU: the chunk shape (images x
samples per call), XLA (`jit_compile=True`) and bfloat16 compute (`mixed_bfloat16`), and
projects each to the full run (10,000 images x 5,000 samples), beside the shape `zoo eval`
calibrates for the preset here (`zoo.evaluate.likelihood.calibrate_chunks`). It also counts
the decoder's multiply-adds, which gives each configuration's FLOP rate as a fraction of the
fp32 matmul rate measured in the same run, and the time the run would take at that peak: the
floor no schedule can beat on this CPU.

    python benchmarks/is_throughput.py                 # writes benchmarks/is_throughput.md
    python benchmarks/is_throughput.py --onednn        # oneDNN's custom ops on: is_throughput_onednn.md
    python benchmarks/is_throughput.py --images 4 --k 100 --out /dev/null   # a smoke run

TensorFlow picks oneDNN's custom ops (TF_ENABLE_ONEDNN_OPTS) when it starts, so `--onednn`
only works in a fresh process; the table records which way it ran.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as `python benchmarks/is_throughput.py`: this checkout's packages
    sys.path.insert(0, ROOT)

from benchmarks.machine import ONEDNN, cpuinfo_fields, load_average, onednn_state  # noqa: E402
from zoo.io import write_text  # noqa: E402

# (label, images per call, samples per call, XLA, bfloat16)
CONFIGS = [
    ("graph, fp32 (the evaluator's path)", 100, 100, False, False),
    ("graph, fp32, small chunks", 20, 25, False, False),
    ("graph, fp32, 5 images x 100", 5, 100, False, False),
    ("XLA, fp32", 100, 100, True, False),
    ("XLA, fp32, small chunks", 20, 25, True, False),
    ("graph, mixed_bfloat16", 20, 100, False, True),
]
FULL_RUN = 10_000 * 5_000
# /proc/cpuinfo flags of bfloat16 arithmetic in hardware: AVX512_BF16 dot products, AMX tiles.
BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def use_onednn(on: bool) -> bool:
    """Sets oneDNN's switch before TensorFlow starts; returns whether it is on."""
    if on:
        if "tensorflow" in sys.modules and os.environ.get(ONEDNN) != "1":
            raise RuntimeError(f"--onednn needs a fresh process: TensorFlow already started with {ONEDNN} "
                               f"={os.environ.get(ONEDNN, 'unset')}")
        os.environ[ONEDNN] = "1"
    return os.environ.get(ONEDNN) == "1"


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """The machine's fp32 matmul rate in TensorFlow (best of `repeats` n^3 products): the peak."""
    import tensorflow as tf

    a = tf.random.stateless_normal([n, n], seed=[0, 1])
    tf.linalg.matmul(a, a).numpy()  # warm-up
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        tf.linalg.matmul(a, a).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU (per /proc/cpuinfo, or `cpuinfo`) computes bfloat16 in hardware."""
    return bool(BF16_FLAGS & set(cpuinfo_fields(cpuinfo).get("flags", "").split()))


def cpu_fp32_ceiling(cpuinfo: str | None = None, cores: int | None = None) -> tuple[float, str]:
    """An upper bound on fp32 GFLOP/s from the CPU's own description, and how it was reached.

    No x86 core starts more than two vector fused multiply-adds per cycle, each 8 floats wide
    with AVX2 and 16 with AVX-512, and an FMA counts two FLOPs: cores x GHz x 2 x width x 2.
    Returns (nan, reason) when /proc/cpuinfo does not say enough.
    """
    fields = cpuinfo_fields(cpuinfo)
    if not fields:
        return math.nan, "no /proc/cpuinfo"
    flags = set(fields.get("flags", "").split())
    try:
        ghz = float(fields["cpu MHz"]) / 1000
    except (KeyError, ValueError):
        return math.nan, "/proc/cpuinfo gives no clock"
    cores = cores or os.cpu_count() or 1
    if "avx512f" in flags:
        width, isa = 16, "AVX-512"
    elif "avx2" in flags and "fma" in flags:
        width, isa = 8, "AVX2 + FMA, no AVX-512"
    else:
        width, isa = 4, "no AVX2/FMA"
    bf16 = "native bf16 dot products" if native_bf16(cpuinfo) else "no native bf16 arithmetic"
    ceiling = cores * ghz * 2 * width * 2
    model = fields.get("model name", "unknown CPU")
    return ceiling, (f"{model}, {cores} cores at {ghz:.2f} GHz, {isa}, {bf16}: at the reported clock at most "
                     f"{cores} x {ghz:.2f} x 2 FMA x {width} floats x 2 = {ceiling:.0f} GFLOP/s fp32")


def decoder_flops(model) -> float:
    """2 x multiply-adds of one decoder pass (dense and transposed-conv layers)."""
    import keras

    macs = 0
    for layer in model.decoder.layers:
        if isinstance(layer, keras.layers.Dense):
            macs += int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            kh, kw, cout, cin = (int(d) for d in layer.kernel.shape)
            h, w = (int(d) for d in layer.input.shape[1:3])
            macs += h * w * kh * kw * cin * cout  # every input pixel scatters a kh x kw x cout patch
    return 2.0 * macs


def measure(preset, x, k, images_per_call, samples_per_call, xla, bf16, seed=0):
    """(decodes per second, mean log p(x)) over `x` with k samples each."""
    import keras
    import numpy as np
    import tensorflow as tf

    import zoo

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if bf16 else "float32")
    try:
        model = zoo.load(preset)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    log_weights = tf.function(
        lambda xb, chunk_seed, kk: tf.reduce_logsumexp(
            tf.cast(model.log_importance_weights(xb, None, kk, chunk_seed), tf.float32), axis=0),
        jit_compile=xla)
    samples_per_call = min(samples_per_call, k)
    # Trace every (images, samples) shape the loop below calls, remainders included, before
    # the clock starts: as in the evaluator, each shape gets a trace of its own.
    for images in {min(images_per_call, len(x) - first) for first in range(0, len(x), images_per_call)}:
        for kk in {min(samples_per_call, k - done) for done in range(0, k, samples_per_call)}:
            log_weights(tf.constant(x[:images]), tf.constant([seed, 0]), kk)
    start = time.perf_counter()
    log_px = []
    for first in range(0, len(x), images_per_call):
        xb = tf.constant(x[first:first + images_per_call])
        running = None
        for done in range(0, k, samples_per_call):
            kk = min(samples_per_call, k - done)
            lse = log_weights(xb, tf.constant([seed, first * 1_000_003 + done]), kk).numpy().astype(np.float64)
            running = lse if running is None else np.logaddexp(running, lse)
        log_px.append(running - math.log(k))
    seconds = time.perf_counter() - start
    return len(x) * k / seconds, float(np.concatenate(log_px).mean())


def main(argv=None, log=print):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="vae_mnist")
    parser.add_argument("--images", type=int, default=100, help="test images (the first N)")
    parser.add_argument("--k", type=int, default=1000, help="importance samples per image")
    parser.add_argument("--onednn", action="store_true", help=f"turn on oneDNN's custom ops ({ONEDNN}=1)")
    parser.add_argument("--out", help="markdown table (default benchmarks/is_throughput[_onednn].md)")
    args = parser.parse_args(argv)
    onednn = use_onednn(args.onednn)
    if args.out is None:
        args.out = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "is_throughput_onednn.md" if onednn else "is_throughput.md")

    import zoo
    from zoo import data
    from zoo.evaluate.likelihood import calibrate_chunks
    from zoo.training import machine_description

    x = data.load_numpy("mnist", "test", "dynamic_binarize", seed=0, take=args.images)[0]
    flops = decoder_flops(zoo.load(args.preset))
    peak = matmul_gflops()
    ceiling, cpu = cpu_fp32_ceiling()
    floor_minutes = FULL_RUN * flops / (peak * 1e9) / 60
    needed = FULL_RUN * flops / 900 / 1e9  # GFLOP/s for the whole run in 15 minutes
    calibration = calibrate_chunks(zoo.load(args.preset), x, cache=False)
    calibrated = ("graph, fp32, calibrated (`zoo eval`'s default)", calibration["images_per_call"],
                  calibration["samples_per_call"], False, False)
    rows = []
    for label, per_call, samples, xla, bf16 in [*CONFIGS, calibrated]:
        per_call = min(per_call, len(x))
        rate, mean_log_px = measure(args.preset, x, args.k, per_call, samples, xla, bf16)
        of_peak = rate * flops / (peak * 1e9)
        rows.append((label, per_call, min(samples, args.k), rate, FULL_RUN / rate / 60, mean_log_px, of_peak))
        log(f"{label}: {rate:,.0f} decodes/s ({of_peak:.0%} of the matmul peak), full run {rows[-1][4]:.0f} min, "
            f"mean log p(x) {mean_log_px:.3f}")

    lines = [
        "# Importance-sampling throughput",
        "",
        f"Preset `{args.preset}`; the first {len(x)} dynamically binarized MNIST test images, k={args.k} "
        "posterior samples each; decoder passes per second and the projected time of the issue's target "
        f"run (10,000 images x k=5,000 = {FULL_RUN:,} passes). Mean log p(x) is the IS estimate each "
        "configuration gives (same seeds; XLA and bfloat16 change the arithmetic, and XLA the random stream).",
        "",
        f"Machine: {machine_description()}; oneDNN custom ops {onednn_state()}; load average "
        f"{load_average():.2f} at the end.",
        f"Command: `python benchmarks/is_throughput.py --preset {args.preset} --images {args.images} --k {args.k}"
        f"{' --onednn' if args.onednn else ''}`, "
        f"{datetime.date.today().isoformat()}.",
        "",
        "| configuration | images x samples per call | decodes/s | of the matmul peak | full run (min) "
        "| mean log p(x) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {label} | {n} x {s} | {rate:,.0f} | {of_peak:.0%} | {minutes:.0f} | {lp:.3f} |"
              for label, n, s, rate, minutes, lp, of_peak in rows]
    lines += [
        "",
        "\"Of the matmul peak\": the configuration's decoder FLOP rate over the fp32 matmul rate measured in "
        f"this run ({peak:.0f} GFLOP/s); the calibrated shape's candidates (decodes/s): "
        + ", ".join(f"{shape} {rate:,}" for shape, rate in calibration["candidates"].items()) + ".",
        "",
        f"One decoder pass is {flops / 1e6:.2f} MFLOP (dense + transposed-convolution multiply-adds x 2), so "
        f"the full run is {FULL_RUN * flops / 1e12:.0f} TFLOP: {floor_minutes:.1f} min at the {peak:.0f} "
        "GFLOP/s of a 2048^3 fp32 matmul measured by this script. Meeting 15 minutes would need the decoder to run at "
        f"{needed:.0f} GFLOP/s, i.e. {needed / peak:.0%} "
        "of the matmul peak, on small convolutions with elementwise work between them.",
        "",
        f"The CPU's own ceiling: {cpu} (from /proc/cpuinfo). "
        + (f"15 minutes needs {needed / ceiling:.0%} of that ceiling, so no schedule of "
           "this decoder in fp32 meets the target on this machine; "
           + ("bfloat16 is the lever left: this CPU has native bf16 dot products (the mixed_bfloat16 row shows "
              "what TensorFlow makes of them)."
              if native_bf16() else "bfloat16 has no hardware support to fall back on, hence its slowness above.")
           if needed > ceiling else f"15 minutes needs {needed / ceiling:.0%} of that ceiling.")
        if math.isfinite(ceiling) else f"The CPU's own ceiling is unknown ({cpu}).",
    ]
    text = "\n".join(lines) + "\n"
    if args.out != os.devnull:  # a smoke run: an atomic write would try to replace /dev/null
        write_text(args.out, text)
    return rows


if __name__ == "__main__":
    main()
