"""Which recipes train faster in batch slices on this machine's CPU: the measurement
behind each recipe's `training.batch_slices`.

    python benchmarks/batch_slices.py                       # writes benchmarks/batch_slices.md
    python benchmarks/batch_slices.py --recipes vae_mnist,vae_cifar10 --rounds 3

`zoo train` cuts each batch into one slice per core where a recipe's `"batch_slices"`
is "auto" and the step may be sliced (`zoo.training.resolve_batch_slices`: no
accelerator, no XLA, one device, a loss that is a mean of per-example losses), and
gives TensorFlow one thread per op and one inter-op thread per slice. For each recipe
"auto" would slice here (default: all of them): its model, optimizer and batches as
`zoo train` builds them, without XLA (`xla_choice.recipe_fit`), in two child processes
of this script, since TensorFlow fixes its threads when it starts: the whole batch
with TensorFlow's default threads, and the batch in slices with `zoo train`'s threads.
Rounds alternate between the two children (each sleeps on its pipe while the other
trains). A figure is the median over rounds; the ratio the median of the per-round
ratios. A recipe keeps "auto" unless its slices were slower here (then 1).
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
if ROOT not in sys.path:  # run as `python benchmarks/batch_slices.py`: this checkout's packages
    sys.path.insert(0, ROOT)

from benchmarks.xla_choice import SAME_WITHIN  # noqa: E402  (imports no TensorFlow)
from benchmarks.xla_choice import verdict as speed_up_verdict  # noqa: E402
from zoo.cli import use_onednn_by_default  # noqa: E402


def sliced_recipes() -> list[str]:
    """The recipes whose "auto" slices batches on this machine (whatever their own setting)."""
    from zoo.training import list_recipes, load_recipe, resolve_batch_slices, resolve_jit_compile

    names = []
    for name in list_recipes():
        recipe = load_recipe(name)
        jit = resolve_jit_compile(recipe["training"].get("jit_compile", False))
        if resolve_batch_slices("auto", recipe, jit, "one_device") > 1:
            names.append(name)
    return names


def parse_args(argv=None):
    """The command line, checked (argparse exits 2 with a message on a bad one)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", default=None,
                   help="comma-separated recipe names (default: every recipe whose \"auto\" slices here)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per setting per round")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before them in every round (>= 1)")
    p.add_argument("--rounds", type=int, default=5, help="rounds (the median is over these)")
    p.add_argument("--out", default=os.path.join(HERE, "batch_slices.md"), help="the markdown table to write")
    p.add_argument("--serve", default=None, help=argparse.SUPPRESS)  # a child: this recipe ...
    p.add_argument("--slices", type=int, default=1, help=argparse.SUPPRESS)  # ... in this many slices
    args = p.parse_args(argv)
    if min(args.steps, args.warmup, args.rounds) < 1:
        p.error("--steps, --warmup and --rounds must be >= 1")
    if args.serve:
        return args
    candidates = sliced_recipes()
    if args.recipes:
        args.recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
        others = [r for r in args.recipes if r not in candidates]
        if others:
            p.error(f"{others}: not sliced here (unknown, or XLA, or a loss that reads the whole batch); "
                    f"choose from {candidates}")
    else:
        args.recipes = candidates
    if not args.recipes:
        p.error("no recipe slices its batches on this machine (one core, or an accelerator)")
    return args


def serve(name: str, slices: int):
    """A child: the recipe's timed fit in `slices` slices, set up as `zoo train` sets it up."""
    from benchmarks.throughput.contenders import serve_rounds
    from benchmarks.xla_choice import recipe_fit
    from zoo import data
    from zoo.training import load_recipe, use_one_thread_per_op

    if use_one_thread_per_op(slices) != slices:  # before TensorFlow starts
        raise RuntimeError("TensorFlow started before its threads were set")
    recipe = load_recipe(name)
    fit = recipe_fit(recipe, False, data.dataset_for(recipe).gather("train"), batch_slices=slices)
    fit.run(1, 1)  # traced outside the timed rounds
    serve_rounds(fit, {"slices": slices})


