"""Training throughput of the vae_mnist VAE against Pythae and the plain keras.io way.

    python benchmarks/training_throughput.py                    # writes benchmarks/training_throughput.md
    python benchmarks/training_throughput.py --steps 25 --warmup 5 --runs 5 --out benchmarks/training_throughput.md

What is timed (images per second of training, batch 128, Adam lr 1e-3, MNIST train
split dynamically binarized, the vae_mnist networks: two stride-2 4x4 convolutions
32/64, dense 256, latent 32, swish, 1.7M parameters):

- ``ours_jit`` / ``ours_nojit``: `zoo.models.VAE` built from the vae_mnist recipe and
  trained the way users train it, `model.fit` on
  `zoo.data.load("mnist", "train", 128, "dynamic_binarize")`, with `jit_compile`
  on (the recipe's setting) and off.
- ``keras_io_jit`` / ``keras_io_nojit``: the same networks (built by `zoo.nets`, so
  they are identical) in the plain Keras pattern: a `Sampling` layer and a
  `train_step` with binary cross-entropy summed over pixels plus the analytic
  Gaussian KL written with `keras.ops`, no TensorFlow Probability. Same data
  pipeline. The ratio to ours is what the TFP distributions (and the zoo's model
  machinery) cost.
- ``pythae_trainer``: Pythae's `VAE` with encoder/decoder modules mirroring the
  layers exactly (same kernels, strides, padding, channels, dense sizes, SiLU =
  swish), BCE reconstruction, trained by `pythae.trainers.BaseTrainer` (its
  DataLoader of per-image `__getitem__` with dynamic binarization, progress bar and
  callbacks; its end-of-epoch model copy and final save fall outside the timed
  steps, and the save is switched off so that nothing is written).
- ``pythae_loop``: the same Pythae model in a plain torch loop
  (`model({"data": x}).loss`, `backward`, `step`) on random batches drawn from an
  in-memory tensor and binarized with one `torch.bernoulli` call: the fastest fair
  way to train it.
- diagnostics for ours: ``ours_jit_cached`` (20 pre-binarized batches cached and
  repeated: an upper bound on what a faster input pipeline could give, not a
  training protocol) and ``ours_jit_spe8`` (`steps_per_execution=8`).

Protocol: every contender is set up once; then for each of `--runs` rounds every
contender trains `--warmup` steps followed by `--steps` timed steps, one after
the other in the same process (A, B, C, A, B, C, ...), so that slow drifts of the
machine hit all of them alike. A figure is the median over rounds of the timed
images per second, with the min-max over rounds; a ratio is the median of the
per-round ratios (paired within a round). TensorFlow and torch use all cores
(torch.set_num_threads(cores); TensorFlow's default pools).

Also: the cost of the test-set likelihood evaluation
(`zoo.evaluate.importance_sampled_log_likelihood` at k=5000 on the vae_mnist
preset) on a few test images, extrapolated to the 10,000-image test set, and
(unless --no-explore) a sweep for ``ours_jit`` and ``ours_nojit`` over TensorFlow
thread settings, oneDNN's custom ops (TF_ENABLE_ONEDNN_OPTS=1; off by default in
this TensorFlow) and mixed_bfloat16, each in a fresh process (they must be set
before TensorFlow starts). `--onednn` runs the whole comparison with oneDNN on.

The 1-minute load average is recorded at the start; above 0.5 the table carries a
warning that the machine was busy and the numbers are not a clean measurement.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import json
import logging
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run as `python benchmarks/training_throughput.py`: this checkout's packages
    sys.path.insert(0, ROOT)
_SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "datasets"))
if not os.environ.get("ZOO_DATA_DIR") and os.path.isdir(_SHARED):
    os.environ["ZOO_DATA_DIR"] = _SHARED

from benchmarks.machine import BUSY_LOAD, ONEDNN, cores, cpu_name, load_average, versions  # noqa: E402

BATCH_SIZE = 128
LEARNING_RATE = 1e-3
RECIPE = "vae_mnist"

MAIN = ["ours_jit", "ours_nojit", "keras_io_jit", "keras_io_nojit", "pythae_trainer", "pythae_loop"]
DIAGNOSTIC = ["ours_jit_cached", "ours_jit_spe8"]
ALL = MAIN + DIAGNOSTIC
LABELS = {
    "ours_jit": "ours: `zoo.models.VAE`, `model.fit`, jit_compile=True (the recipe's setting)",
    "ours_nojit": "ours: `zoo.models.VAE`, `model.fit`, jit_compile=False",
    "keras_io_jit": "keras.io pattern (no TFP), `model.fit`, jit_compile=True",
    "keras_io_nojit": "keras.io pattern (no TFP), `model.fit`, jit_compile=False (Keras' `auto` on a CPU)",
    "pythae_trainer": "Pythae `VAE`, `BaseTrainer`",
    "pythae_loop": "Pythae `VAE`, plain torch loop",
    "ours_jit_cached": "diagnostic: ours, jit, 20 cached pre-binarized batches repeated",
    "ours_jit_spe8": "diagnostic: ours, jit, steps_per_execution=8",
}
# The sweep run in fresh processes: (label, extra arguments, environment).
# oneDNN's custom TensorFlow ops are off by default in this TensorFlow build
# (TF_ENABLE_ONEDNN_OPTS unset); the other rows set it to 0 explicitly.
EXPLORE = [
    ("defaults (TensorFlow threads intra/inter 0/0, oneDNN off)", [], {ONEDNN: "0"}),
    ("threads intra 2, inter 1", ["--tf-threads", "2,1"], {ONEDNN: "0"}),
    ("threads intra 1, inter 1", ["--tf-threads", "1,1"], {ONEDNN: "0"}),
    ("oneDNN on (TF_ENABLE_ONEDNN_OPTS=1)", [], {ONEDNN: "1"}),
    ("mixed_bfloat16", ["--bf16"], {ONEDNN: "0"}),
]
SWEEP_KEYS = ["ours_jit", "ours_nojit"]


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


# --------------------------------------------------------------------------- contenders


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


def make_contenders(keys, bf16=False):
    """{key: (runner, parameter count)} for the requested contender keys."""
    import keras

    import zoo

    out = {}
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
            model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile="_jit" in key,
                          steps_per_execution=spe)
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


def measure(contenders: dict, warmup: int, steps: int, runs: int, log=print, cpu=None) -> dict:
    """{key: [images/s per round]}; rounds alternate over the contenders.

    `cpu`, a dict, receives {key: [process CPU milliseconds per training step per round]}
    (all threads; it includes thread pools' spin-waiting)."""
    results = {key: [] for key in contenders}
    cpu = {} if cpu is None else cpu
    for r in range(runs):
        for key, (runner, _) in contenders.items():
            seconds, cpu_seconds = runner.run(warmup, steps)
            results[key].append(steps * BATCH_SIZE / seconds)
            cpu.setdefault(key, []).append(1000 * cpu_seconds / steps)
            log(f"round {r + 1}/{runs} {key}: {results[key][-1]:.0f} images/s, {cpu[key][-1]:.1f} CPU-ms/step")
    return results


def measure_nll(num_images: int, k: int, runs: int, log=print) -> dict | None:
    """Images/s of the k-sample importance-sampled log-likelihood on the vae_mnist preset."""
    import zoo
    from zoo.evaluate.likelihood import importance_sampled_log_likelihood

    try:
        model = zoo.load(RECIPE)
    except Exception as e:  # noqa: BLE001 - reported in the table
        log(f"IS-NLL skipped: cannot load preset {RECIPE}: {e}")
        return {"skipped": f"cannot load preset `{RECIPE}`: {e}"}
    x, _ = zoo.data.load_numpy("mnist", "test", "dynamic_binarize", take=num_images)
    importance_sampled_log_likelihood(model, x[:1], k=min(k, 100))  # kernels warm
    rates = []
    for r in range(runs):
        start = time.perf_counter()
        log_px = importance_sampled_log_likelihood(model, x, k=k)
        rates.append(num_images / (time.perf_counter() - start))
        log(f"IS-NLL round {r + 1}/{runs}: {rates[-1]:.2f} images/s, NLL {-log_px.mean():.2f}")
    return {"images": num_images, "k": k, "rates": rates}


# --------------------------------------------------------------------------- report


def summary(values):
    return statistics.median(values), min(values), max(values)


def paired_ratios(results, a, b):
    """Per-round images/s ratios a / b (paired within a round)."""
    if a not in results or b not in results:
        return None
    return [x / y for x, y in zip(results[a], results[b])]


def _fmt(v, digits=0):
    return f"{v:,.{digits}f}"


def render(info: dict, results: dict, params: dict, nll, explore, args, cpu=None) -> str:
    lines = ["# Training throughput", ""]
    # Only the load before the run counts: during it, the benchmark itself keeps both cores busy.
    busy = info["load_start"] > BUSY_LOAD
    if busy:
        lines += [f"> **WARNING: the machine was busy** (1-minute load average {info['load_start']:.2f} at the start, "
                  f"{info['load_end']:.2f} at the end; above {BUSY_LOAD}). These numbers are provisional and not a "
                  "clean measurement: rerun on an idle machine.", ""]
    v = info["versions"]
    lines += [
        f"Machine: {info['cpu']}, {info['cores']} cores, {platform.system()} {platform.machine()}; "
        + ", ".join(f"{k} {val}" for k, val in v.items()) + ". "
        + f"1-minute load average {info['load_start']:.2f} at the start, {info['load_end']:.2f} at the end.",
        "",
        f"Model: the `{RECIPE}` networks (two stride-2 4x4 convolutions 32/64, dense 256, latent 32, swish), "
        f"batch {BATCH_SIZE}, Adam lr {LEARNING_RATE:g}, MNIST train split dynamically binarized. Parameters: "
        + ", ".join(f"{k} {n:,}" for k, n in params.items()) + ".",
        "",
        f"Protocol: per round, each contender trains {args.warmup} warm-up steps then {args.steps} timed steps, "
        f"contenders alternating within one process; {args.runs} rounds. Images/s: median over rounds, spread "
        "min-max over rounds. Ratios: median (min-max) of the per-round ratios. TensorFlow threads: "
        f"{info['tf_threads']}; torch threads: {info['torch_threads']}.",
        "",
        "Same objective, checked: the keras.io-pattern model computes ours' per-example loss and gradients on "
        "the same batch and noise (`tests/test_benchmarks.py`); it has the same networks (`zoo.nets`), posterior "
        "scale softplus(raw) + 1e-4 and KL warm-up, and writes the loss with `keras.ops` instead of `tfd` "
        "objects. Pythae's model differs only where Pythae fixes it: log-variance posterior, BCE on sigmoid "
        "probabilities, NCHW layout, no KL warm-up. Pythae's trainer runs its own DataLoader over a dataset "
        "whose `__getitem__` binarizes each image afresh (`torch.bernoulli`); its end-of-epoch model copy is "
        "outside the timed steps and its final save is switched off.",
        "",
        f"Command: `python benchmarks/training_throughput.py {' '.join(info['argv'])}`, {info['date']}, "
        f"{info['wall']:.0f} s wall.",
        "",
        "CPU-ms/step: process CPU time (all threads, including thread pools' spin-waiting) per 128-image step, "
        "median over rounds: the work each contender spends per step, beside its wall-clock rate.",
        "",
        "| contender | images/s (median) | spread min-max | vs ours_jit | CPU-ms/step |",
        "|---|---:|---:|---:|---:|",
    ]
    for key in [k for k in ALL if k in results]:
        med, lo, hi = summary(results[key])
        rel = paired_ratios(results, key, "ours_jit")
        rel_s = f"{statistics.median(rel):.2f}x" if rel else ""
        cpu_s = f"{statistics.median(cpu[key]):.1f}" if cpu and key in cpu else ""
        lines.append(f"| `{key}`: {LABELS[key]} | {_fmt(med)} | {_fmt(lo)}-{_fmt(hi)} | {rel_s} | {cpu_s} |")
    lines += [""]

    ratio_rows = []
    for a, b, what in [
        ("ours_jit", "pythae_trainer", "ours (jit) / Pythae trainer"),
        ("ours_jit", "pythae_loop", "ours (jit) / Pythae plain torch loop"),
        ("ours_nojit", "pythae_trainer", "ours (no jit) / Pythae trainer"),
        ("ours_nojit", "pythae_loop", "ours (no jit) / Pythae plain torch loop"),
        ("ours_jit", "keras_io_jit", "ours / keras.io pattern, both jit"),
        ("ours_nojit", "keras_io_nojit", "ours / keras.io pattern, both without jit"),
        ("ours_jit", "keras_io_nojit", "ours (jit) / keras.io pattern as Keras runs it by default on CPU (no jit)"),
    ]:
        r = paired_ratios(results, a, b)
        if not r:
            continue
        med, lo, hi = summary(r)
        overhead = cpu_overhead = ""
        if b.startswith("keras_io"):
            # Time overhead of ours relative to the plain pattern: t_ours / t_plain - 1.
            overhead = f"{(1 / med - 1) * 100:+.1f}%"
            if cpu and a in cpu and b in cpu:
                cpu_overhead = f"{(statistics.median([x / y for x, y in zip(cpu[a], cpu[b])]) - 1) * 100:+.1f}%"
        ratio_rows.append(f"| {what} | {med:.3f} | {lo:.3f}-{hi:.3f} | {overhead} | {cpu_overhead} |")
    if ratio_rows:
        lines += ["| ratio of images/s | median | spread min-max | time overhead of ours | CPU-time overhead of ours |",
                  "|---|---:|---:|---:|---:|", *ratio_rows, ""]

    if nll and "skipped" in nll:
        lines += [f"Likelihood evaluation: not measured ({nll['skipped']}).", ""]
    elif nll:
        med, lo, hi = summary(nll["rates"])
        lines += [
            f"Likelihood evaluation: `zoo.evaluate.importance_sampled_log_likelihood` on the `{RECIPE}` preset, "
            f"k={nll['k']}, the first {nll['images']} test images in one batch, {len(nll['rates'])} runs (each call "
            "traces its own `tf.function`, included).",
            "",
            "| evaluation | images/s (median) | spread min-max | seconds for the 10,000-image test set |",
            "|---|---:|---:|---:|",
            f"| IS-NLL, k={nll['k']} | {med:.2f} | {lo:.2f}-{hi:.2f} | {10000 / med:,.0f} "
            f"(**extrapolated** from {nll['images']} images, = {10000 / med / 60:.0f} min) |",
            "",
        ]

    if explore:
        lines += [
            f"Sweep for ours ({', '.join(f'`{k}`' for k in SWEEP_KEYS)}): each setting in a fresh process "
            "(TensorFlow's threads, oneDNN and the dtype policy are fixed at start-up), settings one after the other "
            f"(the two contenders alternate within each), {explore['runs']} rounds of {args.warmup}+{args.steps} "
            "steps. Fresh processes do not alternate with each other: read differences under ~10% as drift.",
            "",
            "| setting | contender | images/s (median) | spread min-max | vs defaults | CPU-ms/step |",
            "|---|---|---:|---:|---:|---:|",
        ]
        base = explore["rows"][0][1] or {}
        for label, rates, error, cpu_ms in explore["rows"]:
            if error:
                lines.append(f"| {label} | | failed: {error} | | | |")
                continue
            for key in SWEEP_KEYS:
                med, lo, hi = summary(rates[key])
                rel = f"{med / statistics.median(base[key]):.2f}x" if key in base else ""
                lines.append(f"| {label} | `{key}` | {_fmt(med)} | {_fmt(lo)}-{_fmt(hi)} | {rel} | "
                             f"{statistics.median(cpu_ms[key]):.1f} |")
        lines.append("")

    lines += ["## What this shows", ""]
    if busy:
        lines += ["(Computed from the numbers above, which were taken on a busy machine: treat them as "
                  "untested until an idle rerun.)", ""]
    lines += [*findings(results, explore, cpu), ""]
    return "\n".join(lines)


def _verdict(ratios) -> str:
    """How a list of paired ratios a/b reads: only a spread that excludes 1 is a difference."""
    lo, hi = min(ratios), max(ratios)
    if lo > 1:
        return "faster in every round"
    if hi < 1:
        return "slower in every round"
    return f"not consistently faster or slower (rounds range {lo:.2f}-{hi:.2f})"


def findings(results, explore, cpu=None) -> list[str]:
    """Plain-language statements computed from the numbers (no hand-written claims)."""
    out = []

    def pr(a, b):
        return paired_ratios(results, a, b)

    r = pr("ours_jit", "ours_nojit")
    if r:
        out.append(f"- `jit_compile=True` (XLA) vs `False` for ours: {statistics.median(r):.2f}x the images/s, "
                   f"{_verdict(r)}.")
    for py in ("pythae_trainer", "pythae_loop"):
        best = max((k for k in ("ours_jit", "ours_nojit") if k in results),
                   key=lambda k: statistics.median(results[k]), default=None)
        r = pr(best, py) if best else None
        if r:
            out.append(f"- Ours (`{best}`, the faster of jit on/off) vs `{py}`: {statistics.median(r):.2f}x its "
                       f"images/s, {_verdict(r)}.")
    for a, b in (("ours_jit", "keras_io_jit"), ("ours_nojit", "keras_io_nojit")):
        r = pr(a, b)
        if r:
            overhead = (1 / statistics.median(r) - 1) * 100
            goal = "within" if overhead < 5 else "over"
            line = (f"- Cost of TFP and the zoo's model machinery (`{a}` vs `{b}`): {overhead:+.1f}% time per "
                    f"image (median of paired rounds; ours is {_verdict(r)}): {goal} the 5% goal")
            if cpu and a in cpu and b in cpu:
                cpu_overhead = (statistics.median([x / y for x, y in zip(cpu[a], cpu[b])]) - 1) * 100
                line += f"; in CPU time per step {cpu_overhead:+.1f}%"
            out.append(line + ".")
    r = pr("ours_jit_cached", "ours_jit")
    if r:
        out.append(f"- Cached batches instead of the `tf.data` pipeline (upper bound of any input-pipeline "
                   f"speed-up): {statistics.median(r):.2f}x, {_verdict(r)}.")
    r = pr("ours_jit_spe8", "ours_jit")
    if r:
        out.append(f"- `steps_per_execution=8` (less per-step Python/callback work): {statistics.median(r):.2f}x, "
                   f"{_verdict(r)}.")
    if explore and explore["rows"][0][1]:
        base = explore["rows"][0][1]
        best = max(((label, key, statistics.median(rates[key])) for label, rates, _, _ in explore["rows"] if rates
                    for key in SWEEP_KEYS), key=lambda t: t[2])
        for label, rates, _, _ in explore["rows"][1:]:
            if rates:
                rel = ", ".join(f"`{k}` {statistics.median(rates[k]) / statistics.median(base[k]):.2f}x"
                                for k in SWEEP_KEYS)
                out.append(f"- {label}: {rel} the images/s of the defaults (fresh processes: differences under "
                           "~10% are within drift).")
        out.append(f"- Fastest setting of the sweep: {best[0]}, `{best[1]}`, {_fmt(best[2])} images/s.")
    return out


def write_atomic(path: str, text: str):
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".training_throughput.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def run_explore(args, log=print) -> dict:
    """Each EXPLORE setting in a fresh process, measuring SWEEP_KEYS alternately there.

    rows: (label, {key: images/s per round} or None, error or None, {key: CPU-ms/step per round})."""
    rows = []
    runs = max(1, min(args.runs, args.explore_runs))
    for label, extra, env in EXPLORE:
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "result.json")
            cmd = [sys.executable, os.path.abspath(__file__), "--only", ",".join(SWEEP_KEYS),
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--runs", str(runs),
                   "--nll-images", "0", "--no-explore", "--json", out_json, *extra]
            log(f"sweep: {label}")
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
            if proc.returncode != 0 or not os.path.exists(out_json):
                error = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
                rows.append((label, None, error, None))
                continue
            with open(out_json) as f:
                child = json.load(f)
            rows.append((label, child["results"], None, child["cpu_ms_per_step"]))
    return {"runs": runs, "rows": rows}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=25, help="timed training steps per contender per round")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before them in every round (>= 1)")
    p.add_argument("--runs", type=int, default=5, help="rounds (the median is over these)")
    p.add_argument("--out", default=None,
                   help="the markdown table to write (default benchmarks/training_throughput.md; with --json and "
                        "no --out, no table is written)")
    p.add_argument("--only", default=None,
                   help=f"comma-separated contenders (default: all; Pythae ones skipped when not installed): {','.join(ALL)}")
    p.add_argument("--nll-images", type=int, default=10, help="test images for the IS-NLL row (0 skips it)")
    p.add_argument("--nll-k", type=int, default=5000, help="importance samples for the IS-NLL row")
    p.add_argument("--nll-runs", type=int, default=3, help="runs of the IS-NLL timing")
    p.add_argument("--no-explore", action="store_true", help="skip the thread/bfloat16 sweep (fresh processes)")
    p.add_argument("--explore-runs", type=int, default=2, help="rounds per sweep setting (at most --runs)")
    p.add_argument("--tf-threads", default=None, metavar="INTRA,INTER",
                   help="TensorFlow intra/inter-op threads (0 = TensorFlow's default)")
    p.add_argument("--bf16", action="store_true", help="build the Keras models under mixed_bfloat16")
    p.add_argument("--onednn", action="store_true",
                   help="turn on TensorFlow's oneDNN custom ops (TF_ENABLE_ONEDNN_OPTS=1; needs a fresh process)")
    p.add_argument("--json", default=None, help="also write raw results as JSON (used by the sweep)")
    args = p.parse_args(argv)
    if args.steps < 1 or args.runs < 1 or args.warmup < 1:
        p.error("--steps, --runs and --warmup must be >= 1")
    if args.nll_images < 0 or args.nll_k < 1 or args.nll_runs < 1:
        p.error("--nll-images must be >= 0, --nll-k and --nll-runs >= 1")
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        unknown = [k for k in keys if k not in ALL]
        if unknown:
            p.error(f"unknown contender(s) {unknown}; choose from {ALL}")
        args.only = keys
    if args.tf_threads is not None:
        try:
            intra, inter = (int(v) for v in args.tf_threads.split(","))
            if intra < 0 or inter < 0:
                raise ValueError
        except ValueError:
            p.error(f"--tf-threads must be INTRA,INTER with non-negative integers, got {args.tf_threads!r}")
        args.tf_threads = (intra, inter)
    if args.out is None and args.json is None:
        args.out = os.path.join(HERE, "training_throughput.md")
    return args


