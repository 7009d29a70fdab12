"""The measured numbers of a model card, produced by one function (and `zoo eval`)."""

from __future__ import annotations

from zoo import data
from zoo.evaluate.likelihood import evaluate_likelihood
from zoo.presets import load, read_metadata

# A cheap subset of the card's likelihood numbers that the test suite recomputes.
QUICK_CHECK = {"k": 50, "num_examples": 500}


def evaluate_preset(name: str, k: int = 5000, num_examples: int | None = None, seed: int = 0) -> dict:
    """Test-set likelihood of a preset (k importance samples on the first
    `num_examples` test images, all when None) plus the quick check."""
    model = load(name)
    card = read_metadata(name)
    # A dataset without a test split (dSprites) is scored on the first training images.
    split = "test" if "test" in data.get_spec(card["dataset"]).split_sizes else "train"
    x, y = data.load_numpy(card["dataset"], split, card["preprocessing"], seed=seed, take=num_examples)
    y = y if model.conditional else None
    metrics = evaluate_likelihood(model, x, y, k=k, seed=seed)
    quick = evaluate_likelihood(model, x[: QUICK_CHECK["num_examples"]],
                                None if y is None else y[: QUICK_CHECK["num_examples"]],
                                k=QUICK_CHECK["k"], seed=seed)
    metrics["quick_check"] = {key: quick[key] for key in ("nll_nats", "nll_k", "num_examples")}
    command = f"zoo eval {name} --k {k}" + (f" --num-examples {num_examples}" if num_examples else "") + " --write-card"
    metrics["protocol"] = (
        f"{split} split ({metrics['num_examples']} images), {card['preprocessing']} with seed {seed}; log p(x) by "
        f"importance sampling with the posterior as proposal, k={k} (an upper bound on the NLL); command: {command}")
    return metrics