def measure(name: str, args, slices: int, log=print) -> dict:
    """{"whole": [s/step per round], "sliced": [...]} for one recipe, from two children."""
    from benchmarks.throughput.contenders import ChildProcess

    def child(n):
        return ChildProcess([sys.executable, os.path.abspath(__file__), "--serve", name, "--slices", str(n)])

    children = {"whole": child(1), "sliced": child(slices)}
    out = {key: [] for key in children}
    try:
        for r in range(args.rounds):
            for key, runner in children.items():
                out[key].append(runner.run(args.warmup, args.steps)[0] / args.steps)
                log(f"{name} round {r + 1}/{args.rounds} {key}: {1000 * out[key][-1]:.1f} ms/step")
    finally:
        for runner in children.values():  # each holds its recipe's data: freed before the next
            runner.close()
    return out


def verdict(ratio: float) -> str:
    """What a speed-up ratio of slices over the whole batch says (XLA's table's rule)."""
    return speed_up_verdict(ratio, "slices")


def setting_for(ratio: float):
    """The recipe setting a measured speed-up gives: slices unless they were slower here."""
    return 1 if verdict(ratio) == "slices slower" else "auto"


def render(rows, args, machine: str, slices: int, seconds: float) -> str:
    """The markdown page."""
    lines = [
        "# Batch slices or not, per recipe, on this machine's CPU",
        "",
        f"Machine: {machine}.",
        "",
        f"Command: `python benchmarks/batch_slices.py --steps {args.steps} --warmup {args.warmup} "
        f"--rounds {args.rounds}`, {time.strftime('%Y-%m-%d')}, {seconds:.0f} s wall.",
        "",
        "Each recipe's model, optimizer and batches as `zoo train` builds them, without XLA, in two processes: "
        f"the whole batch with TensorFlow's default threads, and {slices} slices with one thread per op and "
        f"{slices} inter-op threads (`zoo train`'s setting here); rounds alternate the two. ms/step: median over "
        "rounds; speed-up: median of the per-round ratios (whole-batch time / sliced time), called a difference "
        f"beyond {SAME_WITHIN:.0%}.",
        "",
        f"| recipe | batch | ms/step, whole batch | ms/step, {slices} slices | slices' speed-up (min-max) | verdict | "
        "batch_slices it gives |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for name, batch, result in rows:
        ratios = [a / b for a, b in zip(result["whole"], result["sliced"])]
        ratio = statistics.median(ratios)
        lines.append(f"| `{name}` | {batch} | {1000 * statistics.median(result['whole']):.1f} | "
                     f"{1000 * statistics.median(result['sliced']):.1f} | {ratio:.2f}x "
                     f"({min(ratios):.2f}-{max(ratios):.2f}) | {verdict(ratio)} | `{json.dumps(setting_for(ratio))}` |")
    lines += ["", "The recipes' `training.batch_slices` is the last column (absent means \"auto\"; "
              "`tests/test_training.py` checks that they agree).", ""]
    return "\n".join(lines)


def main(argv=None, log=print) -> int:
    use_onednn_by_default()  # before anything imports TensorFlow (here and in the children)
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.slices)
        return 0
    from benchmarks.machine import cores, cpu_name, onednn_state, versions
    from zoo.io import write_text
    from zoo.training import load_recipe

    start = time.time()
    rows = [(name, load_recipe(name)["training"]["batch_size"], measure(name, args, cores(), log))
            for name in args.recipes]
    v = versions()
    machine = (f"{cpu_name()}, {cores()} cores; TensorFlow {v.get('TensorFlow')}, Keras {v.get('Keras')}; "
               f"oneDNN {onednn_state()}")
    write_text(args.out, render(rows, args, machine, cores(), time.time() - start))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
