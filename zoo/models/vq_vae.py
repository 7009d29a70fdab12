"""The VQ-VAE (van den Oord et al. 2017) with a learned autoregressive prior over its codes.

The encoder gives a vector z_e per cell of an h x w grid; each is replaced by its
nearest codebook vector e_c, and the decoder reads the grid of e_c. The posterior
q(c|x) is a point mass on the nearest codes, so with a prior p(c) over code grids

    log p(x) >= ELBO(x) = log p(x | e_c) + log p(c),    c = nearest codes of z_e(x),

a bound whose KL term is -log p(c) (the entropy of a point mass is 0). p(c) is a
gated PixelCNN over the grid (`zoo.pixelcnn`), trained on the codes as they are:
the codes are integers, so its loss reaches no other network. The loss is

    loss = -log p(x | z) + ||sg(z_e) - e_c||^2 + commitment_cost ||z_e - sg(e_c)||^2 - log p(c),

with z = z_e + sg(e_c - z_e) (the straight-through estimator: the decoder sees e_c,
its gradient passes to the encoder unchanged), the codebook term moving the codes
towards the encoder outputs and the commitment term holding the encoder to its codes.
A code that falls out of use (its moving share of the assignments under
`restart_below` / K) is moved onto an encoder output of the batch after the step; at
the first step every share is 0, which starts the codebook from the data.

z, for `encode`, `decode` and the prior, is the grid of code vectors flattened:
latent_dim = h * w * code_dim. The IWAE bound equals the ELBO for every k: all k
draws of a point mass are the same code grid.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import nets
from zoo.distributions import Prior, register_prior
from zoo.models.ae import point_mass
from zoo.models.base import LatentVariableModel, stateless_seed
from zoo.pixelcnn import GatedPixelCNN
from zoo.registry import register_model

tfd = tfp.distributions


def code_perplexity(codes, num_codes: int):
    """exp(entropy) of the codes' empirical distribution: the number of equally used
    codes it is worth (num_codes at most)."""
    share = tf.reduce_mean(tf.one_hot(tf.reshape(codes, [-1]), num_codes), axis=0)
    return tf.exp(-tf.reduce_sum(share * tf.math.log(share + 1e-10)))


def nearest_code(vectors, codebook):
    """Indices [N] (int32) of the rows of `codebook` [K, D] nearest to `vectors` [N, D].

    Squared distances expanded as |v|^2 - 2 v.e + |e|^2: one [N, K] matmul instead of an
    [N, K, D] difference tensor (3136 x 256 x 16 floats a batch of 64 MNIST grids).
    """
    distances = (tf.reduce_sum(tf.square(vectors), axis=-1, keepdims=True)
                 - 2.0 * tf.matmul(vectors, codebook, transpose_b=True)
                 + tf.reduce_sum(tf.square(codebook), axis=-1)[None, :])
    return tf.argmin(distances, axis=-1, output_type=tf.int32)


@keras.saving.register_keras_serializable(package="zoo")
class VectorQuantizer(keras.layers.Layer):
    """A codebook of `num_codes` vectors of `code_dim`, its nearest-code lookup and the
    moving share of assignments each code receives (for dead-code restarts).

    Args:
        num_codes: K.
        code_dim: D.
        usage_decay: decay of the moving share.
        restart_below: a code whose share is below restart_below / K is restarted.
    """

    def __init__(self, num_codes: int, code_dim: int, usage_decay: float = 0.99, restart_below: float = 0.03,
                 **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.num_codes = int(num_codes)
        self.code_dim = int(code_dim)
        self.usage_decay = float(usage_decay)
        self.restart_below = float(restart_below)
        # === Weights ===
        self.codebook = self.add_weight(shape=(self.num_codes, self.code_dim), initializer="random_normal",
                                        name="codebook")
        # 0 until the first step: every code is dead then, so the first batch seeds them all.
        self.usage = self.add_weight(shape=(self.num_codes,), initializer="zeros", trainable=False, name="usage")
        self.built = True

    def nearest(self, vectors):
        """Indices [N] (int32) of the codes nearest to `vectors` [N, D]."""
        return nearest_code(vectors, self.codebook)

    def lookup(self, codes):
        """The code vectors [..., D] of indices [...]."""
        return tf.gather(self.codebook, codes)

    def restart_dead_codes(self, codes, vectors, seed):
        """Updates the moving shares with this batch's `codes` [N] and moves every dead
        code onto a random one of the batch's encoder `vectors` [N, D]."""
        share = tf.reduce_mean(tf.one_hot(codes, self.num_codes), axis=0)
        usage = self.usage_decay * self.usage + (1.0 - self.usage_decay) * share
        dead = usage < self.restart_below / self.num_codes
        picks = tf.random.stateless_uniform([self.num_codes], seed=seed, maxval=tf.shape(vectors)[0], dtype=tf.int32)
        self.codebook.assign(tf.where(dead[:, None], tf.gather(tf.stop_gradient(vectors), picks), self.codebook))
        # A restarted code gets the share of a uniform codebook: time to win assignments.
        self.usage.assign(tf.where(dead, 1.0 / self.num_codes, usage))

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes, "code_dim": self.code_dim,
                "usage_decay": self.usage_decay, "restart_below": self.restart_below}


