"""Lossless compression with a VAE: bits-back coding with asymmetric numeral systems.

BB-ANS (Townsend, Bird & Barber 2019) turns a latent variable model into a lossless
code whose rate approaches the negative ELBO. The coder is a stack (ANS, from
`constriction`); per image x the sender

    1. pops a latent bucket z from q(z|x)     (takes back bits already on the stack),
    2. pushes x with p(x|z),
    3. pushes z with p(z),

so the net cost is -log p(x|z) - log p(z) + log q(z|x): on average the negative ELBO
of the discretized model. The receiver undoes the three steps in reverse order and
finds x, then pushes z back with q(z|x), restoring the stack as it was before the
sender's step 1. Images are chained: each image's bits back come from the images
coded before it, and the first from `initial_words` clean random words at the bottom
of the stack (the only overhead, amortized over the chain and reported).

Latents are discretized against the prior as BB-ANS does: each dimension is cut
into 2**latent_bits buckets of equal mass under N(0, 1) (the zoo's standard prior;
a VampPrior's mixture is coded on the same grid through its component, see
`MixturePrior`), and a bucket stands for its median.

Determinism is what makes this work: the receiver must build exactly the same
probabilities as the sender. Both run the networks on one image at a time (the same
shapes, hence the same kernels), round every network output to a multiple of
2**-parameter_bits before it becomes a probability, and compute the latent tables
in float64 with scipy's portable `ndtr`. The file records the preset's weights
sha256 and the library versions; decompression refuses another model and warns on
other versions. The header carries a sha256 of the payload and of the images, so a
damaged file is an error, never wrong images.

File layout (little endian): MAGIC, uint32 header length, the header as UTF-8 JSON,
then the payload as uint32 words.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import warnings
from dataclasses import dataclass

import numpy as np

MAGIC = b"ZOOBBANS"
FORMAT_VERSION = 1
# Equal-mass prior buckets per latent dimension: 2**12. Near 0 a bucket is 6e-4 wide,
# far below the posterior scales of the shipped presets, so discretizing costs ~nothing.
LATENT_BITS = 12
# Network outputs are rounded to multiples of 2**-12 before they become probabilities.
PARAMETER_BITS = 12
# Clean random words at the bottom of the stack, beyond what the first image's
# bits back can take (at most latent_bits per latent dimension).
SPARE_WORDS = 8
INITIAL_WORDS_SEED = 20190315
# The 8-bit levels a discretized logistic mixture codes.
LEVELS = 256


class CompressionError(ValueError):
    """A file that cannot be decompressed: damaged, or made with another model."""


# --------------------------------------------------------------------------- what can be coded


def check_images(images, image_shape, pixels: str) -> np.ndarray:
    """The images as uint8 [N, H, W, C], or a clear error: binary images (0/1) for a
    Bernoulli model, never silently binarized; 8-bit levels (uint8, or floats on the
    k/255 grid) for a discretized logistic mixture."""
    x = np.asarray(images)
    if x.ndim == 3 and image_shape[-1] == 1:
        x = x[..., None]
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"images: expected shape [N, {', '.join(map(str, image_shape))}], got {list(x.shape)}")
    if len(x) == 0:
        raise ValueError("images: no images to compress")
    if x.dtype == bool:
        x = x.astype(np.uint8)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"images: expected numbers, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError("images: contain NaN or infinity")
    if pixels == "binary":
        bad = ~((x == 0) | (x == 1))
        if bad.any():
            values = np.unique(x[bad])[:5]
            raise ValueError(
                f"images: this preset codes binary pixels (0 or 1), but {int(bad.sum())} pixels are not "
                f"(e.g. {', '.join(f'{v:g}' for v in values)}); binarize them yourself first, the "
                "compressor never does it silently")
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        levels = np.round(x.astype(np.float64) * 255.0)
        if np.any(np.abs(levels / 255.0 - x) > 1e-6) or levels.min() < 0 or levels.max() > 255:
            raise ValueError("images: floats must be 8-bit levels k/255 in [0, 1] (or pass uint8 pixel values)")
        return levels.astype(np.uint8)
    if x.min() < 0 or x.max() > 255:
        raise ValueError(f"images: 8-bit pixels lie in 0..255, got values in {x.min()}..{x.max()}")
    return x.astype(np.uint8)


def images_sha256(images: np.ndarray) -> str:
    """sha256 of uint8 images [N, H, W, C] with their shape: the header's checksum."""
    digest = hashlib.sha256(repr(tuple(images.shape)).encode())
    digest.update(np.ascontiguousarray(images, np.uint8).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- the latent grid


def normal_cdf(x):
    """Phi(x) in float64 (scipy's cephes ndtr: the same bits on every platform)."""
    from scipy.special import ndtr

    return ndtr(np.asarray(x, np.float64))


def quantize(values, bits: int = PARAMETER_BITS) -> np.ndarray:
    """Rounds to multiples of 2**-bits, in float64: both ends of the channel then
    build their probabilities from the same exactly representable numbers."""
    scale = float(2 ** bits)
    return np.round(np.asarray(values, np.float64) * scale) / scale


class LatentGrid:
    """2**bits buckets per latent dimension, of equal mass under N(0, 1).

    Args:
        bits: log2 of the number of buckets.
    """

    def __init__(self, bits: int = LATENT_BITS):
        from scipy.special import ndtri

        self.bits = int(bits)
        self.size = 2 ** self.bits
        inner = ndtri(np.arange(1, self.size) / self.size)
        self.edges = np.concatenate([[-np.inf], inner, [np.inf]])  # [size + 1]
        self.centres = ndtri((np.arange(self.size) + 0.5) / self.size)  # the buckets' medians

    def bucket_masses(self, loc, scale) -> np.ndarray:
        """[..., size] masses of the buckets under N(loc, scale) per dimension, loc and
        scale [...]. Each side of the mean uses the tail it is in, so a far bucket keeps
        its small mass instead of a difference of two numbers near 1."""
        loc, scale = np.asarray(loc)[..., None], np.asarray(scale)[..., None]
        t = (self.edges - loc) / scale  # [..., size + 1]
        lower = normal_cdf(t[..., :-1])
        upper = normal_cdf(t[..., 1:])
        mirrored = normal_cdf(-t[..., :-1]) - normal_cdf(-t[..., 1:])
        return np.where(t[..., :-1] >= 0, mirrored, upper - lower)

    def log_masses_at(self, buckets, loc, scale) -> np.ndarray:
        """log mass of bucket b_d under N(loc_d, scale_d), buckets [D], loc/scale [..., D]."""
        a = (self.edges[buckets] - loc) / scale
        b = (self.edges[buckets + 1] - loc) / scale
        mass = np.where(a >= 0, normal_cdf(-a) - normal_cdf(-b), normal_cdf(b) - normal_cdf(a))
        return np.log(np.maximum(mass, 1e-300))


# --------------------------------------------------------------------------- coding distributions


def _constriction():
    try:
        import constriction
    except ImportError as err:  # pragma: no cover - declared dependency
        raise ImportError("zoo.compression needs `constriction` (pip install constriction)") from err
    return constriction


class StandardNormalPrior:
    """p(z) = N(0, I) on the grid: every bucket has mass 2**-bits."""

    extra_bits = 0

    def __init__(self, grid: LatentGrid, latent_dim: int):
        self.grid, self.latent_dim = grid, latent_dim
        self.model = _constriction().stream.model.Uniform(grid.size)

    def push(self, coder, buckets):
        coder.encode_reverse(buckets, self.model)

    def pop(self, coder):
        return coder.decode(self.model, self.latent_dim)


class MixturePrior:
    """p(z) = sum_k pi_k N(z; mu_k, diag s_k^2) (the VampPrior), on the same grid.

    z is pushed with a component k drawn from the exact posterior p(k|z) with bits
    back (Townsend et al.'s hierarchical case), so the net cost is -log p(z) of the
    discretized mixture. Args: grid, and the mixture's weights [K], locs and scales [K, D]
    (already quantized).
    """

    def __init__(self, grid: LatentGrid, weights, locs, scales):
        model = _constriction().stream.model
        self.grid, self.locs, self.scales = grid, locs, scales
        self.latent_dim = locs.shape[1]
        self.weights = np.asarray(weights, np.float64)
        self.component_model = model.Categorical(self.weights, perfect=False)
        self.bucket_family = model.Categorical(perfect=False)
        self.extra_bits = float(np.log2(len(self.weights)))

    def _component_posterior(self, buckets):
        log_joint = np.log(self.weights) + self.grid.log_masses_at(buckets, self.locs, self.scales).sum(axis=1)
        posterior = np.exp(log_joint - log_joint.max())
        return _constriction().stream.model.Categorical(posterior / posterior.sum(), perfect=False)

    def push(self, coder, buckets):
        k = coder.decode(self._component_posterior(buckets))
        coder.encode_reverse(buckets, self.bucket_family, self.grid.bucket_masses(self.locs[k], self.scales[k]))
        coder.encode_reverse(np.array([k], np.int32), self.component_model)

    def pop(self, coder):
        k = int(coder.decode(self.component_model, 1)[0])
        buckets = coder.decode(self.bucket_family, self.grid.bucket_masses(self.locs[k], self.scales[k]))
        coder.encode_reverse(np.array([k], np.int32), self._component_posterior(buckets))
        return buckets


@dataclass
class Networks:
    """The model's encoder and decoder on one image at a time, outputs quantized."""

    model: object
    parameter_bits: int

    def __post_init__(self):
        import tensorflow as tf

        model, shape = self.model, tuple(self.model.image_shape)

        @tf.function(input_signature=[tf.TensorSpec((1, *shape), tf.float32)], jit_compile=False)
        def posterior(x):
            q = model.posterior_for(x)
            return q.mean(), q.stddev()

        @tf.function(input_signature=[tf.TensorSpec((1, model.latent_dim), tf.float32)], jit_compile=False)
        def decoder(z):
            return model.decoder_params(z)

        self._posterior, self._decoder = posterior, decoder

    def posterior(self, x_uint8, pixels: str):
        x = x_uint8.astype(np.float32) / (1.0 if pixels == "binary" else 255.0)
        loc, scale = self._posterior(x[None])
        return (quantize(loc.numpy()[0], self.parameter_bits),
                np.maximum(quantize(scale.numpy()[0], self.parameter_bits), 2.0 ** -self.parameter_bits))

    def decoder_params(self, z):
        return quantize(self._decoder(np.asarray(z, np.float32)[None]).numpy()[0], self.parameter_bits)


class BernoulliPixels:
    """Binary pixels, p = sigmoid(quantized logit)."""

    def __init__(self, likelihood):
        self.family = _constriction().stream.model.Bernoulli(perfect=False)

    def push(self, coder, raw, x):
        coder.encode_reverse(x.reshape(-1).astype(np.int32), self.family, _sigmoid(raw.reshape(-1)))

    def pop(self, coder, raw, shape):
        return coder.decode(self.family, _sigmoid(raw.reshape(-1))).reshape(shape).astype(np.uint8)


def _sigmoid(logits):
    from scipy.special import expit

    return expit(logits)


class DiscretizedLogisticPixels:
    """8-bit grey pixels: each pixel's 256-level table from the model's own
    discretized logistic mixture (its exact `log_prob`), computed with TensorFlow on
    fixed shapes from the quantized decoder output."""

    def __init__(self, likelihood):
        import tensorflow as tf

        self.likelihood = likelihood
        self.family = _constriction().stream.model.Categorical(perfect=False)
        levels = tf.reshape(tf.range(LEVELS, dtype=tf.float32) / 255.0, [LEVELS, 1, 1, 1, 1])

        @tf.function(jit_compile=False)
        def table(raw):  # raw [H, W, P] -> [H*W, 256] probabilities
            pixels = tf.reshape(raw, [-1, 1, 1, raw.shape[-1]])  # every pixel a 1x1 image
            log_p = likelihood.distribution(pixels).log_prob(levels)  # [256, H*W]
            return tf.transpose(tf.exp(log_p))

        self._table = table

    def _probabilities(self, raw):
        return self._table(raw.astype(np.float32)).numpy().astype(np.float64)

    def push(self, coder, raw, x):
        coder.encode_reverse(x.reshape(-1).astype(np.int32), self.family, self._probabilities(raw))

    def pop(self, coder, raw, shape):
        return coder.decode(self.family, self._probabilities(raw)).reshape(shape).astype(np.uint8)


def pixel_coder(model):
    """(pixels kind, coder) for the model's likelihood, or a clear error."""
    name = model.likelihood.name
    if name.startswith("autoregressive"):
        raise ValueError("compression: an autoregressive decoder's pixels depend on each other; the coder here "
                         "codes pixels that are independent given z")
    if name == "bernoulli":
        return "binary", BernoulliPixels(model.likelihood)
    if name == "discretized_logistic_mixture":
        if model.image_shape[-1] != 1:
            raise ValueError("compression: colour discretized-logistic presets are not supported yet "
                             "(their channels depend on each other); grey and binary ones are")
        return "8bit", DiscretizedLogisticPixels(model.likelihood)
    raise ValueError(f"compression: a {name!r} likelihood is a density over continuous pixels, not a "
                     "probability over discrete ones; lossless coding needs a Bernoulli (binary) or "
                     "discretized logistic mixture (8-bit) preset")


def prior_coder(model, grid: LatentGrid, parameter_bits: int):
    """The prior's coder: N(0, I), or a diagonal Gaussian mixture (VampPrior)."""
    if model.discrete_codes:
        raise ValueError("compression: a VQ-VAE's posterior is a point mass on a code grid and its prior is "
                         "autoregressive over the codes; bits-back coding here needs a Gaussian posterior and a "
                         "Gaussian or Gaussian-mixture prior")
    prior = model.prior_distribution()
    if hasattr(prior, "components_distribution"):
        components = prior.components_distribution
        weights = np.asarray(prior.mixture_distribution.probs_parameter(), np.float64)
        return MixturePrior(grid, weights, quantize(components.mean().numpy(), parameter_bits),
                            np.maximum(quantize(components.stddev().numpy(), parameter_bits),
                                       2.0 ** -parameter_bits))
    loc, scale = prior.mean().numpy(), prior.stddev().numpy()
    if not (np.all(loc == 0) and np.all(scale == 1)):
        raise ValueError(f"compression: the prior {type(prior).__name__} is not N(0, I) or a Gaussian mixture")
    return StandardNormalPrior(grid, model.latent_dim)


# --------------------------------------------------------------------------- the chain


class BitsBackCoder:
    """Bits-back coding of images with one model.

    Args:
        model: a zoo model with a diagonal Gaussian posterior, a N(0, I) or mixture
            prior, and a Bernoulli or grey discretized logistic likelihood.
        latent_bits: log2 of the buckets per latent dimension.
        parameter_bits: network outputs are rounded to multiples of 2**-parameter_bits.
    """

    def __init__(self, model, latent_bits: int = LATENT_BITS, parameter_bits: int = PARAMETER_BITS):
        if getattr(model, "conditional", False):
            raise ValueError("compression: conditional presets need the labels too; use an unconditional preset")
        if not getattr(model, "has_density", True):
            raise ValueError(f"compression: {type(model).__name__} defines no density over images")
        self.model, self.latent_bits, self.parameter_bits = model, int(latent_bits), int(parameter_bits)
        self.image_shape = tuple(model.image_shape)
        self.grid = LatentGrid(self.latent_bits)
        self.pixels, self.likelihood = pixel_coder(model)
        self.prior = prior_coder(model, self.grid, self.parameter_bits)
        self.networks = Networks(model, self.parameter_bits)
        self.posterior_family = _constriction().stream.model.Categorical(perfect=False)

    @property
    def initial_words(self) -> np.ndarray:
        """The clean random words the chain starts on (fixed by a seed, so the receiver
        can check it ends on them)."""
        bits = self.model.latent_dim * self.latent_bits + self.prior.extra_bits
        count = int(np.ceil(bits / 32)) + SPARE_WORDS
        words = np.random.default_rng(INITIAL_WORDS_SEED).integers(0, 2**32, count, dtype=np.uint32)
        words[-1] |= np.uint32(1)  # a nonzero last word: the coder would drop a trailing zero
        return words

    def _posterior_masses(self, x):
        loc, scale = self.networks.posterior(x, self.pixels)
        return self.grid.bucket_masses(loc, scale)

    def push_image(self, coder, x):
        """Sender: x [H, W, C] uint8 onto the stack."""
        buckets = coder.decode(self.posterior_family, self._posterior_masses(x))  # bits back
        raw = self.networks.decoder_params(self.grid.centres[buckets])
        self.likelihood.push(coder, raw, x)
        self.prior.push(coder, buckets)

    def pop_image(self, coder):
        """Receiver: the last pushed image off the stack, restoring the bits back."""
        buckets = self.prior.pop(coder)
        raw = self.networks.decoder_params(self.grid.centres[buckets])
        x = self.likelihood.pop(coder, raw, self.image_shape)
        coder.encode_reverse(buckets, self.posterior_family, self._posterior_masses(x))
        return x

    def encode(self, images: np.ndarray, progress=None) -> np.ndarray:
        """uint8 images [N, H, W, C] -> payload words (uint32)."""
        coder = _constriction().stream.stack.AnsCoder(self.initial_words, seal=True)
        for i, x in enumerate(images):
            self.push_image(coder, x)
            _report_progress(progress, i + 1, len(images))
        return coder.get_compressed()

    def decode(self, payload: np.ndarray, count: int, progress=None) -> np.ndarray:
        """payload words -> uint8 images [count, H, W, C]; raises CompressionError when
        the chain does not end on the initial words (damaged or foreign data)."""
        coder = _constriction().stream.stack.AnsCoder(np.asarray(payload, np.uint32))
        images = np.empty((count, *self.image_shape), np.uint8)
        try:
            for i in reversed(range(count)):
                images[i] = self.pop_image(coder)
                _report_progress(progress, count - i, count)
            rest = coder.get_compressed(unseal=True)
        except (ValueError, RuntimeError, AssertionError) as err:
            raise CompressionError(f"the compressed data do not decode ({err}); the file is damaged") from err
        if not np.array_equal(rest, self.initial_words):
            raise CompressionError("the compressed data did not decode back to the chain's initial words; "
                                   "the file is damaged or was made with other network outputs")
        return images


def _report_progress(progress, done: int, total: int) -> None:
    """Calls progress(done, total) about a hundred times in all, and at the end."""
    if progress and (done == total or done % max(1, total // 100) == 0):
        progress(done, total)


# --------------------------------------------------------------------------- files


def _versions() -> dict:
    import importlib.metadata as metadata

    out = {}
    for package in ("tensorflow", "keras", "numpy", "scipy", "constriction"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[package] = None
    # oneDNN's kernels round differently from TensorFlow's own: part of the stack.
    out["TF_ENABLE_ONEDNN_OPTS"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return out


@dataclass
class CompressionReport:
    """What one compression cost. `bits_per_dim` counts the whole file; `net_bits_per_dim`
    leaves out the header and the chain's initial words (the amortized start-up)."""

    num_images: int
    dims: int
    file_bytes: int
    header_bytes: int
    initial_bits: int
    payload_bits: int
    seconds: float

    @property
    def bits_per_dim(self) -> float:
        return 8.0 * self.file_bytes / (self.num_images * self.dims)

    @property
    def net_bits_per_dim(self) -> float:
        return (self.payload_bits - self.initial_bits) / (self.num_images * self.dims)

    def as_dict(self) -> dict:
        return {**self.__dict__, "bits_per_dim": self.bits_per_dim, "net_bits_per_dim": self.net_bits_per_dim,
                "images_per_second": self.num_images / self.seconds if self.seconds else None}


def load_coder(preset: str, **options):
    """(coder, card) for a preset name or folder."""
    from zoo import presets

    model = presets.load(preset)
    card = presets.read_metadata(preset)
    return BitsBackCoder(model, **options), card


def compress(images, preset: str, progress=None, **options) -> tuple[bytes, CompressionReport]:
    """Losslessly compresses images with a preset: (file bytes, report).

    Args:
        images: [N, H, W(, C)] binary images (0/1) for a Bernoulli preset, 8-bit
            levels (uint8, or floats k/255) for a discretized logistic one.
        preset: a shipped preset's name or a preset folder.
        progress: optional callback(done, total).
        **options: latent_bits, parameter_bits (see `BitsBackCoder`).
    """
    coder, card = load_coder(preset, **options)
    return compress_with(coder, card, preset, images, progress)


def compress_with(coder: BitsBackCoder, card: dict, preset: str, images, progress=None
                  ) -> tuple[bytes, CompressionReport]:
    """`compress` with a coder and model card already loaded (`load_coder(preset)`)."""
    x = check_images(images, coder.image_shape, coder.pixels)
    start = time.perf_counter()
    payload = coder.encode(x, progress)
    seconds = time.perf_counter() - start
    words = payload.astype("<u4").tobytes()
    header = {
        "format": FORMAT_VERSION,
        "preset": preset,  # as given: a shipped name, or the folder decompression looks in
        "model_name": card.get("name"),
        "weights_sha256": card.get("weights_sha256"),
        "image_shape": list(coder.image_shape),
        "num_images": int(len(x)),
        "pixels": coder.pixels,
        "latent_bits": coder.latent_bits,
        "parameter_bits": coder.parameter_bits,
        "initial_words": int(len(coder.initial_words)),
        "payload_words": int(len(payload)),
        "payload_sha256": hashlib.sha256(words).hexdigest(),
        "images_sha256": images_sha256(x),
        "versions": _versions(),
    }
    header_bytes = json.dumps(header, sort_keys=True).encode()
    data = MAGIC + struct.pack("<I", len(header_bytes)) + header_bytes + words
    report = CompressionReport(len(x), int(np.prod(coder.image_shape)), len(data), len(data) - len(words),
                               32 * len(coder.initial_words), 32 * len(payload), seconds)
    return data, report


def read_header(data: bytes) -> tuple[dict, bytes]:
    """(header, payload bytes) of a compressed file, checked; CompressionError otherwise."""
    if not data.startswith(MAGIC):
        raise CompressionError("not a zoo compressed file (its first bytes are not the zoo's BB-ANS marker)")
    if len(data) < len(MAGIC) + 4:
        raise CompressionError("the file is truncated inside its header")
    (length,) = struct.unpack("<I", data[len(MAGIC):len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if len(data) < start + length:
        raise CompressionError(f"the file is truncated inside its header ({len(data)} bytes)")
    try:
        header = json.loads(data[start:start + length].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CompressionError(f"the file's header is damaged ({err})") from err
    if header.get("format") != FORMAT_VERSION:
        raise CompressionError(f"file format {header.get('format')!r}; this zoo reads format {FORMAT_VERSION}")
    payload = data[start + length:]
    expected = 4 * int(header["payload_words"])
    if len(payload) != expected:
        raise CompressionError(f"the file is truncated or has extra bytes: payload of {len(payload)} bytes, "
                               f"the header says {expected}")
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise CompressionError("the file's payload is damaged (its sha256 differs from the header's)")
    return header, payload


def decompress(data: bytes, preset: str | None = None, progress=None) -> np.ndarray:
    """The images of a compressed file (uint8 [N, H, W, C]), exactly as compressed.

    Args:
        data: the file's bytes.
        preset: the preset to decode with (default: the one the header names); its
            weights must be the ones the file was made with.
        progress: optional callback(done, total).
    """
    header, payload = read_header(data)
    coder, card = load_coder(preset or header["preset"], latent_bits=header["latent_bits"],
                             parameter_bits=header["parameter_bits"])
    if card.get("weights_sha256") != header["weights_sha256"]:
        raise CompressionError(
            f"this file was compressed with {header['preset']} (weights sha256 {header['weights_sha256'][:12]}...); "
            f"{preset or header['preset']} has other weights ({str(card.get('weights_sha256'))[:12]}...), "
            "and only the same model decodes it")
    if list(coder.image_shape) != header["image_shape"] or coder.pixels != header["pixels"]:
        raise CompressionError("the preset's image shape or pixel kind differs from the file's")
    versions = _versions()
    changed = {k: (v, versions.get(k)) for k, v in header["versions"].items() if versions.get(k) != v}
    if changed:
        warnings.warn(f"decompressing with other library versions than the file was made with {changed}; "
                      "network outputs may differ and decoding may fail (it will say so)", stacklevel=2)
    images = coder.decode(np.frombuffer(payload, "<u4").astype(np.uint32), int(header["num_images"]), progress)
    if images_sha256(images) != header["images_sha256"]:
        raise CompressionError("the decoded images do not match the file's checksum; the file is damaged "
                               "or the network outputs differ from the compressor's")
    return images
