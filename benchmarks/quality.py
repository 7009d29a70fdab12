"""The quality table: every shipped preset's measured numbers next to literature anchors.

    python benchmarks/quality.py                 # writes benchmarks/quality.md and README's table

It measures nothing itself: it reads the model cards (`saved_models/*/metadata.json`),
whose numbers come from `zoo eval NAME --write-card` (each card section records its
own command and protocol), so the table can always be traced to a reproducible run.
A missing number is shown as "–" (the section was not run or does not apply).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as `python benchmarks/quality.py`: this checkout's packages
    sys.path.insert(0, ROOT)

from zoo.io import write_text  # noqa: E402

# Negative log-likelihoods on dynamically binarized MNIST (test set, nats), as published.
LITERATURE = [
    ("VAE, 1 stochastic layer (Burda et al. 2015, Table 1, k=5000)", 86.76),
    ("IWAE, 2 stochastic layers, k=50 (Burda et al. 2015, Table 1)", 82.90),
    ("NVAE (Vahdat & Kautz 2020)", 78.01),
]


def _fmt(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _get(card, *path):
    node = card
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


# The anomaly table's score columns (names of `zoo.evaluate.anomaly.SCORES`), and the
# names cards written before the score table had for three of them.
ANOMALY_SCORES = ("elbo", "iwae", "reconstruction", "complexity", "likelihood_ratio", "regret")
ANOMALY_LEGACY = {"elbo": "negative_elbo", "iwae": "negative_iwae_k100", "reconstruction": "reconstruction_error"}


def anomaly_rows(name, section):
    """One row per shift of a card's anomaly section: the AUROC of every score, and
    the default score's detection rate at the threshold fitted for 5% FPR. A card
    from before the score table (one shift, scores at the top) gives one row."""
    if not section:
        return []
    if "scores" not in section:
        aurocs = [_fmt(_get(section, ANOMALY_LEGACY.get(s, s), "auroc"), 3) for s in ANOMALY_SCORES]
        rate = (_get(section, "negative_elbo", "detection_rate")
                or _get(section, "reconstruction_error", "detection_rate"))
        return [[name, section["anomalies"], *aurocs, f"{_fmt(rate, 3)} (old protocol: −ELBO or recon.)"]]
    scores, default = section["scores"], section["default_score"]
    return [[name, shift, *[_fmt(_get(scores, s, shift, "auroc"), 3) for s in ANOMALY_SCORES],
             f"{_fmt(_get(scores, default, shift, 'detection_rate'), 3)} ({default})"] for shift in section["shifts"]]


CAVEAT_MARK = "†"


def dataset_cell(card) -> str:
    """The dataset's name, marked when its likelihood was measured on a lossy copy."""
    return card["dataset"] + (CAVEAT_MARK if card.get("metrics", {}).get("data_caveat") else "")


def caveats(cards) -> list[str]:
    """The footnotes of the marked rows: each distinct caveat once."""
    notes = {m["data_caveat"] for _, card in cards if (m := card.get("metrics", {})).get("data_caveat")}
    return [f"{CAVEAT_MARK} {note}." for note in sorted(notes)]


def rows(cards):
    likelihood, latent, samples, anomaly, disentangle, codebooks = [], [], [], [], [], []
    for name, card in cards:
        m = card.get("metrics", {})
        if "nll_nats" in m:
            nll = f"{m['nll_nats']:.2f} ± {m.get('nll_stderr', 0):.2f}"
            proto = f"k={m['nll_k']}, {m['num_examples']} {('test' if card['dataset'] != 'dsprites' else 'train')} imgs"
        elif "reconstruction_error_nats" in m:
            nll, proto = f"(recon. {m['reconstruction_error_nats']:.2f})", f"{m['num_examples']} imgs, no density"
        else:
            nll, proto = "–", "–"
        likelihood.append([name, dataset_cell(card), card.get("preprocessing", "–"), nll,
                           _fmt(m.get("negative_elbo_nats")), _fmt(m.get("bits_per_dim"), 4), proto])
        lat = m.get("latents", {})
        # A VQ-VAE's codes are not Gaussian latents: its codebook table says how they are used.
        if lat or "codebook" not in m:
            latent.append([name, f"{_fmt(lat.get('active_units'))}/{card.get('latent_dim', '–')}",
                           _fmt(lat.get("kl_total")), _fmt(lat.get("linear_probe_accuracy"), 4),
                           _fmt(lat.get("kmeans_purity"), 3), _fmt(lat.get("kmeans_nmi"), 3)])
        sq = m.get("sample_quality")
        if sq:
            samples.append([name, _fmt(sq["frechet_distance"]), _fmt(sq["frechet_distance_train_vs_test"]),
                            _fmt(sq["precision"], 3), _fmt(sq["recall"], 3),
                            _fmt(_get(m, "conditional", "class_fidelity"), 4), _fmt(sq.get("num_samples")),
                            _fmt(_get(sq, "sampling", "images_per_second"), 1)])
        book = m.get("codebook")
        if book:
            codebooks.append([name, book["codes"], book["used"], _fmt(book["perplexity"], 1),
                              _fmt(book["top_share"], 3), _fmt(book["prior_sampling"]["grids_per_second"], 1)])
        anomaly += anomaly_rows(name, m.get("anomaly"))
        dis = m.get("disentanglement")
        if dis:
            disentangle.append([name] + [_fmt(_get(dis, *path), 3) for path in (
                ("beta_vae_score", "eval_accuracy"), ("factor_vae_score", "eval_accuracy"), ("mig", "discrete_mig"),
                ("dci", "disentanglement"), ("dci", "completeness"), ("dci", "informativeness_test"),
                ("sap", "sap_score"))])
    return likelihood, latent, samples, anomaly, disentangle, codebooks


