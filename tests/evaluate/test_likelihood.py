"""The importance-sampled log-likelihood evaluator (zoo.evaluate.likelihood) on each
likelihood-path variant trained on real MNIST: finite, and above the ELBO."""

import numpy as np
import pytest

import zoo
from zoo.evaluate.likelihood import (
    CHUNK_CANDIDATES,
    DEFAULT_CHUNKS,
    default_chunks,
    fitting_candidates,
    importance_sampled_log_likelihood,
)

from conftest import LIKELIHOOD_VARIANTS


@pytest.mark.parametrize("name", LIKELIHOOD_VARIANTS)
def test_importance_sampled_likelihood_is_above_the_elbo(name, trained_small, mnist_binary):
    model, _, _ = trained_small(name)
    x = mnist_binary[2][:40]
    log_px = importance_sampled_log_likelihood(model, x, k=20, batch_size=20, k_chunk=10)
    elbo = np.mean([model.elbo(x, seed=s).mean() for s in range(3)])
    assert np.all(np.isfinite(log_px)) and log_px.mean() > elbo + 1.0, (log_px.mean(), elbo)


def test_chunk_calibration_picks_the_fastest_shape_and_caches_it(tmp_path, monkeypatch, mnist_binary):
    import zoo
    from zoo.evaluate import likelihood

    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    model = zoo.VAE(latent_dim=4, widths=(8,), hidden_dim=16, seed=0)
    x = mnist_binary[2][:20]
    candidates = ((20, 10), (4, 10), (2, 25))
    first = likelihood.calibrate_chunks(model, x, candidates=candidates)
    rates = first["candidates"]
    assert sorted(rates) == ["20x10", "2x25", "4x10"] and not first["cached"]
    assert f"{first['images_per_call']}x{first['samples_per_call']}" == max(rates, key=rates.get)
    assert first["default_decodes_per_second"] is None  # 100x100 was not among the candidates
    again = likelihood.calibrate_chunks(model, x, candidates=candidates)
    assert again["cached"] and again["candidates"] == rates
    other = zoo.VAE(latent_dim=5, widths=(8,), hidden_dim=16, seed=0)  # another configuration: measured anew
    assert not likelihood.calibrate_chunks(other, x, candidates=candidates)["cached"]
    shrunk = likelihood.calibrate_chunks(other, x[:10], candidates=candidates)  # 20x10 ran as 10x10: not cached
    assert "10x10" in shrunk["candidates"] and not likelihood.calibrate_chunks(other, x[:10], candidates=candidates)[
        "cached"]

    # "auto" calibrates the default candidates once (100 images: enough for every one, so
    # the result is cached; another candidate list is another cache entry), then runs with
    # the cached shape and says so; the estimate is the one the same fixed shape gives.
    monkeypatch.setattr(likelihood, "CALIBRATION_SECONDS", 0.01)
    monkeypatch.setattr(likelihood, "CALIBRATION_ROUNDS", 1)
    x = mnist_binary[2][:100]
    measured = likelihood.evaluate_likelihood(model, x, k=30, chunks="auto")["chunk_calibration"]
    assert not measured["cached"] and sorted(measured["candidates"]) == sorted(
        f"{images}x{samples}" for images, samples in likelihood.CHUNK_CANDIDATES)
    auto = likelihood.evaluate_likelihood(model, x, k=30, chunks="auto")
    shape = (measured["images_per_call"], measured["samples_per_call"])
    assert (auto["images_per_call"], auto["samples_per_call"]) == (shape[0], min(shape[1], 30))
    assert auto["chunk_calibration"]["cached"]
    fixed = likelihood.evaluate_likelihood(model, x, k=30, chunks=shape)
    assert fixed["nll_nats"] == auto["nll_nats"] and "chunk_calibration" not in fixed


def test_quick_check_keeps_the_shape_the_cards_were_measured_with(monkeypatch):
    """Changing the chunk shape changes the noise: the cards' quick checks stay reproducible."""
    import zoo
    from zoo.evaluate import likelihood, report

    def no_calibration(*args, **kwargs):
        raise AssertionError("the quick check must not calibrate")

    monkeypatch.setattr(likelihood, "calibrate_chunks", no_calibration)
    seen = {}
    real = likelihood.importance_sampled_log_likelihood

    def spy(model, x, y=None, **kwargs):
        seen.update(kwargs)
        return real(model, x, y, **kwargs)

    monkeypatch.setattr(likelihood, "importance_sampled_log_likelihood", spy)
    name = "vae_mnist"
    report.quick_check(zoo.load(name), zoo.presets.read_metadata(name))
    assert (seen["batch_size"], seen["k_chunk"]) == likelihood.DEFAULT_CHUNKS == (100, 100)


def test_a_model_that_caps_its_decodes_per_call_is_evaluated_in_smaller_calls():
    """A PixelVAE decodes with a PixelCNN over every pixel: the evaluator's default
    100 x 100 decodes a call outgrew the machine's memory, so its calls hold at most
    `max_decodes_per_call`; other models keep the default shape and every candidate."""
    shape = dict(image_shape=(8, 8, 1), latent_dim=2, widths=(4, 4), hidden_dim=8)
    pixel_vae = zoo.models.PixelVAE(condition_channels=2, pixelcnn_channels=4, pixelcnn_layers=1, **shape)
    limit = pixel_vae.max_decodes_per_call
    assert default_chunks(pixel_vae) == (limit // DEFAULT_CHUNKS[1], DEFAULT_CHUNKS[1])
    shapes = fitting_candidates(pixel_vae)
    assert shapes and all(images * samples <= limit for images, samples in shapes)
    vae = zoo.VAE(**shape)
    assert default_chunks(vae) == DEFAULT_CHUNKS and set(fitting_candidates(vae)) == set(CHUNK_CANDIDATES)
