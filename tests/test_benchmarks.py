"""benchmarks/training_throughput.py (its parts in benchmarks/throughput/): the script
writes its table, and the plain keras.io-pattern model it compares against optimizes
the same objective as ours; the other benchmarks' tables and helpers."""

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import zoo
from benchmarks import machine
from benchmarks.throughput import contenders, report

from conftest import ROOT, load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("training_throughput")


def _numbers(cell: str) -> list[float]:
    return [float(v.replace(",", "")) for v in re.findall(r"\d[\d,]*\.?\d*", cell)]


def test_script_writes_table_with_positive_finite_rows(bench, tmp_path):
    keys = ["ours_jit", "ours_sliced", "keras_io_jit"]  # ours_sliced: in a child process of the script
    if contenders.pythae_available():
        keys += ["pythae_trainer", "pythae_loop"]
    out = tmp_path / "throughput.md"
    results = bench.main(["--steps", "2", "--warmup", "1", "--runs", "2", "--only", ",".join(keys),
                          "--nll-images", "2", "--nll-k", "20", "--nll-runs", "1", "--no-explore",
                          "--out", str(out)], log=lambda msg: None)
    assert sorted(results) == sorted(keys)
    assert all(len(v) == 2 and all(math.isfinite(x) and x > 0 for x in v) for v in results.values())

    text = out.read_text()
    assert text.startswith("# Training throughput")
    assert f"Machine: {machine.cpu_name()}, {machine.cores()} cores" in text  # the machine is noted
    assert [p.name for p in tmp_path.iterdir()] == ["throughput.md"]  # no temp file left behind
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\| `(\w+)`: .*?\| ([^|]+) \| ([^|]+) \|", line)
        if m:
            rows[m.group(1)] = (_numbers(m.group(2)), _numbers(m.group(3)))
    assert sorted(rows) == sorted(keys)
    for key, (median, spread) in rows.items():
        assert len(median) == 1 and median[0] > 0 and math.isfinite(median[0]), key
        lo, hi = spread
        assert 0 < lo <= median[0] <= hi, key
    ratio = [line for line in text.splitlines() if line.startswith("| ours / keras.io pattern, both jit")]
    assert len(ratio) == 1 and _numbers(ratio[0].split("|")[2])[0] > 0
    assert re.search(r"\| ours / keras\.io pattern, both jit \| [\d.]+ \| [\d.]+-[\d.]+ \| [+-]\d+\.\d%", ratio[0])
    if contenders.pythae_available():
        assert any(line.startswith("| ours (jit) / Pythae trainer |") for line in text.splitlines())
        # The findings compare Pythae with ours as `zoo train` runs it here.
        assert "- Ours as `zoo train` runs it here (`ours_sliced`: the recipe's jit_compile 'auto' and batch_slices " \
            f"{machine.cores()} on this machine) vs `pythae_trainer`" in text
    nll = [line for line in text.splitlines() if line.startswith("| IS-NLL, k=20 |")]
    assert len(nll) == 1 and "extrapolated" in nll[0] and _numbers(nll[0].split("|")[2])[0] > 0


