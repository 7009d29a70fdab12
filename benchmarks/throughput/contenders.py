"""The contenders of the training-throughput benchmark: how each is built and stepped.

Every contender is a runner whose ``run(warmup, steps)`` trains `warmup` untimed
steps and then `steps` timed ones, and returns (wall seconds, process CPU seconds)
of the timed steps. `make_contenders` builds them by key (`ALL`); `LABELS` says
what each key is.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import logging
import math
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.machine import cores

# Runs in a child process of the script (`ChildProcess`): needs TensorFlow threads of its own.
IN_CHILD_PROCESS = {"ours_sliced"}
SERVE_PREFIX = "CONTENDER "
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
RECIPE = "vae_mnist"

MAIN = ["ours_jit", "ours_nojit", "ours_sliced", "keras_io_jit", "keras_io_nojit", "pythae_trainer", "pythae_loop"]
DIAGNOSTIC = ["ours_jit_cached", "ours_jit_spe8"]
ALL = MAIN + DIAGNOSTIC
LABELS = {
    "ours_jit": "ours: `zoo.models.VAE`, `model.fit`, jit_compile=True (XLA)",
    "ours_nojit": "ours: `zoo.models.VAE`, `model.fit`, jit_compile=False (the recipe's \"auto\" on a CPU)",
    "ours_sliced": "ours as `zoo train` runs it on a CPU: jit_compile=False, `batch_slices` one per core, one "
                   "intra-op thread per op (in a child process: TensorFlow fixes its threads at start)",
    "keras_io_jit": "keras.io pattern (no TFP), `model.fit`, jit_compile=True",
    "keras_io_nojit": "keras.io pattern (no TFP), `model.fit`, jit_compile=False (Keras' `auto` on a CPU)",
    "pythae_trainer": "Pythae `VAE`, `BaseTrainer`",
    "pythae_loop": "Pythae `VAE`, plain torch loop",
    "ours_jit_cached": "diagnostic: ours, jit, 20 cached pre-binarized batches repeated",
    "ours_jit_spe8": "diagnostic: ours, jit, steps_per_execution=8",
}


def pythae_available() -> bool:
    try:
        import pythae  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- the plain Keras pattern


def _keras_pattern_classes():
    """Defined lazily so that importing this module does not start TensorFlow."""
    import keras
    import tensorflow as tf
    from keras import ops

    class Sampling(keras.layers.Layer):
        """The reparameterization trick: z = mean + stddev * eps, eps ~ N(0, I).

        `noise` may be passed to fix eps (used to check that both models compute the
        same objective)."""

        def __init__(self, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, mean, stddev, noise=None):
            if noise is None:
                noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
            return mean + stddev * noise

    class PlainVAE(keras.Model):
        """A VAE written the plain way: own loss with `keras.ops`, own Mean trackers.

        It takes the zoo's encoder (raw output: mean and raw scale per latent
        dimension) and decoder (Bernoulli logits), and parameterizes the posterior
        scale exactly as the zoo does (softplus(raw) + 1e-4), with the same KL
        warm-up, so that its loss is the zoo VAE's loss.
        """

        def __init__(self, encoder, decoder, kl_warmup_steps=0, min_scale=1e-4, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.sampling = Sampling(seed)
            self.kl_warmup_steps = int(kl_warmup_steps)
            self.min_scale = float(min_scale)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
            self.kl_tracker = keras.metrics.Mean(name="kl")
            self.built = True

        @property
        def metrics(self):
            return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

        def posterior_parameters(self, x, training=False):
            mean, raw_scale = ops.split(self.encoder(x, training=training), 2, axis=-1)
            return mean, ops.softplus(raw_scale) + self.min_scale

        def call(self, x, training=False):
            mean, _ = self.posterior_parameters(x, training)
            return ops.sigmoid(self.decoder(mean, training=training))

        def terms(self, x, noise=None, training=False):
            """Per-example (reconstruction = -log p(x|z), KL(q(z|x) || N(0, I)))."""
            mean, stddev = self.posterior_parameters(x, training)
            z = self.sampling(mean, stddev, noise)
            logits = self.decoder(z, training=training)
            reconstruction = ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), axis=(1, 2, 3))
            kl = ops.sum(0.5 * (ops.square(mean) + ops.square(stddev) - 1.0) - ops.log(stddev), axis=-1)
            return reconstruction, kl

        def kl_weight(self):
            if self.kl_warmup_steps <= 0 or getattr(self, "optimizer", None) is None:
                return 1.0
            step = ops.cast(self.optimizer.iterations, "float32")
            return ops.minimum(1.0, step / float(self.kl_warmup_steps))

        def loss_value(self, x, noise=None, training=False):
            reconstruction, kl = self.terms(x, noise, training)
            return ops.mean(reconstruction + self.kl_weight() * kl), reconstruction, kl

        def train_step(self, data):
            x = data[0] if isinstance(data, (tuple, list)) else data
            with tf.GradientTape() as tape:
                loss, reconstruction, kl = self.loss_value(x, training=True)
            gradients = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
            self.loss_tracker.update_state(loss)
            self.reconstruction_tracker.update_state(reconstruction)
            self.kl_tracker.update_state(kl)
            return {m.name: m.result() for m in self.metrics}

    return Sampling, PlainVAE


def build_ours(recipe: dict | None = None):
    """The zoo VAE of the vae_mnist recipe (uncompiled)."""
    from zoo.training import build_model, load_recipe

    return build_model(recipe or load_recipe(RECIPE))


def build_keras_pattern(recipe: dict | None = None, seed=None):
    """The plain-pattern VAE with networks built by `zoo.nets` from the recipe (uncompiled)."""
    from zoo import data, nets
    from zoo.training import load_recipe

    recipe = recipe or load_recipe(RECIPE)
    m = recipe["model"]
    shape = data.get_spec(recipe["dataset"]).image_shape
    encoder = nets.build_encoder(shape, m["widths"], m["hidden_dim"], 2 * m["latent_dim"])
    decoder = nets.build_decoder(shape, m["widths"], m["hidden_dim"], m["latent_dim"], shape[-1])
    _, PlainVAE = _keras_pattern_classes()
    return PlainVAE(encoder, decoder, kl_warmup_steps=m.get("kl_warmup_steps", 0), seed=seed, name="plain_vae")


# --------------------------------------------------------------------------- Pythae


def build_pythae(latent_dim=32, widths=(32, 64), hidden_dim=256, image_shape=(28, 28, 1)):
    """Pythae's VAE with torch networks mirroring `zoo.nets` layer for layer.

    Keras "same" padding for a 4x4 stride-2 convolution of an even size is one
    pixel each side, and a 4x4 stride-2 transposed convolution with padding 1
    doubles the size, as Keras' "same" does. Pythae takes log-variances and a
    sigmoid output (its BCE is on probabilities).
    """
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from torch import nn

    h, w, c = image_shape
    h0, w0 = h // 2 ** len(widths), w // 2 ** len(widths)

    class Encoder(BaseEncoder):
        def __init__(self):
            BaseEncoder.__init__(self)
            layers, channels = [], c
            for width in widths:
                layers += [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.SiLU()]
                channels = width
            layers += [nn.Flatten(), nn.Linear(channels * h0 * w0, hidden_dim), nn.SiLU(),
                       nn.Linear(hidden_dim, 2 * latent_dim)]
            self.net = nn.Sequential(*layers)

        def forward(self, x):
            mean, log_var = self.net(x).chunk(2, dim=-1)
            return ModelOutput(embedding=mean, log_covariance=log_var)

    class Decoder(BaseDecoder):
        def __init__(self):
            BaseDecoder.__init__(self)
            rev = tuple(reversed(widths))
            layers = [nn.Linear(latent_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, rev[0] * h0 * w0), nn.SiLU(),
                      nn.Unflatten(1, (rev[0], h0, w0))]
            for cin, cout in zip(rev, rev[1:]):
                layers += [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.SiLU()]
            layers += [nn.ConvTranspose2d(rev[-1], c, 4, stride=2, padding=1), nn.Sigmoid()]
            self.net = nn.Sequential(*layers)

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    config = VAEConfig(input_dim=(c, h, w), latent_dim=latent_dim, reconstruction_loss="bce")
    return VAE(config, encoder=Encoder(), decoder=Decoder())


def _quiet_pythae_loggers():
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)


# --------------------------------------------------------------------------- runners


def _now():
    """(wall seconds, CPU seconds of this process, all threads)."""
    return time.perf_counter(), time.process_time()


class KerasFit:
    """`model.fit` for warmup + steps steps; times the steps after the warm-up with a callback."""

    def __init__(self, model, dataset, steps_per_execution=1):
        self.model = model
        self.dataset = dataset
        self.steps_per_execution = steps_per_execution

    def run(self, warmup: int, steps: int) -> tuple[float, float]:
        """(wall seconds, process CPU seconds) of `steps` steps after `warmup` untimed ones."""
        import keras

        # Whole executions only: warm-up and timed steps rounded up to multiples of
        # steps_per_execution; the result is scaled to `steps`.
        spe = self.steps_per_execution
        warmup, timed = spe * math.ceil(warmup / spe), spe * math.ceil(steps / spe)
        marks = []

        class Clock(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                marks.append((batch, _now()))

        self.model.fit(self.dataset, epochs=1, steps_per_epoch=warmup + timed, verbose=0, shuffle=False,
                       callbacks=[Clock()])
        # With steps_per_execution > 1 the callback fires once per execution, with
        # the index of its last step.
        start = next(m for m in marks if m[0] >= warmup - 1)
        end = marks[-1]
        if end[0] <= start[0]:
            raise RuntimeError("no timed steps: raise --steps")
        scale = steps / (end[0] - start[0])
        return (end[1][0] - start[1][0]) * scale, (end[1][1] - start[1][1]) * scale


class ChildProcess:
    """A runner in a child process (`command`, which ends in `serve_rounds`), for
    settings TensorFlow fixes when it starts (its threads). The child builds its runner,
    then trains one round per request; it sleeps on its pipe in between, so rounds
    still alternate with the other runners'. `info` is what the child said when ready."""

    def __init__(self, command: list[str]):
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        atexit.register(self.close)
        self.info = self._reply()

    def _reply(self) -> dict:
        # Only the protocol's lines: anything else a library prints is skipped.
        for line in self.proc.stdout:
            if line.startswith(SERVE_PREFIX):
                return json.loads(line[len(SERVE_PREFIX):])
        raise RuntimeError(f"the child process serving a runner ended (exit code {self.proc.wait()})")

    def run(self, warmup: int, steps: int) -> tuple[float, float]:
        self.proc.stdin.write(f"{warmup} {steps}\n")
        self.proc.stdin.flush()
        reply = self._reply()
        return reply["wall"], reply["cpu"]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def serve_rounds(runner, info: dict, requests=sys.stdin, replies=sys.stdout):
    """The child's side of `ChildProcess`: says `info`, then answers "WARMUP STEPS" lines
    with the runner's (wall, CPU) seconds until its input ends."""

    def reply(fields):
        replies.write(SERVE_PREFIX + json.dumps(fields) + "\n")
        replies.flush()

    reply(info)
    for line in requests:
        warmup, steps = (int(v) for v in line.split())
        wall, cpu = runner.run(warmup, steps)
        reply({"wall": wall, "cpu": cpu})


