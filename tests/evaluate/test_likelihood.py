"""The importance-sampled log-likelihood evaluator (zoo.evaluate.likelihood) on each
likelihood-path variant trained on real MNIST: finite, and above the ELBO."""

import numpy as np
import pytest

from zoo.evaluate.likelihood import importance_sampled_log_likelihood

from conftest import LIKELIHOOD_VARIANTS


@pytest.mark.parametrize("name", LIKELIHOOD_VARIANTS)
def test_importance_sampled_likelihood_is_above_the_elbo(name, trained_small, mnist_binary):
    model, _, _ = trained_small(name)
    x = mnist_binary[2][:40]
    log_px = importance_sampled_log_likelihood(model, x, k=20, batch_size=20, k_chunk=10)
    elbo = np.mean([model.elbo(x, seed=s).mean() for s in range(3)])
    assert np.all(np.isfinite(log_px)) and log_px.mean() > elbo + 1.0, (log_px.mean(), elbo)
