"""Colour networks: the shape-driven builders at 32x32x3 and 64x64x3, and the CIFAR-10 recipes' size."""

import os

import numpy as np
import pytest

import zoo
from zoo.training import RECIPES_DIR, build_model, load_recipe

LIKELIHOOD = {"name": "discretized_logistic_mixture", "num_components": 5}


@pytest.mark.parametrize("image_shape, widths", [((32, 32, 3), (16, 32, 32)), ((64, 64, 3), (8, 16, 16, 32))])
def test_colour_vae_decodes_the_likelihood_parameters_of_three_channels(image_shape, widths):
    model = zoo.VAE(image_shape=image_shape, widths=widths, hidden_dim=32, latent_dim=4, likelihood=LIKELIHOOD)
    assert model.decoder.output_shape == (None, *image_shape[:2], model.likelihood.num_params(3))
    x = np.round(np.random.default_rng(0).uniform(size=(2, *image_shape)) * 255).astype(np.float32) / 255
    elbo = np.asarray(model.elbo(x))
    assert elbo.shape == (2,) and np.all(np.isfinite(elbo))
    assert model.sample(2, seed=0).shape == (2, *image_shape)


@pytest.mark.parametrize("name", ["vae_cifar10", "cvae_cifar10"])
def test_cifar10_recipes_build_colour_models_of_at_most_10_mb(name):
    # A recipe waits in pending/ until its preset is trained, then moves up to zoo/recipes/.
    shipped = os.path.join(RECIPES_DIR, f"{name}.json")
    recipe = load_recipe(shipped if os.path.isfile(shipped) else os.path.join(RECIPES_DIR, "pending", f"{name}.json"))
    model = build_model(recipe)
    assert model.image_shape == (32, 32, 3) and recipe["preprocessing"] == "float"
    assert "not comparable with published CIFAR-10 figures" in recipe["description"]
    parameters = model.encoder.count_params() + model.decoder.count_params()
    assert parameters * 4 <= 10e6, f"{name}: {parameters} parameters"