def serve(key: str, bf16=False):
    """A child process's contender `key`, set up as `zoo train` would set it up here
    (TensorFlow's threads first), served round by round (`serve_rounds`)."""
    from zoo.training import use_one_thread_per_op

    if use_one_thread_per_op(cores()) != cores():
        raise RuntimeError("TensorFlow started before its threads were set")
    runner, parameters = make_contenders([key], bf16=bf16)[key]
    serve_rounds(runner, {"parameters": parameters})


class PythaeTrainerRun:
    """Pythae's BaseTrainer, one epoch over (warmup + steps) batches per run."""

    def __init__(self, model, images, seed=0):
        import torch

        self.model = model
        self.images = images  # float [N, C, H, W] in [0, 1]
        self.generator = torch.Generator().manual_seed(seed)
        # The trainer insists on an output directory (it creates empty run folders there).
        self.tmp = tempfile.mkdtemp(prefix="pythae_bench_")
        atexit.register(shutil.rmtree, self.tmp, True)

    def run(self, warmup: int, steps: int) -> tuple[float, float]:
        """(wall seconds, process CPU seconds) of `steps` steps after `warmup` untimed ones."""
        import torch
        from pythae.data.datasets import BaseDataset, DatasetOutput
        from pythae.trainers import BaseTrainer, BaseTrainerConfig
        from pythae.trainers.training_callbacks import TrainingCallback

        class BinarizedDataset(BaseDataset):
            """Dynamic binarization: a fresh Bernoulli draw per image per access."""

            def __getitem__(self, index):
                return DatasetOutput(data=torch.bernoulli(self.data[index]), labels=self.labels[index])

        class NoSaveTrainer(BaseTrainer):
            def save_model(self, model, dir_path):  # nothing written (it would pickle the networks)
                pass

        marks = []

        class Clock(TrainingCallback):
            def on_train_step_end(self, training_config, **kwargs):
                marks.append(_now())

        n = (warmup + steps) * BATCH_SIZE
        index = torch.randint(0, len(self.images), (n,), generator=self.generator)
        dataset = BinarizedDataset(self.images[index], torch.zeros(n))
        config = BaseTrainerConfig(output_dir=self.tmp, per_device_train_batch_size=BATCH_SIZE, num_epochs=1,
                                   learning_rate=LEARNING_RATE, optimizer_cls="Adam", steps_saving=None,
                                   steps_predict=None, keep_best_on_train=True, no_cuda=True)
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            _quiet_pythae_loggers()
            trainer = NoSaveTrainer(self.model, train_dataset=dataset, training_config=config, callbacks=[Clock()])
            trainer.train()
        if len(marks) != warmup + steps:
            raise RuntimeError(f"Pythae trainer ran {len(marks)} steps, expected {warmup + steps}")
        return marks[-1][0] - marks[warmup - 1][0], marks[-1][1] - marks[warmup - 1][1]


