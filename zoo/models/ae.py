"""The deterministic autoencoder: the baseline every VAE is compared against.

The encoder maps x to a single code z = f(x) (a point mass, so `encode` still
returns a `tfd` distribution) and the loss is the reconstruction term alone,

    loss(x) = -log p(x | z = f(x)),

with no KL and no noise. Nothing pulls the codes towards the prior, so
`sample`, which decodes z ~ p(z) (N(0, I) by default) as for every zoo model, shows what an
unregularized latent space gives: that is the point of the AE-vs-VAE comparison.

An AE defines no density over x, so `elbo`, `iwae_bound` and the importance
weights raise instead of returning a number that is not a bound.
"""

import tensorflow_probability as tfp

from zoo.models.base import LatentVariableModel
from zoo.registry import register_model

tfd = tfp.distributions


def point_mass(loc) -> tfd.Distribution:
    """A deterministic "posterior" at `loc` with event shape [latent_dim]."""
    return tfd.Independent(tfd.Deterministic(loc=loc), reinterpreted_batch_ndims=1)


@register_model("ae")
class AE(LatentVariableModel):
    """A convolutional autoencoder with a deterministic encoder.

    Takes the arguments of `LatentVariableModel`; the KL arguments (`beta`,
    `kl_warmup_steps`, `free_bits`) have no effect because there is no KL term.
    """

    metric_names = ("loss", "reconstruction")
    has_density = False
    unsupported_signatures = {
        "score": "a deterministic autoencoder defines no density over x, so there is no ELBO or IWAE bound to "
                 "score with",
    }

    @property
    def encoder_output_dim(self) -> int:
        # Only a location per latent dimension: there is no scale to learn.
        return self.latent_dim

    def posterior(self, params, condition=None):
        return point_mass(params)

    def loss_terms(self, x, condition, training):
        z = self.posterior_for(x, condition, training).mean()
        likelihood = self.likelihood.distribution(self.decoder_params(z, condition, training))
        reconstruction = -likelihood.log_prob(x)
        return {"loss": reconstruction, "reconstruction": reconstruction}

    # --------------------------------------------------------------- no likelihood bound

    def _no_bound(self, method):
        raise NotImplementedError(
            f"{type(self).__name__}.{method}: a deterministic autoencoder defines no density "
            "over x, so there is no ELBO or importance-sampled likelihood; compare "
            "reconstructions (`reconstruct`, the `reconstruction` metric) or samples instead"
        )

    # Same signatures as the base methods; all of them would need a posterior density.
    def elbo_terms(self, *args, **kwargs):
        self._no_bound("elbo_terms")

    def elbo(self, *args, **kwargs):
        self._no_bound("elbo")

    def importance_log_terms(self, *args, **kwargs):
        self._no_bound("importance_log_terms")

    def log_importance_weights(self, *args, **kwargs):
        self._no_bound("log_importance_weights")

    def iwae_bound(self, *args, **kwargs):
        self._no_bound("iwae_bound")

    def reconstruction_error(self, x, y=None):
        """Per-example -log p(x | z = f(x)) in nats: the AE's own measure of fit."""
        x, condition = self.checked_inputs(x, y)
        z = self.posterior_for(x, condition).mean()
        return (-self.likelihood.distribution(self.decoder_params(z, condition)).log_prob(x)).numpy()

