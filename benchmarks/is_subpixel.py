"""Does a sub-pixel rewrite of the decoder's transposed convolutions speed up IS-NLL?

    python benchmarks/is_subpixel.py                 # vae_mnist, k=1000, 20 test images, 5 rounds
    python benchmarks/is_subpixel.py --preset beta_vae_dsprites --images 5 --k 200

The importance-sampled log-likelihood (`zoo.evaluate.importance_sampled_log_likelihood`)
spends nearly all its time in the decoder, k passes per image. The decoder's
upsampling layers are `Conv2DTranspose(kernel 4, strides 2, padding "same")`.
Such a layer is exactly a sub-pixel convolution: with TensorFlow's conv_transpose
semantics (the gradient of a stride-2 4x4 "same" convolution, which pads 1 before
and 1 after), output row 2m+r depends on input rows m-1, m (r = 0, kernel rows 3, 1)
or m, m+1 (r = 1, kernel rows 2, 0); the same holds for columns. So one ordinary
2x2 convolution over the input padded by 1 on each side, with 4*C_out channels (one
group per output phase (r, s)), gives every phase on an (H+1)x(W+1) grid; phase
(r, s) is its crop [r:r+H, s:s+W], and `tf.nn.depth_to_space` interleaves the four
crops into the 2Hx2W output. This costs (1+1/H)(1+1/W) times the multiply-adds of
the transposed convolution (the 4x4 kernel's 16 taps, each used once per input
pixel).

`subpixel_decoder` builds that from a decoder made by `zoo.nets.build_decoder`,
reading the Keras layers' variables at call time (the Keras model stays the source
of truth). The script times the IS-NLL with the Keras decoder against the same
computation with the sub-pixel decoder (same seeds, so the same z samples),
alternating the contenders in one process, and writes benchmarks/is_subpixel.md.

Result on the 2-core CPU (busy with a training run; see is_subpixel.md and
is_subpixel_dsprites.md): no real speed-up. IS-NLL, k=1000, 20 MNIST test images,
`vae_mnist`: 0.95x (rounds 0.79-1.06); `beta_vae_dsprites`, k=200, 5 images: 1.21x
(0.99-1.54). Both below the 1.3x that would justify a second decoder in the IS path,
so `zoo.evaluate` keeps the Keras decoder. TF's CPU kernel for the transposed
convolution (matmul + cache-blocked col2im) runs at the speed of a plain matmul of
the same size (faster, even, than `tf.matmul` producing its 16*C_out-channel
intermediate), so a rewrite with the same or more arithmetic cannot win by much.
Variants tried (time ratios Keras/variant, >1 is faster, medians of 5-6 alternating
rounds). The whole `vae_mnist` decoder on 2000 latents: the 2x2 sub-pixel conv 0.59,
with XLA 1.04 (used here); a 3x3 conv to 4*C_out channels (2.25x the arithmetic)
0.65, with XLA 0.89-0.97; matmul to 16*C_out channels + col2im by slices, with XLA
0.51; the unchanged Keras decoder under XLA 0.67. Its 7x7x64 -> 14x14x32 layer
alone: the 2x2 sub-pixel conv with XLA 0.95; four per-phase 2x2 convs 0.64, with XLA
0.87. XLA around the whole IS chunk (sampling included) changes the random numbers
(XLA's stateless RNG differs), so only the decoder is compiled. The rewrite pays off
where TF's kernel is weak: large maps with few channels (the 16x16x32 -> 32x32x32
layer of the dSprites decoder, 1.8x), which is not enough end to end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run as `python benchmarks/is_subpixel.py`: this checkout's packages
    sys.path.insert(0, ROOT)

from benchmarks.machine import BUSY_LOAD, cpu_name, load_average  # noqa: E402
from zoo.io import write_text  # noqa: E402

# --------------------------------------------------------------------------- the rewrite

# Kernel rows (and, the same, columns) that output phase r takes from the sub-pixel
# window row t: the window on the 1-padded input covers input rows (m-1, m) for its
# grid position m, and phase r of output row 2m+r is read at grid row m+r.
#   r = 0: out[2m]   = in[m-1] k[3] + in[m] k[1]    (window rows 0, 1 at grid m)
#   r = 1: out[2m+1] = in[m] k[2] + in[m+1] k[0]    (window rows 0, 1 at grid m+1)
_KERNEL_INDEX = ((3, 1), (2, 0))


def subpixel_kernel(kernel):
    """A Conv2DTranspose kernel [4, 4, C_out, C_in] as a conv kernel [2, 2, C_in, 4*C_out]
    whose output channel (2r + s) * C_out + c is phase (r, s), channel c."""
    import tensorflow as tf

    k = tf.transpose(kernel, [0, 1, 3, 2])  # [4, 4, C_in, C_out]
    return tf.stack([
        tf.stack([
            tf.concat([k[_KERNEL_INDEX[r][t], _KERNEL_INDEX[s][u]] for r in range(2) for s in range(2)], axis=-1)
            for u in range(2)
        ])
        for t in range(2)
    ])


def _check_layer(layer):
    import keras

    config = layer.get_config()
    ok = (isinstance(layer, keras.layers.Conv2DTranspose) and tuple(config["kernel_size"]) == (4, 4)
          and tuple(config["strides"]) == (2, 2) and config["padding"] == "same"
          and tuple(config["dilation_rate"]) == (1, 1) and config["output_padding"] is None
          and config["data_format"] == "channels_last" and layer.compute_dtype == "float32")
    if not ok:
        raise ValueError(f"{layer.name}: only float32 channels_last Conv2DTranspose(kernel 4, strides 2, "
                         f"padding 'same') has a sub-pixel rewrite here, got {config}")


def subpixel_conv_transpose(h, layer):
    """`layer(h)` for a Conv2DTranspose(kernel 4, strides 2, padding "same"), as a
    2x2 convolution + depth_to_space, with the layer's current weights."""
    import tensorflow as tf

    c_out = layer.kernel.shape[2]
    height, width = h.shape[1], h.shape[2]
    padded = tf.pad(h, [[0, 0], [1, 1], [1, 1], [0, 0]])
    grid = tf.nn.conv2d(padded, subpixel_kernel(layer.kernel), strides=1, padding="VALID")  # [N, H+1, W+1, 4C]
    phases = [grid[:, r:r + height, s:s + width, (2 * r + s) * c_out:(2 * r + s + 1) * c_out]
              for r in range(2) for s in range(2)]
    out = tf.nn.depth_to_space(tf.concat(phases, axis=-1), 2)
    if layer.use_bias:
        out = out + layer.bias
    return layer.activation(out)


