"""Judges: the small per-dataset classifiers shipped with the zoo.

A judge looks at generated images: its predicted class checks that a conditional
model draws the digit it was asked for, and its feature layer is the space of the
Fréchet distance and of the precision/recall of samples. It is trained on real
images of the dataset's training split only, so it is independent of
every generative model it judges; its test accuracy is recorded next to its
weights.

    zoo train-judge mnist                 # writes ~/.zoo/judges/mnist/ (--force: the shipped one)
    judge = load_judge("mnist")           # sha256-checked keras.Model

A dataset with a single split (dSprites) is split by the judge itself: a seeded
random `HELD_OUT_IMAGES` stand in for the test set (the judge's accuracy, and the
real images samples are compared with), disjoint from the images it trains on.

    zoo train-judge dsprites --take 60000 --epochs 4 --force   # the shipped dSprites judge

A judge directory holds `classifier.keras` (Keras' zip format: JSON config plus
weights, no pickle; loaded with `safe_mode=True`) and `metadata.json`.
"""

from __future__ import annotations

import os
import time

import numpy as np

from zoo import data
from zoo.evaluate.classifier import predict_labels, train_classifier

JUDGE_FILE = "classifier.keras"
METADATA_FILE = "metadata.json"
# Long enough for ~99% test accuracy on MNIST with the small grey CNN below.
DEFAULT_EPOCHS = 8
# Size of the held-out set drawn from a single-split dataset, and the seed of the draw
# (fixed, so that every judge and every card sees the same held-out images).
HELD_OUT_IMAGES = 10_000
HELD_OUT_SEED = 20_170_101
# The judge's network and training by image channels: grey digits, clothes and sprites
# need little (~99% on MNIST, ~90% on Fashion-MNIST in 8 epochs); CIFAR-10's colour
# objects need a deeper network, seen flipped and shifted (see `train_classifier`), and
# a longer, decaying schedule (the first, stride-2 colour judge reached only 64%).
JUDGE_NETWORKS = {
    1: {"widths": (32, 64), "feature_dim": 128},
    3: {"widths": (32, 64, 128), "feature_dim": 256, "block": "vgg"},
}
JUDGE_TRAINING = {
    1: {"epochs": DEFAULT_EPOCHS},
    3: {"epochs": 15, "augment": True, "cosine_decay": True},
}


def held_out_split(num_images: int) -> tuple[np.ndarray, np.ndarray]:
    """(held-out indices, training indices) of a single-split dataset of `num_images`:
    disjoint, together all of them, the first `HELD_OUT_IMAGES` of a seeded permutation
    held out."""
    if num_images <= HELD_OUT_IMAGES:
        raise ValueError(f"a single-split dataset needs more than {HELD_OUT_IMAGES} images to hold "
                         f"{HELD_OUT_IMAGES} out, got {num_images}")
    order = np.random.default_rng(HELD_OUT_SEED).permutation(num_images)
    return order[:HELD_OUT_IMAGES], order[HELD_OUT_IMAGES:]


def real_images(dataset: str, take: int | None = None, take_train: int | None = None):
    """((x_held_out, y_held_out), (x_train, y_train)): images in [0, 1] (grey or RGB).

    The test and training splits (the first `take` of the test split, the first
    `take_train` of the training split; `take_train` defaults to `take`); for a dataset
    with only a training split, `HELD_OUT_IMAGES` seeded random images of it as the
    held-out set and the others, in a seeded random order, as the training set.
    """
    take_train = take if take_train is None else take_train
    spec = data.get_spec(dataset)
    if "test" in spec.split_sizes:
        return (data.load_numpy(dataset, "test", "float", take=take),
                data.load_numpy(dataset, "train", "float", take=take_train))
    images, labels = data.load_arrays(dataset, "train")
    held_out, train = held_out_split(len(images))
    held_out, train = held_out[:take], train[:take_train]

    def subset(index):
        return data.preprocess(images[index], "float", 0), labels[index]

    return subset(held_out), subset(train)


def judges_dir() -> str:
    """`saved_models/judges/` beside the package (or $ZOO_JUDGES_DIR); independent of
    $ZOO_PRESETS_DIR, so a user's own presets are judged by the shipped judges."""
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "saved_models", "judges")
    return os.environ.get("ZOO_JUDGES_DIR", default)


def judge_path(dataset: str) -> str:
    """The judge `load_judge` reads: `judges_dir()/<dataset>`."""
    return os.path.join(judges_dir(), dataset)


