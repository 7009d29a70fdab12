"""Training throughput of the vae_mnist VAE against Pythae and the plain keras.io way.

    python benchmarks/training_throughput.py                    # writes benchmarks/training_throughput.md
    python benchmarks/training_throughput.py --steps 25 --warmup 5 --runs 5 --out benchmarks/training_throughput.md

What is timed (images per second of training, batch 128, Adam lr 1e-3, MNIST train
split dynamically binarized, the vae_mnist networks: two stride-2 4x4 convolutions
32/64, dense 256, latent 32, swish, 1.7M parameters):

- ``ours_jit`` / ``ours_nojit``: `zoo.models.VAE` built from the vae_mnist recipe and
  trained the way users train it, `model.fit` on
  `zoo.data.load("mnist", "train", 128, "dynamic_binarize")`, with the optimizer
  `zoo train` uses (`zoo.optimizers.FusedAdam`: Keras' Adam update, fused), with `jit_compile`
  on (XLA) and off (what the recipe's "auto" gives on a CPU, i.e. `zoo train`'s default here).
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
thread settings, oneDNN's custom ops (TF_ENABLE_ONEDNN_OPTS=1; TensorFlow's
default depends on the CPU: off on plain AVX2, on with AVX-512) and mixed_bfloat16,
each in a fresh process (they must be set before TensorFlow starts).
`--onednn` runs the whole comparison with oneDNN on.

The 1-minute load average is recorded at the start; above 0.5 the table carries a
warning that the machine was busy and the numbers are not a clean measurement.

This script is the command line. The benchmark's parts are in benchmarks/throughput/:
`contenders` (what is trained and how each steps), `harness` (the rounds, the sweep
and their statistics) and `report` (the markdown page).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run as `python benchmarks/training_throughput.py`: this checkout's packages
    sys.path.insert(0, ROOT)
_SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "datasets"))
if not os.environ.get("ZOO_DATA_DIR") and os.path.isdir(_SHARED):
    os.environ["ZOO_DATA_DIR"] = _SHARED

from benchmarks.machine import (  # noqa: E402
    BUSY_LOAD,
    ONEDNN,
    cores,
    cpu_name,
    load_average,
    onednn_state,
    versions,
)
from benchmarks.throughput.contenders import (  # noqa: E402
    ALL,
    IN_CHILD_PROCESS,
    make_contenders,
    pythae_available,
    serve,
)
from benchmarks.throughput.harness import measure, measure_nll, run_explore  # noqa: E402
from benchmarks.throughput.report import render  # noqa: E402
from zoo.io import write_json, write_text  # noqa: E402


def parse_args(argv=None):
    """The command line, checked (argparse exits with a message on a bad one)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=25, help="timed training steps per contender per round")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before them in every round (>= 1)")
    p.add_argument("--runs", type=int, default=5, help="rounds (the median is over these)")
    p.add_argument("--out", default=None,
                   help="the markdown table to write (default benchmarks/training_throughput.md; with --json and "
                        "no --out, no table is written)")
    p.add_argument("--only", default=None,
                   help="comma-separated contenders (default: all; Pythae ones skipped when not installed): "
                        + ",".join(ALL))
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
    p.add_argument("--serve", default=None, choices=sorted(IN_CHILD_PROCESS), help=argparse.SUPPRESS)
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
    """Measures the contenders, writes the table (and/or the JSON); returns {key: [images/s per round]}."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    args = parse_args(argv)
    if args.serve:  # a child process of another run of this script (contenders.ChildProcess)
        serve(args.serve, bf16=args.bf16)
        return {}
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

    contenders = make_contenders(keys, bf16=args.bf16, script=os.path.abspath(__file__))
    # One parameter count per family (ours, keras.io pattern, Pythae).
    families = {}
    for key, (_, n) in contenders.items():
        families.setdefault({"ours": "ours", "keras": "keras.io pattern", "pythae": "Pythae"}[key.split("_")[0]], n)
    cpu = {}
    results = measure(contenders, args.warmup, args.steps, args.runs, log, cpu)
    nll = measure_nll(args.nll_images, args.nll_k, args.nll_runs, log) if args.nll_images > 0 else None

    if args.json:
        write_json(args.json, {"results": results, "cpu_ms_per_step": cpu, "params": families, "nll": nll})
        if args.out is None:
            return results  # a sweep child: no table
    explore = None if args.no_explore else run_explore(args, os.path.abspath(__file__), log)

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
        + f"; oneDNN custom ops {onednn_state()}",
        "torch_threads": torch_threads,
        "argv": list(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "wall": time.time() - t0,
    }
    write_text(args.out, render(info, results, families, nll, explore, args, cpu))
    log(f"wrote {args.out} ({info['wall']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
