"""Sample-quality metrics and judges against cases with known answers."""

import os

import numpy as np
import pytest

from zoo.evaluate import judges
from zoo.evaluate.sample_quality import class_fidelity, precision_recall
from zoo.presets import PresetError

from conftest import CIFAR10_FOLDER


def test_precision_recall_known_cases():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(600, 4))
    same = precision_recall(real, real.copy())
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    far = precision_recall(real, real + 100.0)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    # Samples from only one of two real modes: realistic, but half the data uncovered.
    # (k-NN balls miss some of the tails, so precision is a little under 1.)
    two_modes = np.concatenate([rng.normal(-20, 1, (600, 4)), rng.normal(20, 1, (600, 4))])
    one_mode = rng.normal(-20, 1, (600, 4))
    pr = precision_recall(two_modes, one_mode)
    assert pr["precision"] > 0.9 and 0.4 < pr["recall"] < 0.6


def test_precision_recall_rejects_mismatched_features():
    with pytest.raises(ValueError, match="same F"):
        precision_recall(np.zeros((10, 3)), np.zeros((10, 4)))


@pytest.fixture(scope="module")
def small_judge(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("judge") / "mnist")
    card = judges.train_judge("mnist", epochs=1, take=4096, directory=directory)
    return directory, card


class _RealImagesModel:
    """Stands in for a conditional model: 'samples' of class c are real test images
    of class c + shift, so the fidelity's answer is known."""

    conditional = True
    num_classes = 10

    def __init__(self, shift):
        import zoo

        self.x, self.y = zoo.data.load_numpy("mnist", "test", "float", take=3000)
        self.shift = shift

    def sample(self, n, seed=None, labels=None):
        c = (int(np.asarray(labels).ravel()[0]) + self.shift) % 10
        return self.x[self.y == c][:n]


def test_class_fidelity_is_the_judges_accuracy_on_true_classes_and_zero_when_shifted(small_judge):
    directory, card = small_judge
    judge = judges.load_judge("mnist", directory)
    assert card["test_accuracy"] > 0.85
    right = class_fidelity(_RealImagesModel(0), judge, samples_per_class=50)
    assert right["class_fidelity"] > 0.85 and len(right["per_class"]) == 10
    wrong = class_fidelity(_RealImagesModel(1), judge, samples_per_class=50)
    assert wrong["class_fidelity"] < 0.1


def test_a_corrupt_or_missing_judge_is_a_clear_error(small_judge, tmp_path):
    directory, _ = small_judge
    with pytest.raises(FileNotFoundError, match="zoo train-judge nope"):
        judges.load_judge("nope", str(tmp_path / "nope"))
    import shutil

    copy = str(tmp_path / "copy")
    shutil.copytree(directory, copy)
    with open(os.path.join(copy, judges.JUDGE_FILE), "r+b") as f:
        f.truncate(1000)
    with pytest.raises(PresetError, match="sha256"):
        judges.load_judge("mnist", copy)


def test_the_classifier_shrinks_any_image_to_a_small_feature_map():
    from zoo.evaluate.classifier import build_classifier

    def conv_outputs(image_shape):
        model = build_classifier(image_shape, num_classes=3)
        return [tuple(layer.output.shape[1:3]) for layer in model.layers if "conv" in layer.name]

    # MNIST keeps the two layers of the shipped judge; dSprites gets a third, not a 16x16x64
    # map feeding a 2-million-weight dense layer.
    assert conv_outputs((28, 28, 1)) == [(14, 14), (7, 7)]
    assert conv_outputs((64, 64, 1)) == [(32, 32), (16, 16), (8, 8)]


def test_a_single_split_dataset_holds_out_a_fixed_disjoint_draw():
    held_out, train = judges.held_out_split(50_000)
    assert len(held_out) == judges.HELD_OUT_IMAGES and len(train) == 50_000 - judges.HELD_OUT_IMAGES
    assert len(np.intersect1d(held_out, train)) == 0
    assert np.array_equal(np.sort(np.concatenate([held_out, train])), np.arange(50_000))
    # Not the head of the factor-ordered dSprites array (all squares at the smallest scale).
    assert held_out.max() > 40_000
    again, _ = judges.held_out_split(50_000)
    assert np.array_equal(held_out, again)
    with pytest.raises(ValueError, match="more than"):
        judges.held_out_split(judges.HELD_OUT_IMAGES)


def test_every_dataset_has_a_shipped_judge_whose_card_accuracy_reproduces():
    from zoo.evaluate.classifier import predict_labels

    for dataset in ("mnist", "fashion_mnist", "dsprites") + (("cifar10",) if os.path.isdir(CIFAR10_FOLDER) else ()):
        judge = judges.load_judge(dataset)
        (x, y), _ = judges.real_images(dataset, take=2000)
        accuracy = float(np.mean(predict_labels(judge, x) == y))
        # 2000 of the held-out images the card's accuracy was measured on (1 s.e. ~ 0.01).
        assert accuracy == pytest.approx(judge.judge_metadata["test_accuracy"], abs=0.03), dataset