def test_script_runs_from_anywhere_without_starting_tensorflow_on_import(tmp_path):
    """The entry point finds its parts when run as a script from another folder with no
    PYTHONPATH, and neither it nor its parts import TensorFlow or torch when imported:
    `--onednn` and the thread settings must come before TensorFlow starts."""
    script = os.path.join(ROOT, "benchmarks", "training_throughput.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert run.returncode == 0 and "--only" in run.stdout, run.stderr[-2000:]
    check = ("import runpy, sys; runpy.run_path(sys.argv[1]); "
             "assert not {'tensorflow', 'torch'} & set(sys.modules), sorted(sys.modules)")
    run = subprocess.run([sys.executable, "-c", check, script], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]


def test_busy_machine_is_flagged(bench):
    info = {"cpu": "x", "cores": 2, "versions": {}, "load_start": 1.7, "load_end": 0.1, "tf_threads": "0/0",
            "torch_threads": "n/a", "argv": [], "date": "today", "wall": 1.0}
    args = bench.parse_args(["--steps", "3", "--warmup", "1", "--runs", "2"])
    results = {"ours_jit": [100.0, 120.0]}
    assert "machine was busy" in report.render(info, results, {}, None, None, args)
    info["load_start"] = 0.2
    assert "machine was busy" not in report.render(info, results, {}, None, None, args)


def test_bad_arguments_are_refused(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--only", "ours_jit,tensorflow_one"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--warmup", "0"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--tf-threads", "2"])
    # oneDNN is fixed when TensorFlow starts: too late inside this process, and said so.
    with pytest.raises(SystemExit, match="before TensorFlow is imported"):
        bench.main(["--onednn", "--only", "ours_jit", "--out", os.devnull], log=lambda msg: None)


def _trained_ours():
    """The shipped vae_mnist (trained weights: its decoder depends on z, so the noise
    matters), else the recipe's model after a few steps."""
    from zoo import presets

    if "vae_mnist" in presets.list_models():
        return zoo.load("vae_mnist")
    ours = contenders.build_ours()
    ours.compile(optimizer="adam")
    x, _ = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=2048)
    ours.fit(x, epochs=1, batch_size=128, verbose=0)
    return ours


def test_keras_pattern_computes_our_loss_on_the_same_noise():
    ours = _trained_ours()
    plain = contenders.build_keras_pattern()
    assert ours.free_bits == 0 and ours.beta == 1.0  # the recipe's loss is recon + warm-up weight * KL
    for a, b in ((ours.encoder, plain.encoder), (ours.decoder, plain.decoder)):
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights]
        b.set_weights(a.get_weights())
    for model in (ours, plain):
        model.compile(optimizer="adam")
        model.optimizer.build(model.trainable_variables)
    # Mid KL warm-up, weight 1000/4690: ours counts its own steps, the Keras pattern the optimizer's.
    ours.schedule_step.assign(1000)
    plain.optimizer.iterations.assign(1000)
    assert float(ours.kl_weight()) == pytest.approx(1000 / 4690)
    assert float(plain.kl_weight()) == pytest.approx(1000 / 4690)

    x, _ = zoo.data.load_numpy("mnist", "train", "dynamic_binarize", take=32)
    x = tf.constant(x)
    seed = tf.constant([3, 7], tf.int32)
    ours_vars = ours.encoder.trainable_variables + ours.decoder.trainable_variables
    plain_vars = plain.encoder.trainable_variables + plain.decoder.trainable_variables

    with tf.GradientTape() as tape:
        t = ours.elbo_terms(x, seed=seed, training=True)
        ours_loss = tf.reduce_mean(t["reconstruction"] + ours.kl_weight() * t["kl"])
    ours_grads = tape.gradient(ours_loss, ours_vars)
    posterior = t["posterior"]
    noise = (t["z"] - posterior.mean()) / posterior.stddev()  # the standard-normal draw ours used
    with tf.GradientTape() as tape:
        plain_loss, reconstruction, kl = plain.loss_value(x, noise=noise, training=True)
    plain_grads = tape.gradient(plain_loss, plain_vars)

    np.testing.assert_allclose(reconstruction.numpy(), t["reconstruction"].numpy(), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(kl.numpy(), t["kl"].numpy(), rtol=1e-5, atol=1e-4)
    assert abs(float(plain_loss) - float(ours_loss)) < 1e-3
    for g_ours, g_plain, v in zip(ours_grads, plain_grads, ours_vars):
        scale = float(tf.reduce_max(tf.abs(g_ours))) + 1e-6
        assert float(tf.reduce_max(tf.abs(g_ours - g_plain))) <= 1e-3 * scale, v.path

    # The noise matters: another draw gives another loss (the comparison is not vacuous).
    other, _, _ = plain.loss_value(x, noise=tf.random.stateless_normal(noise.shape, [1, 2]), training=True)
    assert abs(float(other) - float(plain_loss)) > 0.05


def test_pythae_model_mirrors_our_networks():
    if not contenders.pythae_available():
        pytest.skip("torch/pythae not installed (benchmarks/requirements-peers.txt)")
    import torch

    ours = contenders.build_ours()
    model = contenders.build_pythae()
    assert contenders.count_parameters(model) == ours.encoder.count_params() + ours.decoder.count_params()
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    out = model({"data": x})
    assert tuple(out.recon_x.shape) == (4, 1, 28, 28)
    assert tuple(out.z.shape) == (4, 32)
    assert math.isfinite(float(out.loss.detach())) and float(out.loss.detach()) > 0


@pytest.mark.skipif(bool(os.environ.get("ZOO_PRESETS_DIR")), reason="checks the shipped presets")
def test_readme_presets_table_matches_the_model_cards():
    """README's numbers are the cards' numbers: rerun benchmarks/quality.py after a card changes."""
    from zoo.presets import list_models, read_metadata

    quality = load_benchmark("quality")
    cards = [(name, read_metadata(name)) for name in list_models()]
    readme = open(os.path.join(os.path.dirname(quality.__file__), "..", "README.md")).read()
    table = readme.split(quality.README_START, 1)[1].split(quality.README_END, 1)[0].strip()
    assert table == quality.readme_table(cards).strip(), "README presets table is stale: run benchmarks/quality.py"
    for name, _ in cards:
        assert f"`{name}`" in table


def test_quality_rewrites_only_the_readme_table(tmp_path):
    quality = load_benchmark("quality")
    card = {"dataset": "mnist", "variant": "vae", "metrics": {}}
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{quality.README_START}\nold table\n{quality.README_END}\n\nMore text.\n")
    assert quality.update_readme([("vae_x", card)], path=str(readme))
    assert readme.read_text() == (f"# Title\n\n{quality.README_START}\n{quality.readme_table([('vae_x', card)])}\n"
                                  f"{quality.README_END}\n\nMore text.\n")
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # no temp file left
    readme.write_text("no markers\n")
    assert not quality.update_readme([("vae_x", card)], path=str(readme)) and readme.read_text() == "no markers\n"


def test_quality_table_shows_what_a_card_measured():
    quality = load_benchmark("quality")
    card = {"dataset": "dsprites", "variant": "vae", "parameters": 760000, "epochs": 1,
            "metrics": {"nll_nats": 71.95, "nll_k": 100, "num_examples": 1000,
                        "latents": {"active_units": 8, "latent_dim": 10},
                        "disentanglement": {"mig": {"discrete_mig": 0.25}}}}
    row = quality.readme_table([("vae_x", card)]).splitlines()[-1]
    assert "NLL 71.95 nats (k=100, 1000 images)" in row and "MIG 0.250" in row and "8/10 active units" in row
    assert "not evaluated yet" in quality.readme_table([("y", {"dataset": "mnist", "metrics": {}})])
    # A VQ-VAE's bound is its ELBO whatever k: the table says so, with its codebook's perplexity.
    vq = {"dataset": "mnist", "variant": "vq_vae", "likelihood": {"name": "bernoulli"}, "parameters": 1e6, "epochs": 15,
          "metrics": {"nll_nats": 150.5, "nll_k": 1, "num_examples": 10000, "bits_per_dim": 0.28,
                      "codebook": {"codes": 128, "used": 120, "perplexity": 97.4, "top_share": 0.05,
                                   "prior_sampling": {"grids_per_second": 80.0}}}}
    row = quality.readme_table([("vq_x", vq)]).splitlines()[-1]
    assert "NLL ≤ 150.50 nats (the ELBO: point-mass posterior, 10000 images)" in row, row
    assert "codebook perplexity 97 of 128" in row
    assert "| vq_x | 128 | 120 | 97.4 | 0.050 | 80.0 |" in quality.render([("vq_x", vq)])
    # A likelihood measured on a lossy copy (CIFAR-10's JPEGs) is marked, its caveat under the table.
    jpeg = {"dataset": "cifar10", "variant": "vae", "likelihood": {"name": "discretized_logistic_mixture"},
            "metrics": {"nll_nats": 9000.0, "nll_k": 100, "num_examples": 1000, "bits_per_dim": 4.4,
                        "data_caveat": "read from JPEG files: not comparable"}}
    table = quality.readme_table([("vae_c", jpeg), ("vae_x", card)])
    assert "| `vae_c` | cifar10† |" in table and "| `vae_x` | dsprites |" in table
    assert table.endswith("\n\n† read from JPEG files: not comparable.")
    assert "| vae_c | cifar10† |" in quality.render([("vae_c", jpeg)])
    assert "†" not in quality.readme_table([("vae_x", card)])


def test_is_throughput_counts_the_decoder_and_writes_its_table(tmp_path):
    """benchmarks/is_throughput.py: the FLOP count is the hand count of vae_mnist's decoder, and a
    tiny run measures every configuration, with the same estimate where only the schedule differs."""
    bench = load_benchmark("is_throughput")
    model = zoo.load("vae_mnist")
    # z 32 -> dense 256 -> dense 7*7*64 -> 4x4 transposed convs 64->32 (7x7 in) and 32->1 (14x14 in)
    by_hand = 2 * (32 * 256 + 256 * 7 * 7 * 64 + 7 * 7 * 4 * 4 * 64 * 32 + 14 * 14 * 4 * 4 * 32 * 1)
    assert bench.decoder_flops(model) == by_hand

    out = tmp_path / "t.md"
    rows = bench.main(["--images", "2", "--k", "10", "--out", str(out)], log=lambda msg: None)
    # every configuration, then the calibrated shape; the FLOP rate as a fraction of the matmul peak
    assert len(rows) == len(bench.CONFIGS) + 1 and "calibrated" in rows[-1][0]
    assert all(r[3] > 0 and math.isfinite(r[5]) and 0 < r[6] < 2 for r in rows)
    graph_fp32 = [r[5] for r in rows if r[0].startswith("graph, fp32")]
    assert max(graph_fp32) - min(graph_fp32) < 3.0  # same estimator, different chunking of the same k
    text = out.read_text()
    assert text.count("\n| ") == len(bench.CONFIGS) + 2 and "TFLOP" in text and "of the matmul peak" in text
    assert [p.name for p in tmp_path.iterdir()] == ["t.md"]  # written whole, no temp file left


def test_machine_reads_the_first_processor_of_cpuinfo():
    two = "processor\t: 0\nmodel name\t: CPU A\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: CPU B\n"
    fields = machine.cpuinfo_fields(two)
    assert (fields["processor"], fields["model name"], fields["flags"]) == ("0", "CPU A", "fpu")
    assert machine.cpuinfo_fields("") == {}
    assert {"python", "TensorFlow", "Keras"} <= set(machine.versions())


def test_is_throughput_reads_the_cpu_ceiling_from_cpuinfo():
    """An AVX2 machine (the last sessions') and an AVX-512 + AVX512_BF16 one (as /proc/cpuinfo
    lists them: two processors, the flags of the current machine)."""
    bench = load_benchmark("is_throughput")
    avx2 = "model name\t: AMD EPYC\ncpu MHz\t\t: 2500.000\nflags\t\t: fpu sse2 avx avx2 fma f16c\n"
    ceiling, text = bench.cpu_fp32_ceiling(avx2, cores=2)
    assert ceiling == pytest.approx(2 * 2.5 * 2 * 8 * 2) and "no AVX-512" in text and "no native bf16" in text
    assert not bench.native_bf16(avx2)
    processor = ("processor\t: {}\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2600.000\nflags\t\t: fpu sse2 fma avx avx2 "
                 "avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni\n\n")
    avx512 = processor.format(0) + processor.format(1)
    ceiling, text = bench.cpu_fp32_ceiling(avx512, cores=2)
    assert ceiling == pytest.approx(2 * 2.6 * 2 * 16 * 2) and "AVX-512" in text and "no AVX-512" not in text
    assert "native bf16" in text and "no native" not in text and bench.native_bf16(avx512)
    ceiling, text = bench.cpu_fp32_ceiling("flags: avx2 fma\n", cores=2)
    assert math.isnan(ceiling) and "clock" in text


def test_is_throughput_turns_onednn_on_only_in_a_fresh_process(tmp_path, monkeypatch):
    bench = load_benchmark("is_throughput")
    monkeypatch.setenv(bench.ONEDNN, "0")  # TensorFlow is already running in this process
    with pytest.raises(RuntimeError, match="fresh process"):
        bench.use_onednn(True)
    assert bench.use_onednn(False) is False
    out = tmp_path / "o.md"
    env = {k: v for k, v in os.environ.items() if k != bench.ONEDNN}
    script = os.path.join(ROOT, "benchmarks", "is_throughput.py")
    run = subprocess.run([sys.executable, script, "--onednn", "--images", "1", "--k", "4", "--out", str(out)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    text = out.read_text()
    assert "oneDNN custom ops on (TF_ENABLE_ONEDNN_OPTS=1)" in text and "--onednn`" in text


def test_gpu_benchmark_runs_on_a_cpu_and_says_which_device_ran(tmp_path):
    """benchmarks/gpu.py: prepared for an NVIDIA machine, runnable here at a tiny size; the
    table names the device, so a CPU run is never mistaken for a GPU one."""
    bench = load_benchmark("gpu")
    out = tmp_path / "gpu.md"
    assert bench.main(["--take", "256", "--images", "4", "--k", "20", "--out", str(out)]) == 0
    text = out.read_text()
    assert "Device: **CPU only" in text and "images/s" in text and "decoder passes/s" in text
    nll = float(re.search(r"NLL measured: ([0-9.]+) nats", text).group(1))
    assert 40 < nll < 200  # binarized MNIST digits under the shipped vae_mnist
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--k", "0", "--out", str(out)])
    assert exit_info.value.code == 2
    assert [p.name for p in tmp_path.iterdir()] == ["gpu.md"]


def test_compression_benchmark_codes_and_tabulates(tmp_path):
    # A few images of each suite: every zoo file decodes back exactly, every codec row is a
    # positive rate, and the table carries the protocol and both reference rates.
    bench = load_benchmark("compression")
    out = tmp_path / "compression.md"
    assert bench.main(["--images", "6", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count("| exact |") == 3 and "FAILED" not in text
    for codec in ("bz2 -9, packed bits", "lzma -9e, raw bytes", "PNG optimized, one file per image",
                  "WebP lossless, one mosaic of all images"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {codec} |"))
        assert float(row.split("|")[2]) > 0, row
    assert "first 6 mnist test images" in text and "-ELBO bits/dim (this run)" in text
    with pytest.raises(SystemExit):
        bench.main(["--images", "0"])


def test_xla_choice_times_both_settings_and_refuses_unknown_recipes(tmp_path):
    xla_choice = load_benchmark("xla_choice")
    with pytest.raises(SystemExit) as exit_info:
        xla_choice.parse_args(["--recipes", "vae_mnist,no_such_recipe"])
    assert exit_info.value.code == 2
    assert [xla_choice.verdict(r) for r in (1.2, 1.01, 0.8)] == ["XLA faster", "no difference", "XLA slower"]
    out = tmp_path / "xla.md"
    xla_choice.main(["--recipes", "vae_mnist", "--steps", "2", "--warmup", "1", "--rounds", "1", "--out", str(out)],
                    log=lambda msg: None)
    row = next(line for line in out.read_text().splitlines() if line.startswith("| `vae_mnist`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert int(cells[1]) == 128 and float(cells[2]) > 0 and float(cells[3]) > 0


def test_batch_slices_times_both_processes_and_refuses_recipes_it_would_not_slice(tmp_path):
    if machine.cores() < 2:
        pytest.skip("one core: zoo train slices nothing here")
    batch_slices = load_benchmark("batch_slices")
    with pytest.raises(SystemExit) as exit_info:  # WAE's loss reads the whole batch
        batch_slices.parse_args(["--recipes", "vae_mnist,wae_mnist"])
    assert exit_info.value.code == 2
    assert [batch_slices.setting_for(r) for r in (1.2, 1.01, 0.8)] == ["auto", "auto", 1]
    out = tmp_path / "slices.md"
    batch_slices.main(["--recipes", "vae_mnist", "--steps", "2", "--warmup", "1", "--rounds", "1", "--out", str(out)],
                      log=lambda msg: None)
    row = next(line for line in out.read_text().splitlines() if line.startswith("| `vae_mnist`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert int(cells[1]) == 128 and float(cells[2]) > 0 and float(cells[3]) > 0


def test_training_parts_times_keras_and_the_zoo_with_and_without_xla(tmp_path):
    training_parts = load_benchmark("training_parts")
    with pytest.raises(SystemExit):
        training_parts.parse_args(["--rounds", "0"])
    out = tmp_path / "parts.md"
    training_parts.main(["--steps", "1", "--rounds", "1", "--out", str(out)])
    rows = [line for line in out.read_text().splitlines() if line.startswith(("| encoder", "| decoder", "| Adam"))]
    assert len(rows) == 6
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[2]) > 0
        assert float(cells[3]) > 0 if not row.startswith("| encoder") else cells[3] == "(Keras' layer)"


def test_two_stage_sampling_measures_both_code_samplings(tmp_path):
    # A two-stage preset on vae_mnist's networks (second stage untrained: the script's
    # protocol, not the numbers, is under test): one row per code sampling, the preset's
    # own first, then the encoder's codes as the reference; any other model is refused.
    from zoo.models import TwoStageVAE

    first = zoo.load("vae_mnist")
    model = TwoStageVAE(latent_dim=first.latent_dim, widths=first.widths, hidden_dim=first.hidden_dim,
                        second_latent_dim=8, second_hidden_dim=64, code_sampling="mean")
    for part in ("encoder", "decoder"):
        getattr(model, part).set_weights(getattr(first, part).get_weights())
    model.save_preset(str(tmp_path / "two_stage"), {"dataset": "mnist"})
    bench = load_benchmark("two_stage_sampling")
    out = tmp_path / "two_stage_sampling.md"
    assert bench.main(["--preset", str(tmp_path / "two_stage"), "--samples", "300", "--out", str(out)]) == 0
    rows = [line.split("|") for line in out.read_text().splitlines() if line.startswith("| `")]
    assert [r[1].strip() for r in rows] == ["`mean` (the preset's)", "`draw`"]
    reference = next(line.split("|") for line in out.read_text().splitlines() if line.startswith("| reference"))
    fds = [float(r[2]) for r in [*rows, reference]]
    assert all(np.isfinite(fds)) and fds[0] != fds[1] and min(fds) > 0
    assert fds[2] < min(fds[:2])  # vae_mnist's own codes beat an untrained second stage
    with pytest.raises(SystemExit, match="not a TwoStageVAE"):
        bench.main(["--preset", "vae_mnist", "--samples", "300", "--out", "/dev/null"])
    with pytest.raises(SystemExit):
        bench.main(["--samples", "2"])
