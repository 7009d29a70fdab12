"""The report of the training-throughput benchmark: the markdown table and its findings.

`render` turns the harness' numbers into the page (benchmarks/training_throughput.md);
the plain-language findings at its end are computed from the numbers, never written
by hand, so a rerun cannot leave a stale claim behind.
"""

from __future__ import annotations

import platform
import statistics

from benchmarks.machine import BUSY_LOAD
from benchmarks.throughput.contenders import ALL, BATCH_SIZE, LABELS, LEARNING_RATE, RECIPE
from benchmarks.throughput.harness import SWEEP_KEYS, paired_ratios, summary


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
        "objects; it steps with Keras' Adam, ours with the same update fused as `zoo train` runs it "
        "(`zoo.optimizers.FusedAdam`). Pythae's model differs only where Pythae fixes it: log-variance "
        "posterior, BCE on sigmoid probabilities, NCHW layout, no KL warm-up. Pythae's trainer runs its own "
        "DataLoader over a dataset whose `__getitem__` binarizes each image afresh (`torch.bernoulli`); its "
        "end-of-epoch model copy is outside the timed steps and its final save is switched off.",
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
        ("ours_sliced", "pythae_trainer", "ours as `zoo train` runs it (sliced) / Pythae trainer"),
        ("ours_sliced", "pythae_loop", "ours as `zoo train` runs it (sliced) / Pythae plain torch loop"),
        ("ours_sliced", "ours_nojit", "ours, batch slices with a thread per op / one batch over all threads"),
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


def default_contender() -> tuple:
    """(what `zoo train` sets for the recipe on this machine, in words; the contender that runs the same)."""
    from zoo.training import load_recipe, resolve_batch_slices, resolve_jit_compile

    recipe = load_recipe(RECIPE)
    setting = recipe["training"].get("jit_compile", False)
    jit = resolve_jit_compile(setting)
    slices = resolve_batch_slices(recipe["training"].get("batch_slices", "auto"), recipe, jit, "one_device")
    what = f"the recipe's jit_compile {setting!r} and batch_slices {slices} on this machine"
    if jit:
        return what, "ours_jit"
    return what, "ours_sliced" if slices > 1 else "ours_nojit"


def findings(results, explore, cpu=None) -> list[str]:
    """Plain-language statements computed from the numbers (no hand-written claims)."""
    out = []

    def pr(a, b):
        return paired_ratios(results, a, b)

    r = pr("ours_jit", "ours_nojit")
    if r:
        out.append(f"- `jit_compile=True` (XLA) vs `False` for ours: {statistics.median(r):.2f}x the images/s, "
                   f"{_verdict(r)}.")
    setting, default = default_contender()
    for py in ("pythae_trainer", "pythae_loop"):
        r = pr(default, py)
        if r:
            out.append(f"- Ours as `zoo train` runs it here (`{default}`: {setting}) vs `{py}`: "
                       f"{statistics.median(r):.2f}x its images/s, {_verdict(r)}.")
    r = pr("ours_sliced", "ours_nojit")
    if r:
        out.append(f"- Batch slices, one per core, with one thread per op (`ours_sliced`) vs the whole batch's ops "
                   f"each spread over all cores (`ours_nojit`): {statistics.median(r):.2f}x the images/s, "
                   f"{_verdict(r)}.")
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