class CodeGridDistribution(tfd.Distribution):
    """p(z) for z a flattened grid of code vectors: p(c) = prod_ij p(c_ij | c_<ij) over the
    code indices, autoregressive in raster order, with z = the code vectors of c.

    `log_prob(z)` scores z's nearest codes (exact for z on the codebook, which is
    where the posterior and `sample` put it); `log_prob_codes(c)` takes indices.
    Sampling draws the h * w codes one after another (h * w network passes).

    Args:
        logits_fn: one-hot grids [N, h, w, K] -> logits [N, h, w, K], position ij a
            function of the codes before it only (a `GatedPixelCNN`).
        codebook: [K, D] code vectors.
        grid: (h, w).
    """

    def __init__(self, logits_fn, codebook, grid, validate_args=False, allow_nan_stats=True,
                 name="CodeGridDistribution"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._logits_fn = logits_fn
            self._codebook = tf.convert_to_tensor(codebook, tf.float32)
            self._grid = tuple(int(v) for v in grid)
            super().__init__(dtype=tf.float32, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                             validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {"codebook": tfp.util.ParameterProperties(event_ndims=2)}

    @property
    def num_codes(self) -> int:
        return int(self._codebook.shape[0])

    def _event_shape(self):
        h, w = self._grid
        return tf.TensorShape([h * w * int(self._codebook.shape[1])])

    def _event_shape_tensor(self):
        return tf.constant([self._event_shape()[0]], tf.int32)

    def _batch_shape(self):
        return tf.TensorShape([])

    def _batch_shape_tensor(self):
        return tf.constant([], tf.int32)

    def codes_of(self, z):
        """Indices [..., h, w] of the codes nearest to z [..., h * w * D]."""
        h, w = self._grid
        d = int(self._codebook.shape[1])
        codes = nearest_code(tf.reshape(z, [-1, d]), self._codebook)
        return tf.reshape(codes, tf.concat([tf.shape(z)[:-1], [h, w]], axis=0))

    def log_prob_codes(self, codes):
        """log p(c) of code grids [..., h, w] (int): one teacher-forced network pass."""
        h, w = self._grid
        flat = tf.reshape(codes, [-1, h, w])
        logits = self._logits_fn(tf.one_hot(flat, self.num_codes))
        log_p = tf.reduce_sum(tfd.Categorical(logits=logits).log_prob(flat), axis=[-2, -1])
        return tf.reshape(log_p, tf.shape(codes)[:-2])

    def _log_prob(self, z):
        return self.log_prob_codes(self.codes_of(z))

    def sample_codes(self, n, seed=None):
        """n code grids [n, h, w] (int32), drawn position by position."""
        h, w = self._grid
        seeds = tfp.random.split_seed(seed, n=h * w)
        codes = tf.zeros([n, h, w], tf.int32)
        for position in range(h * w):
            i, j = divmod(position, w)
            logits = self._logits_fn(tf.one_hot(codes, self.num_codes))[:, i, j]  # [n, K]
            draw = tfd.Categorical(logits=logits).sample(seed=seeds[position])
            at_ij = tf.one_hot(position, h * w, dtype=tf.int32)  # this position alone
            codes += draw[:, None, None] * tf.reshape(at_ij, [1, h, w])
        return codes

    def _sample_n(self, n, seed=None):
        return tf.reshape(tf.gather(self._codebook, self.sample_codes(n, seed)), [n, -1])


@register_prior("code_pixelcnn")
@keras.saving.register_keras_serializable(package="zoo")
class CodePixelCNNPrior(Prior):
    """p(c) over a VQ-VAE's code grid: a `GatedPixelCNN` giving each position's logits
    over the K codes from the codes before it.

    Args:
        latent_dim: size of the flattened grid of code vectors (set by the model).
        channels: width of the PixelCNN.
        num_layers: its gated layers (enough for the receptive field to cover the
            grid: a 7 x 7 grid needs 6 with kernel 3).
        kernel_size: its odd kernel size.
    """

    def __init__(self, latent_dim: int, channels: int = 64, num_layers: int = 6, kernel_size: int = 3, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.channels = int(channels)
        self.num_layers = int(num_layers)
        self.kernel_size = int(kernel_size)

    def build_for(self, model):
        if not getattr(model, "discrete_codes", False):
            raise ValueError("the code_pixelcnn prior is a prior over a VQ-VAE's code grid; "
                             f"{type(model).__name__} has no codes")
        self.grid = model.grid
        self.network = GatedPixelCNN(model.num_codes, self.channels, self.num_layers, self.kernel_size,
                                     name="pixelcnn")
        self.network(tf.zeros([1, *self.grid, model.num_codes]))  # creates the weights
        self.built = True

    def distribution(self, model=None):
        return CodeGridDistribution(self.network, model.quantizer.codebook, self.grid)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "num_layers": self.num_layers,
                "kernel_size": self.kernel_size}


@register_model("vq_vae")
class VQVAE(LatentVariableModel):
    """A convolutional VQ-VAE with a gated PixelCNN prior over its code grid. See
    `LatentVariableModel` for the shared arguments; here `latent_dim` is the flattened
    grid of code vectors, h * w * code_dim (`zoo.nets.grid_shape` gives h, w: 7 x 7 for
    28 x 28 images and two widths, so latent_dim 784 means 16-dimensional codes), and
    `hidden_dim` the channels of the 3x3 convolution at the grid on either side.

    Args:
        num_codes: K, the size of the codebook.
        commitment_cost: weight of the commitment term (0.25 in the paper).
        usage_decay: decay of each code's moving share of the assignments.
        restart_below: a code whose share falls under restart_below / K is restarted.
        prior: "code_pixelcnn" (the default), or a dict with its options.

    `beta`, `kl_warmup_steps` and `free_bits` do not apply: the KL term -log p(c)
    trains the prior alone.
    """

    metric_names = ("loss", "elbo", "reconstruction", "kl", "commitment", "perplexity")
    discrete_codes = True
    free_bits_unsupported = "the KL term -log p(c) has no gradient into the encoder to hold open"
    unsupported_signatures = {
        "sample": "codes are drawn one grid position after another from the PixelCNN prior (h * w passes with "
                  "discrete draws), which a Gaussian noise input cannot drive; sample in Python, or decode "
                  "code vectors with 'decode'",
    }

    def __init__(self, num_codes=256, commitment_cost=0.25, usage_decay=0.99, restart_below=0.03,
                 prior="code_pixelcnn", **kwargs):
        # === Config ===
        self.num_codes = int(num_codes)
        self.commitment_cost = float(commitment_cost)
        self.usage_decay = float(usage_decay)
        self.restart_below = float(restart_below)
        if kwargs.get("beta", 1.0) != 1.0 or kwargs.get("kl_warmup_steps", 0):
            raise ValueError("VQVAE: beta and kl_warmup_steps do not apply: the KL term -log p(c) trains only the "
                             "prior")
        if kwargs.get("num_classes", 0):
            raise ValueError("VQVAE is not conditional: num_classes must be 0")
        name = prior if isinstance(prior, str) else dict(prior).get("name")
        if name != "code_pixelcnn":
            raise ValueError(f"VQVAE: the prior is over code grids ('code_pixelcnn'), got {name!r}")
        super().__init__(prior=prior, **kwargs)

    def build_networks(self):
        # === Layers ===
        self.grid = nets.grid_shape(self.image_shape, self.widths)
        cells = self.grid[0] * self.grid[1]
        if self.latent_dim % cells:
            raise ValueError(f"VQVAE: latent_dim ({self.latent_dim}) must be a multiple of the code grid's "
                             f"{self.grid[0]} x {self.grid[1]} = {cells} cells (latent_dim = cells * code_dim)")
        self.code_dim = self.latent_dim // cells
        self.quantizer = VectorQuantizer(self.num_codes, self.code_dim, self.usage_decay, self.restart_below,
                                         name="quantizer")
        encoder = nets.build_grid_encoder(self.image_shape, self.widths, self.hidden_dim, self.code_dim,
                                          activation=self.activation)
        decoder = nets.build_grid_decoder(self.image_shape, self.widths, self.hidden_dim, self.code_dim,
                                          self.likelihood.num_params(self.image_shape[-1]),
                                          activation=self.activation)
        return encoder, decoder

    # ------------------------------------------------------------------ codes

    def nearest_codes(self, z_e):
        """(codes [B, h, w] int32, their vectors [B, latent_dim]) for encoder outputs z_e [B, latent_dim]."""
        codes = tf.reshape(self.quantizer.nearest(tf.reshape(z_e, [-1, self.code_dim])), [-1, *self.grid])
        return codes, tf.reshape(self.quantizer.lookup(codes), [-1, self.latent_dim])

    def posterior(self, params, condition=None):
        """q(z|x): a point mass on the nearest code vectors, straight-through to the encoder."""
        _, z_q = self.nearest_codes(params)
        return point_mass(params + tf.stop_gradient(z_q - params))

    def encode_codes(self, x):
        """(code grid [B, h, w] int32, its code vectors [B, latent_dim]) of images x, from
        one encoder pass (traceable, unchecked)."""
        return self.nearest_codes(self.encoder(x))

    def codes_for(self, x):
        """The code grid [B, h, w] (int32) of images x (traceable, unchecked)."""
        return self.encode_codes(x)[0]

    def decode_codes(self, codes):
        """p(x|z) for code grids [B, h, w] of indices."""
        z = tf.reshape(self.quantizer.lookup(tf.convert_to_tensor(codes, tf.int32)), [-1, self.latent_dim])
        return self.likelihood.distribution(self.decoder_params(z))

    def sample_codes(self, n: int, seed=None):
        """n code grids [n, h, w] (numpy int32) from the PixelCNN prior."""
        return self.draw_codes(int(n), seed).numpy()

    def draw_codes(self, n: int, seed=None):
        """n code grids [n, h, w] from the prior as a tensor: the h * w passes run as one
        compiled graph (run eagerly they took ~3x as long here)."""
        seed = self.draw_seed() if seed is None else stateless_seed(seed)
        if getattr(self, "_code_sampler", None) is None:
            self._code_sampler = tf.function(
                lambda n, seed: self.prior_distribution().sample_codes(n, seed=seed), reduce_retracing=True)
        return self._code_sampler(tf.constant(n, tf.int32), seed)

    def prior_sample(self, n: int, seed=None, condition=None):
        """n draws z ~ p(z): code grids from the prior, as their flattened code vectors."""
        return tf.reshape(self.quantizer.lookup(self.draw_codes(int(n), seed)), [int(n), self.latent_dim])

    # ------------------------------------------------------------------ objective

    @classmethod
    def loss_is_per_example(cls, config):
        return False  # the codebook's moving averages and restarts are updated from the whole batch

    def loss_terms(self, x, condition, training):
        z_e = self.encoder(x, training=training)
        codes, z_q = self.nearest_codes(z_e)
        z = z_e + tf.stop_gradient(z_q - z_e)  # straight-through
        reconstruction = -self.likelihood.distribution(self.decoder_params(z, None, training)).log_prob(x)
        code_nll = -self.prior_distribution().log_prob_codes(codes)  # reaches the prior only: codes are integers
        codebook = tf.reduce_sum(tf.square(tf.stop_gradient(z_e) - z_q), axis=-1)
        commitment = tf.reduce_sum(tf.square(z_e - tf.stop_gradient(z_q)), axis=-1)
        return {
            "loss": reconstruction + codebook + self.commitment_cost * commitment + code_nll,
            "elbo": -(reconstruction + code_nll),
            "reconstruction": reconstruction,
            "kl": code_nll,
            "commitment": commitment,
            "perplexity": code_perplexity(codes, self.num_codes),
            "codes": codes,
            "encoder_vectors": z_e,
        }

    def after_train_step(self, terms):
        if tf.distribute.get_strategy().num_replicas_in_sync > 1:
            raise ValueError("VQVAE trains on one device: its dead-code restarts assign the codebook outside the "
                             "gradient step, which replicas would do differently")
        self.quantizer.restart_dead_codes(tf.reshape(terms["codes"], [-1]),
                                          tf.reshape(terms["encoder_vectors"], [-1, self.code_dim]),
                                          self.draw_seed())

    def importance_log_terms(self, x, condition=None, k=1, seed=None, training=False, noise=None):
        # q(c|x) is a point mass: the k draws are one code grid, every weight is the
        # same, and the IWAE bound is the ELBO for any k (`noise` moves nothing).
        t = self.elbo_terms(x, condition, training)

        def tiled(v):
            return tf.tile(v[None], tf.concat([[k], tf.ones([tf.rank(v)], tf.int32)], axis=0))

        return {"log_px": tiled(-t["reconstruction"]), "log_pz": tiled(-t["kl"]),
                "log_qz": tiled(tf.zeros_like(t["kl"])), "z": tiled(t["z"])}

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes, "commitment_cost": self.commitment_cost,
                "usage_decay": self.usage_decay, "restart_below": self.restart_below}


def codebook_usage(model, x, batch_size: int = 500) -> dict:
    """Codebook statistics of `model` on images x: codes used at least once, their
    perplexity, and the share of grid cells taken by the most used code."""
    counts = np.zeros(model.num_codes, np.int64)
    for start in range(0, len(x), batch_size):
        codes = model.codes_for(tf.constant(x[start:start + batch_size])).numpy()
        counts += np.bincount(codes.reshape(-1), minlength=model.num_codes)
    share = counts / counts.sum()
    used = share > 0
    return {"codes": int(model.num_codes), "used": int(used.sum()),
            "perplexity": float(np.exp(-np.sum(share[used] * np.log(share[used])))),
            "top_share": float(share.max()), "images": int(len(x))}