class TorchLoop:
    """The Pythae model trained by a plain torch loop on in-memory batches."""

    def __init__(self, model, images, seed=0):
        import torch

        self.model = model
        self.images = images
        self.generator = torch.Generator().manual_seed(seed)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

    def run(self, warmup: int, steps: int) -> tuple[float, float]:
        """(wall seconds, process CPU seconds) of `steps` steps after `warmup` untimed ones."""
        import torch

        self.model.train()
        start = None
        for i in range(warmup + steps):
            if i == warmup:
                start = _now()
            index = torch.randint(0, len(self.images), (BATCH_SIZE,), generator=self.generator)
            x = torch.bernoulli(self.images[index], generator=self.generator)
            loss = self.model({"data": x}).loss
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        end = _now()
        return end[0] - start[0], end[1] - start[1]


def count_parameters(model) -> int:
    if hasattr(model, "count_params"):
        return int(model.count_params())
    return int(sum(p.numel() for p in model.parameters()))


def make_contenders(keys, bf16=False, script=None):
    """{key: (runner, parameter count)} for the requested contender keys; with `script`
    (the benchmark's entry point), those in IN_CHILD_PROCESS run in a child process of it."""
    import keras

    import zoo
    from zoo.optimizers import FusedAdam
    from zoo.training import load_recipe, resolve_batch_slices

    out = {}
    if script:
        for key in [k for k in keys if k in IN_CHILD_PROCESS]:
            child = ChildProcess([sys.executable, script, "--serve", key])
            out[key] = (child, child.info["parameters"])
        keys = [k for k in keys if k not in out]
    need_tf = [k for k in keys if not k.startswith("pythae")]
    if need_tf:
        keras.utils.set_random_seed(0)
        dataset = zoo.data.load("mnist", "train", batch_size=BATCH_SIZE, preprocessing="dynamic_binarize",
                                seed=0).repeat()
        for key in need_tf:
            if bf16:
                keras.mixed_precision.set_global_policy("mixed_bfloat16")
            try:
                model = build_keras_pattern() if key.startswith("keras_io") else build_ours()
            finally:
                keras.mixed_precision.set_global_policy("float32")
            spe = 8 if key.endswith("spe8") else 1
            # Ours with the optimizer `zoo train` uses; the keras.io pattern with Keras' own.
            optimizer = (keras.optimizers.Adam if key.startswith("keras_io") else FusedAdam)(LEARNING_RATE)
            options = {}
            if key == "ours_sliced":  # its batches cut as `zoo train` cuts them here
                options["batch_slices"] = resolve_batch_slices("auto", load_recipe(RECIPE), False, "one_device")
            model.compile(optimizer=optimizer, jit_compile="_jit" in key, steps_per_execution=spe, **options)
            ds = dataset
            if key.endswith("cached"):
                ds = dataset.take(20).cache().repeat()
            out[key] = (KerasFit(model, ds, spe), count_parameters(model))
    if any(k.startswith("pythae") for k in keys):
        import numpy as np
        import torch

        torch.set_num_threads(cores())
        torch.manual_seed(0)
        images, _ = zoo.data.load_arrays("mnist", "train")
        images = torch.from_numpy(np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2)))).float() / 255.0
        for key in keys:
            if key.startswith("pythae"):
                model = build_pythae()
                runner = PythaeTrainerRun(model, images) if key == "pythae_trainer" else TorchLoop(model, images)
                out[key] = (runner, count_parameters(model))
    return out