def _table(header, body):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def render(cards) -> str:
    likelihood, latent, samples, anomaly, disentangle, codebooks = rows(cards)
    out = [
        "# Quality of the shipped presets",
        "",
        f"Generated by `python benchmarks/quality.py` on {datetime.date.today().isoformat()} from the model cards;",
        "each number was measured by `zoo eval NAME --write-card` (the card records the command and protocol).",
        "",
        "## Likelihood",
        "",
        "NLL = −log p(x) in nats per image by importance sampling (posterior proposal, k samples; an upper bound).",
        "MNIST is dynamically binarized (Bernoulli likelihood); Fashion-MNIST is 8-bit grey levels: the discretized",
        "logistic mixture (exact probabilities over the 256 levels) or, for presets not yet retrained, a Gaussian on",
        "dequantized pixels (bits/dim then include the log 256 per dimension of the discretization).",
        "",
        _table(["preset", "dataset", "preprocessing", "NLL (nats)", "−ELBO", "bits/dim", "protocol"], likelihood),
        "",
        *[line for note in caveats(cards) for line in (note, "")],
        "Literature anchors (dynamically binarized MNIST, full 10,000-image test set):",
        "",
        _table(["model", "NLL (nats)"], [[name, f"{v:.2f}"] for name, v in LITERATURE]),
        "",
        "## Latent space",
        "",
        "Active units: Cov_x E[z_u] > 0.01 (Burda et al.); KL in nats; probe = logistic regression on posterior",
        "means (10k train → test); k-means with k = number of classes on the test means.",
        "",
        _table(["preset", "active", "KL (nats)", "linear probe acc.", "k-means purity", "k-means NMI"], latent),
        "",
    ]
    if samples:
        out += ["## Samples", "",
                "Fréchet distance (FD), precision and recall in the features of the dataset's judge classifier",
                "(`saved_models/judges/`), n prior samples vs as many test images (FD grows as n shrinks: compare",
                "rows of the same n); the real train-vs-test FD is the floor. Class fidelity: share of a conditional",
                "model's samples the judge assigns to the requested class. Images/s: `model.sample` in one batch of",
                "64 on the machine of the card (cards evaluated before it was measured show –).",
                "", _table(["preset", "FD", "FD train vs test", "precision", "recall", "class fidelity", "n",
                            "images/s"], samples), ""]
    if codebooks:
        out += ["## Codebooks (VQ-VAEs)", "",
                "Codes used by the test images, the perplexity exp(H) of their shares (the number of equally used",
                "codes it is worth), the largest share, and the prior's speed: code grids drawn per second, one",
                "PixelCNN pass per grid position. The posterior is a point mass, so their NLL above is the ELBO.", "",
                _table(["preset", "codes", "used", "perplexity", "top share", "grids/s"], codebooks), ""]
    if anomaly:
        out += ["## Anomaly detection", "",
                "AUROC of each score (`zoo.evaluate.anomaly.SCORES`): test images of the training dataset (normal)",
                "against each shift (the other dataset, rendered glyphs, uniform noise, constant images, inverted and",
                "upside-down test images; `zoo.evaluate.shifts`), preprocessed alike; the detection rate is the",
                "default score's at the threshold fitted for 5% false positives on other normal images. Each card's",
                "section has the AUPRC, thresholds, held-out FPR, seconds per 1000 images and the typicality test.", "",
                _table(["preset", "anomalies", "−ELBO", "−IWAE", "recon. error", "complexity", "likelihood ratio",
                        "regret", "detection rate (score)"], anomaly), ""]
    if disentangle:
        out += ["## Disentanglement (dSprites)", "",
                "disentanglement_lib's default protocols; chance ~0.2 for the β-VAE/FactorVAE scores, ~0 otherwise.",
                "", _table(["preset", "β-VAE score", "FactorVAE score", "MIG", "DCI dis.", "DCI comp.",
                            "DCI info.", "SAP"], disentangle), ""]
    return "\n".join(out)


