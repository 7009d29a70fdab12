"""Lossless compression: `zoo compress` and `zoo decompress` (bits-back coding, see
`zoo.compression`)."""

from __future__ import annotations

import os

from zoo.cli.arguments import add_preset_argument, at_least, image_input, suffix


def run_compress(args) -> int:
    """Compresses images with a preset into one file and prints what it cost."""
    import numpy as np

    from zoo import compression, io
    from zoo.cli.commands.evaluation import progress_counter, read_anomaly_input

    coder, card = compression.load_coder(args.name, latent_bits=args.latent_bits)
    if os.path.isdir(args.input):
        if coder.pixels == "binary":
            raise ValueError(f"{args.name} codes binary pixels: give a .npy array of 0/1 images, not PNG files "
                             "(8-bit PNG levels are not binary pixels)")
        images, _ = read_anomaly_input(args.input, coder.image_shape)
    else:
        images = np.load(args.input, allow_pickle=False)
    data, report = compression.compress_with(coder, card, args.name, images, progress=progress_counter("compressing"))
    path = io.write_bytes(args.out, data)
    summary = report.as_dict()
    print(f"{report.num_images} images -> {report.file_bytes} bytes ({path})\n"
          f"  {report.bits_per_dim:.4f} bits/dim for the whole file, {report.net_bits_per_dim:.4f} without the "
          f"header ({report.header_bytes} bytes) and the chain's {report.initial_bits} initial bits\n"
          f"  {summary['images_per_second']:.1f} images/s")
    if args.report:
        io.write_json(args.report, {"preset": card.get("name", args.name), "input": args.input, **summary})
    return 0


def run_decompress(args) -> int:
    """Decompresses a file into a .npy array of uint8 images, checked against its checksum."""
    import numpy as np

    from zoo import compression, io
    from zoo.cli.commands.evaluation import progress_counter

    with open(args.file, "rb") as f:
        data = f.read()
    images = compression.decompress(data, preset=args.preset, progress=progress_counter("decompressing"))
    with io.atomic_path(args.out, suffix=".npy") as tmp:
        np.save(tmp, images, allow_pickle=False)
    header, _ = compression.read_header(data)
    print(f"{len(images)} images of {header['preset']} written to {os.path.abspath(args.out)} "
          f"(uint8 {list(images.shape)}; sha256 checked)")
    return 0


def add_compress(subparsers):
    p = subparsers.add_parser(
        "compress", help="losslessly compress images with a preset (bits-back coding)",
        description="Bits-back coding with asymmetric numeral systems (BB-ANS): the rate approaches the model's "
                    "negative ELBO. Bernoulli presets code binary images (0/1; anything else is refused, never "
                    "binarized), discretized-logistic presets 8-bit grey images. The file names the preset and its "
                    "weights' sha256; only the same model decompresses it.")
    add_preset_argument(p)
    p.add_argument("--input", required=True, type=image_input, metavar="IMAGES",
                   help="a .npy array [N,H,W(,C)] (binary 0/1, or 8-bit levels as uint8 or floats k/255), or a "
                        "folder of PNGs (8-bit presets)")
    p.add_argument("--out", required=True, metavar="FILE", help="the compressed file to write")
    p.add_argument("--latent-bits", type=at_least(4), default=12,
                   help="log2 of the equal-mass prior buckets per latent dimension")
    p.add_argument("--report", metavar="JSON", help="also write the measured sizes and speed to this JSON file")
    return p


def add_decompress(subparsers):
    p = subparsers.add_parser(
        "decompress", help="decompress a `zoo compress` file into a .npy array",
        description="Decodes a file written by `zoo compress` with the preset it names (or --preset, which must "
                    "have the same weights) and checks the images against the file's sha256.")
    p.add_argument("file", help="a file written by `zoo compress`")
    p.add_argument("--out", required=True, type=suffix(".npy"), metavar="IMAGES.npy", help="the .npy file to write")
    p.add_argument("--preset", help="preset name or directory to decode with (default: the one the file names)")
    return p


COMMANDS = {"compress": (add_compress, run_compress), "decompress": (add_decompress, run_decompress)}
