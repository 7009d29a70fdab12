"""The CIFAR-10 judge: a colour network, trained here on a small slice only."""


import numpy as np

from zoo.evaluate.classifier import FEATURES_LAYER, features
from zoo.evaluate.judges import JUDGE_NETWORKS, load_judge, train_judge

from conftest import needs_cifar10


@needs_cifar10
def test_the_cifar10_judge_is_a_colour_network_with_all_ten_classes(tmp_path):
    card = train_judge("cifar10", epochs=1, take=300, directory=str(tmp_path / "cifar10"))
    assert card["num_classes"] == 10 and card["training"]["examples"] == 300
    assert card["network"] == {"widths": [32, 64, 128], "feature_dim": 256, "block": "vgg"} == {
        **JUDGE_NETWORKS[3], "widths": list(JUDGE_NETWORKS[3]["widths"])}
    assert card["training"]["augment"] and card["training"]["cosine_decay"]
    assert card["training"]["command"] == "zoo train-judge cifar10 --epochs 1 --take 300"
    assert card["input"].endswith("[32, 32, 3]")
    judge = load_judge("cifar10", directory=str(tmp_path / "cifar10"))
    x = np.random.default_rng(0).uniform(size=(5, 32, 32, 3)).astype(np.float32)
    assert judge.predict(x, verbose=0).shape == (5, 10)
    assert features(judge, x).shape == (5, 256) and judge.get_layer(FEATURES_LAYER).units == 256


@needs_cifar10
def test_augmented_images_are_their_originals_flipped_and_shifted():
    from zoo import data
    from zoo.evaluate.classifier import SHIFT_PIXELS, augmented_batches

    x, _ = data.load_numpy("cifar10", "test", "float", take=16)
    s, size = SHIFT_PIXELS, x.shape[1]
    moved = 0
    for images, index in augmented_batches(x, np.arange(len(x)), batch_size=16, seed=0).take(1):
        for image, i in zip(images.numpy(), index.numpy()):
            # The inside of an augmented image is the original (or its mirror) shifted by dy, dx.
            matches = [(flip, dy, dx) for flip in (False, True) for dy in range(-s, s + 1) for dx in range(-s, s + 1)
                       if np.array_equal(image[s:size - s, s:size - s],
                                         (x[i][:, ::-1] if flip else x[i])[s + dy:size - s + dy, s + dx:size - s + dx])]
            assert matches, f"augmented image {i} is no flip or shift of its original"
            moved += (False, 0, 0) not in matches
    assert moved >= 8  # 16 images, 2 flips x 81 shifts: nearly all move
