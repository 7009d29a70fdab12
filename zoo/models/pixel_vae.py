"""A VAE with an autoregressive decoder (PixelVAE, Gulrajani et al. 2017; the variational
lossy autoencoder, Chen et al. 2017): p(x|z) = prod_ij p(x_ij | x_<ij, z).

The convolutional decoder maps z to a conditioning map [B, H, W, condition_channels];
a gated PixelCNN (`zoo.pixelcnn`) reads the image in raster order together with that
map and gives each pixel's likelihood parameters (Bernoulli logits, or a discretized
logistic mixture for 8-bit pixels). log p(x|z) is exact and takes one teacher-forced
pass; drawing an image takes H * W passes, one pixel at a time.

A decoder that can model pixels from their neighbours may leave z unused (posterior
collapse): a small PixelCNN (few layers, a local receptive field) leaves the global
structure to z, and `free_bits` / `kl_warmup_steps` hold the KL open while it learns.
The objective is the VAE's ELBO unchanged.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from zoo.distributions import Likelihood
from zoo.models.vae import VAE
from zoo.pixelcnn import GatedPixelCNN
from zoo.registry import register_model

tfd = tfp.distributions

# The draw `AutoregressiveLikelihood.mean` follows.
MEAN_SEED = (20_170_101, 0)


class AutoregressiveImage(tfd.Distribution):
    """p(x | conditioning) = prod_ij p(x_ij | x_<ij, conditioning): an image distribution
    whose per-pixel parameters come from `network(x, conditioning)`.

    Args:
        conditioning: [B, H, W, Cc] map from the latent.
        network: (images, conditioning) -> raw parameters [B, H, W, P], position ij a
            function of the pixels before ij only (a conditioned `GatedPixelCNN`).
        pixels: the `Likelihood` of the pixels given their raw parameters.
        channels: image channels.
    """

    def __init__(self, conditioning, network, pixels, channels, validate_args=False, allow_nan_stats=True,
                 name="AutoregressiveImage"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._conditioning = tf.convert_to_tensor(conditioning, tf.float32)
            self._network = network
            self._pixels = pixels
            self._channels = int(channels)
            super().__init__(dtype=tf.float32, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                             validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {"conditioning": tfp.util.ParameterProperties(event_ndims=3)}

    def _event_shape(self):
        return tf.TensorShape([*self._conditioning.shape[-3:-1], self._channels])

    def _event_shape_tensor(self):
        return tf.concat([tf.shape(self._conditioning)[-3:-1], [self._channels]], axis=0)

    def _batch_shape(self):
        return self._conditioning.shape[:-3]

    def _batch_shape_tensor(self):
        return tf.shape(self._conditioning)[:-3]

    def _log_prob(self, x):
        x = tf.convert_to_tensor(x, tf.float32)
        return self._pixels.distribution(self._network(x, self._conditioning)).log_prob(x)

    def rollout(self, seed=None):
        """(images, means): images drawn pixel by pixel in raster order, and beside each
        pixel the mean of its conditional p(x_ij | x_<ij) given the pixels drawn before
        it. H * W network passes in a graph loop (compiled here when called eagerly)."""
        seed = tfp.random.sanitize_seed(seed)
        if tf.executing_eagerly():
            return tf.function(self._rollout)(seed)
        return self._rollout(seed)

    def _rollout(self, seed):
        height, width = self._conditioning.shape[-3], self._conditioning.shape[-2]
        cells = height * width

        def step(position, x, means):
            i, j = position // width, position % width
            raw = self._network(x, self._conditioning)[:, i:i + 1, j:j + 1]  # [B, 1, 1, P]
            value = self._pixels.distribution(raw).sample(seed=tf.random.experimental.stateless_fold_in(seed, position))
            at_ij = tf.reshape(tf.one_hot(position, cells), [1, height, width, 1])
            return position + 1, x + at_ij * value, means + at_ij * self._pixels.mean(raw)

        x = tf.zeros(tf.concat([tf.shape(self._conditioning)[:-1], [self._channels]], axis=0))
        _, x, means = tf.while_loop(lambda position, *_: position < cells, step, (tf.constant(0), x, x),
                                    maximum_iterations=cells)
        return x, means

    def _sample_n(self, n, seed=None):
        if tf.get_static_value(n) != 1:
            raise ValueError("AutoregressiveImage draws one image per batch entry: sample() or sample(1)")
        return self.rollout(seed)[0][None]


class AutoregressiveLikelihood(Likelihood):
    """The likelihood of a `PixelVAE`: the decoder's raw output is a conditioning map
    and p(x|z) an `AutoregressiveImage` over `pixels` (the family of each pixel).

    `mean(conditioning)` is not E[x|z], which has no closed form here: it draws an
    image pixel by pixel with the fixed seed `MEAN_SEED` and returns each pixel's
    conditional mean E[x_ij | x_<ij, z] along that draw (for binary pixels the
    probability of a 1), so that decoding, reconstructing and sampling stay
    deterministic functions of z.
    """

    def __init__(self, pixels: Likelihood, network, channels: int):
        self.pixels = pixels
        self.network = network
        self.channels = int(channels)
        self.name = f"autoregressive_{pixels.name}"
        self.discrete = pixels.discrete
        self.preprocessing = pixels.preprocessing

    def distribution(self, raw):
        return AutoregressiveImage(raw, self.network, self.pixels, self.channels)

    def mean(self, raw):
        # E[x|z] has no closed form; a fixed draw makes the answer a function of z.
        return self.distribution(raw).rollout(seed=MEAN_SEED)[1]

    def parameters(self, raw):
        return {"conditioning": raw}

    def get_config(self):
        return {"name": self.name, "pixels": self.pixels.get_config()}


@register_model("pixel_vae")
class PixelVAE(VAE):
    """A VAE whose p(x|z) is a gated PixelCNN conditioned on z. See `LatentVariableModel`
    for the shared arguments; `likelihood` is the family of one pixel given the pixels
    before it ("bernoulli" or a discretized logistic mixture).

    Args:
        condition_channels: channels of the conditioning map the decoder makes from z.
        pixelcnn_channels: width of the PixelCNN.
        pixelcnn_layers: its gated layers (few: a local receptive field leaves the
            image's global structure to z).
        pixelcnn_kernel_size: its odd kernel size.
    """

    # Each decode runs the PixelCNN over every pixel, [H, W, 2 x channels] activations a
    # layer: 10,000 decodes a call (the IS evaluator's default 100 images x 100 samples)
    # outgrew 23 GB of memory for pixel_vae_fashion_mnist.
    max_decodes_per_call = 1000

    unsupported_signatures = {
        "decode": "an image from z is drawn one pixel at a time (H * W PixelCNN passes); the exported graphs hold "
                  "single passes",
        "sample": "an image from z is drawn one pixel at a time (H * W PixelCNN passes)",
        "reconstruct": "a reconstruction is drawn one pixel at a time (H * W PixelCNN passes)",
    }

    def __init__(self, condition_channels=16, pixelcnn_channels=32, pixelcnn_layers=3, pixelcnn_kernel_size=3,
                 **kwargs):
        # === Config ===
        self.condition_channels = int(condition_channels)
        self.pixelcnn_channels = int(pixelcnn_channels)
        self.pixelcnn_layers = int(pixelcnn_layers)
        self.pixelcnn_kernel_size = int(pixelcnn_kernel_size)
        if kwargs.get("num_classes", 0):
            raise ValueError("PixelVAE is not conditional: num_classes must be 0")
        super().__init__(**kwargs)

    @property
    def decoder_output_channels(self) -> int:
        # The conv decoder makes the conditioning map; the PixelCNN makes the parameters.
        return self.condition_channels

    def build_extra(self):
        # === Layers ===
        channels = self.image_shape[-1]
        self.pixelcnn = GatedPixelCNN(self.likelihood.num_params(channels), self.pixelcnn_channels,
                                      self.pixelcnn_layers, self.pixelcnn_kernel_size, conditioned=True,
                                      name="pixelcnn")
        self.pixelcnn(tf.zeros([1, *self.image_shape]), tf.zeros([1, *self.image_shape[:2], self.condition_channels]))
        self.likelihood = AutoregressiveLikelihood(self.likelihood, self.pixelcnn, channels)

    def get_config(self):
        return {**super().get_config(), "condition_channels": self.condition_channels,
                "pixelcnn_channels": self.pixelcnn_channels, "pixelcnn_layers": self.pixelcnn_layers,
                "pixelcnn_kernel_size": self.pixelcnn_kernel_size}
