"""The built-in model classes, one variant a file.

Each variant registers itself with `@register_model(name)` (zoo.registry) where it
is defined; importing this package is what registers them. Look classes up with
`zoo.registry.get_model_class(name)` or list them with `registered_models()`.
"""

from zoo.models.ae import AE
from zoo.models.base import LatentVariableModel
from zoo.models.beta_tcvae import BetaTCVAE
from zoo.models.beta_vae import BetaVAE
from zoo.models.cvae import CVAE
from zoo.models.dip_vae import DIPVAE
from zoo.models.factor_vae import FactorVAE
from zoo.models.iaf import IAFVAE
from zoo.models.iwae import IWAE
from zoo.models.ladder import LadderVAE
from zoo.models.pixel_vae import PixelVAE
from zoo.models.two_stage import TwoStageVAE
from zoo.models.vae import VAE
from zoo.models.vamp import VampVAE
from zoo.models.vq_vae import VQVAE
from zoo.models.wae import WAE
from zoo.registry import get_model_class, registered_models

__all__ = ["AE", "BetaTCVAE", "BetaVAE", "CVAE", "DIPVAE", "FactorVAE", "IAFVAE", "IWAE", "LadderVAE",
           "LatentVariableModel", "PixelVAE", "TwoStageVAE", "VAE", "VampVAE", "VQVAE", "WAE", "get_model_class",
           "registered_models"]