def subpixel_decoder(decoder, jit_compile: bool = True):
    """A tf.function computing `decoder(z)` (or `decoder([z, y])` for a conditional
    decoder) with every Conv2DTranspose replaced by its sub-pixel form.

    `decoder` must be a network from `zoo.nets.build_decoder`: a chain of Dense,
    Reshape and Conv2DTranspose layers, with a Concatenate of z and y first when
    conditional; anything else raises ValueError. The other layers are the Keras
    layers themselves, and all weights are read when the function runs, so it
    follows the decoder's weights.
    """
    import keras
    import tensorflow as tf

    chain = []
    for layer in decoder.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _check_layer(layer)
        elif not isinstance(layer, (keras.layers.Dense, keras.layers.Reshape, keras.layers.Concatenate)):
            raise ValueError(f"{decoder.name}: layer {layer.name} ({type(layer).__name__}) is not one that "
                             "zoo.nets.build_decoder makes")
        chain.append(layer)
    conditional = len(decoder.inputs) == 2
    if conditional != isinstance(chain[0], keras.layers.Concatenate) or any(
            isinstance(layer, keras.layers.Concatenate) for layer in chain[1:]):
        raise ValueError(f"{decoder.name}: not the layer chain of zoo.nets.build_decoder")

    def run(z, condition=None):
        h = z
        for layer in chain:
            if isinstance(layer, keras.layers.Concatenate):
                h = layer([z, condition])
            elif isinstance(layer, keras.layers.Conv2DTranspose):
                h = subpixel_conv_transpose(h, layer)
            else:
                h = layer(h)
        return h

    return tf.function(run, jit_compile=jit_compile, reduce_retracing=True)


@contextlib.contextmanager
def decoding_with(model, fast):
    """Within the block, `model` decodes with `fast(z, condition)` instead of its
    Keras decoder (the IS path traces its tf.function inside the block)."""
    model.decoder_params = lambda z, condition=None, training=False: fast(z, condition)
    try:
        yield model
    finally:
        del model.decoder_params


# --------------------------------------------------------------------------- measurement


