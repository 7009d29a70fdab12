"""Lossless compression: the zoo's bits-back coder against standard codecs, on the same images.

One run codes the test images of binarized MNIST (the images `vae_mnist`'s likelihood card
uses: dynamic binarization with seed 0) with `vae_mnist` and `vamp_mnist` (the MNIST preset
with the best NLL), and the 8-bit Fashion-MNIST test images with `vae_fashion_mnist` (its
discretized logistic likelihood), decodes every file back and checks it equals the input.
Against them: gzip, bz2 and lzma at their strongest settings on one stream of the packed bits
(binary) or the raw bytes (8-bit), and PNG (optimized) and WebP lossless through Pillow, both
per image (how images are stored) and on one mosaic of all images (the codec's best case).
The models' own -ELBO (one posterior sample per image, this run) and NLL (their cards) are
the rates bits-back coding approaches.

    python benchmarks/compression.py                              # writes benchmarks/compression.md
    python benchmarks/compression.py --images 50 --out /dev/null  # a smoke run
"""

from __future__ import annotations

import argparse
import bz2
import datetime
import gzip
import io
import lzma
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as `python benchmarks/compression.py`: this checkout's packages
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from benchmarks.machine import cpuinfo_fields, load_average  # noqa: E402
from zoo.io import write_text  # noqa: E402

# (dataset title, the presets coding it, the preset whose test images and preprocessing are used)
SUITES = [
    ("Binarized MNIST", ("vae_mnist", "vamp_mnist"), "vae_mnist"),
    ("Fashion-MNIST (8-bit grey levels)", ("vae_fashion_mnist",), "vae_fashion_mnist"),
]
MOSAIC_COLUMNS = 100


def standard_codecs(images: np.ndarray, binary: bool) -> list[tuple[str, int, float]]:
    """(codec, bytes, seconds) of each standard codec on uint8 images [N, H, W, 1]."""
    from PIL import Image

    stream = np.packbits(images.reshape(-1)).tobytes() if binary else images.tobytes()
    rows = []
    for name, compress in (("gzip -9", lambda b: gzip.compress(b, 9)),
                           ("bz2 -9", lambda b: bz2.compress(b, 9)),
                           ("lzma -9e", lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME))):
        start = time.perf_counter()
        size = len(compress(stream))
        rows.append((f"{name}, {'packed bits' if binary else 'raw bytes'}", size, time.perf_counter() - start))

    mode = "1" if binary else "L"
    pixels = images[..., 0] * (255 if binary else 1)

    def encode(array, fmt, **options):
        buffer = io.BytesIO()
        Image.fromarray(array.astype(np.uint8)).convert(mode).save(buffer, fmt, **options)
        return len(buffer.getvalue())

    n, h, w = pixels.shape
    columns = min(MOSAIC_COLUMNS, n)
    padded = np.zeros((math.ceil(n / columns) * columns, h, w), np.uint8)
    padded[:n] = pixels
    mosaic = padded.reshape(-1, columns, h, w).transpose(0, 2, 1, 3).reshape(-1, columns * w)
    for fmt, options in (("PNG", {"optimize": True}), ("WEBP", {"lossless": True, "quality": 100, "method": 6})):
        label = "PNG optimized" if fmt == "PNG" else "WebP lossless"
        start = time.perf_counter()
        size = sum(encode(p, fmt, **options) for p in pixels)
        rows.append((f"{label}, one file per image", size, time.perf_counter() - start))
        start = time.perf_counter()
        rows.append((f"{label}, one mosaic of all images", encode(mosaic, fmt, **options),
                     time.perf_counter() - start))
    return rows


def negative_elbo_nats(model, x, batch=500) -> float:
    return float(-np.mean(np.concatenate([model.elbo(x[i:i + batch]) for i in range(0, len(x), batch)])))


