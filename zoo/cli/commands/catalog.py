"""What is in the zoo: `zoo list`, `zoo info`, `zoo data`."""

from __future__ import annotations

import json

from zoo.cli.arguments import add_preset_argument


def headline_metric(card: dict) -> str:
    """The card's likelihood number in the unit README's presets table uses.

    Binary data (a Bernoulli likelihood: binarized MNIST, dSprites) in nats per image;
    8-bit data (any other likelihood) in bits per dimension;
    autoencoders without a density by their reconstruction error.
    """
    metrics = card.get("metrics", {})
    binary = card.get("likelihood", {}).get("name") == "bernoulli"
    if "nll_nats" in metrics and binary:
        return f"NLL {metrics['nll_nats']:.2f} nats"
    if "bits_per_dim" in metrics:
        return f"{metrics['bits_per_dim']:.3f} bits/dim"
    if "reconstruction_error_nats" in metrics:
        return f"reconstruction error {metrics['reconstruction_error_nats']:.2f} nats"
    return "(not evaluated)"


def run_list(args) -> int:
    """Prints the shipped presets with their headline metric, then the training recipes."""
    from zoo.presets import list_models, read_metadata
    from zoo.training import list_recipes

    names = list_models()
    print("Pretrained presets (zoo.load(name)):")
    for name in names:
        card = read_metadata(name)
        print(f"  {name:24s} {card.get('dataset', ''):14s} latent {card.get('latent_dim', '?'):<3} "
              f"{headline_metric(card)}")
    if not names:
        print("  (none shipped yet)")
    print("Training recipes (zoo train --preset NAME):")
    for name in list_recipes():
        print(f"  {name}")
    return 0


def add_list(subparsers):
    return subparsers.add_parser(
        "list", help="list the pretrained presets and training recipes",
        description="Lists the shipped presets with their dataset, latent size and test likelihood (NLL in nats "
                    "on binary data, bits/dim on 8-bit data), then the recipes `zoo train --preset` reproduces.")


CARD_KEYS = ("name", "description", "variant", "dataset", "preprocessing", "likelihood", "prior", "latent_dim",
             "parameters", "epochs", "training_command", "wall_time_seconds_last_run", "machine", "weights_sha256")


def run_info(args) -> int:
    """Prints a preset's model card: its main fields and metrics, or all of it as JSON."""
    from zoo.presets import read_metadata

    card = read_metadata(args.name)
    if args.json:
        print(json.dumps(card, indent=2))
        return 0
    for key in CARD_KEYS:
        if key in card:
            print(f"{key:28s} {card[key]}")
    for key, value in card.get("metrics", {}).items():
        print(f"metrics.{key:20s} {value}")
    return 0


def add_info(subparsers):
    p = subparsers.add_parser("info", help="show a preset's model card",
                              description="Prints a preset's model card (saved_models/NAME/metadata.json): "
                                          "training command, machine, checksum and measured metrics.")
    add_preset_argument(p)
    p.add_argument("--json", action="store_true", help="print the whole card as JSON")
    return p


def run_data(args) -> int:
    """Prints, per dataset, where its files are found, or where the zoo looked and how to add them."""
    from zoo.data.sources import describe_sources

    sources = describe_sources()
    if args.json:
        print(json.dumps(sources, indent=2))
        return 0
    for source in sources:
        if source["found"]:
            print(f"{source['dataset']:14s} found: {source['where']}")
            if "caveat" in source:
                print(f"{'':16s}({source['caveat']})")
            continue
        print(f"{source['dataset']:14s} not found. Looked in:")
        for place in source["looked"]:
            print(f"{'':16s}{place}")
        print(f"{'':14s} to add it: {source['how_to_add']}")
    return 0


def add_data(subparsers):
    p = subparsers.add_parser(
        "data", help="where each dataset is found, or where the zoo looked and how to add it",
        description="For each dataset the zoo knows: the folder or file it loads from, or every place it "
                    "looked ($ZOO_DATA_DIR and its sub-folders, the Debian package path, the Keras cache, "
                    "TensorFlow Datasets) and how to add the files.")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    return p


COMMANDS = {"list": (add_list, run_list), "info": (add_info, run_info), "data": (add_data, run_data)}