def _images(card, num_images):
    import zoo

    dataset = card.get("dataset", "mnist")
    if dataset == "dsprites":  # one split of 737,280 images: unpack only a spread-out few
        from zoo.data.dsprites import load_packed, unpack

        packed = load_packed()
        images = unpack(packed[::max(1, len(packed) // num_images)][:num_images])
        return (images / 255.0).astype(np.float32), None
    return zoo.data.load_numpy(dataset, "test", card.get("preprocessing", "float"), take=num_images)


def measure(preset: str, num_images: int, k: int, rounds: int, k_chunks=(100,), log=print) -> dict:
    """Seconds per round of the IS-NLL, Keras vs sub-pixel decoder, and their agreement."""
    import zoo
    from zoo.evaluate.likelihood import importance_sampled_log_likelihood
    from zoo.presets import read_metadata

    model = zoo.load(preset)
    card = read_metadata(preset)
    x, y = _images(card, num_images)
    y = y if model.conditional else None
    fast = subpixel_decoder(model.decoder)

    def run(decoder, k_chunk):
        if decoder == "keras":
            return importance_sampled_log_likelihood(model, x, y, k=k, k_chunk=k_chunk, seed=0)
        with decoding_with(model, fast):
            return importance_sampled_log_likelihood(model, x, y, k=k, k_chunk=k_chunk, seed=0)

    contenders = [(decoder, kc) for kc in k_chunks for decoder in ("keras", "subpixel")]
    agreement = {}
    for kc in k_chunks:  # also the warm-up (tracing, XLA compilation)
        old, new = run("keras", kc), run("subpixel", kc)
        agreement[kc] = {"max_abs_diff_nats": float(np.abs(old - new).max()), "nll": float(-old.mean())}
        log(f"k_chunk {kc}: max |log p(x) difference| {agreement[kc]['max_abs_diff_nats']:.2e} nats, "
            f"NLL {agreement[kc]['nll']:.3f}")
    seconds = {c: [] for c in contenders}
    for r in range(rounds):
        for c in contenders:
            start = time.perf_counter()
            run(*c)
            seconds[c].append(time.perf_counter() - start)
        log(f"round {r + 1}/{rounds}: " + ", ".join(f"{d}@{kc} {seconds[(d, kc)][-1]:.2f} s" for d, kc in contenders))
    return {"seconds": seconds, "agreement": agreement, "model": model, "card": card}


def render(preset, args, result, load_start, load_end, command) -> str:
    import keras
    import tensorflow as tf

    seconds, agreement = result["seconds"], result["agreement"]
    base = seconds[("keras", args.k_chunks[0])]
    lines = ["# IS-NLL with a sub-pixel decoder", ""]
    if load_start > BUSY_LOAD:
        lines += [f"> **WARNING: the machine was busy** (1-minute load average {load_start:.2f} at the start, "
                  f"{load_end:.2f} at the end). Absolute times are not clean; the ratios come from rounds that "
                  "alternate the contenders in one process, so they are the meaningful numbers.", ""]
    lines += [
        f"Machine: {cpu_name()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}, Keras {keras.__version__}. "
        f"1-minute load average {load_start:.2f} at the start, {load_end:.2f} at the end.",
        "",
        f"Model: preset `{preset}`; {args.images} images of {result['card'].get('dataset')}, k={args.k}, "
        f"batch 100, seed 0. Per round each contender runs the whole IS-NLL once; {args.rounds} rounds, "
        "contenders alternating. Ratio: per-round Keras seconds / contender seconds (>1: faster than the Keras "
        f"decoder at k_chunk {args.k_chunks[0]}, today's default); median and min-max over rounds.",
        "",
        f"Command: `{command}`, {time.strftime('%Y-%m-%d')}.",
        "",
        "| decoder | k_chunk | seconds (median) | min-max | ratio vs Keras (median) | ratio min-max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for (decoder, kc), values in seconds.items():
        ratios = [b / v for b, v in zip(base, values)]
        label = "Keras `Conv2DTranspose`" if decoder == "keras" else "sub-pixel 2x2 conv, XLA"
        lines.append(f"| {label} | {kc} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} | "
                     f"{statistics.median(ratios):.2f} | {min(ratios):.2f}-{max(ratios):.2f} |")
    lines += ["", "Raw seconds per round:", ""]
    for (decoder, kc), values in seconds.items():
        lines.append(f"- {decoder} @ k_chunk {kc}: " + ", ".join(f"{v:.2f}" for v in values))
    lines += ["", "Agreement (same seeds, so the same z samples): max over images of |log p(x) Keras - sub-pixel|:", ""]
    for kc, a in agreement.items():
        lines.append(f"- k_chunk {kc}: {a['max_abs_diff_nats']:.1e} nats (NLL {a['nll']:.3f})")
    per_image = statistics.median(base) / args.images
    lines += ["", f"Extrapolated Keras time for k=5000 on 10,000 images at this machine's current speed: "
              f"{per_image * 5000 / args.k * 10000 / 3600:.1f} h (IS cost is linear in k and in the images).",
              "A different k_chunk changes the chunk seeds, hence the samples: its rows are comparable in speed "
              "only.", ""]
    return "\n".join(lines)


def main(argv=None, log=print):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="vae_mnist")
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--k-chunks", default="100", help="comma-separated k_chunk values to time (first: the baseline)")
    p.add_argument("--out", default=os.path.join(HERE, "is_subpixel.md"))
    args = p.parse_args(argv)
    args.k_chunks = [int(v) for v in args.k_chunks.split(",")]
    load_start = load_average()
    result = measure(args.preset, args.images, args.k, args.rounds, args.k_chunks, log)
    command = "python benchmarks/is_subpixel.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(args.preset, args, result, load_start, load_average(), command.strip())
    write_text(args.out, text)
    log(text)
    return result


if __name__ == "__main__":
    main()
