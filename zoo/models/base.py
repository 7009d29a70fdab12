"""The shared mechanics of every model in the zoo.

`LatentVariableModel` owns the networks, the prior and the likelihood, the public
methods (`encode`, `decode`, `sample`, `reconstruct`, `elbo`,
`log_importance_weights`), the metric trackers, input validation, configuration
and the training/evaluation steps. A variant states only its objective by
implementing `loss_terms`, which returns per-example tensors; the entry named
"loss" is minimized and every entry listed in `metric_names` is reported.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import nets, presets
from zoo.distributions import get_likelihood, get_prior, kl_divergence, sample_from_noise
from zoo.validation import InputError, check_images, check_labels

tfd = tfp.distributions

MIN_POSTERIOR_SCALE = 1e-4


def stateless_seed(seed):
    """A TFP stateless seed from an int, or None (fresh randomness)."""
    if seed is None:
        return None
    return tf.constant([int(seed), 0], dtype=tf.int32)


class LatentVariableModel(keras.Model):
    """Base of all zoo models: a convolutional encoder/decoder pair with a TFP prior
    and likelihood.

    Args:
        image_shape: (height, width, channels) of the images.
        latent_dim: size of z.
        widths: conv channel widths of the encoder (the decoder mirrors them); each
            halves the spatial size.
        hidden_dim: width of the dense layer between the conv stack and z.
        likelihood: "bernoulli" or "gaussian" (or a dict with "name" and options).
        prior: "standard_normal" or another registered prior (name or dict).
        beta: weight of the KL term.
        kl_warmup_steps: the KL weight grows linearly from 0 to `beta` over this many
            training steps (counted by `schedule_step`; 0 disables warm-up).
        free_bits: minimum KL in nats per latent dimension, averaged over the batch
            (Kingma et al. 2016), a guard against posterior collapse; 0 disables it.
        num_classes: for conditional models, the number of labels (0 otherwise).
        activation: activation of the hidden layers.
        seed: seed of the model's sampling noise (weights are seeded through
            `keras.utils.set_random_seed`).
    """

    # === Capabilities (what evaluation, export and presets may rely on) ===
    metric_names = ("loss", "elbo", "reconstruction", "kl")
    # Set by @zoo.register_model: the name presets, recipes and the CLI use.
    variant = None
    # Takes a class label y beside x (encoder and decoder see it).
    conditional = False
    # Defines a density over x (an ELBO and importance weights). Deterministic
    # autoencoders do not; they offer `reconstruction_error` for scoring instead.
    has_density = True
    # The posterior is a point mass on a grid of codebook vectors (a VQ-VAE):
    # `encode_codes(x)` gives their indices and vectors, and export's `encode` returns both.
    discrete_codes = False
    # Export signatures (zoo.export.SIGNATURES) the variant's graph cannot express,
    # with the reason; export lists them in the metadata instead of exporting them.
    unsupported_signatures = {}
    # Why a variant cannot honour `free_bits` (None: it can); the constructor refuses
    # free_bits > 0 with this reason instead of silently ignoring it.
    free_bits_unsupported = None
    # Attributes only training uses (an adversary, its optimizer): `.keras` files and
    # checkpoints keep them, a preset's weights file does not (see zoo.presets).
    training_only_state = ()
    # `schedule_step` of a model loaded from a weights file written before the counter
    # existed. Every such file is a finished model (the shipped presets among them), and
    # a finished model must fine-tune at full weights, so the value lies past the end of
    # any schedule a variant may define (steps are counted in int64: no overflow).
    SCHEDULES_DONE_STEP = 2**31 - 1

    # Decodes (images x posterior samples) one call of the evaluators may run at once;
    # None: no limit beyond theirs. A variant whose decoder holds large activations per
    # decode (a PixelCNN over every pixel) caps it (`zoo.evaluate.likelihood.default_chunks`).
    max_decodes_per_call = None

    def __init__(
        self,
        image_shape=(28, 28, 1),
        latent_dim=16,
        widths=(32, 64),
        hidden_dim=256,
        likelihood="bernoulli",
        prior="standard_normal",
        beta=1.0,
        kl_warmup_steps=0,
        free_bits=0.0,
        num_classes=0,
        activation="swish",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Config ===
        self.image_shape = tuple(int(v) for v in image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}")
        self.latent_dim = int(latent_dim)
        self.widths = tuple(int(v) for v in widths)
        self.hidden_dim = int(hidden_dim)
        self.likelihood_config = likelihood
        self.prior_config = prior
        self.beta = float(beta)
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.free_bits = float(free_bits)
        if self.free_bits > 0 and self.free_bits_unsupported:
            raise ValueError(f"{type(self).__name__}: free_bits is not supported: {self.free_bits_unsupported}")
        self.num_classes = int(num_classes)
        self.activation = activation
        self.seed = seed
        if self.conditional and self.num_classes < 2:
            raise ValueError(f"{type(self).__name__} is conditional: set num_classes >= 2")

        # === Layers ===
        self.likelihood = get_likelihood(likelihood)
        self.encoder, self.decoder = self.build_networks()
        self.prior = get_prior(prior, self.prior_latent_dim)
        self.prior.build_for(self)
        # A prior is complete once `build_for` ran (most have no variables). Left
        # unbuilt, it makes Keras build the whole model symbolically under a
        # distribution strategy by calling it on x alone, which fails for
        # conditional models.
        self.prior.built = True
        self.seed_generator = keras.random.SeedGenerator(seed)
        # The training steps this model has taken, whatever optimizer took them: every
        # schedule (KL warm-up, capacity, annealing) reads it. The optimizer's own
        # `iterations` restarts at 0 with each `compile`, which would restart the
        # schedules when a trained model is fine-tuned. A model variable, it is saved
        # with the weights (`.keras`, checkpoints, presets); "only_first_replica" makes
        # each replica's increment under a distribution strategy count once.
        self.schedule_step = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False,
            aggregation="only_first_replica", name="schedule_step",
        )
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names}
        self.batch_slices = 1  # set by `compile`
        self.build_extra()
        self.built = True

    # ------------------------------------------------------------------ hooks for variants

    @property
    def encoder_output_dim(self) -> int:
        """Raw encoder outputs: a mean and a raw scale per latent dimension."""
        return 2 * self.latent_dim

    @property
    def prior_latent_dim(self) -> int:
        """Size of the variable the prior is over (the top layer of a hierarchy)."""
        return self.latent_dim

    def build_networks(self):
        """(encoder, decoder): `zoo.nets`' convolutional pair by default, the encoder
        giving `encoder_output_dim` raw posterior parameters, the decoder the
        likelihood's parameters from z (both also see the label when conditional)."""
        condition_dim = self.num_classes if self.conditional else 0
        encoder = nets.build_encoder(
            self.image_shape, self.widths, self.hidden_dim, self.encoder_output_dim,
            condition_dim=condition_dim, activation=self.activation,
        )
        decoder = nets.build_decoder(
            self.image_shape, self.widths, self.hidden_dim, self.latent_dim, self.decoder_output_channels,
            condition_dim=condition_dim, activation=self.activation, **self.decoder_options(),
        )
        return encoder, decoder

    @property
    def decoder_output_channels(self) -> int:
        """Channels of the decoder's output: the likelihood's raw parameters per pixel."""
        return self.likelihood.num_params(self.image_shape[-1])

    def decoder_options(self) -> dict:
        """Extra keyword arguments of `nets.build_decoder` a variant chooses."""
        return {}

    def build_extra(self):
        """Variants that own extra layers (discriminators, flows) create them here."""

    def posterior(self, params, condition=None) -> tfd.Distribution:
        """q(z|x) from the encoder's raw output: a diagonal Gaussian."""
        loc, raw_scale = tf.split(params, 2, axis=-1)
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.nn.softplus(raw_scale) + MIN_POSTERIOR_SCALE)

    def loss_terms(self, x, condition, training: bool) -> dict:
        """Per-example objective terms; must contain "loss" and every metric name."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the model

    def label_condition(self, y, batch_size=None):
        """The decoder's and encoder's label input: one-hot float32 [B, num_classes]
        from class indices or one-hot rows, checked; None for unconditional models."""
        if not self.conditional:
            return None
        return check_labels(y, self.num_classes, batch_size)

    def posterior_for(self, x, condition=None, training=False) -> tfd.Distribution:
        """q(z|x) for a tensor batch, unchecked and traceable (`encode` checks its input)."""
        inputs = x if condition is None else [x, condition]
        return self.posterior(self.encoder(inputs, training=training), condition)

    def decoder_params(self, z, condition=None, training=False):
        """The likelihood's raw parameters for latents z [B, latent_dim] (logits for
        Bernoulli, ...): `self.likelihood.distribution(params)` is p(x|z)."""
        inputs = z if condition is None else [z, condition]
        return self.decoder(inputs, training=training)

    def training_only_objects(self) -> list:
        """The objects named by `training_only_state` (what a preset leaves out)."""
        return [getattr(self, name) for name in self.training_only_state if getattr(self, name, None) is not None]

    def prior_distribution(self, condition=None) -> tfd.Distribution:
        """p(z); for a prior over labels (`prior.conditional`), p(z|y) with batch shape
        [B] for the one-hot labels `condition` [B, num_classes]."""
        if self.prior.conditional:
            return self.prior.distribution(self, condition)
        return self.prior.distribution(self)

    def draw_seed(self):
        """A fresh stateless seed from the model's seed generator (traceable).

        Under a distribution strategy every replica holds the same generator state;
        the replica index is folded in so that replicas draw independent noise.
        """
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
        return seed

    def elbo_terms(self, x, condition=None, training=False, seed=None) -> dict:
        """One-sample ELBO pieces per example: reconstruction = -log p(x|z), kl, z, posterior, prior."""
        posterior = self.posterior_for(x, condition, training)
        z = posterior.sample(seed=self.draw_seed() if seed is None else seed)
        likelihood = self.likelihood.distribution(self.decoder_params(z, condition, training))
        reconstruction = -likelihood.log_prob(x)
        prior = self.prior_distribution(condition)
        kl = kl_divergence(posterior, prior, z)
        return {"reconstruction": reconstruction, "kl": kl, "z": z, "posterior": posterior, "prior": prior}

    def schedule_progress(self, steps: int):
        """The fraction min(1, schedule_step / steps) of a linear schedule, float32
        (1 when `steps` <= 0, a disabled schedule)."""
        if steps <= 0:
            return tf.constant(1.0)
        return tf.minimum(1.0, tf.cast(self.schedule_step, tf.float32) / float(steps))

    def kl_weight(self):
        """beta, ramped linearly over `kl_warmup_steps` training steps."""
        return self.beta * self.schedule_progress(self.kl_warmup_steps)

    def free_bits_kl(self, posterior, z, kl, prior=None):
        """KL for the loss with free bits: per dimension, max(free_bits, batch-mean KL_d).

        Needs per-dimension KL, which the diagonal Gaussian posterior/prior pair has in
        closed form; otherwise the total KL is returned unchanged.
        """
        if self.free_bits <= 0:
            return kl
        prior = self.prior_distribution() if prior is None else prior
        if not (isinstance(posterior, tfd.MultivariateNormalDiag) and isinstance(prior, tfd.MultivariateNormalDiag)):
            return kl
        q = tfd.Normal(posterior.mean(), posterior.stddev())
        p = tfd.Normal(prior.mean(), prior.stddev())
        per_dim = tf.reduce_mean(tfd.kl_divergence(q, p), axis=0)  # [D]
        clamped = tf.reduce_sum(tf.maximum(per_dim, self.free_bits))
        # Same batch mean as the clamped total, per example for the step's averaging.
        return kl - tf.reduce_mean(kl) + clamped

    def call(self, inputs, training=False):
        """Reconstructions: x (or (x, y) when conditional) -> E[x | z = mean of q(z|x)]."""
        x, y = (inputs if self.conditional else (inputs, None))
        condition = self.label_condition(y)
        z = self.posterior_for(x, condition, training).mean()
        return self.likelihood.mean(self.decoder_params(z, condition, training))

    # ------------------------------------------------------------------ public API

    def checked_inputs(self, x, y=None, where="x"):
        x = check_images(x, self.image_shape, where)
        return x, self.label_condition(y, x.shape[0])

    def encode(self, x, y=None) -> tfd.Distribution:
        """q(z|x): a `tfd` distribution with batch [B] and event [latent_dim]."""
        x, condition = self.checked_inputs(x, y)
        return self.posterior_for(x, condition)

    def checked_latents(self, z):
        """z as float32 [B, latent_dim], checked (shape, empty batch, NaN/Inf)."""
        z = tf.convert_to_tensor(z, tf.float32)
        if z.shape.rank != 2 or z.shape[-1] != self.latent_dim:
            raise InputError(f"z: expected shape [batch, {self.latent_dim}], got {tuple(z.shape)}")
        if z.shape[0] == 0:
            raise InputError("z: the batch is empty")
        if tf.executing_eagerly() and not bool(tf.reduce_all(tf.math.is_finite(z))):
            count = int(tf.reduce_sum(tf.cast(~tf.math.is_finite(z), tf.int32)))
            raise InputError(f"z: contains {count} NaN/Inf values")
        return z

    def decode(self, z, y=None) -> tfd.Distribution:
        """p(x|z): a `tfd` distribution with batch [B] and event [H, W, C]."""
        z = self.checked_latents(z)
        condition = self.label_condition(y, z.shape[0])
        return self.likelihood.distribution(self.decoder_params(z, condition))

    def decode_mean(self, z, y=None):
        """E[x|z] as an image batch in [0, 1]."""
        z = self.checked_latents(z)
        condition = self.label_condition(y, z.shape[0])
        return self.likelihood.mean(self.decoder_params(z, condition))

    def sample(self, n: int, seed=None, labels=None) -> np.ndarray:
        """n images E[x|z] with z ~ p(z); `labels` (conditional models) picks the classes."""
        if int(n) < 1:
            raise ValueError(f"n must be a positive number of samples, got {n}")
        if self.conditional and labels is None:
            raise ValueError("this model is conditional: pass labels=[...] (one class or n classes)")
        if labels is not None:
            labels = np.broadcast_to(np.asarray(labels), (int(n),))
        z = self.prior_sample(int(n), seed, self.label_condition(labels, int(n)))
        return self.decode_mean(z, labels).numpy()

    def prior_sample(self, n: int, seed=None, condition=None):
        """n draws z ~ p(z) (p(z|y) for the labels `condition` [n, K] under a prior over labels)."""
        prior = self.prior_distribution(condition)
        if self.prior.conditional:
            return prior.sample(seed=stateless_seed(seed))  # batch [n] already
        return prior.sample(int(n), seed=stateless_seed(seed))

    def reconstruct(self, x, y=None) -> np.ndarray:
        """E[x|z] at the posterior mean, as images in [0, 1]."""
        x, condition = self.checked_inputs(x, y)
        z = self.posterior_for(x, condition).mean()
        return self.likelihood.mean(self.decoder_params(z, condition)).numpy()

    def elbo(self, x, y=None, seed=None) -> np.ndarray:
        """Per-example ELBO in nats (one posterior sample)."""
        x, condition = self.checked_inputs(x, y)
        terms = self.elbo_terms(x, condition, seed=stateless_seed(seed if seed is not None else 0))
        return (-(terms["reconstruction"] + terms["kl"])).numpy()

    def importance_log_terms(self, x, condition=None, k: int = 1, seed=None, training=False, noise=None) -> dict:
        """[k, B] tensors log p(x|z_i), log p(z_i) and log q(z_i|x) for z_i ~ q(z|x).

        Keys "log_px", "log_pz", "log_qz", and "z" [k, B, latent_dim], the draws (not
        returned by hierarchical variants, which return the sums over their layers).
        log q comes with the sample (no inverse needed, which matters for flow
        posteriors). `noise` [k, B, latent_dim] ~ N(0, I), if given, replaces the
        random draw (z = the posterior's reparameterization of it): an exported graph
        must not contain random ops, so its caller passes the noise.
        """
        posterior = self.posterior_for(x, condition, training)
        if noise is None:
            z, log_qz = posterior.experimental_sample_and_log_prob(k, seed=seed)  # [k, B, D], [k, B]
        else:
            z, log_qz = sample_from_noise(posterior, noise)
        batch = tf.shape(x)[0]
        flat_z = tf.reshape(z, [-1, self.latent_dim])
        flat_condition = None if condition is None else tf.tile(condition, [k, 1])
        raw = self.decoder_params(flat_z, flat_condition, training)
        flat_x = tf.tile(x, [k, 1, 1, 1])
        log_px = tf.reshape(self.likelihood.distribution(raw).log_prob(flat_x), [k, batch])
        return {"log_px": log_px, "log_pz": self.prior_distribution(condition).log_prob(z), "log_qz": log_qz,
                "z": z}

    def log_importance_weights(self, x, condition=None, k: int = 1, seed=None, training=False, noise=None):
        """log p(x, z_i) - log q(z_i|x) for k posterior samples: a [k, B] tensor.

        Their log-mean-exp is the IWAE bound (Burda et al. 2015), which tends to
        log p(x) as k grows. `noise`: see `importance_log_terms`.
        """
        t = self.importance_log_terms(x, condition, k, seed, training, noise)
        return t["log_px"] + t["log_pz"] - t["log_qz"]

    def iwae_bound(self, x, y=None, k: int = 50, seed=0) -> np.ndarray:
        """Per-example IWAE bound log (1/k) sum_i w_i in nats (k=1 is the ELBO)."""
        x, condition = self.checked_inputs(x, y)
        log_w = self.log_importance_weights(x, condition, k, stateless_seed(seed))
        return (tf.reduce_logsumexp(log_w, axis=0) - math.log(k)).numpy()

    # ------------------------------------------------------------------ training

    @property
    def metrics(self):
        return list(self.trackers.values())

    def unpack_batch(self, data):
        if isinstance(data, (tuple, list)):
            x = data[0]
            y = data[1] if len(data) > 1 else None
        else:
            x, y = data, None
        x = check_images(x, self.image_shape, "training batch", check_values=False)
        condition = self.label_condition(y) if self.conditional else None
        return x, condition

    def update_metrics(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @classmethod
    def loss_is_per_example(cls, config: dict) -> bool:
        """Whether the loss of a model of this class built from `config` is a mean of
        per-example losses, so that a batch's gradient is the size-weighted mean of its
        slices' gradients (what `compile(batch_slices=n)` relies on). Free bits clamp
        the batch-mean KL per dimension, a batch quantity; variants whose loss reads
        the whole batch (an MMD, a batch covariance, a discriminator) say False."""
        return not config.get("free_bits")

    def compile(self, *args, batch_slices=1, **kwargs):
        """Keras' `compile`, with `batch_slices`: the training and test steps cut each
        batch into that many slices and compute their loss terms as independent pieces
        of one graph (one gradient tape), the same objective on the same batch.

        TensorFlow's inter-op scheduler runs independent pieces side by side, so on a
        CPU with one intra-op thread per op and one inter-op thread per slice every
        core is busy with its own slice, which for the zoo's small convolutions is
        faster than every op split over all cores (`zoo train` sets this up where it
        measured faster; see `zoo.training.resolve_batch_slices`).

        Raises:
            ValueError: `batch_slices` is not a positive int, or is > 1 for a loss
                that reads the whole batch (`loss_is_per_example`).
        """
        if isinstance(batch_slices, bool) or not isinstance(batch_slices, int) or batch_slices < 1:
            raise ValueError(f"batch_slices must be a positive int, got {batch_slices!r}")
        if batch_slices > 1 and not self.loss_is_per_example(self.get_config()):
            raise ValueError(f"batch_slices={batch_slices}: {type(self).__name__}'s loss (with this config) is "
                             "not a mean of per-example losses, so slices would change it; use 1")
        self.batch_slices = batch_slices
        super().compile(*args, **kwargs)

    def get_compile_config(self):
        # Keras saves compile's arguments with a model (.keras files); the slices are one.
        config = super().get_compile_config()
        return {**config, "batch_slices": self.batch_slices} if config else config

    def compile_from_config(self, config):
        # Keras' own skips a model whose compile is overridden (it cannot know the extra
        # arguments); this one knows them.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)  # its slots, for the weights file to fill

    def sliced_loss_terms(self, x, condition, training):
        """`loss_terms` of the batch computed over `batch_slices` equal slices of it and
        concatenated back into per-example tensors [B]. A batch that the slices do not
        divide (an epoch's last) is completed with zero images, whose terms are dropped:
        an empty slice is not an option (oneDNN's convolutions reject empty batches)."""
        slices = self.batch_slices
        if slices == 1:
            return self.loss_terms(x, condition, training)
        batch = tf.shape(x)[0]
        padding = [[0, (-batch) % slices]]
        xs = tf.split(tf.pad(x, padding + [[0, 0]] * (len(x.shape) - 1)), slices)
        cs = [None] * slices if condition is None else tf.split(tf.pad(condition, padding + [[0, 0]]), slices)
        parts = [self.loss_terms(xi, ci, training) for xi, ci in zip(xs, cs)]
        return {name: tf.concat([p[name] for p in parts], axis=0)[:batch] for name in parts[0]}

    def scaled_loss(self, per_example_loss):
        """Batch mean, divided by the replica count so that the cross-replica sum of
        gradients is the gradient of the global-batch mean."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return tf.reduce_mean(per_example_loss) / replicas

    def train_step(self, data):
        x, condition = self.unpack_batch(data)
        with tf.GradientTape() as tape:
            terms = self.sliced_loss_terms(x, condition, training=True)
            loss = self.scaled_loss(terms["loss"])
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.schedule_step.assign_add(1)
        self.after_train_step(terms)
        return self.update_metrics(terms)

    def after_train_step(self, terms):
        """State a variant updates outside the gradient step (a VQ-VAE's codebook
        restarts), from the step's loss terms; nothing by default."""

    def test_step(self, data):
        x, condition = self.unpack_batch(data)
        return self.update_metrics(self.sliced_loss_terms(x, condition, training=False))

    # ------------------------------------------------------------------ serialization

    # Keras saves a layer's variables but not its seed generators' state. The model's
    # sampling noise is part of its training state (a resumed run must draw the same
    # noise as an uninterrupted one), so it is saved beside the weights. The model's
    # own variables are stored under names, not Keras' positions ("0", "1", ...), so
    # that a file written before one of them existed is recognized as such.
    _SEED_KEY = "seed_generator_state"
    _STEP_KEY = "schedule_step"

    def save_own_variables(self, store):
        store[self._STEP_KEY] = self.schedule_step
        store[self._SEED_KEY] = self.seed_generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        if self._SEED_KEY in keys:
            self.seed_generator.state.assign(store[self._SEED_KEY])
        # Keras leaves a variable missing from the file at its current value; here
        # that would be 0, and a finished model would redo its warm-up when fine-tuned.
        self.schedule_step.assign(store[self._STEP_KEY] if self._STEP_KEY in keys else self.SCHEDULES_DONE_STEP)
        own = [k for k in keys if k not in (self._SEED_KEY, self._STEP_KEY)]
        if own:
            raise ValueError(f"{self.name}: unexpected model-level variables in the weights file: {own}")

    # ------------------------------------------------------------------ presets

    @classmethod
    def from_preset(cls, name_or_path: str, verify: bool = True):
        """Loads a preset (a shipped name or a directory) as this class, keras-hub style:
        `zoo.VAE.from_preset("vae_mnist")`; `LatentVariableModel.from_preset` takes any.

        Raises:
            zoo.presets.PresetError: unknown name, corrupt files, or a preset of another class.
        """
        model = presets.load(name_or_path, verify=verify)
        if not isinstance(model, cls):
            raise presets.PresetError(f"preset {name_or_path!r} holds a {type(model).__name__}, not a {cls.__name__}; "
                              f"load it with zoo.load({name_or_path!r}) or {type(model).__name__}.from_preset")
        return model

    def save_preset(self, directory: str, metadata: dict | None = None) -> str:
        """Writes this model as a preset directory that `zoo.load(directory)` reads back."""
        return presets.save_preset(self, directory, metadata)

    def get_config(self):
        return {
            "name": self.name,
            "image_shape": list(self.image_shape),
            "latent_dim": self.latent_dim,
            "widths": list(self.widths),
            "hidden_dim": self.hidden_dim,
            "likelihood": self.likelihood_config,
            "prior": self.prior_config,
            "beta": self.beta,
            "kl_warmup_steps": self.kl_warmup_steps,
            "free_bits": self.free_bits,
            "num_classes": self.num_classes,
            "activation": self.activation,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
