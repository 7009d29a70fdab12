"""Model classes, one variant a file, and the registry that names them."""

from zoo.models.ae import AE
from zoo.models.base import LatentVariableModel
from zoo.models.beta_tcvae import BetaTCVAE
from zoo.models.dip_vae import DIPVAE
from zoo.models.factor_vae import FactorVAE
from zoo.models.beta_vae import BetaVAE
from zoo.models.cvae import CVAE
from zoo.models.iaf import IAFVAE
from zoo.models.iwae import IWAE
from zoo.models.ladder import LadderVAE
from zoo.models.vae import VAE
from zoo.models.vamp import VampVAE
from zoo.models.wae import WAE

# Variant name (as used in preset names and configs) -> class.
MODELS = {
    "vae": VAE,
    "beta_tcvae": BetaTCVAE,
    "factor_vae": FactorVAE,
    "dip_vae": DIPVAE,
    "ae": AE,
    "beta_vae": BetaVAE,
    "cvae": CVAE,
    "wae": WAE,
    "iwae": IWAE,
    "vamp_vae": VampVAE,
    "iaf_vae": IAFVAE,
    "ladder_vae": LadderVAE,
}


def get_model_class(name: str):
    if name not in MODELS:
        import difflib

        close = difflib.get_close_matches(name, MODELS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model variant {name!r}; known: {sorted(MODELS)}.{hint}")
    return MODELS[name]


__all__ = ["BetaTCVAE", "DIPVAE", "FactorVAE", "IAFVAE", "IWAE", "LadderVAE", "VampVAE", "AE", "CVAE", "MODELS", "BetaVAE", "LatentVariableModel", "VAE", "WAE", "get_model_class"]
