"""Which recipes train faster with XLA on this machine: the measurement behind each
recipe's `training.jit_compile`.

    python benchmarks/xla_choice.py                         # writes benchmarks/xla_choice.md
    python benchmarks/xla_choice.py --recipes vae_mnist,vae_cifar10 --rounds 5

For each recipe: its model, optimizer and batches exactly as `zoo train` builds them
(`zoo.training.build_model`, `zoo.optimizers.FusedAdam`, `zoo.training.indexed_batches` over the real
training split), compiled twice, with `jit_compile=True` (XLA) and False; then
`--rounds` rounds, each training both `--warmup` untimed and `--steps` timed steps,
alternating within one fresh process per recipe. A figure is the median over rounds; the ratio is the
median of the per-round ratios (paired within a round). oneDNN is set as the `zoo`
command sets it (on unless TF_ENABLE_ONEDNN_OPTS is set), before TensorFlow starts.

A recipe's `"jit_compile": "auto"` means XLA only where TensorFlow sees an accelerator
(`zoo.training.resolve_jit_compile`); `true` means XLA everywhere. This table is how a
recipe is given one or the other (`setting_for`): `true` where XLA was faster on the
CPU, else "auto".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run as `python benchmarks/xla_choice.py`: this checkout's packages
    sys.path.insert(0, ROOT)

from zoo.cli import use_onednn_by_default  # noqa: E402  (imports no TensorFlow)

# XLA is called faster or slower only beyond this ratio; within it, "no difference".
SAME_WITHIN = 0.03


def parse_args(argv=None):
    """The command line, checked (argparse exits 2 with a message on a bad one)."""
    from zoo.training import list_recipes

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", default=None,
                   help="comma-separated recipe names (default: every recipe in zoo/recipes)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per setting per round")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before them in every round (>= 1)")
    p.add_argument("--rounds", type=int, default=5, help="rounds (the median is over these)")
    p.add_argument("--out", default=os.path.join(HERE, "xla_choice.md"), help="the markdown table to write")
    p.add_argument("--json", default=None, help=argparse.SUPPRESS)  # a worker's result file (one recipe)
    args = p.parse_args(argv)
    if min(args.steps, args.warmup, args.rounds) < 1:
        p.error("--steps, --warmup and --rounds must be >= 1")
    known = list_recipes()
    if args.recipes:
        args.recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
        unknown = [r for r in args.recipes if r not in known]
        if unknown:
            p.error(f"unknown recipe(s) {unknown}; choose from {known}")
    else:
        args.recipes = known
    return args


def recipe_fit(recipe: dict, jit: bool, train_split, batch_slices: int = 1):
    """A `KerasFit` (the throughput benchmark's timed `model.fit`) of the recipe's model,
    compiled as `zoo train` compiles it (but for `jit` and `batch_slices`), on the
    recipe's batches."""
    import keras

    from benchmarks.throughput.contenders import KerasFit
    from zoo.optimizers import FusedAdam
    from zoo.training import build_model, indexed_batches

    t = recipe["training"]
    num_examples, gather = train_split
    batches = indexed_batches(num_examples, gather, int(t["batch_size"]), recipe["preprocessing"],
                              int(t.get("seed", 0)), 0, 1000)
    keras.utils.set_random_seed(0)
    model = build_model(recipe)
    model.compile(optimizer=FusedAdam(float(t["learning_rate"])), jit_compile=jit, batch_slices=batch_slices)
    return KerasFit(model, batches)


def measure(recipe: dict, args, log=print) -> dict:
    """{"xla": [s/step per round], "no_xla": [...]} for one recipe."""
    from zoo import data

    train_split = data.dataset_for(recipe).gather("train")  # one copy of the images for both
    fits = {"xla": recipe_fit(recipe, True, train_split), "no_xla": recipe_fit(recipe, False, train_split)}
    for fit in fits.values():  # traced and compiled outside the timed rounds
        fit.run(1, 1)
    out = {key: [] for key in fits}
    for r in range(args.rounds):
        for key, fit in fits.items():
            out[key].append(fit.run(args.warmup, args.steps)[0] / args.steps)
            log(f"{recipe['name']} round {r + 1}/{args.rounds} {key}: {1000 * out[key][-1]:.1f} ms/step")
    return out


def verdict(ratio: float, what: str = "XLA") -> str:
    """What a speed-up ratio of `what` (XLA) over the alternative says."""
    if ratio > 1 + SAME_WITHIN:
        return f"{what} faster"
    if ratio < 1 - SAME_WITHIN:
        return f"{what} slower"
    return "no difference"


def setting_for(ratio: float):
    """The recipe setting a measured XLA speed-up on the CPU gives: XLA everywhere only
    where it was faster here, else XLA on accelerators only."""
    return True if verdict(ratio) == "XLA faster" else "auto"


def render(rows, args, machine: str, seconds: float) -> str:
    """The markdown page."""
    lines = [
        "# XLA or not, per recipe, on this machine's CPU",
        "",
        f"Machine: {machine}.",
        "",
        f"Command: `python benchmarks/xla_choice.py --steps {args.steps} --warmup {args.warmup} "
        f"--rounds {args.rounds}`, {time.strftime('%Y-%m-%d')}, {seconds:.0f} s wall.",
        "",
        "Each recipe's model, optimizer and batches as `zoo train` builds them, compiled with and without "
        "XLA; rounds alternate the two in one process. ms/step: median over rounds; speed-up: median of the "
        f"per-round ratios (no-XLA time / XLA time), called a difference beyond {SAME_WITHIN:.0%}.",
        "",
        "| recipe | batch | ms/step, XLA | ms/step, no XLA | XLA speed-up (min-max) | verdict | jit_compile it gives |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for name, batch, result in rows:
        ratios = [b / a for a, b in zip(result["xla"], result["no_xla"])]
        ratio = statistics.median(ratios)
        lines.append(f"| `{name}` | {batch} | {1000 * statistics.median(result['xla']):.1f} | "
                     f"{1000 * statistics.median(result['no_xla']):.1f} | {ratio:.2f}x "
                     f"({min(ratios):.2f}-{max(ratios):.2f}) | {verdict(ratio)} | `{json.dumps(setting_for(ratio))}` |")
    lines += ["", "The recipes' `training.jit_compile` is the last column (`tests/test_training.py` checks that they "
              "agree): `true` where XLA was faster here, else `\"auto\"`, XLA only where TensorFlow sees an "
              "accelerator (`zoo.training.resolve_jit_compile`).", ""]
    return "\n".join(lines)


def measure_in_fresh_process(name: str, args, log=print) -> dict:
    """`measure` of one recipe in a new process of this script: each recipe starts from a
    fresh TensorFlow, and its data and compiled graphs are freed with the process (the
    dSprites recipes hold ~3 GB each; all recipes in one process ran out of memory)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "result.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--recipes", name, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--rounds", str(args.rounds), "--json", result]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            log(line)
        if proc.returncode != 0:
            raise RuntimeError(f"measuring {name} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        with open(result) as f:
            return json.load(f)


def main(argv=None, log=print) -> int:
    use_onednn_by_default()  # before anything imports TensorFlow
    args = parse_args(argv)
    from zoo.io import write_json, write_text
    from zoo.training import load_recipe

    if args.json:  # a worker: one recipe, its result as JSON
        write_json(args.json, measure(load_recipe(args.recipes[0]), args, log))
        return 0
    from benchmarks.machine import cores, cpu_name, onednn_state, versions

    start = time.time()
    rows = []
    for name in args.recipes:
        rows.append((name, load_recipe(name)["training"]["batch_size"], measure_in_fresh_process(name, args, log)))
    v = versions()
    machine = (f"{cpu_name()}, {cores()} cores; TensorFlow {v.get('TensorFlow')}, Keras {v.get('Keras')}; "
               f"oneDNN {onednn_state()}")
    write_text(args.out, render(rows, args, machine, time.time() - start))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
