"""The VAE with a VampPrior (Tomczak & Welling 2018).

The objective is the VAE's ELBO; only the prior differs: a uniform mixture of the
encoder's posteriors at K learned pseudo-inputs (`zoo.distributions.VampPrior`),

    p(z) = (1/K) sum_k q(z | u_k),

so the prior adapts to the aggregate posterior instead of pulling every code to
N(0, I). The KL has no closed form and is estimated at the posterior sample.
This class is `VAE(prior={"name": "vamp", "num_components": K})` under its own
name, so presets and the model registry can tell the two apart.
"""


from zoo.models.vae import VAE
from zoo.registry import register_model


@register_model("vamp_vae")
class VampVAE(VAE):
    """A convolutional VAE whose prior is the VampPrior. See `LatentVariableModel`
    for the shared arguments (`prior` is set by this class).

    Args:
        num_components: K, the number of learned pseudo-inputs.
        pseudo_input_init_stddev: stddev of their (pre-sigmoid) normal initialization.
    """

    def __init__(self, num_components=500, pseudo_input_init_stddev=1.0, **kwargs):
        prior = {"name": "vamp", "num_components": int(num_components),
                 "init_stddev": float(pseudo_input_init_stddev)}
        given = kwargs.pop("prior", None)
        if given is not None and given != prior:
            raise ValueError(f"VampVAE sets its own prior {prior}; pass num_components instead of prior={given!r}")
        # === Config ===
        self.num_components = int(num_components)
        self.pseudo_input_init_stddev = float(pseudo_input_init_stddev)
        super().__init__(prior=prior, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("prior")
        return {**config, "num_components": self.num_components,
                "pseudo_input_init_stddev": self.pseudo_input_init_stddev}
