"""vae_mnist on an accelerator: one training epoch and the k=5000 likelihood of the test set.

    bash benchmarks/gpu.sh                                   # on a machine with an NVIDIA GPU
    python benchmarks/gpu.py --take 2000 --images 20 --k 50 --out /tmp/gpu.md   # a CPU smoke run

Both numbers are what a user waits for on that machine: the recipe's own batches
through `fit` (images/s of the second epoch, the first one paying for tracing and
kernel selection), and the evaluator behind `zoo eval --k 5000` on all 10,000 test
images with chunk shapes sized for the device (more images and samples per call
than the CPU defaults: a GPU is idle on small calls). The table says which device
ran, so a CPU run is never mistaken for a GPU one.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as `python benchmarks/gpu.py`: this checkout's packages
    sys.path.insert(0, ROOT)

from benchmarks.machine import cpu_name  # noqa: E402
from zoo.io import write_text  # noqa: E402

PRESET = "vae_mnist"
# Per call: images x importance samples (decoder batch = their product).
GPU_CHUNKS = (500, 1000)
CPU_CHUNKS = (100, 100)  # the evaluator's defaults


def device_name() -> str:
    """The accelerator TensorFlow sees, or the CPU's name."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU only ({cpu_name()})"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"{details.get('device_name', gpus[0].name)} ({len(gpus)} GPU{'s' if len(gpus) > 1 else ''})"


def time_training(take: int | None, epochs: int = 2) -> dict:
    """Images/s of `fit` on the recipe's batches, measured on the last of `epochs` epochs."""
    import keras

    from zoo import data
    from zoo.optimizers import FusedAdam
    from zoo.training import build_model, indexed_batches, load_recipe, resolve_jit_compile

    recipe = load_recipe(PRESET)
    t = recipe["training"]
    num_examples, gather = data.dataset_for(recipe).gather("train")
    num_examples = min(num_examples, take or num_examples)  # the first `take`, as `zoo train --take`
    model = build_model(recipe)
    jit_compile = resolve_jit_compile(t.get("jit_compile", False))
    model.compile(optimizer=FusedAdam(t["learning_rate"]), jit_compile=jit_compile)
    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    batches = indexed_batches(num_examples, gather, t["batch_size"], recipe["preprocessing"], t["seed"], 0, epochs)
    model.fit(batches, epochs=epochs, steps_per_epoch=-(-num_examples // t["batch_size"]), verbose=0,
              shuffle=False, callbacks=[Timer()])
    return {"images": num_examples, "batch_size": t["batch_size"], "epoch_seconds": seconds[-1],
            "first_epoch_seconds": seconds[0], "images_per_second": num_examples / seconds[-1]}


def time_likelihood(num_images: int, k: int, chunks: tuple) -> dict:
    """The k-sample NLL of the first `num_images` test images, and how long it took."""
    import zoo
    from zoo.evaluate.likelihood import importance_sampled_log_likelihood

    model = zoo.load(PRESET)
    card = model.preset_metadata
    x, _ = zoo.data.load_numpy(card["dataset"], "test", card["preprocessing"], take=num_images)
    images_per_call, samples_per_call = chunks
    start = time.perf_counter()
    log_px = importance_sampled_log_likelihood(model, x, k=k, batch_size=images_per_call,
                                               k_chunk=samples_per_call)
    seconds = time.perf_counter() - start
    return {"images": len(x), "k": k, "chunks": chunks, "seconds": seconds, "nll_nats": float(-log_px.mean()),
            "decodes_per_second": len(x) * k / seconds}


def render(device: str, training: dict, likelihood: dict, command: str) -> str:
    import keras
    import tensorflow as tf

    return "\n".join([
        f"# {PRESET} on an accelerator",
        "",
        f"Written by `{command}` on {datetime.date.today().isoformat()}.",
        f"Device: **{device}**; TensorFlow {tf.__version__}, Keras {keras.__version__}.",
        "",
        "| measurement | setting | time | rate |",
        "|---|---|---|---|",
        f"| training epoch (`fit`, recipe batches) | {training['images']} images, batch {training['batch_size']} "
        f"| {training['epoch_seconds']:.1f} s (first epoch {training['first_epoch_seconds']:.1f} s) "
        f"| {training['images_per_second']:,.0f} images/s |",
        f"| importance-sampled NLL | k={likelihood['k']}, {likelihood['images']} test images, "
        f"{likelihood['chunks'][0]} images x {likelihood['chunks'][1]} samples per call "
        f"| {likelihood['seconds']:.1f} s | {likelihood['decodes_per_second']:,.0f} decoder passes/s |",
        "",
        f"NLL measured: {likelihood['nll_nats']:.2f} nats (the card's figure comes from the CPU run of "
        f"`zoo eval {PRESET} --k 5000`; the two agree within the standard error when k and the images match).",
        "",
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--take", type=int, default=None, help="training images (default: all 60,000)")
    parser.add_argument("--images", type=int, default=10_000, help="test images for the likelihood")
    parser.add_argument("--k", type=int, default=5000, help="importance samples per image")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "gpu.md"), help="the table to write")
    args = parser.parse_args(argv)
    if args.images < 1 or args.k < 1 or (args.take is not None and args.take < 128):
        parser.error("--images and --k must be positive, --take at least one batch (128)")
    device = device_name()
    chunks = CPU_CHUNKS if device.startswith("CPU") else GPU_CHUNKS
    training = time_training(args.take)
    print(f"[gpu] training: {training['images_per_second']:,.0f} images/s on {device}", flush=True)
    likelihood = time_likelihood(args.images, args.k, chunks)
    print(f"[gpu] likelihood: {likelihood['seconds']:.1f} s, NLL {likelihood['nll_nats']:.2f}", flush=True)
    command = "python benchmarks/gpu.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    print(f"wrote {write_text(args.out, render(device, training, likelihood, command))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