def run_suite(title, preset_names, data_preset, take):
    from zoo import compression, data, presets

    card = presets.read_metadata(data_preset)
    x, _ = data.load_numpy_for_card(card, "test", take=take)
    binary = card["likelihood"]["name"] == "bernoulli"
    images = (x if binary else np.round(x * 255)).astype(np.uint8)
    dims = images[0].size
    to_bits = 1.0 / (len(images) * dims)
    protocol = (f"the first {len(images)} {card['dataset']} test images, preprocessed as {data_preset}'s card says "
                f"({card['preprocessing']}, seed 0)")
    rows, references = [], []
    for name in preset_names:
        print(f"{title}: {name} ...", file=sys.stderr, flush=True)
        coder, model_card = compression.load_coder(name)
        blob, report = compression.compress_with(coder, model_card, name, images)
        start = time.perf_counter()
        decoded = compression.decompress(blob, preset=name)
        decode_seconds = time.perf_counter() - start
        exact = bool(np.array_equal(decoded, images))
        rows.append({"codec": f"**{name}** bits-back (BB-ANS)", "bits_per_dim": report.bits_per_dim,
                     "compress_ips": len(images) / report.seconds, "decompress_ips": len(images) / decode_seconds,
                     "exact": exact, "net_bits_per_dim": report.net_bits_per_dim,
                     "overhead_bits": 8 * report.header_bytes + report.initial_bits})
        elbo = negative_elbo_nats(coder.model, images.astype(np.float32) / (1.0 if binary else 255.0))
        metrics = model_card.get("metrics", {})
        references.append({"preset": name, "elbo_bits_per_dim": elbo / (dims * math.log(2)),
                           "net_bits_per_dim": report.net_bits_per_dim,
                           "nll_bits_per_dim": (metrics["nll_nats"] / (dims * math.log(2))
                                                if "nll_nats" in metrics else None),
                           "nll_protocol": (f"k={metrics.get('nll_k')}, {metrics.get('num_examples')} images, "
                                            "from its card") if "nll_nats" in metrics else "",
                           "gap": report.net_bits_per_dim / (elbo / (dims * math.log(2))) - 1})
    for codec, size, seconds in standard_codecs(images, binary):
        rows.append({"codec": codec, "bits_per_dim": 8 * size * to_bits, "compress_ips": len(images) / seconds,
                     "decompress_ips": None, "exact": None})
    return {"title": title, "protocol": protocol, "rows": rows, "references": references, "num": len(images)}


def render(suites, seconds) -> str:
    cpu = cpuinfo_fields()
    lines = [
        "# Lossless compression: bits-back coding against standard codecs",
        "",
        f"Written by `python benchmarks/compression.py` on {datetime.date.today()} ({cpu.get('model name', '?')}, "
        f"{os.cpu_count()} cores, load {load_average():.1f} at the end; {seconds / 60:.1f} min in all).",
        "",
        "Bits/dim count every byte of the file: for the zoo's coder the header (preset, sha256s, versions) and the "
        "chain's clean initial words are included; \"net\" leaves them out (they are paid once per file, so they "
        "vanish as the chain grows). Every zoo file was decoded back and compared with its input. Standard codecs "
        "code one stream of all images (packed bits for binary pixels, bytes for 8-bit ones), or each image as its "
        "own file, or one mosaic image of all of them.",
        "",
    ]
    for suite in suites:
        lines += [f"## {suite['title']}", "", f"Images: {suite['protocol']}.", "",
                  "| codec | bits/dim | compress images/s | decompress images/s | round trip |",
                  "|---|---|---|---|---|"]
        for row in sorted(suite["rows"], key=lambda r: r["bits_per_dim"]):
            decompress = f"{row['decompress_ips']:.1f}" if row["decompress_ips"] else ""
            exact = "" if row["exact"] is None else ("exact" if row["exact"] else "**FAILED**")
            lines.append(f"| {row['codec']} | {row['bits_per_dim']:.4f} | {row['compress_ips']:.1f} | "
                         f"{decompress} | {exact} |")
        lines += ["", "| preset | net bits/dim | -ELBO bits/dim (this run) | net vs -ELBO | NLL bits/dim |",
                  "|---|---|---|---|---|"]
        for ref in suite["references"]:
            nll = f"{ref['nll_bits_per_dim']:.4f} ({ref['nll_protocol']})" if ref["nll_bits_per_dim"] else "-"
            lines.append(f"| {ref['preset']} | {ref['net_bits_per_dim']:.4f} | {ref['elbo_bits_per_dim']:.4f} | "
                         f"{100 * ref['gap']:+.2f}% | {nll} |")
        lines.append("")
    lines += [
        "Notes:",
        "- -ELBO is one posterior sample per image (unbiased for the ELBO); the coder's net rate is the -ELBO of "
        f"the discretized model: 2**{12} equal-mass prior buckets per latent, network outputs rounded to 2**-12.",
        "- Bits-back coding codes images one at a time (batch 1 on both sides, for bit-identical network outputs); "
        "its speed is the networks' per-image latency, not their batched throughput.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10000, help="test images per dataset (default: all 10,000)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "compression.md"))
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error("--images must be positive")
    start = time.perf_counter()
    suites = [run_suite(title, names, data_preset, args.images) for title, names, data_preset in SUITES]
    text = render(suites, time.perf_counter() - start)
    if args.out == "/dev/null":
        print(text)
    else:
        write_text(args.out, text)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
