"""zoo.compression (bits-back coding) on shipped presets and real test images: exact
round trips (binary, 8-bit, VampPrior), a rate at the model's negative ELBO, a round
trip across two processes, damaged files refused, bad input refused, and the CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo import compression, data, presets
from zoo.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_images(name, take):
    return data.load_numpy_for_card(presets.read_metadata(name), "test", take=take)[0]


test_images.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def mnist_file():
    """(images, file bytes, report) of 40 binarized MNIST test images through vae_mnist."""
    x = test_images("vae_mnist", 40)
    blob, report = compression.compress(x, "vae_mnist")
    return x, blob, report


def test_latent_grid_buckets_have_equal_prior_mass():
    grid = compression.LatentGrid(8)
    masses = grid.bucket_masses(np.zeros(3), np.ones(3))
    np.testing.assert_allclose(masses, 1 / 256, rtol=1e-9)
    narrow = grid.bucket_masses(np.array([0.3, -2.0]), np.array([0.05, 0.2]))
    np.testing.assert_allclose(narrow.sum(axis=-1), 1.0, rtol=1e-9)
    # The posterior's mass sits in the buckets around its mean.
    assert grid.centres[np.argmax(narrow[0])] == pytest.approx(0.3, abs=0.02)


def test_binary_round_trip_is_exact_and_costs_the_negative_elbo(mnist_file):
    x, blob, report = mnist_file
    images = compression.decompress(blob)
    assert images.dtype == np.uint8 and images.shape == (40, 28, 28, 1)
    np.testing.assert_array_equal(images, x)
    model = presets.load("vae_mnist")
    negative_elbo = -np.mean([np.mean(model.elbo(x, seed=s)) for s in range(20)])
    elbo_bits_per_dim = negative_elbo / (784 * np.log(2))
    # The net rate is the discretized model's -ELBO: within 3% of the continuous one.
    assert report.net_bits_per_dim == pytest.approx(elbo_bits_per_dim, rel=0.03)
    assert report.bits_per_dim > report.net_bits_per_dim  # the header and initial bits are counted


def test_eight_bit_round_trip_with_the_discretized_logistic_mixture():
    x = test_images("vae_fashion_mnist", 6)
    blob, report = compression.compress(x, "vae_fashion_mnist")
    np.testing.assert_array_equal(compression.decompress(blob), np.round(x * 255).astype(np.uint8))
    assert 2.0 < report.net_bits_per_dim < 4.5  # far below the 8 bits of raw pixels


def test_vamp_prior_round_trip():
    x = test_images("vamp_mnist", 6)
    blob, _ = compression.compress(x, "vamp_mnist")
    np.testing.assert_array_equal(compression.decompress(blob), x)


def test_round_trip_across_two_processes(tmp_path):
    # Sender and receiver are separate processes: their network outputs must agree bit for bit.
    images, packed, unpacked = tmp_path / "x.npy", tmp_path / "x.bb", tmp_path / "y.npy"
    np.save(images, test_images("vae_mnist", 12))
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for argv in (["compress", "vae_mnist", "--input", str(images), "--out", str(packed)],
                 ["decompress", str(packed), "--out", str(unpacked)]):
        out = subprocess.run([sys.executable, "-m", "zoo.cli", *argv], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
    np.testing.assert_array_equal(np.load(unpacked), np.load(images))


def _replace_header(blob, **changes):
    header, payload = compression.read_header(blob)
    text = json.dumps({**header, **changes}, sort_keys=True).encode()
    return compression.MAGIC + len(text).to_bytes(4, "little") + text + payload


def test_damaged_files_never_decode_silently(mnist_file):
    _, blob, _ = mnist_file
    with pytest.raises(compression.CompressionError, match="truncated"):
        compression.decompress(blob[:-4])
    flipped = bytearray(blob)
    flipped[-10] ^= 0x40
    with pytest.raises(compression.CompressionError, match="payload is damaged"):
        compression.decompress(bytes(flipped))
    with pytest.raises(compression.CompressionError, match="not a zoo compressed file"):
        compression.decompress(b"PK" + blob[2:])
    # A flipped bit the payload's checksum misses (its sha256 rewritten too) still fails:
    # the chain does not end on its initial words, or the images miss their checksum.
    header, payload = compression.read_header(blob)
    words = np.frombuffer(payload, "<u4").copy()
    words[len(words) // 2] ^= 1 << 7
    forged = _replace_header(blob, payload_sha256=__import__("hashlib").sha256(words.tobytes()).hexdigest())
    forged = forged[:len(forged) - len(payload)] + words.tobytes()
    with pytest.raises(compression.CompressionError):
        compression.decompress(forged)


def test_another_model_is_refused(mnist_file):
    _, blob, _ = mnist_file
    with pytest.raises(compression.CompressionError, match="other weights"):
        compression.decompress(blob, preset="iwae_mnist")


def test_input_that_is_not_binary_is_refused():
    grey = data.load_numpy("mnist", "test", "float", take=3)[0]
    with pytest.raises(ValueError, match="binary pixels .* never does it silently"):
        compression.compress(grey, "vae_mnist")
    with pytest.raises(ValueError, match="expected shape"):
        compression.compress(np.zeros((2, 32, 32, 1)), "vae_mnist")
    # No shipped preset has a density over continuous pixels any more; a model of one's own may.
    gaussian = zoo.VAE(image_shape=(28, 28, 1), widths=(8,), hidden_dim=8, latent_dim=2, likelihood="gaussian")
    with pytest.raises(ValueError, match="density over continuous pixels"):
        compression.pixel_coder(gaussian)
    with pytest.raises(ValueError, match="conditional"):
        compression.compress(np.zeros((2, 28, 28, 1)), "cvae_mnist")


def test_cli_compress_and_decompress(tmp_path, capsys):
    images = tmp_path / "x.npy"
    np.save(images, test_images("vae_mnist", 5))
    packed, report = tmp_path / "x.bb", tmp_path / "report.json"
    assert main(["compress", "vae_mnist", "--input", str(images), "--out", str(packed),
                 "--report", str(report)]) == 0
    assert "bits/dim" in capsys.readouterr().out
    assert json.loads(report.read_text())["num_images"] == 5
    assert main(["decompress", str(packed), "--out", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.load(images))
    # Usage errors exit 2 before any work; a damaged file exits 1 and writes nothing.
    for argv in (["decompress", str(packed), "--out", str(tmp_path / "y.png")],
                 ["compress", "vae_mnist", "--input", str(tmp_path / "missing.npy"), "--out", str(packed)]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    (tmp_path / "bad.bb").write_bytes(packed.read_bytes()[:-8])
    assert main(["decompress", str(tmp_path / "bad.bb"), "--out", str(tmp_path / "z.npy")]) == 1
    assert not (tmp_path / "z.npy").exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temporary files left
