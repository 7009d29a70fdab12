"""The variational autoencoder (Kingma & Welling 2014).

Maximizes the evidence lower bound

    ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))

with a reparameterized sample from the Gaussian posterior and the analytic KL when
TFP has one for the prior. `beta`, KL warm-up and free bits (from the base) only
reweight the KL in the loss; the reported `elbo` is always the true bound.
"""


from zoo.models.base import LatentVariableModel
from zoo.registry import register_model


@register_model("vae")
class VAE(LatentVariableModel):
    """A convolutional VAE. See `LatentVariableModel` for the arguments."""

    def loss_terms(self, x, condition, training):
        t = self.elbo_terms(x, condition, training)
        kl_in_loss = self.free_bits_kl(t["posterior"], t["z"], t["kl"], t.get("prior"))
        return {
            "loss": t["reconstruction"] + self.kl_weight() * kl_in_loss,
            "elbo": -(t["reconstruction"] + t["kl"]),
            "reconstruction": t["reconstruction"],
            "kl": t["kl"],
        }
