"""Parts of vae_mnist's training step, Keras' way against the zoo's where the zoo has its own.

    python benchmarks/training_parts.py            # writes benchmarks/training_parts.md

Timed, each in a `tf.function` with and without XLA:
- the decoder's last transposed convolution, 14x14x32 -> 28x28x1, 4x4 stride 2
  'same': forward, then the gradient of a squared-sum loss with respect to kernel and
  input, batch 128; Keras' layer against `zoo.strided_conv.Conv2DTranspose` (its own
  product-form gradient in training);
- for reference, the encoder's first convolution, 28x28x1 -> 14x14x32 (kernel
  gradient only: its input is the data); the zoo uses Keras' layer there (a
  window-product form was faster only under XLA, and broke XLA's compile-time shapes
  in FactorVAE's step);
- one optimizer step over vae_mnist's 1.7 M parameters: `keras.optimizers.Adam`
  against `zoo.optimizers.FusedAdam`.
Per setting: `--rounds` rounds of `--steps` calls, alternating Keras' and the zoo's
after an untimed call each; the figure is the best round (the least disturbed), in ms
per call. oneDNN is set as the `zoo` command sets it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run as `python benchmarks/training_parts.py`: this checkout's packages
    sys.path.insert(0, ROOT)

from zoo.cli import use_onednn_by_default  # noqa: E402  (imports no TensorFlow)

BATCH = 128
# (name, Keras' class, the zoo's class or None, filters, input shape, whether the input needs a gradient)
LAYERS = [
    ("decoder params (32 -> 1 channel)", "Conv2DTranspose", "Conv2DTranspose", 1, (14, 14, 32), True),
    ("encoder conv0 (1 -> 32 channels)", "Conv2D", None, 32, (28, 28, 1), False),
]


def parse_args(argv=None):
    """The command line, checked (argparse exits 2 with a message on a bad one)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=50, help="timed calls per round")
    p.add_argument("--rounds", type=int, default=5, help="rounds per setting (the best is reported)")
    p.add_argument("--out", default=os.path.join(HERE, "training_parts.md"), help="the markdown table to write")
    args = p.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        p.error("--steps and --rounds must be >= 1")
    return args


def ms_per_call(fn, steps: int) -> float:
    """Milliseconds per call over one round of `steps` calls."""
    start = time.perf_counter()
    for _ in range(steps):
        out = fn()
    if out is not None:
        out[0].numpy()
    return 1000 * (time.perf_counter() - start) / steps


def best_of_rounds(fns, args) -> list[float]:
    """The best round's ms per call of each of `fns`, rounds alternating over them."""
    times = [[] for _ in fns]
    for _ in range(args.rounds):
        for i, fn in enumerate(fns):
            fn()
            times[i].append(ms_per_call(fn, args.steps))
    return [min(t) for t in times]


def layer_pass(layer, inputs, input_gradient: bool, jit: bool):
    """A compiled forward + backward pass of `layer` as in training."""
    import tensorflow as tf

    @tf.function(jit_compile=jit)
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x, training=True)))
        return tape.gradient(loss, [layer.kernel, x] if input_gradient else [layer.kernel])

    return lambda: run(inputs)


def optimizer_step(optimizer_class, jit: bool):
    """A compiled `apply_gradients` of fixed gradients to a fresh vae_mnist model."""
    import tensorflow as tf

    from benchmarks.throughput.contenders import build_ours

    model = build_ours()
    model(tf.zeros((1, 28, 28, 1)))
    variables = model.trainable_variables
    optimizer = optimizer_class(1e-3)
    optimizer.build(variables)
    grads = [1e-3 * tf.random.stateless_normal(v.shape, seed=[i, 0]) for i, v in enumerate(variables)]

    @tf.function(jit_compile=jit)
    def run():
        optimizer.apply_gradients(zip(grads, variables))

    return run


def measure(args) -> list:
    """[(part, xla, Keras ms, zoo ms or None)]."""
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import layers

    from zoo import strided_conv
    from zoo.optimizers import FusedAdam

    rows = []
    rng = np.random.default_rng(0)
    for name, keras_class, zoo_class, filters, shape, input_gradient in LAYERS:
        x = tf.constant(rng.normal(size=(BATCH, *shape)).astype("float32"))
        candidates = [getattr(layers, keras_class)(filters, 4, strides=2, padding="same")]
        if zoo_class:
            candidates.append(getattr(strided_conv, zoo_class)(filters, 4, strides=2, padding="same"))
        for layer in candidates:
            layer(x)
            layer.set_weights(candidates[0].get_weights())
        for jit in (False, True):
            times = best_of_rounds([layer_pass(layer, x, input_gradient, jit) for layer in candidates], args)
            rows.append((name, jit, times[0], times[1] if zoo_class else None))
    for jit in (False, True):
        times = best_of_rounds([optimizer_step(cls, jit) for cls in (keras.optimizers.Adam, FusedAdam)], args)
        rows.append(("Adam step, 1.7 M parameters", jit, *times))
    return rows


def render(rows, args, machine: str) -> str:
    lines = [
        "# Parts of the training step: Keras' way against the zoo's",
        "",
        f"Machine: {machine}.",
        "",
        f"Command: `python benchmarks/training_parts.py --steps {args.steps} --rounds {args.rounds}`, "
        f"{time.strftime('%Y-%m-%d')}. Layers: batch {BATCH}, forward + gradient (kernel, and input where the "
        "network needs it). Optimizer: one `apply_gradients`. Best of the rounds, ms per call.",
        "",
        "| part | XLA | Keras ms | zoo ms | speed-up |",
        "|---|---|---:|---:|---:|",
    ]
    for name, jit, keras_ms, zoo_ms in rows:
        zoo = f"{zoo_ms:.2f} | {keras_ms / zoo_ms:.2f}x" if zoo_ms else "(Keras' layer) | "
        lines.append(f"| {name} | {'yes' if jit else 'no'} | {keras_ms:.2f} | {zoo} |")
    return "\n".join(lines + [""])


def main(argv=None) -> int:
    use_onednn_by_default()  # before anything imports TensorFlow
    args = parse_args(argv)
    from benchmarks.machine import cores, cpu_name, onednn_state, versions
    from zoo.io import write_text

    rows = measure(args)
    v = versions()
    machine = (f"{cpu_name()}, {cores()} cores; TensorFlow {v.get('TensorFlow')}, Keras {v.get('Keras')}; "
               f"oneDNN {onednn_state()}")
    write_text(args.out, render(rows, args, machine))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