def user_judge_path(dataset: str) -> str:
    """Where a user's newly trained judge goes: `$ZOO_HOME/judges/<dataset>` ($ZOO_HOME
    defaults to ~/.zoo), away from the shipped judges so that training one cannot
    replace the reference every card's sample quality was measured with."""
    home = os.environ.get("ZOO_HOME", os.path.join("~", ".zoo"))
    return os.path.abspath(os.path.join(os.path.expanduser(home), "judges", dataset))


def train_judge(dataset: str, epochs: int | None = None, seed: int = 0, take: int | None = None,
                directory: str | None = None) -> dict:
    """Trains the judge of a labelled dataset on its training images (grey or RGB; the
    network and schedule by `JUDGE_NETWORKS` and `JUDGE_TRAINING`; `epochs` overrides the
    schedule's) and writes it (atomically) with its test accuracy. Returns the judge's card."""
    import keras

    from zoo.io import atomic_dir, sha256, write_json

    start = time.time()
    spec = data.get_spec(dataset)
    two_splits = "test" in spec.split_sizes
    (x_test, y_test), (x, y) = real_images(dataset, take=None, take_train=take)
    if y is None or np.asarray(y).ndim != 1:
        raise ValueError(f"{dataset!r} has no class labels for a judge")
    # The spec's count: a small `take` may miss the last classes.
    num_classes = spec.num_classes or int(np.max(y)) + 1
    network = JUDGE_NETWORKS[spec.image_shape[-1]]
    training = dict(JUDGE_TRAINING[spec.image_shape[-1]])
    default_epochs = training.pop("epochs")
    epochs = default_epochs if epochs is None else epochs
    classifier = train_classifier(x, y, num_classes=num_classes, epochs=epochs, batch_size=128, seed=seed,
                                  **network, **training)
    accuracy = float(np.mean(predict_labels(classifier, x_test) == y_test))
    # atomic_dir: the folder appears whole, and an existing judge is replaced only once the new one is complete.
    with atomic_dir(directory or judge_path(dataset)) as tmp:
        # An uncompiled copy: the optimizer's moments would triple the file for nothing.
        shipped = keras.Model.from_config(classifier.get_config())
        shipped.set_weights(classifier.get_weights())
        shipped.save(os.path.join(tmp, JUDGE_FILE))
        card = {
            "dataset": dataset,
            "num_classes": num_classes,
            "input": "pixels in [0, 1] (preprocessing 'float'), shape " + str(list(x.shape[1:])),
            "network": {**network, "widths": list(network["widths"])},
            "training": {"split": "train" if two_splits else
                         f"train minus {HELD_OUT_IMAGES} held-out images (seed {HELD_OUT_SEED})",
                         "held_out": "test split" if two_splits else
                         f"{HELD_OUT_IMAGES} random images (seed {HELD_OUT_SEED})",
                         "examples": int(len(x)), "epochs": int(epochs), **training, "seed": int(seed),
                         "command": f"zoo train-judge {dataset}"
                         + (f" --epochs {epochs}" if epochs != default_epochs else "")
                         + (f" --seed {seed}" if seed else "") + (f" --take {take}" if take else "")},
            "test_accuracy": accuracy,
            "seconds": time.time() - start,
            "sha256": sha256(os.path.join(tmp, JUDGE_FILE)),
        }
        write_json(os.path.join(tmp, METADATA_FILE), card)
    return card


def load_judge(dataset: str, directory: str | None = None):
    """The judge of `dataset` as a keras.Model (softmax output, a "features" layer),
    with its card as `.judge_metadata`.

    Raises:
        FileNotFoundError: no judge for this dataset (names the training command).
        zoo.presets.PresetError: the weights do not match the recorded sha256.
    """
    import keras

    from zoo.io import sha256
    from zoo.presets import PresetError, read_json

    directory = directory or judge_path(dataset)
    path = os.path.join(directory, JUDGE_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no judge classifier for {dataset!r} at {path}; train it with "
                                f"`zoo train-judge {dataset}`")
    card = read_json(os.path.join(directory, METADATA_FILE))
    actual = sha256(path)
    if actual != card.get("sha256"):
        raise PresetError(f"{path}: sha256 {actual} does not match its card's {card.get('sha256')}; "
                          "the file is corrupt or truncated")
    try:
        judge = keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - zipfile/h5py/keras raise many kinds
        raise PresetError(f"cannot load the judge {path}: {e}") from e
    judge.judge_metadata = card
    return judge


__all__ = ["JUDGE_NETWORKS", "JUDGE_TRAINING", "held_out_split", "judge_path", "judges_dir", "load_judge",
           "real_images", "train_judge", "user_judge_path"]