def main(argv=None, log=None):
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    args = parse_args(argv)
    t0 = time.time()
    load_start = load_average()
    if load_start > BUSY_LOAD:
        log(f"WARNING: 1-minute load average is {load_start:.2f} (> {BUSY_LOAD}): the machine is busy, timings "
            "will be contaminated")

    if args.onednn:
        if "tensorflow" in sys.modules:
            raise SystemExit("--onednn must be set before TensorFlow is imported: run the script as a command")
        os.environ[ONEDNN] = "1"
    import tensorflow as tf

    if args.tf_threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.tf_threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(args.tf_threads[1])

    keys = args.only or list(ALL)
    if not pythae_available():
        skipped = [k for k in keys if k.startswith("pythae")]
        if skipped:
            log(f"torch/pythae not importable: skipping {skipped} (pip install -r benchmarks/requirements-peers.txt)")
        keys = [k for k in keys if not k.startswith("pythae")]
    if not keys:
        raise SystemExit("nothing to measure")

    contenders = make_contenders(keys, bf16=args.bf16)
    # One parameter count per family (ours, keras.io pattern, Pythae).
    families = {}
    for key, (_, n) in contenders.items():
        families.setdefault({"ours": "ours", "keras": "keras.io pattern", "pythae": "Pythae"}[key.split("_")[0]], n)
    cpu = {}
    results = measure(contenders, args.warmup, args.steps, args.runs, log, cpu)
    nll = measure_nll(args.nll_images, args.nll_k, args.nll_runs, log) if args.nll_images > 0 else None

    if args.json:
        write_atomic(args.json, json.dumps({"results": results, "cpu_ms_per_step": cpu, "params": families, "nll": nll}))
        if args.out is None:
            return results  # a sweep child: no table
    explore = None if args.no_explore else run_explore(args, log)

    torch_threads = "n/a"
    if any(k.startswith("pythae") for k in results):
        import torch

        torch_threads = str(torch.get_num_threads())
    info = {
        "cpu": cpu_name(),
        "cores": cores(),
        "versions": versions(),
        "load_start": load_start,
        "load_end": load_average(),
        "tf_threads": "intra {} / inter {} (0 = default: one per core)".format(
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads()) + (", mixed_bfloat16" if args.bf16 else "")
        + f"; {ONEDNN}={os.environ.get(ONEDNN, 'unset (oneDNN custom ops off)')}",
        "torch_threads": torch_threads,
        "argv": list(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "wall": time.time() - t0,
    }
    text = render(info, results, families, nll, explore, args, cpu)
    write_atomic(args.out, text)
    log(f"wrote {args.out} ({info['wall']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
