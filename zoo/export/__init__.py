"""Deployment: SavedModel signatures and LiteRT (TFLite) models that run without `zoo`.

`export_saved_model` writes a TensorFlow SavedModel with named signatures, all
float32 with a dynamic batch dimension (conditional models add an int32 `label`
[N] input to every signature; it is one-hot encoded inside the graph, and an
out-of-range label such as -1 gives the all-zero "null label" row):

===============  =============================  =======================================
signature        inputs                         outputs
===============  =============================  =======================================
``encode``       ``x`` [N,H,W,C] in [0, 1]      ``mean``, ``stddev`` [N,D] of q(z|x)
``decode``       ``z`` [N,D]                    the likelihood's parameters (``logits``
                                                for Bernoulli, ``loc``/``scale`` for
                                                Gaussian) and ``mean`` = E[x|z]
``sample``       ``eps`` [N,D] ~ N(0, I)        ``images`` = E[x|z] for z = T(eps), the
                                                prior's reparameterization (z = eps for
                                                the standard normal prior)
``reconstruct``  ``x``                          ``images`` = E[x|z = posterior mean]
``score``        ``x``, ``eps`` [N,K,D] ~ N(0,I)  ``score`` [N] = -(IWAE bound with those K
                                                draws); K = 1 gives -ELBO (one sample)
===============  =============================  =======================================

No signature contains a random op: the caller supplies the noise, so outputs are
reproducible on every runtime. When the posterior is not a plain diagonal Gaussian
but a bijector applied to one (flows), `encode` returns that base Gaussian and the
metadata says so. The model's description (input shape, preprocessing, likelihood,
prior, latent size, label count, preset name, zoo version, every signature's names,
shapes and dtypes) is written to ``assets/zoo_metadata.json`` in the SavedModel.

`export_tflite` converts ``encode``, ``decode`` and ``sample`` to LiteRT files,
one per signature and quantization, and measures each against the SavedModel.

`export_web` writes a static folder that runs ``encode``, ``decode`` and ``sample``
in the browser with LiteRT.js: a latent explorer (see `zoo.export.web`).

One job a module: `signatures` (the graphs' math from the model's public
interface), `metadata` (the JSON description), `saved_model`, `litert`
(conversion and parity), `web` (the browser page).
"""

from zoo.export.litert import QUANTIZATIONS, REPORT_FILE, TFLITE_SIGNATURES, export_tflite, run_tflite
from zoo.export.metadata import METADATA_FILE, build_metadata, read_metadata
from zoo.export.saved_model import export_saved_model
from zoo.export.signatures import SIGNATURES, ExportError
from zoo.export.web import export_web

__all__ = ["METADATA_FILE", "QUANTIZATIONS", "REPORT_FILE", "SIGNATURES", "TFLITE_SIGNATURES", "ExportError",
           "build_metadata", "export_saved_model", "export_tflite", "export_web", "read_metadata",
           "run_tflite"]