README_START = "<!-- presets table: written by benchmarks/quality.py -->"
README_END = "<!-- end of presets table -->"


def readme_table(cards) -> str:
    """The README's short presets table: the headline number of each preset."""
    body = []
    for name, card in cards:
        m = card.get("metrics", {})
        likelihood = (card.get("likelihood") or {}).get("name")
        point_mass = "codebook" in m  # a VQ-VAE: the IS bound is the ELBO, say so rather than "k=1"
        if point_mass and "nll_nats" in m:
            value = (f"{m['bits_per_dim']:.3f} bits/dim" if likelihood not in (None, "bernoulli")
                     else f"NLL ≤ {m['nll_nats']:.2f} nats")
            head = f"{value} (the ELBO: point-mass posterior, {m['num_examples']} images)"
        elif "nll_nats" in m and likelihood not in (None, "bernoulli"):
            # A density over 8-bit grey levels: bits/dim are the comparable number.
            head = f"{m['bits_per_dim']:.3f} bits/dim (k={m['nll_k']}, {m['num_examples']} images)"
        elif "nll_nats" in m:
            head = f"NLL {m['nll_nats']:.2f} nats (k={m['nll_k']}, {m['num_examples']} images)"
        elif "reconstruction_error_nats" in m:
            head = f"reconstruction error {m['reconstruction_error_nats']:.2f} nats (no density)"
        else:
            head = "not evaluated yet"
        extra = []
        if _get(m, "conditional", "class_fidelity") is not None:
            extra.append(f"class fidelity {m['conditional']['class_fidelity']:.1%}")
        if _get(m, "sample_quality", "frechet_distance") is not None:
            samples = m["sample_quality"].get("num_samples", 10000)
            extra.append(f"FD {m['sample_quality']['frechet_distance']:.1f}"
                         + ("" if samples == 10000 else f" ({samples} samples)"))
        if point_mass:
            extra.append(f"codebook perplexity {m['codebook']['perplexity']:.0f} of {m['codebook']['codes']}")
        if _get(m, "disentanglement", "mig", "discrete_mig") is not None:
            extra.append(f"MIG {m['disentanglement']['mig']['discrete_mig']:.3f}")
        if card["dataset"] == "dsprites" and _get(m, "latents", "active_units") is not None:
            extra.append(f"{m['latents']['active_units']}/{m['latents']['latent_dim']} active units")
        size = card.get("weights_bytes")
        body.append([f"`{name}`", dataset_cell(card), card.get("variant", "–"), head, ", ".join(extra) or "–",
                     f"{card.get('parameters', 0) / 1e6:.2f} M", f"{size / 2**20:.1f} MB" if size else "–",
                     str(card.get("epochs", "–"))])
    table = _table(["preset", "data", "variant", "likelihood", "samples / latents", "params", "weights", "epochs"],
                   body)
    return "\n\n".join([table, *caveats(cards)])


def update_readme(cards, path=os.path.join(ROOT, "README.md")) -> bool:
    """Rewrites the README's presets table between its markers (if present)."""
    with open(path) as f:
        text = f.read()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    write_text(path, f"{head}{README_START}\n{readme_table(cards)}\n{README_END}{tail}")
    return True


def main(argv=None):
    from zoo.presets import list_models, read_metadata

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "quality.md"))
    parser.add_argument("--no-readme", dest="readme", action="store_false",
                        help="do not rewrite the presets table in README.md")
    args = parser.parse_args(argv)
    cards = [(name, read_metadata(name)) for name in list_models()]
    text = render(cards)
    write_text(args.out, text + "\n")
    if args.readme:
        update_readme(cards)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
